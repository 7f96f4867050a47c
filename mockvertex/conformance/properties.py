"""The properties every Vertex-compatible server must hold, each named, each failing with a
reproduction: the body written to a file and the curl command that sends it again.

A property is a function of a :class:`Context` (the target, its replies cached, the mock it is
compared with) and one :class:`Example` (a request body and its method). :func:`run` draws
examples with Hypothesis (the fixed bodies shipped in ``examples.json``, and generated ones when
``mockvertex.conformance.strategies`` is there) and checks the property on each. Faults, which
need the mock's control plane, are checked case by case by :func:`check_fault`.

Everything on the wire is read with the contract's own decoders (``contract.wire``), every chunk
is checked against the shipped JSON Schemas (``contract.resources``), and the verdict a target
gives a body is compared with ``contract.validation.validate_request``'s.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockvertex.conformance import clients
from mockvertex.conformance.clients import Outcome
from mockvertex.conformance.targets import (
    ARRAY,
    ARRAY_INT,
    SSE,
    UNARY,
    UNARY_INT,
    Call,
    Mode,
    Reply,
    Target,
    TransportFailure,
)
from mockvertex.contract import protojson, resources, wire
from mockvertex.contract.errors import BAD_REQUEST_TYPE, StatusError
from mockvertex.contract.validation import validate_request

if TYPE_CHECKING:
    from hypothesis import settings as Settings
    from hypothesis.strategies import SearchStrategy

    from mockvertex.conformance.divergence import Recorder

__all__ = [
    "CANONICAL_HTTP",
    "PROPERTIES",
    "Context",
    "Example",
    "Property",
    "PropertyFailed",
    "Verdict",
    "check_envelope",
    "check_fault",
    "check_injected_envelope",
    "fault_failure",
    "fixed_examples",
    "local_verdict",
    "reply_verdict",
    "run",
]

#: The HTTP status each google.rpc code is sent with (google/rpc/code.proto, "HTTP Mapping").
CANONICAL_HTTP: Mapping[str, int] = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
}
_ENVELOPE_KEYS = frozenset({"code", "message", "status", "details"})
_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
#: The usage fields that only the last chunk of a stream carries ("trafficType" is in all).
_FULL_USAGE = ("promptTokenCount", "totalTokenCount")
_NAME_MODES = (UNARY, SSE, ARRAY)
_INT_MODES = (UNARY_INT, ARRAY_INT)
_STREAMS = (SSE, ARRAY)


# --------------------------------------------------------------------------------------------
# Examples and verdicts


@dataclass(frozen=True)
class Example:
    """One request body as sent (bytes), its method, and where it came from."""

    name: str
    rpc: str
    body: bytes
    source: str = ""

    @classmethod
    def of(cls, name: str, rpc: str, body: Any, source: str = "") -> Example:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        return cls(name, rpc, raw, source)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.rpc.encode() + b"\0" + self.body).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"Example({self.name!r}, {self.rpc}, {len(self.body)} bytes, sha {self.digest})"


@cache
def fixed_examples() -> tuple[Example, ...]:
    """The bodies shipped in ``mockvertex/conformance/examples.json``."""
    document = resources.data("conformance", "examples.json")
    return tuple(
        Example.of(e["name"], e["rpc"], e["body"], e.get("source", ""))
        for e in document["examples"]
    )


@dataclass(frozen=True)
class Verdict:
    """What a body earned: the HTTP status, the google.rpc status, the field paths named."""

    http: int
    status: str = "OK"
    fields: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.http == 200

    def __str__(self) -> str:
        text = f"{self.http} {self.status}"
        return text + (f" at {', '.join(self.fields)}" if self.fields else "")


@cache
def _local_verdict(body: bytes, rpc: str, model: str, api_version: str) -> Verdict:
    try:
        validate_request(body, model=model, method=rpc, api_version=api_version)
    except StatusError as exc:
        fields = tuple(sorted({v.field for v in exc.violations if v.field}))
        return Verdict(exc.http_status, exc.status, fields)
    return Verdict(200)


def local_verdict(example: Example, model: str, api_version: str = "v1") -> Verdict:
    """``validate_request``'s verdict on the body, as the mock gives it."""
    return _local_verdict(example.body, example.rpc, model, api_version)


def _envelope(reply: Reply, mode: Mode) -> Any:
    """The decoded error body: an object in unary and SSE mode, a list in array mode."""
    if mode.framing is wire.Framing.ARRAY:
        return wire.decode_array(reply.body)
    return wire.decode_unary(reply.body)


def reply_verdict(reply: Reply, mode: Mode = UNARY) -> Verdict:
    """The verdict a reply carries: 200, or the status and field paths of its envelope."""
    if reply.status == 200:
        return Verdict(200)
    try:
        value = _envelope(reply, mode)
    except wire.FramingError:
        return Verdict(reply.status, "?")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    error = value.get("error") if isinstance(value, Mapping) else None
    if not isinstance(error, Mapping):
        return Verdict(reply.status, "?")
    fields: set[str] = set()
    for detail in error.get("details") or ():
        if isinstance(detail, Mapping) and detail.get("@type") == BAD_REQUEST_TYPE:
            for violation in detail.get("fieldViolations") or ():
                if isinstance(violation, Mapping) and violation.get("field"):
                    fields.add(str(violation["field"]))
    return Verdict(reply.status, str(error.get("status", "?")), tuple(sorted(fields)))


