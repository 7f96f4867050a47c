"""The response vocabulary: harm categories, blocking finish reasons, and the unary response
a stream of chunks adds up to. Shared by the mock (to answer generateContent) and the client
(to assemble a stream)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["BLOCKING_FINISH_REASONS", "HARM_CATEGORIES", "clone_json", "merge_chunks"]

#: The four categories Vertex rates on every answer, in the order it lists them.
HARM_CATEGORIES = (
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
)
#: Finish reasons that withhold the content: sent in a last chunk with no content.
BLOCKING_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "MODEL_ARMOR",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_FIRST_WINS = frozenset({"promptFeedback", "modelVersion", "createTime", "responseId"})


def merge_chunks(chunks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The unary (generateContent) response equivalent to a stream of chunks.

    Per candidate: adjacent text parts are concatenated (thought text apart from answer
    text), other parts are kept in order, the last value of every other field wins, and the
    citations of all chunks are combined. When the last finish reason withholds content
    (SAFETY, RECITATION, ...) the candidate has no content, as in a unary reply. The top level
    keeps ``promptFeedback`` from the first chunk that has it, the last ``usageMetadata``, and
    ``modelVersion``/``createTime``/``responseId``.
    """
    # Every value is copied as it is stored, so the caller's chunks and the answer stay
    # independent; the containers built here are new already. Citations are kept as sent
    # until the end, so that one object seen twice is recognised as such.
    out: dict[str, Any] = {}
    merged: dict[int, dict[str, Any]] = {}
    parts: dict[int, list[dict[str, Any]]] = {}
    citations: dict[int, list[Any]] = {}
    for chunk in chunks:
        for key, value in chunk.items():
            if key == "candidates":
                out.setdefault("candidates", None)
                for position, candidate in enumerate(value or ()):
                    index = int(candidate.get("index", position))
                    if index not in merged:
                        merged[index], parts[index], citations[index] = {}, [], []
                    _merge_candidate(merged[index], parts[index], citations[index], candidate)
            elif key in _FIRST_WINS:
                if key not in out:
                    out[key] = value if type(value) in _ATOMS else clone_json(value)
            else:
                out[key] = value if type(value) in _ATOMS else clone_json(value)
    if "candidates" in out:
        result = []
        for index in sorted(merged):
            candidate = merged[index]
            if parts[index] and candidate.get("finishReason") not in BLOCKING_FINISH_REASONS:
                content = candidate.setdefault("content", {})
                content["parts"] = parts[index]
            elif "content" in candidate and not parts[index]:
                candidate["content"].pop("parts", None)
            else:
                candidate.pop("content", None)
            if citations[index]:
                candidate["citationMetadata"] = {"citations": clone_json(citations[index])}
            result.append(candidate)
        out["candidates"] = result
    return out


def _merge_candidate(
    target: dict[str, Any],
    parts: list[dict[str, Any]],
    citations: list[Any],
    candidate: Mapping[str, Any],
) -> None:
    for key, value in candidate.items():
        if key == "content" and (type(value) is dict or isinstance(value, Mapping)):
            content = target.setdefault("content", {})
            for ckey, cvalue in value.items():
                if ckey != "parts":
                    content.setdefault(ckey, clone_json(cvalue))
            for part in value.get("parts") or ():
                previous = parts[-1] if parts else None
                if (
                    previous is not None
                    and _is_plain_text(previous)
                    and _is_plain_text(part)
                    and bool(previous.get("thought")) == bool(part.get("thought"))
                ):
                    previous["text"] = str(previous["text"]) + str(part["text"])
                else:  # its own dict: "text" may grow
                    parts.append(clone_json(part if type(part) is dict else dict(part)))
        elif key == "citationMetadata" and isinstance(value, Mapping):
            for citation in value.get("citations") or ():
                if citation not in citations:
                    citations.append(citation)
        else:
            target[key] = value if type(value) in _ATOMS else clone_json(value)


def _is_plain_text(part: Mapping[str, Any]) -> bool:
    """Whether the part's keys are "text" and at most "thought" besides."""
    return "text" in part and (len(part) == 1 or (len(part) == 2 and "thought" in part))


_ATOMS = frozenset({str, int, float, bool, type(None)})


def clone_json(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars): copy.deepcopy without its memo cost.

    Plain JSON types are recognised by their exact type first: ``isinstance(x, Mapping)``
    goes through the ABC machinery and cost more than the copying itself.
    """
    cls = type(value)
    if cls in _ATOMS:
        return value
    if cls is dict:
        return {k: v if type(v) in _ATOMS else clone_json(v) for k, v in value.items()}
    if cls is list or cls is tuple:
        return [v if type(v) in _ATOMS else clone_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: clone_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clone_json(v) for v in value]
    return value
