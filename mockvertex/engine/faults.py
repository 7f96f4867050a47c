"""The fault registry: every way an exchange can break on the wire, one typed class per kind.

A scenario step's ``fault`` object names a ``kind``; :func:`parse_fault` finds that kind's class
in :data:`REGISTRY`, which checks and keeps its parameters, and the class applies itself through
an :class:`Outlet`: the reply on its way out, over the small :class:`Injector` interface that
the server implements on a socket (WireMock's ``Fault`` + ``FaultInjector``). The engine stays
pure: a fault says what to write, when to wait and how the exchange ends; the server does it.

Every kind works in the three framings, with the bytes Vertex sends there:

* ``error`` after N chunks: an SSE event ``data: {"error": ...}``, an array element holding the
  envelope then the closing ``]``, and for a unary call the error status instead of a body;
* ``disconnect``: the connection reset (RST) after N chunks, or after N body bytes (``afterBytes``,
  which may fall inside a JSON object); a unary call is reset before its status line, unless
  ``afterBytes`` cuts its body (headers, then that many bytes of the body);
* ``truncate``: a clean but early end after N chunks, at most all but the last: no last chunk,
  no finishReason, in array mode no closing ``]`` (the opening ``[`` is always sent); a unary
  call gets the merge of those chunks;
* ``malformed``: N chunks, then a frame whose braces balance but whose JSON does not parse,
  then the framing's clean end (the closing ``]`` in array mode); a unary body is that frame;
* ``garbage``: random bytes (seeded) instead of any HTTP response, then close;
* ``empty``: the connection closed before any byte;
* ``stall``: N chunks (headers at least), then nothing until the client gives up or
  ``seconds`` pass; then the connection is reset.

Pacing (delays before the headers, before the first chunk, between chunks, and a dribble that
spreads a body's bytes over a duration) is a :class:`Pacing` that every delivery honours.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from mockvertex.contract import wire
from mockvertex.contract.errors import DataFileError, StatusError, error_class_for
from mockvertex.contract.responses import merge_chunks

__all__ = [
    "MALFORMED_FRAME",
    "REGISTRY",
    "Delay",
    "Disconnect",
    "Dribble",
    "Empty",
    "ErrorAfter",
    "ErrorSpec",
    "Fault",
    "Garbage",
    "Injector",
    "Malformed",
    "Outlet",
    "Pacing",
    "Stall",
    "Truncate",
    "deliver",
    "parse_delay",
    "parse_error",
    "parse_fault",
    "parse_pacing",
]

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
#: The longest a stall may hold a connection when its step names no limit, in seconds.
DEFAULT_STALL_SECONDS = 30.0


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class ErrorSpec:
    """A google.rpc error as a scenario writes it; :meth:`build` makes the exception.

    ``retry_after`` is sent as a ``Retry-After`` header, as written (delay-seconds or an
    HTTP-date, RFC 9110); ``retry_delay`` adds a ``google.rpc.RetryInfo`` detail.
    """

    code: int
    status: str = ""
    message: str | None = None
    details: tuple[Mapping[str, Any], ...] = ()
    retry_after: str | None = None
    retry_delay: str | None = None

    def build(self, model: str) -> StatusError:
        klass = error_class_for(self.code, self.status)
        message = None if self.message is None else self.message.replace("{model}", model)
        details = list(self.details)
        if self.retry_delay is not None:
            details.append({"@type": _RETRY_INFO, "retryDelay": self.retry_delay})
        headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
        return klass(message, details=details, headers=headers)

    def to_json(self) -> dict[str, Any]:
        """The error as a scenario writes it (what :func:`parse_error` reads back)."""
        out: dict[str, Any] = {"code": self.code}
        if self.status:
            out["status"] = self.status
        if self.message is not None:
            out["message"] = self.message
        if self.details:
            out["details"] = [dict(d) for d in self.details]
        if self.retry_after is not None:
            out["retryAfter"] = (
                int(self.retry_after) if self.retry_after.isdigit() else self.retry_after
            )
        if self.retry_delay is not None:
            out["retryDelay"] = self.retry_delay
        return out


def parse_error(raw: Mapping[str, Any]) -> ErrorSpec:
    """An ``error`` object of a scenario, already checked against the scenario schema."""
    retry_after = raw.get("retryAfter")
    return ErrorSpec(
        code=int(raw.get("code", 500)),
        status=str(raw.get("status", "")),
        message=None if raw.get("message") is None else str(raw["message"]),
        details=tuple(dict(d) for d in raw.get("details") or ()),
        retry_after=None if retry_after is None else str(retry_after),
        retry_delay=None if raw.get("retryDelay") is None else str(raw["retryDelay"]),
    )


# --------------------------------------------------------------------------------------------
# Pacing


@dataclass(frozen=True)
class Delay:
    """A delay in seconds: fixed, uniform in ``[low, high]``, or log-normal (median, sigma),
    whose draws ``cap`` cuts (None: no limit)."""

    kind: str  # "fixed" | "uniform" | "lognormal"
    a: float
    b: float = 0.0
    cap: float | None = None

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        drawn = rng.lognormvariate(math.log(self.a), self.b) if self.a > 0 else 0.0
        return drawn if self.cap is None else min(drawn, self.cap)

    def to_json(self) -> Any:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return {"uniform": [self.a, self.b]}
        spec = {"median": self.a, "sigma": self.b}
        if self.cap is not None:
            spec["max"] = self.cap
        return {"lognormal": spec}


def parse_delay(raw: Any, where: str = "delay", file: str = "<mapping>") -> Delay:
    """A number of seconds, ``{"uniform": [low, high]}`` or ``{"lognormal": {median, sigma}}``."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return Delay("fixed", float(raw))
    if isinstance(raw, Mapping) and "uniform" in raw:
        low, high = (float(v) for v in raw["uniform"])
        if high < low:
            raise DataFileError(
                file, f"{where}.uniform", "the upper bound must not be below the lower"
            )
        return Delay("uniform", low, high)
    if isinstance(raw, Mapping) and "lognormal" in raw:
        spec = raw["lognormal"]
        cap = None if spec.get("max") is None else float(spec["max"])
        return Delay("lognormal", float(spec["median"]), float(spec["sigma"]), cap)
    raise DataFileError(file, where, "must be seconds, {uniform: [low, high]} or {lognormal: ...}")