# --------------------------------------------------------------------------------------------
# Failures and their reproductions


class PropertyFailed(AssertionError):
    """A property did not hold: which, why, and the call that showed it."""

    def __init__(
        self,
        message: str,
        *,
        call: Call | None = None,
        reply: Reply | None = None,
        prop: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.call = call
        self.reply = reply
        self.property = prop
        #: The fault to inject first (a scenario step) when the failure needs one.
        self.fault_step: Mapping[str, Any] | None = None
        self.reproduction: str | None = None

    def reproduce(self, folder: Path, target: Target) -> str:
        """Write the body to ``folder`` and return the failure with a curl command (the
        token never: the command reads it from the shell)."""
        lines = [f"{self.property or 'property'} failed: {self.message}"]
        call = self.call
        if call is not None:
            folder.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256(call.body).hexdigest()[:12]
            path = folder / f"{self.property or 'call'}-{digest}.json"
            path.write_bytes(call.body)
            lines.append(
                f"  request: {call.rpc} ({call.mode.name}) on {call.model}, body in {path}"
            )
            if self.fault_step is not None:
                base = "http://127.0.0.1:8080" if target.is_mock else target.base_url
                step = shlex.quote(json.dumps(self.fault_step, separators=(",", ":")))
                lines.append(
                    f"  inject: mockvertex fault add --url {base} --session {target.project} {step}"
                )
            if target.is_mock:
                url = call.url.replace(target.base_url, "http://127.0.0.1:8080", 1)
                lines.append("  reproduce: mockvertex serve --port 8080, then")
                lines.append(
                    "    "
                    + Call(call.rpc, call.mode, url, call.body, call.model).curl(
                        str(path), auth="mockvertex"
                    )
                )
            else:
                lines.append("  reproduce: " + call.curl(str(path), auth=target.auth_hint))
            lines.append(
                f"  local verdict: mockvertex validate --model {call.model} "
                f"--method {_unary_method(call.rpc)} {path}"
            )
        if self.reply is not None:
            shown = self.reply.body[:300].decode("utf-8", "replace")
            lines.append(
                f"  reply: HTTP {self.reply.status} {self.reply.content_type!r}: {shown!r}"
            )
        self.reproduction = "\n".join(lines)
        self.args = (self.reproduction,)
        return self.reproduction


def _unary_method(rpc: str) -> str:
    return "generateContent" if rpc == "streamGenerateContent" else rpc


# --------------------------------------------------------------------------------------------
# The context: a target, its cached replies, the reference mock


class Context:
    """What every property reads: the target, its replies (cached, so that properties reading
    the same request share one exchange), and the reference mock a non-mock target is compared
    with (each new exchange is sent to both and the difference recorded)."""

    def __init__(
        self,
        target: Target,
        *,
        reference: Target | None = None,
        recorder: Recorder | None = None,
        cache_size: int = 512,
        stall_timeout: float = 0.5,
    ) -> None:
        self.target = target
        self.reference = reference
        self.recorder = recorder
        self.stall_timeout = stall_timeout
        self._cache: OrderedDict[tuple[str, str, bytes], Reply] = OrderedDict()
        self._cache_size = cache_size
        self._replay: Any = None

    @property
    def model(self) -> str:
        return self.target.model

    @property
    def api_version(self) -> str:
        return self.target.api_version

    def verdict(self, example: Example) -> Verdict:
        return local_verdict(example, self.model, self.api_version)

    def exchange(self, example: Example, mode: Mode = UNARY) -> tuple[Call, Reply]:
        """The target's reply to the example in ``mode`` (sent once, then cached)."""
        rpc = mode.rpc(example.rpc)
        call = self.target.call(rpc, example.body, mode)
        key = (rpc, mode.name, example.body)
        reply = self._cache.get(key)
        if reply is not None:
            self._cache.move_to_end(key)
            return call, reply
        try:
            reply = self.target.send(call)
        except TransportFailure as exc:
            raise PropertyFailed(str(exc), call=call) from exc
        self._cache[key] = reply
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        if self.reference is not None and self.recorder is not None:
            mock = self.reference.send(self.reference.call(rpc, example.body, mode))
            self.recorder.compare(example, call, reply, mock)
        return call, reply

    def answered(self, prop: str, example: Example, mode: Mode) -> tuple[Call, Reply] | None:
        """The reply in ``mode`` when it is a 200; otherwise None, noted for the report (the
        verdict property is the one that judges a refused body)."""
        call, reply = self.exchange(example, mode)
        if reply.status == 200:
            return call, reply
        if self.recorder is not None:
            self.recorder.refused(prop, example, call, reply)
        return None

    def replay(self) -> Any:
        from mockvertex.conformance.targets import ReplayServer

        if self._replay is None:
            self._replay = ReplayServer()
        return self._replay

    def close(self) -> None:
        if self._replay is not None:
            self._replay.close()
            self._replay = None


# --------------------------------------------------------------------------------------------
# The property registry

Check = Callable[[Context, Example], None]


@dataclass(frozen=True)
class Property:
    """A named property: what it says, which examples it draws (``any``, ``invalid``,
    ``valid``: accepted generateContent bodies, ``valid-any``: accepted bodies of either
    method), and how many requests one example may cost (for the live cost estimate)."""

    name: str
    summary: str
    pool: str
    check: Check | None = None
    requests: int = 1
    needs_control: bool = False


PROPERTIES: dict[str, Property] = {}


def _property(name: str, summary: str, *, pool: str, requests: int = 1) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        PROPERTIES[name] = Property(name, summary, pool, check, requests)
        return check

    return register


def _fail(message: str, call: Call | None = None, reply: Reply | None = None) -> PropertyFailed:
    return PropertyFailed(message, call=call, reply=reply)


def _media_type(reply: Reply) -> str:
    return reply.content_type.split(";", 1)[0].strip().lower()


def _chunks(call: Call, reply: Reply, mode: Mode) -> list[dict[str, Any]]:
    """The JSON objects of a 200 reply, decoded by the contract's decoders; a body that does
    not decode fails the property at hand."""
    try:
        if mode.framing is wire.Framing.SSE:
            values = wire.decode_sse(reply.body)
        elif mode.framing is wire.Framing.ARRAY:
            values = wire.decode_array(reply.body)
        else:
            values = [wire.decode_unary(reply.body)]
    except wire.FramingError as exc:
        raise _fail(f"the {mode.name} body does not decode: {exc}", call, reply) from None
    if not values:
        raise _fail(f"the {mode.name} reply holds no chunk", call, reply)
    for i, value in enumerate(values):
        if not isinstance(value, dict):
            raise _fail(f"{mode.name} chunk {i} is not a JSON object: {value!r:.80}", call, reply)
        if wire.is_error_chunk(value):
            raise _fail(f"{mode.name} chunk {i} is an error in a 200 reply", call, reply)
    return values


def _response_type(api_version: str, *, counting: bool = False) -> protojson.MessageType:
    name = "CountTokensResponse" if counting else "GenerateContentResponse"
    return protojson.message_type(f"{api_version}/{name}")


# -- verdicts


@_property(
    "verdict-matches-validator",
    "the target's verdict on every body (HTTP status, error status, field paths) is the local "
    "validator's",
    pool="any",
)
def _verdict_matches(ctx: Context, example: Example) -> None:
    expected = ctx.verdict(example)
    call, reply = ctx.exchange(example, UNARY)
    got = reply_verdict(reply, UNARY)
    if got != expected:
        raise _fail(f"the local validator says {expected}; the target answered {got}", call, reply)


@_property(
    "invalid-never-5xx",
    "a body the validator refuses is never answered with a 5xx, in any framing",
    pool="invalid",
    requests=3,
)
def _invalid_never_5xx(ctx: Context, example: Example) -> None:
    for mode in _modes_for(example):
        call, reply = ctx.exchange(example, mode)
        if reply.status >= 500:
            raise _fail(
                f"a body the validator refuses ({ctx.verdict(example)}) got HTTP {reply.status} "
                f"in {mode.name} mode",
                call,
                reply,
            )


def _modes_for(example: Example) -> tuple[Mode, ...]:
    return (UNARY,) if example.rpc == "countTokens" else _NAME_MODES


@_property(
    "error-envelope",
    'errors are {"error": {"code", "message", "status"}} with the HTTP status paired to the '
    "google.rpc status, array-wrapped in array mode",
    pool="invalid",
    requests=3,
)
def _error_envelope(ctx: Context, example: Example) -> None:
    for mode in _modes_for(example):
        call, reply = ctx.exchange(example, mode)
        if reply.status != 200:
            check_envelope(call, reply, mode)


def check_envelope(call: Call, reply: Reply, mode: Mode) -> None:
    """An error reply is Google's envelope, as its framing wraps it."""
    if _media_type(reply) != "application/json":
        raise _fail(
            f"an error is sent as {reply.content_type!r}, not application/json", call, reply
        )
    try:
        value = _envelope(reply, mode)
    except wire.FramingError as exc:
        raise _fail(f"the {mode.name} error body does not decode: {exc}", call, reply) from None
    if mode.framing is wire.Framing.ARRAY:
        if not reply.body.startswith(b"[") or not isinstance(value, list) or len(value) != 1:
            raise _fail("in array mode the envelope must be the array's one element", call, reply)
        value = value[0]
    elif isinstance(value, list):
        raise _fail(
            f"in {mode.name} mode the envelope must not be wrapped in an array", call, reply
        )
    if not isinstance(value, Mapping) or set(value) != {"error"}:
        raise _fail('the error body must be {"error": {...}} and nothing else', call, reply)
    error = value["error"]
    if not isinstance(error, Mapping):
        raise _fail('"error" must be an object', call, reply)
    missing = [k for k in ("code", "message", "status") if k not in error]
    extra = sorted(set(error) - _ENVELOPE_KEYS)
    if missing or extra:
        raise _fail(f"the envelope lacks {missing} / has unknown keys {extra}", call, reply)
    code, status = error["code"], error["status"]
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(error["message"], str):
        raise _fail("error.code must be an integer and error.message a string", call, reply)
    if code != reply.status:
        raise _fail(f"error.code {code} is not the HTTP status {reply.status}", call, reply)
    if CANONICAL_HTTP.get(str(status)) != code:
        raise _fail(
            f"HTTP {code} is paired with status {status!r}; {status!r} is sent with "
            f"{CANONICAL_HTTP.get(str(status), 'no HTTP status (not a google.rpc code)')}",
            call,
            reply,
        )


# -- framing


@_property(
    "sse-framing",
    "an SSE reply is text/event-stream, each event 'data: ' + one line of JSON + CRLF CRLF, "
    "and nothing else",
    pool="valid",
)
def _sse_framing(ctx: Context, example: Example) -> None:
    answered = ctx.answered("sse-framing", example, SSE)
    if answered is None:
        return
    call, reply = answered
    if _media_type(reply) != "text/event-stream":
        raise _fail(f"Content-Type is {reply.content_type!r}, not text/event-stream", call, reply)
    body = reply.body
    if not body.endswith(b"\r\n\r\n"):
        raise _fail("the stream does not end with an event's CRLF CRLF", call, reply)
    for i, event in enumerate(body.split(b"\r\n\r\n")[:-1]):
        if not event.startswith(b"data: ") or b"\r" in event or b"\n" in event:
            raise _fail(
                f"event {i} is not one 'data: ' line followed by CRLF CRLF: {event[:80]!r}",
                call,
                reply,
            )
    decoder = wire.SSEDecoder()
    try:
        values = decoder.feed(body) + decoder.close()
    except wire.FramingError as exc:
        raise _fail(f"the SSE body does not decode: {exc}", call, reply) from None
    if decoder.separators_seen != {b"\r\n\r\n"} or decoder.comments or decoder.events_with_fields:
        raise _fail(
            f"events end with {sorted(decoder.separators_seen)}, {decoder.comments} comments, "
            f"fields {decoder.events_with_fields[:2]}: Vertex sends data lines and CRLF CRLF only",
            call,
            reply,
        )
    if not values or not all(isinstance(v, dict) for v in values):
        raise _fail("every event must hold one JSON object", call, reply)


@_property(
    "array-framing",
    "an array reply is application/json: '[' first, items separated by '\\n,\\r\\n', a "
    "closing ']' and not a byte after it",
    pool="valid",
)
def _array_framing(ctx: Context, example: Example) -> None:
    answered = ctx.answered("array-framing", example, ARRAY)
    if answered is None:
        return
    call, reply = answered
    if _media_type(reply) != "application/json":
        raise _fail(f"Content-Type is {reply.content_type!r}, not application/json", call, reply)
    body = reply.body
    if not body.startswith(b"["):
        raise _fail(f"the first byte is {body[:1]!r}, not '['", call, reply)
    decoder = wire.ArrayDecoder()
    try:
        items = decoder.feed(body) + decoder.close()
    except wire.FramingError as exc:
        raise _fail(f"the array does not decode: {exc}", call, reply) from None
    if decoder.bytes_after_close:
        raise _fail(f"{decoder.bytes_after_close} bytes follow the closing ']'", call, reply)
    if not items:
        raise _fail("the array holds no chunk", call, reply)
    # Pretty-printed JSON has raw LFs between tokens but never a raw CR: every CR is a separator's.
    separators = body.count(b"\n,\r\n")
    carriage_returns = body.count(b"\r")
    if separators != len(items) - 1 or carriage_returns != separators:
        raise _fail(
            f"{len(items)} items but {separators} '\\n,\\r\\n' separators and "
            f"{carriage_returns} CRs: Vertex separates items with '\\n,\\r\\n'",
            call,
            reply,
        )
    if not body.endswith(b"\n]"):
        raise _fail(f"the array ends {body[-4:]!r}, not '\\n]'", call, reply)


# -- enums, schemas, keys


def _walk_enums(
    value: Mapping[str, Any], msg: protojson.MessageType, path: str = ""
) -> Iterator[tuple[str, Any, Any]]:
    """Every enum-typed value of a message: (path, value, the enum)."""
    for key, item in value.items():
        f = msg.fields.get(key) or msg.lookup.get(key)
        if f is None:
            continue
        items = item if f.repeated and isinstance(item, list) else [item]
        where = f"{path}.{key}" if path else key
        for one in items:
            if f.kind == "enum":
                yield where, one, f.enum
            elif f.kind == "message" and f.message is not None and isinstance(one, Mapping):
                yield from _walk_enums(one, f.message, where)


def _names_for_numbers(value: Any, msg: protojson.MessageType) -> Any:
    """A copy of a chunk with integer enums back as names (for the schemas, which say names)."""
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        f = msg.fields.get(key)
        if f is None:
            out[key] = item
            continue

        def one(v: Any, f: Any = f) -> Any:
            if f.kind == "enum" and isinstance(v, int) and not isinstance(v, bool):
                return f.enum.by_number.get(v, v)
            if f.kind == "message" and f.message is not None:
                return _names_for_numbers(v, f.message)
            return v

        out[key] = [one(v) for v in item] if f.repeated and isinstance(item, list) else one(item)
    return out


@_property(
    "int-enums-when-asked",
    "enums are integers exactly when enum-encoding=int is asked for, names otherwise",
    pool="valid",
    requests=5,
)
def _int_enums(ctx: Context, example: Example) -> None:
    msg = _response_type(ctx.api_version)
    for mode in (*_NAME_MODES, *_INT_MODES):
        answered = ctx.answered("int-enums-when-asked", example, mode)
        if answered is None:
            continue
        call, reply = answered
        for i, chunk in enumerate(_chunks(call, reply, mode)):
            for path, value, enum in _walk_enums(chunk, msg):
                numbered = isinstance(value, str) and value in enum.number_of
                is_int = isinstance(value, int) and not isinstance(value, bool)
                if mode.int_enums and numbered:
                    raise _fail(
                        f"chunk {i}: {path} is the name {value!r} although enum-encoding=int "
                        f"was asked for (its number is {enum.number_of[value]})",
                        call,
                        reply,
                    )
                if not mode.int_enums and not isinstance(value, str):
                    raise _fail(
                        f"chunk {i}: {path} is {value!r}; without enum-encoding=int enums are "
                        "names",
                        call,
                        reply,
                    )
                if mode.int_enums and not is_int and not isinstance(value, str):
                    raise _fail(f"chunk {i}: {path} is {value!r}, neither number nor name", call)


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        resources.schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _schema_error(validator: Any, instance: Any) -> str | None:
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(instance))
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where.lstrip('.') or '<root>'}: {error.message[:200]}"


