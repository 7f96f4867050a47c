"""VertexClient and google-genai on a target's bytes and on every fault it can inject."""

from mockvertex.conformance.suite import test_clients_raise_alike_on_faults, test_clients_read_alike

__all__ = ["test_clients_raise_alike_on_faults", "test_clients_read_alike"]
