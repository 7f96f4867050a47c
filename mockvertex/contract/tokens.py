"""Deterministic token estimates, shared by countTokens, the responder and the input limit check.

Vertex counts with the model's tokenizer; the mock cannot, so it estimates with fixed,
documented rules that are consistent everywhere: the ``promptTokenCount`` of a reply equals
the ``totalTokens`` countTokens gives for the same contents, and the ``candidatesTokenCount``
equals the estimate of the generated text.

Rules: text is one token per 4 characters, rounded up (Vertex's own rule of thumb, "1 token
is about 4 characters"); an image or a PDF page is 258 tokens; other media (video, audio) and
file references count 258 per part, since the mock cannot know their length; a function call or
response counts as the text of its compact JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MEDIA_PART_TOKENS",
    "billable_characters",
    "content_tokens",
    "part_tokens",
    "request_tokens",
    "text_tokens",
]

MEDIA_PART_TOKENS = 258


def text_tokens(text: str) -> int:
    """Tokens of a text: ceil(len / 4); the empty string is 0 tokens."""
    return (len(text) + 3) // 4


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def part_tokens(part: Mapping[str, Any]) -> int:
    """Tokens of one normalized (camelCase) part."""
    if "text" in part:
        return text_tokens(str(part["text"]))
    if "inlineData" in part or "fileData" in part:
        return MEDIA_PART_TOKENS
    if "functionCall" in part:
        return text_tokens(_compact(part["functionCall"]))
    if "functionResponse" in part:
        return text_tokens(_compact(part["functionResponse"]))
    if "executableCode" in part:
        return text_tokens(_compact(part["executableCode"]))
    if "codeExecutionResult" in part:
        return text_tokens(_compact(part["codeExecutionResult"]))
    return 0


def content_tokens(contents: Iterable[Mapping[str, Any]]) -> int:
    return sum(part_tokens(p) for c in contents for p in c.get("parts", ()))


def request_tokens(request: Mapping[str, Any]) -> int:
    """Prompt tokens of a normalized request: contents, system instruction and tool declarations."""
    total = content_tokens(request.get("contents", ()))
    system = request.get("systemInstruction")
    if system:
        total += content_tokens([system])
    for tool in request.get("tools", ()):
        for decl in tool.get("functionDeclarations", ()):
            total += text_tokens(_compact(decl))
    return total


def billable_characters(request: Mapping[str, Any]) -> int:
    """``totalBillableCharacters``: characters of text parts, whitespace excluded."""
    contents = list(request.get("contents", ()))
    if request.get("systemInstruction"):
        contents.append(request["systemInstruction"])
    return sum(
        len("".join(str(p["text"]).split()))
        for c in contents
        for p in c.get("parts", ())
        if "text" in p
    )