@dataclass(frozen=True)
class Dribble:
    """The body's bytes written in ``pieces`` equal slices spread over ``seconds``: the first
    slice at once, the last ``seconds`` later (a single slice waits ``seconds`` before the end)."""

    seconds: float
    pieces: int


@dataclass(frozen=True)
class Pacing:
    """When the bytes of a reply go out. ``seed`` makes sampled delays reproducible."""

    first_byte: Delay | None = None
    first_chunk: Delay | None = None
    between_chunks: Delay | None = None
    dribble: Dribble | None = None
    seed: int = 0

    def rng(self, use: int) -> random.Random:
        """The random source of the ``use``-th reply paced so (same seed, same order)."""
        return random.Random(self.seed * 1_000_003 + use)


def parse_pacing(raw: Mapping[str, Any], where: str = "delay", file: str = "<mapping>") -> Pacing:
    """A step's ``delay`` object, already checked against the scenario schema."""

    def one(key: str) -> Delay | None:
        return parse_delay(raw[key], f"{where}.{key}", file) if key in raw else None

    dribble = raw.get("dribble")
    return Pacing(
        first_byte=one("firstByte"),
        first_chunk=one("firstChunk"),
        between_chunks=one("betweenChunks"),
        dribble=None
        if dribble is None
        else Dribble(float(dribble["seconds"]), int(dribble.get("pieces", 10))),
        seed=int(raw.get("seed", 0)),
    )


# --------------------------------------------------------------------------------------------
# The injector and the outlet


class Injector(Protocol):
    """What a fault can do to an exchange; the server implements it on a socket."""

    async def sleep(self, seconds: float) -> None:
        """Wait (the exchange stays open)."""

    async def start(self, content_length: int | None = None) -> None:
        """Send the status line (200) and headers, once; later calls do nothing."""

    async def write(self, data: bytes) -> None:
        """Body bytes (the headers first, if not sent yet)."""

    async def end(self) -> None:
        """End the body cleanly."""

    async def reset(self) -> None:
        """Abort the connection (TCP RST), whatever was sent."""

    async def close(self) -> None:
        """Close the connection (FIN) without having sent a response."""

    async def raw(self, data: bytes) -> None:
        """Bytes on the socket with no HTTP around them, then close."""

    async def error(self, error: StatusError) -> None:
        """Answer with the error's status and envelope instead of a 200 (nothing sent yet)."""

    async def hold(self, seconds: float) -> bool:
        """Send nothing for up to ``seconds``; True when the client hung up meanwhile."""


