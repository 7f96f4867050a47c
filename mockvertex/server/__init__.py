"""The only aiohttp server code: the application, the fault injector on a socket, the runner."""
