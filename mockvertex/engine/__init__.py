"""What the mock decides and remembers: scenarios, faults, sessions; pure, no aiohttp."""