@dataclass
class Outlet:
    """One reply on its way out: its chunks, framing and pacing, over an injector.

    ``chunks_sent`` and ``outcome`` say afterwards what happened; the helpers below are what
    fault classes are written with.
    """

    injector: Injector
    chunks: Sequence[Mapping[str, Any]]
    framing: wire.Framing
    pacing: Pacing = field(default_factory=Pacing)
    model: str = ""
    use: int = 0
    counting: bool = False
    chunks_sent: int = 0
    outcome: str = "ok"
    _writer: wire.ArrayWriter = field(default_factory=wire.ArrayWriter)
    _rng: random.Random | None = None

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = self.pacing.rng(self.use)
        return self._rng

    @property
    def streaming(self) -> bool:
        return self.framing is not wire.Framing.UNARY

    async def wait(self, delay: Delay | None) -> None:
        if delay is not None:
            seconds = delay.sample(self.rng)
            if seconds > 0:
                await self.injector.sleep(seconds)

    def encode(self, chunk: Mapping[str, Any]) -> bytes:
        if self.framing is wire.Framing.SSE:
            return wire.encode_sse_event(chunk)
        return self._writer.item(chunk)

    def closing(self) -> bytes:
        return self._writer.close() if self.framing is wire.Framing.ARRAY else b""

    def unary_body(self, upto: int | None = None) -> bytes:
        chunks = self.chunks if upto is None else self.chunks[:upto]
        return wire.encode_unary(chunks[0] if self.counting else merge_chunks(chunks))

    async def send_chunks(self, upto: int | None = None) -> None:
        """Stream chunks up to index ``upto`` (all by default), paced, headers first."""
        await self.injector.start()
        end = len(self.chunks) if upto is None else min(upto, len(self.chunks))
        while self.chunks_sent < end:
            index = self.chunks_sent
            await self.wait(self.pacing.first_chunk if index == 0 else self.pacing.between_chunks)
            await self.injector.write(self.encode(self.chunks[index]))
            self.chunks_sent = index + 1

    async def finish(self) -> None:
        """The closing bytes of the framing and a clean end."""
        closing = self.closing()
        if closing:
            await self.injector.write(closing)
        await self.injector.end()


async def deliver(outlet: Outlet, fault: Fault | None) -> None:
    """Send the reply through its injector, broken by ``fault`` when there is one."""
    await outlet.wait(outlet.pacing.first_byte)
    if fault is not None:
        await fault.apply(outlet)
        return
    if outlet.pacing.dribble is not None:
        await _dribble(outlet, outlet.pacing.dribble)
        return
    if outlet.streaming:
        await outlet.send_chunks()
        await outlet.finish()
    else:
        body = outlet.unary_body()
        await outlet.injector.start(len(body))
        await outlet.wait(outlet.pacing.first_chunk)
        await outlet.injector.write(body)
        await outlet.injector.end()
        outlet.chunks_sent = 1