@_property(
    "chunks-match-schema",
    "every reply and chunk validates against the response schema, in unary, SSE and array "
    "modes, with names and with integer enums",
    pool="valid-any",
    requests=5,
)
def _chunks_match_schema(ctx: Context, example: Example) -> None:
    version = ctx.api_version
    if example.rpc == "countTokens":
        plan: Sequence[tuple[Mode, str]] = ((UNARY, "CountTokensResponse"),)
    else:
        plan = (
            (UNARY, "GenerateContentResponse"),
            (UNARY_INT, "GenerateContentResponse"),
            (SSE, "GenerateContentStreamChunk"),
            (ARRAY, "GenerateContentStreamChunk"),
            (ARRAY_INT, "GenerateContentStreamChunk"),
        )
    counting = example.rpc == "countTokens"
    for mode, schema in plan:
        answered = ctx.answered("chunks-match-schema", example, mode)
        if answered is None:
            continue
        call, reply = answered
        validator = _validator(f"{version}/{schema}.schema.json")
        for i, chunk in enumerate(_chunks(call, reply, mode)):
            named = _names_for_numbers(chunk, _response_type(version, counting=counting))
            problem = _schema_error(validator, named if mode.int_enums else chunk)
            if problem is not None:
                raise _fail(f"{mode.name} chunk {i} breaks {schema}: {problem}", call, reply)


