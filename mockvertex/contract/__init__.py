"""The API as Vertex defines it: pure, no I/O; used by the server, the client and the kit."""