async def _dribble(outlet: Outlet, dribble: Dribble) -> None:
    if outlet.streaming:
        body = b"".join(outlet.encode(c) for c in outlet.chunks) + outlet.closing()
        await outlet.injector.start()
    else:
        body = outlet.unary_body()
        await outlet.injector.start(len(body))
    pieces = max(1, min(dribble.pieces, len(body)))
    pause = dribble.seconds / (pieces - 1) if pieces > 1 else dribble.seconds
    bounds = [len(body) * i // pieces for i in range(pieces + 1)]
    for i in range(pieces):
        if i and pause > 0:
            await outlet.injector.sleep(pause)
        await outlet.injector.write(body[bounds[i] : bounds[i + 1]])
    if pieces == 1 and pause > 0:
        await outlet.injector.sleep(pause)
    outlet.chunks_sent = len(outlet.chunks) if outlet.streaming else 1
    await outlet.injector.end()


# --------------------------------------------------------------------------------------------
# Fault kinds


class Fault(ABC):
    """One kind of breakage: parsed from a step's ``fault`` object, applied to an outlet."""

    kind: ClassVar[str]
    #: The journal outcome of an exchange this fault broke.
    outcome: ClassVar[str]

    @classmethod
    @abstractmethod
    def parse(cls, raw: Mapping[str, Any], where: str, file: str) -> Fault:
        """The fault from its (schema-checked) JSON; DataFileError for rules beyond the schema."""

    @abstractmethod
    async def apply(self, outlet: Outlet) -> None:
        """Send the broken reply."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The fault as a scenario writes it."""


def _after(raw: Mapping[str, Any]) -> int:
    return int(raw.get("after", 0))


@dataclass(frozen=True)
class ErrorAfter(Fault):
    """N chunks, then an error object in the stream (a unary call gets the error status)."""

    kind: ClassVar[str] = "error"
    outcome: ClassVar[str] = "mid_stream_error"
    after: int
    error: ErrorSpec

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str, file: str) -> ErrorAfter:
        return cls(_after(raw), parse_error(raw.get("error") or {"code": 500}))

    async def apply(self, outlet: Outlet) -> None:
        error = self.error.build(outlet.model)
        if not outlet.streaming:
            outlet.outcome = "error"
            await outlet.injector.error(error)
            return
        await outlet.send_chunks(self.after)
        outlet.outcome = self.outcome  # before the error leaves: its reader may look at once
        envelope = error.to_envelope()
        if outlet.framing is wire.Framing.SSE:
            await outlet.injector.write(wire.encode_sse_event(envelope))
        else:
            await outlet.injector.write(outlet.encode(envelope) + outlet.closing())
        await outlet.injector.end()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "after": self.after, "error": self.error.to_json()}


@dataclass(frozen=True)
class Disconnect(Fault):
    """The connection reset after N chunks, or after N body bytes."""

    kind: ClassVar[str] = "disconnect"
    outcome: ClassVar[str] = "disconnected"
    after: int
    after_bytes: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str, file: str) -> Disconnect:
        if "after" in raw and "afterBytes" in raw:
            raise DataFileError(file, f"{where}.afterBytes", "after and afterBytes are exclusive")
        after_bytes = raw.get("afterBytes")
        return cls(_after(raw), None if after_bytes is None else int(after_bytes))

    async def apply(self, outlet: Outlet) -> None:
        if self.after_bytes is not None:
            if outlet.streaming:
                body = b"".join(outlet.encode(c) for c in outlet.chunks) + outlet.closing()
                await outlet.injector.start()
            else:
                body = outlet.unary_body()
                await outlet.injector.start(len(body))
            cut = body[: self.after_bytes]
            if cut:
                await outlet.injector.write(cut)
            outlet.chunks_sent = _whole_frames(outlet, len(cut))
        elif outlet.streaming:
            await outlet.send_chunks(self.after)
        outlet.outcome = self.outcome
        await outlet.injector.reset()

    def to_json(self) -> dict[str, Any]:
        if self.after_bytes is not None:
            return {"kind": self.kind, "afterBytes": self.after_bytes}
        return {"kind": self.kind, "after": self.after}


def _whole_frames(outlet: Outlet, size: int) -> int:
    """How many whole chunks the first ``size`` bytes of the stream hold."""
    if not outlet.streaming:
        return 0
    probe = Outlet(outlet.injector, outlet.chunks, outlet.framing)
    total = 0
    for count, chunk in enumerate(outlet.chunks):
        total += len(probe.encode(chunk))
        if total > size:
            return count
    return len(outlet.chunks)


@dataclass(frozen=True)
class Truncate(Fault):
    """A clean end after N chunks, at most all but the last: no finishReason, no closing ``]``."""

    kind: ClassVar[str] = "truncate"
    outcome: ClassVar[str] = "truncated"
    after: int

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str, file: str) -> Truncate:
        return cls(_after(raw))

    async def apply(self, outlet: Outlet) -> None:
        outlet.outcome = self.outcome
        # The last chunk is the one with finishReason: a truncated reply never has it.
        upto = min(self.after, max(len(outlet.chunks) - 1, 0))
        if outlet.streaming:
            await outlet.send_chunks(upto)
            if outlet.framing is wire.Framing.ARRAY and not outlet.chunks_sent:
                await outlet.injector.write(b"[")  # the stream began; it never ends
        else:
            body = outlet.unary_body(None if outlet.counting else upto)
            await outlet.injector.start(len(body))
            await outlet.injector.write(body)
            outlet.chunks_sent = 1
        await outlet.injector.end()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "after": self.after}