def _bad_keys(
    value: Mapping[str, Any], msg: protojson.MessageType | None, path: str = ""
) -> Iterator[str]:
    """Keys that are not lowerCamelCase, outside maps and free-form JSON (function args)."""
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if not _CAMEL.match(key):
            yield where
        f = None if msg is None else (msg.fields.get(key) or msg.lookup.get(key))
        if f is not None and f.kind != "message":
            continue  # enums, scalars, maps, Struct and Value: no keys of the API's own
        sub = None if f is None else f.message
        for one in item if isinstance(item, list) else [item]:
            if isinstance(one, Mapping):
                yield from _bad_keys(one, sub, where)


@_property(
    "camel-case-keys",
    "every key of a reply is lowerCamelCase (the API's JSON names), in every mode",
    pool="valid-any",
    requests=3,
)
def _camel_case_keys(ctx: Context, example: Example) -> None:
    counting = example.rpc == "countTokens"
    for mode in (UNARY,) if counting else _NAME_MODES:
        answered = ctx.answered("camel-case-keys", example, mode)
        if answered is None:
            continue
        call, reply = answered
        for i, chunk in enumerate(_chunks(call, reply, mode)):
            bad = list(_bad_keys(chunk, _response_type(ctx.api_version, counting=counting)))
            if bad:
                raise _fail(f"{mode.name} chunk {i} has keys not in camelCase: {bad[:5]}", call)


