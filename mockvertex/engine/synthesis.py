"""Reply synthesis: a scenario step (or nothing) and a request become the chunks Vertex would send.

Every chunk has Vertex's shape::

    {"candidates": [{"content": {"role": "model", "parts": [...]}}],
     "usageMetadata": {"trafficType": "ON_DEMAND"},
     "modelVersion": ..., "createTime": ..., "responseId": ...}

Text is delta-only. Only the last chunk has ``finishReason``, ``safetyRatings``,
``citationMetadata`` and the full ``usageMetadata`` (prompt/candidates/total counts from
:mod:`mockvertex.contract.tokens`, so ``promptTokenCount`` always equals countTokens'
``totalTokens``).
A blocking finish reason (SAFETY, RECITATION, ...) comes in a last chunk of its own whose
candidate has no content. A blocked prompt is one chunk with ``promptFeedback`` and no
``candidates``.

The default responder (``step`` ``None``) is deterministic: the text, the function-call ids and
the ``responseId`` derive from a sha256 of the canonical request JSON; only ``createTime``
follows the clock. Its prose ignores ``maxOutputTokens`` and ``stopSequences`` when seeding,
so those settings cut the very text that would otherwise be sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from mockvertex.contract.errors import StatusError
from mockvertex.contract.responses import BLOCKING_FINISH_REASONS, HARM_CATEGORIES, clone_json
from mockvertex.contract.tokens import (
    billable_characters,
    part_tokens,
    request_tokens,
    text_tokens,
)
from mockvertex.engine.faults import Fault, Pacing
from mockvertex.engine.instance import WORDS, json_schema_instance, seeded_random, vertex_instance

if TYPE_CHECKING:
    from mockvertex.contract.profiles import ModelProfile
    from mockvertex.contract.wire import Framing
    from mockvertex.engine.scenario import RequestContext, Step

__all__ = [
    "DefaultReplies",
    "Reply",
    "count_tokens_response",
    "create_time",
    "render",
    "split_text",
]

_TRAFFIC = "ON_DEMAND"
_WORDS_PER_CHUNK = 5
_CHARS_PER_JSON_CHUNK = 24
_MIN_WANTED_TOKENS = 8
_MAX_WANTED_TOKENS = 200
# Score band of each probability, lower bound inclusive.
_BANDS = {"NEGLIGIBLE": (0.0, 0.1), "LOW": (0.1, 0.35), "MEDIUM": (0.35, 0.7), "HIGH": (0.7, 1.0)}
# Per probability: its band's lower bound and width, and the severity it is paired with.
_SCALES = {p: (low, high - low, "HARM_SEVERITY_" + p) for p, (low, high) in _BANDS.items()}
_UNRATED = (0.0, 0.1 - 0.0, "HARM_SEVERITY_UNSPECIFIED")  # an unknown probability


@dataclass(frozen=True)
class Reply:
    """What the HTTP layer sends.

    ``error``: the error instead of any chunk (HTTP status from the error). Otherwise the
    chunks, paced by ``pacing`` and broken by ``fault`` (see :mod:`mockvertex.engine.faults`).
    For countTokens ``chunks`` holds the one CountTokensResponse. ``encoded``, when set, is
    ``chunks`` already in the framing they go out in: one piece per chunk (the merged body for
    a unary call), then the array's closing piece (see :mod:`mockvertex.engine.memo`).
    """

    chunks: tuple[dict[str, Any], ...]
    error: StatusError | None = None
    fault: Fault | None = None
    pacing: Pacing | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    encoded: tuple[bytes, ...] | None = None


# --------------------------------------------------------------------------------------------
# Entry points


class DefaultReplies(Protocol):
    """Default responder replies built before (:class:`mockvertex.engine.memo.Seen`)."""

    def default_reply(
        self, ctx: RequestContext, profile: ModelProfile, framing: Framing
    ) -> Reply | None: ...


def render(
    step: Step | None,
    ctx: RequestContext,
    profile: ModelProfile,
    *,
    now: datetime | None = None,
    cache: DefaultReplies | None = None,
    framing: Framing | None = None,
) -> Reply:
    """The reply for ``ctx``: from a scenario step, or from the default responder.

    With ``cache`` and ``framing``, the default responder's reply comes from the cache when
    it has one: the same reply, its chunks already encoded in ``framing`` (``now`` is then
    the clock's).
    """
    if step is None and cache is not None and framing is not None:
        cached = cache.default_reply(ctx, profile, framing)
        if cached is not None:
            return cached
    if step is not None and step.error is not None:
        error = step.error.build(ctx.model)
        return Reply((), error=error, pacing=step.pacing, headers=dict(error.headers))
    respond = step.respond if step is not None else None
    if respond is not None and "raw" in respond:
        chunks = tuple(clone_json(dict(c)) for c in respond["raw"])
    elif ctx.method == "countTokens":
        body = count_tokens_response(ctx)
        for key in ("totalTokens", "totalBillableCharacters"):
            if respond is not None and key in respond:
                body[key] = respond[key]
        chunks = (body,)
    else:
        chunks = tuple(_Synth(ctx, profile, now).chunks(respond))
    if step is None:
        return Reply(chunks)
    return Reply(chunks, fault=step.fault, pacing=step.pacing)


def count_tokens_response(ctx: RequestContext) -> dict[str, Any]:
    """CountTokensResponse for the request, consistent with ``promptTokenCount`` of replies.

    A request with ``instances`` (and no ``contents``) counts each instance: a string as its
    text, anything else as its compact JSON.
    """
    request = ctx.request
    total = request_tokens(request)
    chars = billable_characters(request)
    if not request.get("contents"):
        for instance in request.get("instances") or ():
            text = instance if isinstance(instance, str) else _compact(instance)
            total += text_tokens(text)
            chars += len("".join(text.split()))
    return {"totalTokens": total, "totalBillableCharacters": chars}


def split_text(text: str, words_per_chunk: int = _WORDS_PER_CHUNK) -> list[str]:
    """Split text into deltas of about ``words_per_chunk`` words; joined, they give ``text``.

    Text of two words or more always gives at least two deltas.
    """
    words = re.findall(r"\S+\s*", text)
    if not words:
        return [text] if text else []
    words[0] = text[: len(text) - len(text.lstrip())] + words[0]
    count = max(math.ceil(len(words) / words_per_chunk), 2 if len(words) >= 2 else 1)
    bounds = [len(words) * i // count for i in range(count + 1)]
    return ["".join(words[bounds[i] : bounds[i + 1]]) for i in range(count)]


# --------------------------------------------------------------------------------------------
# Helpers


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _digest(value: Any) -> bytes:
    try:  # orjson's sorted output is a canonical form too, ten times faster to produce
        canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        # surrogatepass: a lone surrogate (request bodies with one are refused at parsing, a
        # scenario given from Python may hold one) hashes like any other character.
        canonical = _compact(value).encode("utf-8", "surrogatepass")
    return hashlib.sha256(canonical).digest()


def create_time(when: datetime) -> str:
    """A reply's ``createTime`` for the moment ``when``."""
    return _timestamp(when)


def _timestamp(when: datetime) -> str:
    """``when`` in UTC as ``%Y-%m-%dT%H:%M:%S.%fZ`` (microseconds always), without strftime.

    The C library's strftime costs several microseconds per call in a busy server; this is
    the same text (the year unpadded, as glibc writes ``%Y``).
    """
    t = when.astimezone(timezone.utc)
    return (
        f"{t.year}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond:06d}Z"
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _rating(
    category: str, probability: str, unit: tuple[float, float], *, blocked: bool = False
) -> dict[str, Any]:
    low, width, severity = _SCALES.get(probability, _UNRATED)
    rating: dict[str, Any] = {
        "category": category,
        "probability": probability,
        "probabilityScore": round(low + width * unit[0], 8),
        "severity": severity,
        "severityScore": round(low + width * unit[1], 8),
    }
    if blocked:
        rating["blocked"] = True
    return rating


_WORDS = struct.Struct(">8I")  # a sha256 digest as eight big-endian 32-bit words


def _units(seed: bytes, count: int) -> list[tuple[float, float]]:
    """``count`` deterministic pairs of scores in [0, 1) from one sha256 of ``seed`` (count <= 4).

    One digest per reply: a seeded PRNG per rating cost more than the rest of a reply.
    """
    words = _WORDS.unpack(hashlib.sha256(seed).digest())
    return [(words[2 * i] / 2**32, words[2 * i + 1] / 2**32) for i in range(count)]


def _ratings(seed: bytes, blocked: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    units = _units(seed, len(HARM_CATEGORIES))
    out = [_rating(c, "NEGLIGIBLE", u) for c, u in zip(HARM_CATEGORIES, units, strict=True)]
    if blocked is not None:
        category, probability = blocked
        hit = _rating(category, probability, _units(seed + category.encode(), 1)[0], blocked=True)
        for i, rating in enumerate(out):
            if rating["category"] == category:
                out[i] = hit
                break
        else:
            out.append(hit)
    return out


@dataclass
class _Plan:
    """The content of an answer before it is cut into chunks."""

    deltas: list[list[dict[str, Any]]]
    finish_reason: str = "STOP"
    citations: Sequence[Any] = ()
    ratings: list[dict[str, Any]] | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)


class _Synth:
    """Builds the chunks of one reply; holds the per-reply ids and counts."""

    def __init__(self, ctx: RequestContext, profile: ModelProfile, now: datetime | None) -> None:
        self.ctx = ctx
        self.profile = profile
        request = ctx.request
        self.digest = _digest(request)
        when = now or datetime.now(timezone.utc)
        self.create_time = _timestamp(when)
        self.response_id = _b64(self.digest[:16])
        self.prompt_tokens = request_tokens(request)

    @cached_property
    def seed(self) -> bytes:
        """What the default responder's choices derive from; scripted text never needs it."""
        request = self.ctx.request
        config = dict(request.get("generationConfig") or {})
        config.pop("maxOutputTokens", None)
        config.pop("stopSequences", None)
        return _digest({**request, "generationConfig": config})

    # -- chunk assembly ------------------------------------------------------------------

    def envelope(self, body: dict[str, Any]) -> dict[str, Any]:
        body["modelVersion"] = self.profile.model_version
        body["createTime"] = self.create_time
        body["responseId"] = self.response_id
        return body

    def chunks(self, respond: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        if respond is not None and "blockPrompt" in respond:
            return [self.blocked_prompt(respond["blockPrompt"], respond.get("usageMetadata"))]
        plan = self.default_plan() if respond is None else self.respond_plan(respond)
        return self.assemble(plan)

    def assemble(self, plan: _Plan) -> list[dict[str, Any]]:
        blocking = plan.finish_reason in BLOCKING_FINISH_REASONS
        deltas: list[list[dict[str, Any]] | None] = list(plan.deltas)
        if blocking or not deltas:
            deltas.append(None if blocking else [])
        out = []
        for i, parts in enumerate(deltas):
            candidate: dict[str, Any] = {}
            if parts is not None:
                candidate["content"] = (
                    {"role": "model", "parts": parts} if parts else {"role": "model"}
                )
            usage: dict[str, Any] = {"trafficType": _TRAFFIC}
            if i == len(deltas) - 1:
                candidate["finishReason"] = plan.finish_reason
                candidate["safetyRatings"] = (
                    plan.ratings if plan.ratings is not None else _ratings(self.digest)
                )
                if plan.citations:
                    candidate["citationMetadata"] = {"citations": list(plan.citations)}
                usage = self.usage(plan)
            out.append(self.envelope({"candidates": [candidate], "usageMetadata": usage}))
        return out

    def usage(self, plan: _Plan) -> dict[str, Any]:
        generated = [p for parts in plan.deltas for p in parts if not p.get("thought")]
        text = "".join(str(p["text"]) for p in generated if "text" in p)
        candidates = text_tokens(text) + sum(part_tokens(p) for p in generated if "text" not in p)
        thoughts = sum(
            text_tokens(str(p.get("text", "")))
            for parts in plan.deltas
            for p in parts
            if p.get("thought")
        )
        usage: dict[str, Any] = {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": candidates,
            "totalTokenCount": self.prompt_tokens + candidates + thoughts,
            "trafficType": _TRAFFIC,
            "promptTokensDetails": self.prompt_details(),
            "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": candidates}],
        }
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        if plan.usage:
            usage.update(clone_json(dict(plan.usage)))
            if "totalTokenCount" not in plan.usage:
                usage["totalTokenCount"] = (
                    int(usage.get("promptTokenCount", 0))
                    + int(usage.get("candidatesTokenCount", 0))
                    + int(usage.get("thoughtsTokenCount", 0))
                )
        return usage

    def prompt_details(self) -> list[dict[str, Any]]:
        """promptTokenCount split by modality (media parts by MIME type, the rest TEXT)."""
        media: dict[str, int] = {}
        request = self.ctx.request
        contents = list(request.get("contents") or ())
        if request.get("systemInstruction"):
            contents.append(request["systemInstruction"])
        for content in contents:
            for part in content.get("parts") or ():
                blob = part.get("inlineData") or part.get("fileData")
                if isinstance(blob, Mapping):
                    modality = _modality(str(blob.get("mimeType", "")))
                    media[modality] = media.get(modality, 0) + part_tokens(part)
        text = self.prompt_tokens - sum(media.values())
        details = [{"modality": "TEXT", "tokenCount": text}] if text or not media else []
        details += [{"modality": m, "tokenCount": n} for m, n in media.items()]
        return details

    def blocked_prompt(
        self, spec: Mapping[str, Any], usage_override: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        reason = str(spec.get("reason", "SAFETY"))
        feedback: dict[str, Any] = {"blockReason": reason}
        if "message" in spec:
            feedback["blockReasonMessage"] = spec["message"]
        if "safetyRatings" in spec:
            feedback["safetyRatings"] = clone_json(list(spec["safetyRatings"]))
        elif reason == "SAFETY":
            blocked = (
                str(spec.get("category", "HARM_CATEGORY_DANGEROUS_CONTENT")),
                str(spec.get("probability", "HIGH")),
            )
            feedback["safetyRatings"] = _ratings(self.digest, blocked)
        # Other reasons come bare, {"blockReason": "PROHIBITED_CONTENT"} (lobehub/lobehub#8707,
        # vercel/ai#4236) or "OTHER" (google-gemini/deprecated-generative-ai-js#36).
        usage: dict[str, Any] = {
            "promptTokenCount": self.prompt_tokens,
            "totalTokenCount": self.prompt_tokens,
        }
        usage.update(clone_json(dict(usage_override or {})))
        return self.envelope({"promptFeedback": feedback, "usageMetadata": usage})

    # -- scripted answers --------------------------------------------------------------------

    def respond_plan(self, respond: Mapping[str, Any]) -> _Plan:
        deltas: list[list[dict[str, Any]]]
        if "text" in respond:
            deltas = [[{"text": t}] for t in split_text(str(respond["text"]))]
        elif "chunks" in respond:
            deltas = [[{"text": str(t)}] for t in respond["chunks"]]
        elif "blockResponse" in respond or _calls(respond):
            deltas = []
        else:
            deltas = self.default_plan().deltas
        calls = _calls(respond)
        if calls:
            deltas.append(
                [
                    {
                        "functionCall": self.function_call(
                            c.get("name") or self.declared_name(),
                            c.get("args") or {},
                            i,
                            c.get("id"),
                        )
                    }
                    for i, c in enumerate(calls)
                ]
            )
        plan = _Plan(deltas, finish_reason=str(respond.get("finishReason", "STOP")))
        plan.citations = list(respond.get("citations") or ())
        block = respond.get("blockResponse")
        if block is not None:
            plan.finish_reason = "SAFETY"
            plan.ratings = _ratings(
                self.digest, (str(block["category"]), str(block.get("probability", "HIGH")))
            )
        if "safetyRatings" in respond:
            plan.ratings = clone_json(list(respond["safetyRatings"]))
        plan.usage = respond.get("usageMetadata") or {}
        return plan

    def declared_name(self) -> str:
        """The function a call without ``name`` calls: toolConfig's first allowed name, else the
        first declared function (``unknown_function`` when the request declares none)."""
        request = self.ctx.request
        calling = (request.get("toolConfig") or {}).get("functionCallingConfig") or {}
        for name in calling.get("allowedFunctionNames") or ():
            return str(name)
        for tool in request.get("tools") or ():
            for declaration in tool.get("functionDeclarations") or ():
                if isinstance(declaration, Mapping) and declaration.get("name"):
                    return str(declaration["name"])
        return "unknown_function"

    def function_call(
        self, name: str, args: Mapping[str, Any], index: int, call_id: str | None = None
    ) -> dict[str, Any]:
        if call_id is None:
            call_id = _b64(_digest([self.response_id, name, index]))[:16]
        return {"name": name, "args": clone_json(dict(args)), "id": call_id}

    # -- the default responder -----------------------------------------------------------------

    def default_plan(self) -> _Plan:
        request = self.ctx.request
        call = self.default_call()
        if call is not None:
            return _Plan([[{"functionCall": call}]])
        config = request.get("generationConfig") or {}
        mime = str(config.get("responseMimeType", "")).lower()
        values = _enum_values(config)
        if mime == "application/json":
            text, finish = self.cut(self.default_json(config), config)
            pieces = _split_chars(text, _CHARS_PER_JSON_CHUNK)
        elif mime == "text/x.enum" and values:
            text, finish = self.cut(str(_pick(values, self.seed)), config)
            pieces = [text]
        else:
            text, finish = self.cut(self.prose(_clamp(2 * self.prompt_tokens)), config)
            pieces = split_text(text)
        deltas: list[list[dict[str, Any]]] = [[{"text": p}] for p in pieces if p]
        thinking = config.get("thinkingConfig") or {}
        if thinking.get("includeThoughts") and self.profile.thinking:
            # A thought summary first, as thinking models send it: a part marked thought.
            summary = "**Planning the answer** " + self.prose(_MIN_WANTED_TOKENS)
            deltas.insert(0, [{"text": summary, "thought": True}])
        return _Plan(deltas, finish_reason=finish)

    def cut(self, text: str, config: Mapping[str, Any]) -> tuple[str, str]:
        """Apply stopSequences (cut before the first one, STOP) and the output token limit."""
        positions = [text.find(s) for s in config.get("stopSequences") or () if s]
        positions = [p for p in positions if p >= 0]
        if positions:
            text = text[: min(positions)]
        limit = self.max_output_tokens(config)
        if text_tokens(text) > limit:
            return text[: 4 * limit], "MAX_TOKENS"
        return text, "STOP"

    def max_output_tokens(self, config: Mapping[str, Any]) -> int:
        requested = config.get("maxOutputTokens")
        limit = int(requested) if requested is not None else self.profile.default_max_output_tokens
        ceiling = math.ceil(self.profile.max_output_tokens.max) - 1
        return max(0, min(limit, ceiling) if ceiling > 0 else limit)

    def prose(self, wanted: int) -> str:
        """English-like sentences from the fixed vocabulary, at least ``wanted`` tokens."""
        random = seeded_random(self.seed + b"prose").random
        vocabulary, size = WORDS, len(WORDS)
        sentences: list[str] = []
        length = -1  # of " ".join(sentences), kept as it grows instead of joining each time
        while (length + 3) // 4 < wanted:  # text_tokens of the text so far
            count = 6 + int(random() * 7)
            sentence = " ".join([vocabulary[int(random() * size)] for _ in range(count)])
            sentence = sentence.capitalize() + "."
            sentences.append(sentence)
            length += len(sentence) + 1
        return " ".join(sentences)

    def default_json(self, config: Mapping[str, Any]) -> str:
        seed = self.seed + b"json"
        if isinstance(config.get("responseSchema"), Mapping):
            value = vertex_instance(config["responseSchema"], seed)
        elif "responseJsonSchema" in config:
            value = json_schema_instance(config["responseJsonSchema"], seed)
        else:
            value = {"answer": self.prose(_MIN_WANTED_TOKENS).split(".")[0]}
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def default_call(self) -> dict[str, Any] | None:
        """The function call the default responder makes, or None to answer with text."""
        request = self.ctx.request
        declarations = [
            d
            for tool in request.get("tools") or ()
            for d in tool.get("functionDeclarations") or ()
            if isinstance(d, Mapping) and d.get("name")
        ]
        if not declarations:
            return None
        calling = (request.get("toolConfig") or {}).get("functionCallingConfig") or {}
        mode = str(calling.get("mode", "AUTO")).upper()
        if mode == "NONE":
            return None
        contents = list(request.get("contents") or ())
        last = contents[-1] if contents else {}
        parts = [p for p in last.get("parts") or () if isinstance(p, Mapping)]
        user_text = (
            str(last.get("role") or "user").lower() == "user"
            and any("text" in p for p in parts)
            and not any("functionResponse" in p for p in parts)
        )
        if not user_text and mode != "ANY":
            return None
        allowed = [str(n) for n in calling.get("allowedFunctionNames") or ()]
        name = allowed[0] if allowed else str(declarations[0]["name"])
        declaration = next((d for d in declarations if d.get("name") == name), {})
        seed = self.seed + name.encode("utf-8")
        args: Any = {}
        if isinstance(declaration.get("parameters"), Mapping):
            args = vertex_instance(declaration["parameters"], seed)
        elif "parametersJsonSchema" in declaration:
            args = json_schema_instance(declaration["parametersJsonSchema"], seed)
        return self.function_call(name, args if isinstance(args, Mapping) else {}, 0)


def _calls(respond: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "functionCall" in respond:
        return [respond["functionCall"]]
    return list(respond.get("functionCalls") or ())


def _clamp(tokens: int) -> int:
    return max(_MIN_WANTED_TOKENS, min(_MAX_WANTED_TOKENS, tokens))


def _pick(values: Sequence[Any], seed: bytes) -> Any:
    rng = seeded_random(seed + b"enum")
    return values[min(int(rng.random() * len(values)), len(values) - 1)]


def _enum_values(config: Mapping[str, Any]) -> list[Any]:
    schema = config.get("responseSchema") or config.get("responseJsonSchema") or {}
    values = schema.get("enum") if isinstance(schema, Mapping) else None
    return list(values) if isinstance(values, list) else []


def _split_chars(text: str, size: int) -> list[str]:
    if len(text) < 2:
        return [text] if text else []
    size = min(size, math.ceil(len(text) / 2))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _modality(mime: str) -> str:
    kind = mime.split("/", 1)[0].lower()
    if kind in ("image", "video", "audio"):
        return kind.upper()
    if mime.lower() == "application/pdf":
        return "DOCUMENT"
    return "TEXT"