#: A chunk whose brackets balance, so that every frame scanner (api_core's brace counter,
#: google-genai's SSE lines) delimits it as one frame, but whose JSON does not parse.
MALFORMED_FRAME = b'{"candidates": [{"content": {"role": "model", "parts": [{"text": }]}}]}'


@dataclass(frozen=True)
class Malformed(Fault):
    """N chunks, then a frame that is not JSON, then the framing's clean end."""

    kind: ClassVar[str] = "malformed"
    outcome: ClassVar[str] = "malformed"
    after: int

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str, file: str) -> Malformed:
        return cls(_after(raw))

    async def apply(self, outlet: Outlet) -> None:
        outlet.outcome = self.outcome
        if not outlet.streaming:
            await outlet.injector.start(len(MALFORMED_FRAME))
            await outlet.injector.write(MALFORMED_FRAME)
        else:
            await outlet.send_chunks(self.after)
            if outlet.framing is wire.Framing.SSE:
                await outlet.injector.write(b"data: " + MALFORMED_FRAME + b"\r\n\r\n")
            else:
                lead = b"\n,\r\n" if outlet.chunks_sent else b"["
                await outlet.injector.write(lead + MALFORMED_FRAME + b"\n]")
        await outlet.injector.end()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "after": self.after}


@dataclass(frozen=True)
class Garbage(Fault):
    """Random bytes (seeded) instead of an HTTP response, then close."""

    kind: ClassVar[str] = "garbage"
    outcome: ClassVar[str] = "garbage"
    size: int = 64
    seed: int = 0

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str, file: str) -> Garbage:
        return cls(int(raw.get("bytes", 64)), int(raw.get("seed", 0)))

    async def apply(self, outlet: Outlet) -> None:
        outlet.outcome = self.outcome
        rng = random.Random(self.seed * 1_000_003 + outlet.use)
        await outlet.injector.raw(rng.randbytes(self.size))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "bytes": self.size, "seed": self.seed}


@dataclass(frozen=True)
class Empty(Fault):
    """The connection closed before any byte of a response."""

    kind: ClassVar[str] = "empty"
    outcome: ClassVar[str] = "empty"

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str, file: str) -> Empty:
        return cls()

    async def apply(self, outlet: Outlet) -> None:
        outlet.outcome = self.outcome
        await outlet.injector.close()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class Stall(Fault):
    """Headers and N chunks, then nothing until the client gives up (at most ``seconds``)."""

    kind: ClassVar[str] = "stall"
    outcome: ClassVar[str] = "stalled"
    after: int = 0
    seconds: float = DEFAULT_STALL_SECONDS

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str, file: str) -> Stall:
        return cls(_after(raw), float(raw.get("seconds", DEFAULT_STALL_SECONDS)))

    async def apply(self, outlet: Outlet) -> None:
        outlet.outcome = self.outcome
        if outlet.streaming:
            await outlet.send_chunks(self.after)
        else:
            await outlet.injector.start(len(outlet.unary_body()))
        if await outlet.injector.hold(self.seconds):
            outlet.outcome = "client_disconnected"
            return
        await outlet.injector.reset()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "after": self.after, "seconds": self.seconds}


#: Every fault kind by the name a scenario gives it.
REGISTRY: Mapping[str, type[Fault]] = {
    cls.kind: cls for cls in (ErrorAfter, Disconnect, Truncate, Malformed, Garbage, Empty, Stall)
}


def parse_fault(raw: Mapping[str, Any], where: str = "fault", file: str = "<mapping>") -> Fault:
    """The typed fault of a step's ``fault`` object (checked against the scenario schema)."""
    kind = raw.get("kind")
    cls = REGISTRY.get(str(kind))
    if cls is None:
        known = ", ".join(sorted(REGISTRY))
        raise DataFileError(file, f"{where}.kind", f"unknown fault kind; the kinds are: {known}")
    return cls.parse(raw, where, file)