# -- chunk semantics


def _texts(chunk: Mapping[str, Any]) -> dict[int, str]:
    """Each candidate's answer text in a chunk (thought summaries apart), by index."""
    out: dict[int, str] = {}
    for position, candidate in enumerate(chunk.get("candidates") or ()):
        index = int(candidate.get("index", position))
        parts = (candidate.get("content") or {}).get("parts") or ()
        text = "".join(
            str(p["text"])
            for p in parts
            if isinstance(p, Mapping) and "text" in p and not p.get("thought")
        )
        if text:
            out[index] = out.get(index, "") + text
    return out


@_property(
    "text-deltas",
    "streamed text parts are deltas: no chunk repeats the text before it, and on a "
    "deterministic target they concatenate to the unary answer",
    pool="valid",
    requests=3,
)
def _text_deltas(ctx: Context, example: Example) -> None:
    unary_text: str | None = None
    if ctx.target.deterministic:
        answered = ctx.answered("text-deltas", example, UNARY)
        if answered is not None:
            call, reply = answered
            unary_text = _texts(_chunks(call, reply, UNARY)[0]).get(0, "")
    for mode in _STREAMS:
        answered = ctx.answered("text-deltas", example, mode)
        if answered is None:
            continue
        call, reply = answered
        so_far: dict[int, str] = {}
        for i, chunk in enumerate(_chunks(call, reply, mode)):
            for index, text in _texts(chunk).items():
                before = so_far.get(index, "")
                if before and text.startswith(before):
                    raise _fail(
                        f"{mode.name} chunk {i} repeats the {len(before)} characters before it: "
                        "text parts must be deltas, not the answer so far",
                        call,
                        reply,
                    )
                so_far[index] = before + text
        if unary_text is not None and so_far.get(0, "") != unary_text:
            raise _fail(
                f"the {mode.name} deltas concatenate to {so_far.get(0, '')[:80]!r}, the unary "
                f"answer is {unary_text[:80]!r}",
                call,
                reply,
            )


