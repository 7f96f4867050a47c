"""What a target's chunks hold: the schema, camelCase keys, deltas, usage, model version."""

from mockvertex.conformance.suite import (
    test_camel_case_keys,
    test_chunks_match_schema,
    test_count_tokens_matches_usage,
    test_finish_and_usage_last,
    test_model_version_present,
    test_text_deltas,
    test_usage_sums,
)

__all__ = [
    "test_camel_case_keys",
    "test_chunks_match_schema",
    "test_count_tokens_matches_usage",
    "test_finish_and_usage_last",
    "test_model_version_present",
    "test_text_deltas",
    "test_usage_sums",
]
