"""The real-API client (sans-IO core and transports); imports only mockvertex.contract."""
