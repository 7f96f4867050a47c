"""How a target frames its replies: SSE, the JSON array, integer enums."""

from mockvertex.conformance.suite import (
    test_array_framing,
    test_int_enums_when_asked,
    test_sse_and_array_agree,
    test_sse_framing,
)

__all__ = [
    "test_array_framing",
    "test_int_enums_when_asked",
    "test_sse_and_array_agree",
    "test_sse_framing",
]
