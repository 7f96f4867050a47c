"""What a target says about request bodies: verdicts, refusals, error envelopes."""

from mockvertex.conformance.suite import (
    test_error_envelope,
    test_error_envelope_of_injected_errors,
    test_invalid_never_5xx,
    test_verdict_matches_validator,
)

__all__ = [
    "test_error_envelope",
    "test_error_envelope_of_injected_errors",
    "test_invalid_never_5xx",
    "test_verdict_matches_validator",
]
