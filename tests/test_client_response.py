"""Tests for mockvertex.client.response: reading results, and saying why there is no text."""

from __future__ import annotations

from typing import Any

import pytest

from mockvertex.client.response import CountTokensResponse, GenerateContentResponse


def _answer(*parts: dict[str, Any], **candidate: Any) -> GenerateContentResponse:
    return GenerateContentResponse(
        {"candidates": [{"content": {"role": "model", "parts": list(parts)}, **candidate}]}
    )


def test_text_joins_the_answer_parts_and_leaves_thoughts_apart() -> None:
    response = _answer(
        {"text": "Let me think.", "thought": True},
        {"text": "Hello "},
        {"text": "world."},
        finishReason="STOP",
    )

    assert response.text == "Hello world."
    assert response.thoughts == "Let me think."
    assert response.finish_reason == "STOP"
    assert not response.blocked
    assert response.why_no_text() is None


def test_a_blocked_prompt_is_a_result_that_says_why() -> None:
    response = GenerateContentResponse(
        {
            "promptFeedback": {
                "blockReason": "SAFETY",
                "blockReasonMessage": "The prompt was blocked.",
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
                    {
                        "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                        "probability": "HIGH",
                        "blocked": True,
                    },
                ],
            },
            "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4},
        }
    )

    assert response.text is None
    assert response.blocked
    assert response.block_reason == "SAFETY"
    assert [r["category"] for r in response.safety_ratings] == [
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    ]
    assert response.why_no_text() == (
        "The prompt was blocked (blockReason SAFETY): The prompt was blocked. "
        "Ratings: HARM_CATEGORY_DANGEROUS_CONTENT HIGH (blocked)."
    )
    assert response.usage == {"promptTokenCount": 4, "totalTokenCount": 4}


def test_a_withheld_answer_says_which_rating_blocked_it() -> None:
    response = GenerateContentResponse(
        {
            "candidates": [
                {
                    "finishReason": "SAFETY",
                    "safetyRatings": [
                        {
                            "category": "HARM_CATEGORY_HATE_SPEECH",
                            "probability": "MEDIUM",
                            "blocked": True,
                        }
                    ],
                }
            ]
        }
    )

    assert response.text is None
    assert response.blocked
    assert response.block_reason is None
    assert response.why_no_text() == (
        "The answer was withheld (finishReason SAFETY). "
        "Ratings: HARM_CATEGORY_HATE_SPEECH MEDIUM (blocked)."
    )


@pytest.mark.parametrize(
    ("response", "why"),
    [
        (GenerateContentResponse({}), "The response has no candidates and no block reason."),
        (
            _answer({"functionCall": {"name": "get_weather", "args": {}}}, finishReason="STOP"),
            "The answer is a function call (get_weather), not text.",
        ),
        (
            _answer({"text": "hmm", "thought": True}, finishReason="MAX_TOKENS"),
            "The output token limit was reached before any answer text (MAX_TOKENS).",
        ),
        (
            _answer({"inlineData": {"mimeType": "image/png", "data": ""}}, finishReason="STOP"),
            "The answer has no text parts (finishReason STOP).",
        ),
        (
            _answer({"inlineData": {"mimeType": "image/png", "data": ""}}),
            "The answer has no text yet (no finishReason: an unfinished stream?).",
        ),
        (
            _answer(finishReason="RECITATION", finishMessage="Recited."),
            "The answer was withheld (finishReason RECITATION): Recited.",
        ),
    ],
)
def test_why_no_text(response: GenerateContentResponse, why: str) -> None:
    assert response.text is None
    assert response.why_no_text() == why


def test_function_calls_are_listed() -> None:
    response = _answer(
        {"functionCall": {"name": "a", "args": {"x": 1}}},
        {"functionCall": {"name": "b", "args": {}}},
    )

    assert [c["name"] for c in response.function_calls] == ["a", "b"]


def test_merging_stream_chunks_gives_the_unary_answer() -> None:
    chunks = [
        GenerateContentResponse(
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}
        ),
        GenerateContentResponse(
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": "lo"}]},
                        "finishReason": "STOP",
                    }
                ],
                "modelVersion": "gemini-2.0-flash-001",
            }
        ),
    ]

    merged = GenerateContentResponse.merged(chunks)

    assert merged.text == "Hello"
    assert merged.finish_reason == "STOP"
    assert merged.model_version == "gemini-2.0-flash-001"


def test_repr_and_equality() -> None:
    long = _answer({"text": "x" * 100})

    assert repr(_answer({"text": "hi"})) == "GenerateContentResponse('hi')"
    assert repr(long).endswith("...')")
    assert repr(GenerateContentResponse({})).startswith("GenerateContentResponse('The response")
    assert _answer({"text": "hi"}) == _answer({"text": "hi"})
    assert _answer({"text": "hi"}) != _answer({"text": "ho"})


def test_count_tokens_response() -> None:
    counted = CountTokensResponse({"totalTokens": 7, "totalBillableCharacters": 20})

    assert (counted.total_tokens, counted.total_billable_characters) == (7, 20)
    assert CountTokensResponse({"totalTokens": 1}).total_billable_characters is None
    assert repr(counted) == "CountTokensResponse(total_tokens=7)"
    assert counted == CountTokensResponse(dict(counted.raw))
