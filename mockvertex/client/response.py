"""What the client returns: the API's JSON as sent, read through snake_case properties.

A blocked prompt or a blocked answer is a result, not an exception: Vertex answers both with
HTTP 200, a blocked prompt as ``promptFeedback.blockReason`` and no candidates, a blocked
answer as a candidate whose ``finishReason`` withholds the content. ``text`` is then None and
``why_no_text()`` says why, with the block reason and the ratings that caused it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mockvertex.contract.responses import BLOCKING_FINISH_REASONS, merge_chunks

__all__ = ["CountTokensResponse", "GenerateContentResponse"]


class GenerateContentResponse:
    """A ``GenerateContentResponse`` (or one stream chunk). ``raw`` is the JSON as received."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw: dict[str, Any] = dict(raw)

    @classmethod
    def merged(cls, chunks: Iterable[GenerateContentResponse]) -> GenerateContentResponse:
        """The unary response a stream of chunks adds up to (``merge_chunks``)."""
        return cls(merge_chunks(chunk.raw for chunk in chunks))

    # -- the parts people read
    @property
    def candidates(self) -> list[dict[str, Any]]:
        return list(self.raw.get("candidates") or ())

    @property
    def _first(self) -> Mapping[str, Any]:
        candidates = self.raw.get("candidates") or ()
        return candidates[0] if candidates else {}

    @property
    def parts(self) -> list[dict[str, Any]]:
        """The parts of the first candidate's content."""
        content = self._first.get("content") or {}
        return list(content.get("parts") or ())

    @property
    def text(self) -> str | None:
        """The first candidate's answer text (thought summaries excluded); None if it has none."""
        texts = [str(p["text"]) for p in self.parts if "text" in p and not p.get("thought", False)]
        return "".join(texts) if texts else None

    @property
    def thoughts(self) -> str | None:
        """The first candidate's thought summary text, if the model sent one."""
        texts = [str(p["text"]) for p in self.parts if "text" in p and p.get("thought", False)]
        return "".join(texts) if texts else None

    @property
    def function_calls(self) -> list[dict[str, Any]]:
        return [dict(p["functionCall"]) for p in self.parts if "functionCall" in p]

    @property
    def finish_reason(self) -> str | None:
        reason = self._first.get("finishReason")
        return None if reason is None else str(reason)

    @property
    def prompt_feedback(self) -> dict[str, Any]:
        return dict(self.raw.get("promptFeedback") or {})

    @property
    def block_reason(self) -> str | None:
        """``promptFeedback.blockReason``: set when the prompt itself was blocked."""
        reason = self.prompt_feedback.get("blockReason")
        return None if reason is None else str(reason)

    @property
    def blocked(self) -> bool:
        """Whether the prompt or the answer was withheld by a filter."""
        return self.block_reason is not None or self.finish_reason in BLOCKING_FINISH_REASONS

    @property
    def safety_ratings(self) -> list[dict[str, Any]]:
        """The ratings that matter: the prompt's when it was blocked, else the first answer's."""
        if self.block_reason is not None:
            return list(self.prompt_feedback.get("safetyRatings") or ())
        return list(self._first.get("safetyRatings") or ())

    @property
    def usage(self) -> dict[str, Any]:
        return dict(self.raw.get("usageMetadata") or {})

    @property
    def model_version(self) -> str | None:
        version = self.raw.get("modelVersion")
        return None if version is None else str(version)

    def why_no_text(self) -> str | None:
        """Why ``text`` is None (or empty), in one sentence; None when there is text."""
        if self.text:
            return None
        if self.block_reason is not None:
            message = self.prompt_feedback.get("blockReasonMessage")
            said = f": {str(message).rstrip('.')}" if message else ""
            return (
                f"The prompt was blocked (blockReason {self.block_reason}){said}."
                f"{_ratings(self.safety_ratings)}"
            )
        if not self.raw.get("candidates"):
            return "The response has no candidates and no block reason."
        reason = self.finish_reason
        if reason in BLOCKING_FINISH_REASONS:
            message = self._first.get("finishMessage")
            said = f": {str(message).rstrip('.')}" if message else ""
            return (
                f"The answer was withheld (finishReason {reason}){said}."
                f"{_ratings(self.safety_ratings)}"
            )
        calls = [str(c.get("name", "?")) for c in self.function_calls]
        if calls:
            return f"The answer is a function call ({', '.join(calls)}), not text."
        if reason == "MAX_TOKENS":
            return "The output token limit was reached before any answer text (MAX_TOKENS)."
        if reason is None:
            return "The answer has no text yet (no finishReason: an unfinished stream?)."
        return f"The answer has no text parts (finishReason {reason})."

    def __repr__(self) -> str:
        shown = self.text if self.text is not None else self.why_no_text()
        if shown is not None and len(shown) > 60:
            shown = shown[:57] + "..."
        return f"GenerateContentResponse({shown!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GenerateContentResponse) and other.raw == self.raw

    __hash__ = None  # type: ignore[assignment]


def _ratings(ratings: Iterable[Mapping[str, Any]]) -> str:
    """`` Ratings: HARM_CATEGORY_X HIGH (blocked), ...`` for the ratings worth naming."""
    named = [
        f"{r.get('category', '?')} {r.get('probability', '?')}"
        + (" (blocked)" if r.get("blocked") else "")
        for r in ratings
        if r.get("blocked") or r.get("probability") not in (None, "NEGLIGIBLE")
    ]
    return f" Ratings: {', '.join(named)}." if named else ""


class CountTokensResponse:
    """A ``CountTokensResponse``; ``raw`` is the JSON as received."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw: dict[str, Any] = dict(raw)

    @property
    def total_tokens(self) -> int:
        return int(self.raw.get("totalTokens", 0))

    @property
    def total_billable_characters(self) -> int | None:
        chars = self.raw.get("totalBillableCharacters")
        return None if chars is None else int(chars)

    def __repr__(self) -> str:
        return f"CountTokensResponse(total_tokens={self.total_tokens})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountTokensResponse) and other.raw == self.raw

    __hash__ = None  # type: ignore[assignment]