def _finishes(chunk: Mapping[str, Any]) -> bool:
    feedback = chunk.get("promptFeedback") or {}
    return "blockReason" in feedback or any(
        "finishReason" in c for c in chunk.get("candidates") or ()
    )


@_property(
    "finish-and-usage-last",
    "finishReason and the full usageMetadata come on the last chunk only (earlier chunks carry "
    "at most trafficType)",
    pool="valid",
    requests=2,
)
def _finish_and_usage_last(ctx: Context, example: Example) -> None:
    for mode in _STREAMS:
        answered = ctx.answered("finish-and-usage-last", example, mode)
        if answered is None:
            continue
        call, reply = answered
        chunks = _chunks(call, reply, mode)
        *earlier, last = chunks
        for i, chunk in enumerate(earlier):
            if _finishes(chunk):
                raise _fail(f"{mode.name} chunk {i} of {len(chunks)} has a finishReason", call)
            usage = set(chunk.get("usageMetadata") or {}) - {"trafficType"}
            if usage:
                raise _fail(
                    f"{mode.name} chunk {i} of {len(chunks)} carries usage {sorted(usage)}: only "
                    "the last chunk has the counts",
                    call,
                    reply,
                )
        if not _finishes(last):
            raise _fail(f"the last {mode.name} chunk has no finishReason", call, reply)
        missing = [k for k in _FULL_USAGE if k not in (last.get("usageMetadata") or {})]
        if missing:
            raise _fail(f"the last {mode.name} chunk's usageMetadata lacks {missing}", call, reply)


def _usage_problems(usage: Mapping[str, Any]) -> list[str]:
    def n(key: str) -> int:
        value = usage.get(key, 0)
        return int(value) if isinstance(value, int | str) and str(value).isdigit() else -1

    problems = []
    parts = (
        "promptTokenCount",
        "candidatesTokenCount",
        "thoughtsTokenCount",
        "toolUsePromptTokenCount",
    )
    total = sum(n(k) for k in parts)
    if "totalTokenCount" in usage and n("totalTokenCount") != total:
        problems.append(
            f"totalTokenCount {usage['totalTokenCount']} != {' + '.join(parts)} = {total}"
        )
    for details, count in (
        ("promptTokensDetails", "promptTokenCount"),
        ("candidatesTokensDetails", "candidatesTokenCount"),
        ("cacheTokensDetails", "cachedContentTokenCount"),
        ("toolUsePromptTokensDetails", "toolUsePromptTokenCount"),
    ):
        if details in usage:
            summed = sum(int(d.get("tokenCount", 0)) for d in usage[details])
            if summed != n(count):
                problems.append(f"{details} sum to {summed}, {count} is {usage.get(count, 0)}")
    return problems


@_property(
    "usage-sums",
    "totalTokenCount = prompt + candidates + thoughts + tool-use prompt tokens, and each "
    "*TokensDetails list sums to its count",
    pool="valid",
    requests=3,
)
def _usage_sums(ctx: Context, example: Example) -> None:
    for mode in _NAME_MODES:
        answered = ctx.answered("usage-sums", example, mode)
        if answered is None:
            continue
        call, reply = answered
        usage = _chunks(call, reply, mode)[-1].get("usageMetadata") or {}
        problems = _usage_problems(usage)
        if problems:
            raise _fail(f"{mode.name}: " + "; ".join(problems), call, reply)


def count_body(request: Mapping[str, Any]) -> dict[str, Any]:
    """The countTokens body of a (normalized) generateContent request: the same contents,
    system instruction and tools."""
    return {k: request[k] for k in ("contents", "systemInstruction", "tools") if k in request}


@_property(
    "count-tokens-matches-usage",
    "countTokens' totalTokens equals the promptTokenCount of generateContent on the same contents",
    pool="valid",
    requests=2,
)
def _count_tokens_matches(ctx: Context, example: Example) -> None:
    request = validate_request(
        example.body, model=ctx.model, method="generateContent", api_version=ctx.api_version
    )
    counting = Example.of(example.name + "/countTokens", "countTokens", count_body(request))
    if not ctx.verdict(counting).ok:
        return  # a body whose contents cannot be counted alone (tools the count refuses)
    answered = ctx.answered("count-tokens-matches-usage", example, UNARY)
    counted = ctx.answered("count-tokens-matches-usage", counting, UNARY)
    if answered is None or counted is None:
        return
    call, reply = answered
    count_call, count_reply = counted
    prompt = (_chunks(call, reply, UNARY)[0].get("usageMetadata") or {}).get("promptTokenCount")
    total = _chunks(count_call, count_reply, UNARY)[0].get("totalTokens")
    if prompt != total:
        raise _fail(
            f"countTokens says totalTokens {total}; generateContent's promptTokenCount is {prompt}",
            count_call,
            count_reply,
        )


@_property(
    "model-version-present",
    "every reply and chunk names its modelVersion",
    pool="valid",
    requests=3,
)
def _model_version(ctx: Context, example: Example) -> None:
    for mode in _NAME_MODES:
        answered = ctx.answered("model-version-present", example, mode)
        if answered is None:
            continue
        call, reply = answered
        for i, chunk in enumerate(_chunks(call, reply, mode)):
            version = chunk.get("modelVersion")
            if not isinstance(version, str) or not version:
                raise _fail(f"{mode.name} chunk {i} has no modelVersion", call, reply)


