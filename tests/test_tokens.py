"""Token estimates: text, parts, requests; the compact JSON length is the json module's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockvertex.contract.tokens import part_tokens, request_tokens, text_tokens


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=15,
)


def test_text_is_a_token_per_four_characters() -> None:
    assert [text_tokens(t) for t in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


@settings(max_examples=300)
@given(_JSON)
def test_a_function_call_counts_its_compact_sorted_json(args: Any) -> None:
    call = {"name": "f", "args": {"v": args}}
    assert part_tokens({"functionCall": call}) == text_tokens(_compact(call))


@pytest.mark.parametrize(
    "value",
    [1e-05, 2.5e-07, float("nan"), float("inf"), 10**30, "\ud800", "é😀\u2028", None, -0.0],
)
def test_values_orjson_writes_differently_count_as_the_json_module_writes_them(
    value: Any,
) -> None:
    declaration = {"name": "f", "parameters": {"type": "OBJECT", "default": value}}
    request = {"tools": [{"functionDeclarations": [declaration]}]}
    assert request_tokens(request) == text_tokens(_compact(declaration))
