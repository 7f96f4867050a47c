"""The journal's entries: one immutable :class:`Exchange` per request, its :class:`Outcome`
and :class:`Verdict`, as JSON and JSON Lines, and the delay an error asked a client to wait."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any

import orjson

from mockvertex.contract.errors import StatusError

__all__ = [
    "DEFAULT_SESSION",
    "Exchange",
    "Outcome",
    "Verdict",
    "parse_jsonl",
    "retry_after_of",
]

DEFAULT_SESSION = "default"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
#: The fixed part of an entry's retained size: the object, its small fields and dicts.
ENTRY_OVERHEAD = 1024


class Outcome(str, Enum):
    """How an exchange ended, as the journal and the retry report name it."""

    OK = "ok"
    ERROR = "error"  # an error status, nothing else sent
    MID_STREAM_ERROR = "mid_stream_error"  # an error object inside a 200 stream
    DISCONNECTED = "disconnected"  # the mock reset the connection
    TRUNCATED = "truncated"  # the stream ended early, but cleanly
    MALFORMED = "malformed"  # a frame that does not parse
    GARBAGE = "garbage"  # random bytes, then close
    EMPTY = "empty"  # closed before any byte
    STALLED = "stalled"  # nothing more sent for the stall's duration
    CLIENT_DISCONNECTED = "client_disconnected"  # the client hung up first
    PENDING = "pending"  # still being answered

    def __str__(self) -> str:
        return self.value


#: Each outcome by its value (a member hashes and compares as its value, so it finds itself).
OUTCOMES: dict[str, Outcome] = {o.value: o for o in Outcome}


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a request was refused (auth, route or validation): the error the mock answered."""

    code: int  # the HTTP status
    status: str  # the google.rpc code name
    message: str
    fields: tuple[str, ...] = ()  # field paths of the violations, when the request was invalid

    @classmethod
    def of(cls, error: StatusError) -> Verdict:
        return cls(
            error.http_status,
            error.status,
            error.message,
            tuple(v.field for v in error.violations),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "status": self.status,
            "message": self.message,
            "fields": list(self.fields),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Verdict:
        return cls(
            int(raw["code"]),
            str(raw["status"]),
            str(raw["message"]),
            tuple(raw.get("fields", ())),
        )


# ---------------------------------------------------------------------------------------------
# The immutable entry


@dataclass(frozen=True, slots=True, kw_only=True)
class Exchange:
    """One exchange as the journal keeps it: immutable, without secrets.

    Times ``arrival``, ``first_byte`` and ``end`` are on the monotonic clock (``first_byte`` is
    None when nothing was sent, ``end`` while the exchange is still open); ``wall_time`` is the
    wall clock at arrival. ``body`` is the body text up to the journal's cap (``body_truncated``
    says it was cut; ``body_size`` and ``body_sha256`` cover the whole body). ``shed`` says the
    body text and parsed ``request`` were dropped to stay within the journal's byte budget.
    """

    id: int
    session: str = DEFAULT_SESSION
    arrival: float = 0.0
    first_byte: float | None = None
    end: float | None = None
    wall_time: float = 0.0
    method: str = "POST"
    path: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    #: What was removed: ``header:<lowercased name>`` and ``query:<name>``.
    redacted: tuple[str, ...] = ()
    #: A keyed digest of the credential presented (bearer token or API key), never the secret.
    token_digest: str | None = None
    body: str | None = field(default="", repr=False)
    body_size: int = 0
    body_sha256: str = ""
    body_truncated: bool = False
    request: Mapping[str, Any] | None = field(default=None, repr=False)
    #: Groups the attempts of one logical call: model, method and the request's content.
    request_digest: str = ""
    verdict: Verdict | None = None
    api_version: str = ""
    model: str = ""
    rpc: str = ""
    framing: str = ""
    scenario: str | None = None
    step: int | None = None
    fault: str | None = None
    status: int = 0
    #: The code of the error the mock sent: the status line's, or the one inside a 200 stream.
    error_code: int | None = None
    chunks_sent: int = 0
    bytes_sent: int = 0
    #: The delay the mock asked for, in seconds, and where it said so.
    retry_after: float | None = None
    retry_after_source: str | None = None  # "Retry-After" or "RetryInfo"
    outcome: Outcome = Outcome.PENDING
    client_hung_up: bool = False
    shed: bool = False
    amended: bool = False
    #: Retained-size estimate of the parsed request (computed once, when it was recorded).
    request_bytes: int = field(default=0, repr=False)

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def started(self) -> float:
        """The wall time at arrival (the name the journal used before ``wall_time``)."""
        return self.wall_time

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.arrival

    def fixed_bytes(self) -> int:
        """What this entry costs the journal's byte budget without its payload (estimated)."""
        return fixed_size(self.path, self.headers, self.query)

    def retained_bytes(self) -> int:
        """What this entry costs the journal's byte budget (an estimate), counting its body
        text and parsed request as its own (the journal counts one shared by several once)."""
        size = fixed_size(self.path, self.headers, self.query)
        if self.body:
            size += len(self.body)
        if self.request is not None:
            size += self.request_bytes
        return size

    def amend(self, **changes: Any) -> Exchange:
        """A copy with ``changes``, marked amended (hand it to :meth:`Journal.replace`)."""
        return replace(self, amended=True, **changes)

    def without_payload(self) -> Exchange:
        """This entry with its body text and parsed request shed."""
        return replace(self, body=None, request=None, shed=True)

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON-ready values (the control plane and JSON Lines use this)."""
        return {
            "id": self.id,
            "session": self.session,
            "arrival": self.arrival,
            "first_byte": self.first_byte,
            "end": self.end,
            "wall_time": self.wall_time,
            "started": self.wall_time,
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": dict(self.headers),
            "redacted": list(self.redacted),
            "token_digest": self.token_digest,
            "body": self.body,
            "body_size": self.body_size,
            "body_sha256": self.body_sha256,
            "body_truncated": self.body_truncated,
            "request": None if self.request is None else dict(self.request),
            "request_digest": self.request_digest,
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "api_version": self.api_version,
            "model": self.model,
            "rpc": self.rpc,
            "framing": self.framing,
            "scenario": self.scenario,
            "step": self.step,
            "fault": self.fault,
            "status": self.status,
            "error_code": self.error_code,
            "chunks_sent": self.chunks_sent,
            "bytes_sent": self.bytes_sent,
            "retry_after": self.retry_after,
            "retry_after_source": self.retry_after_source,
            "outcome": self.outcome.value,
            "client_hung_up": self.client_hung_up,
            "shed": self.shed,
            "amended": self.amended,
            "request_bytes": self.request_bytes,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Exchange:
        """The entry back from :meth:`to_json` (unknown keys, such as ``started``, are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["redacted"] = tuple(values.get("redacted", ()))
        values["outcome"] = Outcome(values.get("outcome", Outcome.PENDING))
        verdict = values.get("verdict")
        values["verdict"] = None if verdict is None else Verdict.from_json(verdict)
        return cls(**values)

    def to_jsonl(self) -> str:
        """One line of JSON, no newline."""
        return _dumps(self.to_json())


def parse_jsonl(text: str) -> list[Exchange]:
    """Entries back from :meth:`Journal.to_jsonl` (blank lines are skipped)."""
    return [Exchange.from_json(json.loads(line)) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# What the mock asked a client to wait


def retry_after_of(error: StatusError, *, now: float | None = None) -> tuple[float, str] | None:
    """The delay ``error`` asks for, in seconds, and its source; None when it asks none.

    A ``Retry-After`` header wins (delay-seconds or an HTTP-date, RFC 9110 §10.2.3; a date is
    measured from ``now``, the wall clock by default), else a ``google.rpc.RetryInfo`` detail's
    ``retryDelay`` (a protobuf Duration such as ``"1.5s"``).
    """
    for name, value in error.headers.items():
        if name.lower() == "retry-after":
            seconds = _parse_retry_after(value, time.time() if now is None else now)
            if seconds is not None:
                return seconds, "Retry-After"
    for detail in error.details():
        if detail.get("@type") == _RETRY_INFO:
            seconds = _parse_duration(detail.get("retryDelay"))
            if seconds is not None:
                return seconds, "RetryInfo"
    return None


def _parse_retry_after(value: str, now: float) -> float | None:
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _parse_duration(value: Any) -> float | None:
    if isinstance(value, Mapping):  # the proto form {"seconds": ..., "nanos": ...}
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        seconds = float(value[:-1])
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def fixed_size(path: str, headers: Mapping[str, str], query: Mapping[str, str]) -> int:
    size = ENTRY_OVERHEAD + len(path)
    for pairs in (headers, query):
        size += sum(map(len, pairs)) + sum(map(len, pairs.values()))
    return size