#: Fields that differ between two replies to the same request on the very same server.
_PER_CALL = frozenset({"createTime"})


def _structure(chunk: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    candidates = chunk.get("candidates") or [{}]
    return tuple(sorted(chunk)), tuple(sorted(candidates[0]))


@_property(
    "sse-and-array-agree",
    "SSE and the JSON array stream the same chunk sequence (exactly on a deterministic target, "
    "the same structure elsewhere)",
    pool="valid",
    requests=2,
)
def _sse_and_array_agree(ctx: Context, example: Example) -> None:
    sse, array = (ctx.answered("sse-and-array-agree", example, m) for m in _STREAMS)
    if sse is None or array is None:
        return
    sse_chunks = _chunks(*sse, SSE)
    array_chunks = _chunks(*array, ARRAY)
    if ctx.target.deterministic:
        strip = [
            [{k: v for k, v in c.items() if k not in _PER_CALL} for c in cs]
            for cs in (sse_chunks, array_chunks)
        ]
        if strip[0] != strip[1]:
            at = next(
                (i for i, (a, b) in enumerate(zip(*strip, strict=False)) if a != b),
                min(len(strip[0]), len(strip[1])),
            )
            raise _fail(
                f"SSE sent {len(sse_chunks)} chunks, the array {len(array_chunks)}; they first "
                f"differ at chunk {at}",
                array[0],
                array[1],
            )
        return
    for which, pick in (("first", 0), ("last", -1)):
        if _structure(sse_chunks[pick]) != _structure(array_chunks[pick]):
            raise _fail(
                f"the {which} chunk differs in structure: SSE {_structure(sse_chunks[pick])}, "
                f"array {_structure(array_chunks[pick])}",
                array[0],
                array[1],
            )


# -- the clients


@_property(
    "clients-read-alike",
    "VertexClient and google-genai read the same SSE bytes into the same text, function calls, "
    "finish reason and usage",
    pool="valid",
)
def _clients_read_alike(ctx: Context, example: Example) -> None:
    answered = ctx.answered("clients-read-alike", example, SSE)
    if answered is None:
        return
    call, reply = answered
    replay = ctx.replay()
    replay.serve(reply)
    try:
        kit = clients.read_with_kit(replay.url, ctx.model)
    except StatusError as exc:
        raise _fail(f"VertexClient could not read the stream: {exc}", call, reply) from None
    try:
        sdk = clients.read_with_genai(replay.url, ctx.model)
    except Exception as exc:  # whatever the SDK raises is the finding
        raise _fail(f"google-genai could not read the stream: {exc!r}", call, reply) from None
    if kit != sdk:
        raise _fail(f"VertexClient read {kit}; google-genai read {sdk}", call, reply)


# --------------------------------------------------------------------------------------------
# Faults: both clients against the target's control plane


PROPERTIES["clients-raise-alike-on-faults"] = Property(
    "clients-raise-alike-on-faults",
    "for every fault the mock can inject (each kind of its registry, and HTTP errors), "
    "VertexClient and google-genai raise the matching error (code and status)",
    pool="",
    requests=4,
    needs_control=True,
)


@dataclass(frozen=True)
class FaultResult:
    """Both clients' outcomes for one case and mode; ``known`` names an accepted divergence."""

    case: str
    mode: str
    expected: Outcome
    kit: Outcome
    genai: Outcome


#: The body of every call on an injected fault (the fault answers whatever is asked).
_FAULT_BODY = b'{"contents": [{"role": "user", "parts": [{"text": "conformance fault"}]}]}'


def check_fault(ctx: Context, case_name: str, mode: Mode) -> FaultResult:
    """Inject the case on the target's control plane; both clients must raise its error.

    Returns the outcomes when the kit's client raised the expected error; raises
    ``PropertyFailed`` when it did not. Whether google-genai agrees is for the caller to judge
    against the known divergences (``FaultResult``).
    """
    control = ctx.target.control
    if control is None:
        raise RuntimeError("faults need a target with the mock's control plane")
    case = clients.fault_cases()[case_name]
    name = f"conformance-{case.name}"
    control.add_fault(case.step, name=name)
    try:
        kit = clients.outcome_with_kit(
            ctx.target, ctx.model, streaming=mode.streaming, timeout=ctx.stall_timeout
        )
        sdk = clients.outcome_with_genai(
            ctx.target, ctx.model, streaming=mode.streaming, timeout=ctx.stall_timeout
        )
    finally:
        control.remove_scenario(name)
    result = FaultResult(case.name, mode.name, case.expected, kit, sdk)
    if not kit.same(case.expected):
        raise fault_failure(
            ctx,
            case_name,
            mode,
            f"{case.name} in {mode.name} mode: VertexClient raised {kit}, expected {case.expected}",
        )
    return result


def fault_failure(ctx: Context, case_name: str, mode: Mode, message: str) -> PropertyFailed:
    """A failure on an injected fault, its reproduction the fault step and the call."""
    failure = PropertyFailed(
        message,
        call=ctx.target.call(mode.rpc(), _FAULT_BODY, mode),
        prop="clients-raise-alike-on-faults",
    )
    failure.fault_step = clients.fault_cases()[case_name].step
    return failure


def check_injected_envelope(ctx: Context, case_name: str) -> None:
    """An HTTP error injected on the control plane comes back as the envelope, in every mode."""
    control = ctx.target.control
    if control is None:
        raise RuntimeError("injected errors need a target with the mock's control plane")
    case = clients.fault_cases()[case_name]
    name = f"conformance-envelope-{case.name}"
    control.add_fault(case.step, name=name)
    try:
        for mode in _NAME_MODES:
            call = ctx.target.call(mode.rpc(), _FAULT_BODY, mode)
            try:
                reply = ctx.target.send(call)
            except TransportFailure as exc:
                raise _fail(str(exc), call) from exc
            if reply.status != case.expected.http:
                raise _fail(
                    f"the injected {case.name} came back as HTTP {reply.status}", call, reply
                )
            check_envelope(call, reply, mode)
    finally:
        control.remove_scenario(name)


# --------------------------------------------------------------------------------------------
# Running a property with Hypothesis


#: The shapes drawn bodies come in (``strategies.generate_content_requests`` keywords): as
#: google-genai sends them, as LiteLLM does (snake_case), as the seed doc wrote them (single
#: objects for lists), as the gapic transport does (integer enums).
_FORMS: tuple[Mapping[str, Any], ...] = (
    {},
    {"casing": "snake"},
    {"casing": "mixed", "single_objects": True},
    {"int_enums": True},
)


def _generated(pool: str, ctx: Context) -> SearchStrategy[Example] | None:
    """Examples from ``mockvertex.conformance.strategies``, when it is installed."""
    try:
        from mockvertex.conformance import strategies
    except ImportError:
        return None
    from hypothesis import strategies as st

    model, version = ctx.model, ctx.api_version

    def valid(rpc: str) -> SearchStrategy[Example]:
        draw = (
            strategies.count_tokens_requests
            if rpc == "countTokens"
            else strategies.generate_content_requests
        )
        return st.one_of([draw(model, version, **form) for form in _FORMS]).map(
            lambda body: Example.of("drawn", rpc, body, "mockvertex.strategies")
        )

    def invalid() -> SearchStrategy[Example]:
        def of(mutation: Any) -> Example:
            source = f"mockvertex.strategies: {mutation.kind} at {mutation.expected_field!r}"
            return Example(
                f"mutation:{mutation.kind}", mutation.method, mutation.body_bytes(), source
            )

        return st.one_of(
            strategies.invalid_requests(model, version, method="generateContent").map(of),
            strategies.invalid_requests(model, version, method="countTokens").map(of),
        )

    if pool == "valid":
        return valid("generateContent")
    if pool == "valid-any":
        return st.one_of(valid("generateContent"), valid("countTokens"))
    if pool == "invalid":
        return invalid()
    return st.one_of(valid("generateContent"), valid("countTokens"), invalid())


def _in_pool(pool: str, ctx: Context, example: Example) -> bool:
    ok = ctx.verdict(example).ok
    if pool == "any":
        return True
    if pool == "invalid":
        return not ok
    if pool == "valid":
        return ok and example.rpc == "generateContent"
    return ok  # valid-any


def pool_examples(pool: str, ctx: Context) -> list[Example]:
    """The fixed examples a pool holds (they run first, as Hypothesis' explicit examples)."""
    return [e for e in fixed_examples() if _in_pool(pool, ctx, e)]


def examples_for(pool: str, ctx: Context) -> SearchStrategy[Example]:
    """The strategy a property draws from: generated bodies when the strategies module is
    there, else the fixed ones."""
    from hypothesis import strategies as st

    generated = _generated(pool, ctx)
    if generated is not None:
        return generated.filter(lambda e: _in_pool(pool, ctx, e))
    fixed = pool_examples(pool, ctx)
    if not fixed:
        raise RuntimeError(f"no example for the pool {pool!r}")
    return st.sampled_from(fixed)


def _property_failure(exc: BaseException) -> PropertyFailed | None:
    """The PropertyFailed in an exception (Hypothesis may wrap it in a group when flaky)."""
    if isinstance(exc, PropertyFailed):
        return exc
    for inner in getattr(exc, "exceptions", ()) or ():
        found = _property_failure(inner)
        if found is not None:
            return found
    return None


def run(
    ctx: Context,
    prop: Property,
    settings: Settings,
    *,
    on_failure: Callable[[PropertyFailed], None] | None = None,
) -> None:
    """Check ``prop`` on the fixed examples (explicit) and on drawn ones; a failure is raised
    after ``on_failure`` has written its reproduction."""
    from hypothesis import example as explicit
    from hypothesis import given

    check = prop.check
    if check is None:
        raise ValueError(f"{prop.name} is not checked example by example")

    def test(example: Example) -> None:
        check(ctx, example)

    wrapped: Any = given(example=examples_for(prop.pool, ctx))(test)
    for fixed in reversed(pool_examples(prop.pool, ctx)):
        wrapped = explicit(example=fixed)(wrapped)
    wrapped = settings(wrapped)
    try:
        wrapped()
    except BaseException as exc:
        failure = _property_failure(exc)
        if failure is None:
            raise
        failure.property = failure.property or prop.name
        if on_failure is not None:
            on_failure(failure)
        raise
