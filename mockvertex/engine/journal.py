"""The journal: one immutable entry per exchange, bounded in bytes, with no secrets.

A handler records an exchange on a mutable :class:`Recorder` while it answers, then
:meth:`Journal.finish` freezes it into an :class:`Exchange`:

    recorder = journal.begin(method="POST", path=..., query=request.query.items(),
                             headers=request.headers.items(), session="default")
    recorder.set_body(raw)          # size, sha256, the text up to the body cap
    recorder.request = normalized   # the parsed request (kept while the byte budget allows)
    recorder.record_write(len(data), chunks=1)
    recorder.outcome = Outcome.OK
    entry = journal.finish(recorder)
    journal.replace(entry.amend(outcome=Outcome.CLIENT_DISCONNECTED, client_hung_up=True))

Secrets never reach an entry: credential headers and query parameters are dropped (their names
are listed in ``redacted``) and only a short keyed digest of the credential is kept, so a report
can tell a 401 retried with the same token from one retried with a fresh token.

Memory is bounded in bytes as well as in entries. Each entry counts a fixed part, the body text
it keeps (at most ``body_cap`` bytes) and an estimate of its parsed request. Over ``max_bytes``
the journal first sheds the body text and parsed request of its oldest entries (``shed``), then
drops whole oldest entries; :meth:`Journal.stats` counts both.
"""

from __future__ import annotations

import codecs
import email.utils
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from functools import cache
from typing import Any

import orjson

from mockvertex.contract.errors import StatusError

__all__ = [
    "DEFAULT_BODY_CAP",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_SESSION",
    "SECRET_HEADERS",
    "SECRET_QUERY",
    "Exchange",
    "Journal",
    "JournalStats",
    "Outcome",
    "Recorder",
    "Redactions",
    "Verdict",
    "estimate_request_bytes",
    "measure_request",
    "parse_jsonl",
    "redact",
    "retry_after_of",
]

#: How much of a request body an entry keeps as text, in bytes (size and digest cover it all).
DEFAULT_BODY_CAP = 64 * 1024
#: What all entries together may keep, in bytes (estimated; see ``Exchange.retained_bytes``).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_SESSION = "default"

SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "cookie", "proxy-authorization"})
SECRET_QUERY = frozenset({"key", "access_token"})  # API keys and tokens sent in the URL

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
#: The fixed part of an entry's retained size: the object, its small fields and dicts.
_ENTRY_OVERHEAD = 1024
#: A parsed JSON request costs its JSON length plus about this much per member or element
#: (measured with tracemalloc on CPython 3.11: a request of 20,000 small contents takes about
#: 10 times its JSON length, one carrying 7.5 MB of inline data about 1.0 times).
_PER_JSON_ITEM = 100
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: An open recorder's payload below this many bytes (body text and parsed request) is counted
#: when it closes, in one step with the rest, if the journal has room for it; a larger one, or
#: one over budget, at once (large bodies must not grow the journal past its budget while
#: their answers are still going out).
_COUNTED_AT_CLOSE = 16 * 1024
#: Distinct request paths a journal keeps one string of (a client calls the same few).
_PATHS_KEPT = 256
#: Hex digits kept of a credential's keyed digest: enough to tell tokens apart in one test.
_TOKEN_DIGEST_HEX = 8


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
_OUTCOMES: dict[str, Outcome] = {o.value: o for o in Outcome}


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
        return _fixed_size(self.path, self.headers, self.query)

    def retained_bytes(self) -> int:
        """What this entry costs the journal's byte budget (an estimate), counting its body
        text and parsed request as its own (the journal counts one shared by several once)."""
        size = _fixed_size(self.path, self.headers, self.query)
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
# Secrets


@cache
def _process_key() -> bytes:
    """The per-process key of credential digests, made on first use (never at import)."""
    return secrets.token_bytes(32)


def _digest(credential: str, key: bytes) -> str:
    mac = hmac.new(key, credential.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return mac.hexdigest()[:_TOKEN_DIGEST_HEX]


def _items(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    # A mapping's items (a dict, a multidict), without the slower check against Mapping's ABC.
    items = getattr(pairs, "items", None)
    if items is not None:
        return items()  # type: ignore[no-any-return]
    return pairs  # type: ignore[return-value]


#: What :func:`redact` gives: query, headers, what was removed, the credential's digest.
_Redaction = tuple[dict[str, str], dict[str, str], tuple[str, ...], str | None]


def redact(
    query: Mapping[str, str] | Iterable[tuple[str, str]],
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    key: bytes | None = None,
) -> _Redaction:
    """``(query, headers, redacted, token_digest)`` with every credential removed.

    The digest is an HMAC-SHA256 of the credential presented, keyed per process (or by
    ``key``), cut to a few hex digits: the bearer token if there is one, else the API key from
    ``x-goog-api-key`` or the ``key`` parameter, else an ``access_token`` parameter. A later
    value of a repeated name replaces an earlier one.
    """
    kept_headers: dict[str, str] = {}
    kept_query: dict[str, str] = {}
    removed: list[str] = []
    bearer = api_key = url_token = None
    for name, value in _items(headers):
        lower = name.lower()
        if lower not in SECRET_HEADERS:
            kept_headers[name] = value
            continue
        removed.append(f"header:{lower}")
        if lower == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip()
        elif lower == "x-goog-api-key" and value:
            api_key = value
    for name, value in _items(query):
        if name not in SECRET_QUERY:
            kept_query[name] = value
            continue
        removed.append(f"query:{name}")
        if name == "key" and value and api_key is None:
            api_key = value
        elif name == "access_token" and value:
            url_token = value
    if bearer is not None:
        credential = f"bearer:{bearer}"
    elif api_key is not None:
        credential = f"key:{api_key}"
    elif url_token is not None:
        credential = f"bearer:{url_token}"
    else:
        return kept_query, kept_headers, tuple(dict.fromkeys(removed)) if removed else (), None
    digest = _digest(credential, key if key is not None else _process_key())
    return kept_query, kept_headers, tuple(dict.fromkeys(removed)), digest


class Redactions:
    """:func:`redact` with a bounded memory of the query and header sets seen last, keyed per
    journal (``token_key``): the same pairs give the same (shared) redaction, and with it the
    number of characters they hold. The memory holds the pairs as sent, credentials included,
    as the request itself does; :meth:`clear` forgets them."""

    def __init__(self, token_key: bytes | None = None, *, max_sets: int = 256) -> None:
        self.token_key = token_key
        self.max_sets = max_sets
        self._known: dict[object, tuple[_Redaction, int]] = {}

    def of(
        self,
        query: Mapping[str, str] | Iterable[tuple[str, str]],
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
    ) -> tuple[_Redaction, int]:
        """The redaction of ``query`` and ``headers``, and their length in characters."""
        key = (tuple(_items(query)), tuple(_items(headers)))
        known = self._known.get(key)
        if known is None:
            size = sum(map(len, _flat(itertools.chain(*key))))
            known = (redact(key[0], key[1], key=self.token_key), size)
            if len(self._known) >= self.max_sets:
                self._known.clear()
            self._known[key] = known
        return known

    def clear(self) -> None:
        self._known.clear()


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


# ---------------------------------------------------------------------------------------------
# The mutable recorder


class Recorder:
    """One exchange while the mock answers it: mutable, used by one handler at a time.

    It keeps the attribute names the journal's entries have. Setting ``body`` (text) or calling
    :meth:`set_body` (bytes) keeps the size, the sha256 and at most ``body_cap`` bytes of text;
    setting ``request`` measures the parsed request once. :meth:`freeze` gives the entry.

    The query and headers are redacted at once. ``redactions``, a :class:`Redactions` (a
    journal's), shares the redaction among recorders given the same query and headers: a
    client sends the same few header sets again and again, and a journal of 10,000 exchanges
    then holds them a few times, not 10,000 times.
    """

    __slots__ = (
        "_body_text",
        "_chunks_sent",
        "_clock",
        "_finished",
        "_fixed_bytes",
        "_journal",
        "_outcome",
        "_redaction",
        "_request",
        "_request_sha",
        "_uncounted",
        "api_version",
        "arrival",
        "body_cap",
        "body_sha256",
        "body_size",
        "body_truncated",
        "bytes_sent",
        "client_hung_up",
        "end",
        "error_code",
        "fault",
        "first_byte",
        "framing",
        "id",
        "method",
        "model",
        "path",
        "request_bytes",
        "retry_after",
        "retry_after_source",
        "rpc",
        "scenario",
        "session",
        "shed",
        "status",
        "step",
        "verdict",
        "wall_time",
    )

    def __init__(
        self,
        *,
        method: str,
        path: str,
        query: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: str | bytes = b"",
        session: str = DEFAULT_SESSION,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        body_cap: int = DEFAULT_BODY_CAP,
        token_key: bytes | None = None,
        redactions: Redactions | None = None,
    ) -> None:
        self._clock = clock
        self.arrival = clock()
        self.wall_time = wall_clock()
        self.first_byte: float | None = None
        self.end: float | None = None
        self.id = 0
        self.session = session
        self.method = method
        self.path = path
        self.api_version = ""
        self.model = ""
        self.rpc = ""
        self.framing = ""
        self.scenario: str | None = None
        self.step: int | None = None
        self.fault: str | None = None
        self.status = 0
        self.error_code: int | None = None
        self.bytes_sent = 0
        self.retry_after: float | None = None
        self.retry_after_source: str | None = None
        self.verdict: Verdict | None = None
        self.client_hung_up = False
        self.body_cap = body_cap
        self._chunks_sent = 0
        self._outcome = Outcome.PENDING
        self._body_text = ""
        self.body_size = 0
        self.body_sha256 = _EMPTY_SHA256
        self.body_truncated = False
        self._request: Mapping[str, Any] | None = None
        self._request_sha = ""
        self.request_bytes = 0
        self.shed = False
        self._journal: Journal | None = None
        self._finished = False
        #: A payload was recorded that the journal has not counted yet (see ``_resized``).
        self._uncounted = False
        if redactions is None:
            redactions = Redactions(token_key)
        self._redaction, size = redactions.of(query, headers)
        self._fixed_bytes = _ENTRY_OVERHEAD + len(path) + size
        if body:
            self.body = body

    # -- what was sent besides the body, without its secrets (shared: never change them)
    @property
    def query(self) -> Mapping[str, str]:
        return self._redaction[0]

    @property
    def headers(self) -> Mapping[str, str]:
        return self._redaction[1]

    @property
    def redacted(self) -> tuple[str, ...]:
        """What was removed: ``header:<lowercased name>`` and ``query:<name>``."""
        return self._redaction[2]

    @property
    def token_digest(self) -> str | None:
        """A keyed digest of the credential presented, never the secret."""
        return self._redaction[3]

    # -- the body: text up to the cap, size and digest of it all
    @property
    def body(self) -> str | None:
        return None if self.shed else self._body_text

    @body.setter
    def body(self, value: str | bytes) -> None:
        self.set_body(value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value)

    def set_body(self, raw: bytes) -> None:
        """Record the request body: its size and sha256, and its text up to the body cap."""
        self.body_size = len(raw)
        self.body_sha256 = hashlib.sha256(raw).hexdigest()
        self._keep_text(raw)
        self._resized()

    def set_payload(
        self,
        raw: bytes,
        request: Mapping[str, Any],
        *,
        body_sha256: str,
        body_text: str,
        measured: tuple[str, int],
    ) -> None:
        """:meth:`set_body` and :meth:`set_request` at once, for a body seen before:
        ``body_sha256`` and ``body_text`` (its whole text) and the request's ``measured``
        were taken from the same bytes and request then (see ``engine/memo.py``)."""
        if len(raw) > self.body_cap or self.shed:
            self.set_body(raw)
            self.set_request(request, measured=measured)
            return
        self.body_size = len(raw)
        self.body_sha256 = body_sha256
        self.body_truncated = False
        self._body_text = body_text
        self._request_sha, self.request_bytes = measured
        self._request = request
        self._resized()

    def _keep_text(self, raw: bytes) -> None:
        """Keep at most ``body_cap`` bytes of ``raw`` as text (nothing once shed)."""
        self.body_truncated = len(raw) > self.body_cap
        if self.shed:
            self._body_text = ""
            return
        if not self.body_truncated:
            self._body_text = raw.decode("utf-8", "replace")
            return
        # An incremental decode leaves out a character the cap cut in half.
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._body_text = decoder.decode(raw[: self.body_cap], final=False)

    # -- the parsed request, measured once
    @property
    def request(self) -> Mapping[str, Any] | None:
        return self._request

    @request.setter
    def request(self, value: Mapping[str, Any] | None) -> None:
        self.set_request(value)

    def set_request(
        self,
        value: Mapping[str, Any] | None,
        *,
        measured: tuple[str, int] | None = None,
        estimated: int | None = None,
    ) -> None:
        """Record the parsed request; ``measured`` is its :func:`measure_request`, when the
        caller has it already (the same request seen before). With ``estimated`` instead (its
        :func:`estimate_request_bytes` from the body), the canonical digest is made only when
        the entry is read; else the request is measured now."""
        if value is None:
            self._request, self._request_sha, self.request_bytes = None, "", 0
        elif measured is None and estimated is not None:
            self._request_sha, self.request_bytes = "", estimated
            self._request = None if self.shed else value
            if self.shed:
                self._request_sha = _measure(value)[0]
        else:
            self._request_sha, self.request_bytes = measured or _measure(value)
            self._request = None if self.shed else value
        self._resized()

    # -- what went out
    @property
    def chunks_sent(self) -> int:
        return self._chunks_sent

    @chunks_sent.setter
    def chunks_sent(self, value: int) -> None:
        if value > 0:
            self.mark_first_byte()
        self._chunks_sent = value

    @property
    def outcome(self) -> Outcome:
        return self._outcome

    @outcome.setter
    def outcome(self, value: Outcome | str) -> None:
        # One dict lookup for a member or its value; Outcome() refuses anything else.
        self._outcome = _OUTCOMES.get(value) or Outcome(value)
        if self._outcome is not Outcome.PENDING:
            self.end = self._clock()
        if self._outcome is Outcome.CLIENT_DISCONNECTED:
            self.client_hung_up = True

    @property
    def started(self) -> float:
        return self.wall_time

    def mark_first_byte(self) -> None:
        """The first byte of the answer is going out now (later calls change nothing)."""
        if self.first_byte is None:
            self.first_byte = self._clock()

    def answered(self, chunks: int) -> None:
        """A 200 answer of ``chunks`` chunks went out whole, at once (a unary body)."""
        now = self._clock()
        if self.first_byte is None:
            self.first_byte = now
        self.status, self._chunks_sent, self._outcome, self.end = 200, chunks, Outcome.OK, now

    def record_write(self, nbytes: int, *, chunks: int = 0) -> None:
        """``nbytes`` more bytes went out, completing ``chunks`` more chunks."""
        self.mark_first_byte()
        self.bytes_sent += nbytes
        self._chunks_sent += chunks

    def reject(self, error: StatusError) -> None:
        """The request was refused (auth, route, validation): its verdict and error status."""
        self.verdict = Verdict.of(error)
        self.fail(error)

    def fail(self, error: StatusError, *, outcome: Outcome = Outcome.ERROR) -> None:
        """The mock answered ``error``: as the status when ``outcome`` is ERROR, else inside
        the stream (MID_STREAM_ERROR). Records the delay it asked for."""
        if outcome is Outcome.ERROR:
            self.status = error.http_status
        self.error_code = error.http_status
        asked = retry_after_of(error)
        if asked is not None:
            self.retry_after, self.retry_after_source = asked
        self.outcome = outcome

    def hung_up(self) -> None:
        """The client went away before the answer was complete."""
        self.outcome = Outcome.CLIENT_DISCONNECTED

    # -- into the journal
    def freeze(self) -> Exchange:
        """The entry as it stands now."""
        return Exchange(
            id=self.id,
            session=self.session,
            arrival=self.arrival,
            first_byte=self.first_byte,
            end=self.end,
            wall_time=self.wall_time,
            method=self.method,
            path=self.path,
            query=dict(self.query),
            headers=dict(self.headers),
            redacted=self.redacted,
            token_digest=self.token_digest,
            body=self.body,
            body_size=self.body_size,
            body_sha256=self.body_sha256,
            body_truncated=self.body_truncated,
            request=self._request,
            request_digest=self.request_digest,
            verdict=self.verdict,
            api_version=self.api_version,
            model=self.model,
            rpc=self.rpc,
            framing=self.framing,
            scenario=self.scenario,
            step=self.step,
            fault=self.fault,
            status=self.status,
            error_code=self.error_code,
            chunks_sent=self._chunks_sent,
            bytes_sent=self.bytes_sent,
            retry_after=self.retry_after,
            retry_after_source=self.retry_after_source,
            outcome=self._outcome,
            client_hung_up=self.client_hung_up,
            shed=self.shed,
            request_bytes=self.request_bytes,
        )

    @property
    def request_digest(self) -> str:
        """sha256 of model, method and the canonical parsed request (else the raw body)."""
        if not self._request_sha and self._request is not None:  # recorded with an estimate
            self._request_sha = _measure(self._request)[0]
        content = (
            f"request:{self._request_sha}" if self._request_sha else f"body:{self.body_sha256}"
        )
        text = f"{self.model}\n{self.rpc}\n{content}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def fixed_bytes(self) -> int:
        return self._fixed_bytes

    def retained_bytes(self) -> int:
        size = self._fixed_bytes
        if not self.shed:
            size += len(self._body_text)
            if self._request is not None:
                size += self.request_bytes
        return size

    def _shed(self) -> None:
        if not self._request_sha and self._request is not None:  # the digest outlives it
            self._request_sha = _measure(self._request)[0]
        self.shed = True
        self._body_text = ""
        self._request = None

    def _resized(self) -> None:
        journal = self._journal
        if journal is None:
            return
        size = len(self._body_text) + self.request_bytes
        if size < _COUNTED_AT_CLOSE and journal._total + size <= journal.max_bytes:
            self._uncounted = True  # a small payload within budget: counted when closed
        else:
            journal._resized(self)

    def __repr__(self) -> str:
        return (
            f"Recorder(id={self.id}, {self.method} {self.path}, status={self.status}, "
            f"outcome={self._outcome.value}, session={self.session!r})"
        )


def measure_request(request: Mapping[str, Any]) -> tuple[str, int]:
    """The sha256 of the canonical JSON of a parsed request, and its retained-size estimate:
    what a recorder keeps of it (:meth:`Recorder.set_request` takes it precomputed)."""
    return _measure(request)


def estimate_request_bytes(raw: bytes) -> int:
    """What the parsed request of the JSON body ``raw`` retains, estimated from the bytes as
    :func:`measure_request` does from the canonical JSON (its length, and per member or
    element), without parsing or sorting anything."""
    return len(raw) + _PER_JSON_ITEM * (raw.count(b":") + raw.count(b","))


def _measure(request: Mapping[str, Any]) -> tuple[str, int]:
    """The sha256 of the canonical JSON of a parsed request, and its retained-size estimate."""
    try:
        canonical = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits, or a type orjson does not know
        text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
        canonical = text.encode("utf-8", "surrogatepass")
    items = canonical.count(b":") + canonical.count(b",")
    return hashlib.sha256(canonical).hexdigest(), len(canonical) + _PER_JSON_ITEM * items


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


_flat = itertools.chain.from_iterable


def _fixed_size(path: str, headers: Mapping[str, str], query: Mapping[str, str]) -> int:
    size = _ENTRY_OVERHEAD + len(path)
    for pairs in (headers, query):
        size += sum(map(len, pairs)) + sum(map(len, pairs.values()))
    return size


# ---------------------------------------------------------------------------------------------
# The journal


@dataclass(frozen=True, slots=True)
class JournalStats:
    """What a journal holds and what its bounds made it drop."""

    entries: int
    open: int  # recorders not yet finished
    bytes: int  # estimated retained size of all entries
    max_entries: int
    max_bytes: int
    body_cap: int
    dropped_entries: int  # whole entries dropped, oldest first
    dropped_bodies: int  # entries whose body text and parsed request were shed

    def to_json(self) -> dict[str, int]:
        return {
            "entries": self.entries,
            "open": self.open,
            "bytes": self.bytes,
            "max_entries": self.max_entries,
            "max_bytes": self.max_bytes,
            "body_cap": self.body_cap,
            "dropped_entries": self.dropped_entries,
            "dropped_bodies": self.dropped_bodies,
        }


class Journal:
    """Thread-safe record of the latest exchanges, oldest first, bounded in count and bytes.

    The newest entry is never dropped, even alone over ``max_bytes`` (it is shed instead).
    ``clear()`` of everything also resets the drop counters; ids keep counting up.

    A body text or parsed request held by several entries is counted once: the server gives
    every request with the same bytes the same objects (``engine/memo.py``), and a journal of
    10,000 retries of one call holds one parsed request, not 10,000.
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        body_cap: int = DEFAULT_BODY_CAP,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        token_key: bytes | None = None,
    ) -> None:
        if max_entries < 1 or max_bytes < 0 or body_cap < 0:
            raise ValueError("max_entries must be positive; max_bytes and body_cap not negative")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.body_cap = body_cap
        self._clock = clock
        self._wall_clock = wall_clock
        self._token_key = token_key
        self._redactions = Redactions(token_key)
        self._paths: dict[str, str] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._slots: OrderedDict[int, Exchange | Recorder] = OrderedDict()
        self._sizes: dict[int, int] = {}  # per entry its fixed part (payload counted apart)
        # id -> the payload it holds, in the order first held: oldest first when shedding.
        self._held: OrderedDict[int, tuple[tuple[object, int], ...]] = OrderedDict()
        self._shares: dict[int, list[int]] = {}  # id(payload object) -> [holders, bytes]
        self._total = 0
        self._dropped_entries = 0
        self._dropped_bodies = 0

    # -- recording
    def begin(
        self,
        *,
        method: str,
        path: str,
        query: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        session: str = DEFAULT_SESSION,
    ) -> Recorder:
        """A recorder for a request arriving now, listed (as pending) at once."""
        paths = self._paths  # one string per path for all the entries of that path
        known = paths.get(path)
        if known is None:
            if len(paths) >= _PATHS_KEPT:
                paths.clear()
            known = paths[path] = path
        recorder = Recorder(
            method=method,
            path=known,
            query=query,
            headers=headers,
            session=session,
            clock=self._clock,
            wall_clock=self._wall_clock,
            body_cap=self.body_cap,
            token_key=self._token_key,
            redactions=self._redactions,
        )
        # add(), for a recorder known to be fresh: no payload yet, this journal's body cap.
        size = recorder._fixed_bytes
        with self._lock:
            ident = recorder.id = next(self._ids)
            recorder._journal = self
            slots = self._slots
            slots[ident] = recorder
            self._sizes[ident] = size
            self._total += size
            if self._total > self.max_bytes:
                self._enforce()
            elif len(slots) > self.max_entries:  # a full journal: the oldest entry goes
                self._drop_oldest()
        return recorder

    def add(self, item: Recorder | Exchange) -> None:
        """List an open recorder (its entry follows its changes until finished), or a finished
        entry (it gets this journal's next id)."""
        with self._lock:
            ident = next(self._ids)
            if isinstance(item, Recorder):
                if item._journal is not None or item._finished:
                    raise ValueError(f"{item!r} is already in a journal")
                item.id = ident
                item._journal = self
                if item.body_cap != self.body_cap:
                    item.body_cap = self.body_cap
                    if item.body_size and not item.body_truncated:
                        item._keep_text(item._body_text.encode("utf-8", "surrogatepass"))
                    elif item.body_truncated:  # only the kept prefix is left to cut
                        kept = item._body_text.encode("utf-8", "surrogatepass")[: self.body_cap]
                        item._body_text = kept.decode("utf-8", "ignore")
                self._slots[ident] = item
            else:
                if item.request is not None and not item.request_bytes:
                    item = replace(item, request_bytes=_measure(item.request)[1])
                self._slots[ident] = replace(item, id=ident)
            self._sizes[ident] = 0
            self._resize_locked(ident)

    def finish(self, recorder: Recorder) -> Exchange:
        """Freeze ``recorder`` at the end of its exchange (the end time is now) and keep the
        entry in its place. Returns the entry (also when the journal was cleared meanwhile)."""
        with self._lock:
            listed = recorder._journal is self
            self.close(recorder)
            entry = recorder.freeze()
            if listed and self._slots.get(recorder.id) is recorder:
                self._slots[recorder.id] = entry
                self._resize_locked(recorder.id)
            return entry

    def close(self, recorder: Recorder) -> None:
        """End ``recorder``'s exchange as :meth:`finish` does (the end time is now), without
        building its entry yet: the journal freezes it the first time it is read (the server's
        hot path, where most entries are never read one by one). Nothing changes a closed
        recorder any more: its later changes would reach the entry, as they never reach a
        finished one."""
        with self._lock:
            recorder.end = recorder._clock()
            recorder._finished = True
            if recorder._uncounted:
                recorder._uncounted = False
                if self._slots.get(recorder.id) is recorder:
                    self._resize_locked(recorder.id)
            recorder._journal = None

    def _settled(self, ident: int, slot: Exchange | Recorder) -> Exchange | Recorder:
        """The slot, a closed recorder frozen in its place (under the lock)."""
        if isinstance(slot, Recorder) and slot._finished:
            entry = slot.freeze()
            self._slots[ident] = entry
            return entry
        return slot

    def replace(self, entry: Exchange) -> bool:
        """Amend a finished entry once, by id. False when the entry is no longer kept."""
        with self._lock:
            current = self._slots.get(entry.id)
            if current is None:
                return False
            current = self._settled(entry.id, current)
            if isinstance(current, Recorder):
                raise ValueError(f"entry {entry.id} is still being recorded: finish it first")
            if current.amended:
                raise ValueError(f"entry {entry.id} was already amended once")
            amended = replace(entry, amended=True)
            if current.shed:
                amended = amended.without_payload()
            self._slots[entry.id] = amended
            self._resize_locked(entry.id)
            return True

    def _resized(self, recorder: Recorder) -> None:
        with self._lock:
            if self._slots.get(recorder.id) is recorder:
                self._resize_locked(recorder.id)

    def _resize_locked(self, ident: int) -> None:
        self._recount(ident)
        if self._total > self.max_bytes or len(self._slots) > self.max_entries:
            self._enforce()

    def _recount(self, ident: int) -> None:
        """Count entry ``ident`` again: its fixed part, and each payload object it holds once
        over all entries."""
        slot = self._slots[ident]
        size = slot.fixed_bytes()
        self._total += size - self._sizes[ident]
        self._sizes[ident] = size
        held = _payload(slot)
        before = self._held.get(ident, ())
        if len(held) == len(before) and all(
            a[0] is b[0] for a, b in zip(held, before, strict=True)
        ):
            return
        shares = self._shares
        for obj, nbytes in held:  # taken before the old ones go: an object kept stays
            share = shares.get(id(obj))
            if share is None:
                shares[id(obj)] = [1, nbytes]
                self._total += nbytes
            else:
                share[0] += 1
        if before:
            self._release(before)
        if held:
            self._held[ident] = held
        else:
            self._held.pop(ident, None)

    def _release(self, held: tuple[tuple[object, int], ...]) -> None:
        for obj, _ in held:
            share = self._shares[id(obj)]
            share[0] -= 1
            if not share[0]:
                del self._shares[id(obj)]
                self._total -= share[1]

    def _enforce(self) -> None:
        while self._total > self.max_bytes and self._held:
            ident = next(iter(self._held))  # the oldest entry holding a payload
            slot = self._slots[ident]
            if isinstance(slot, Recorder):
                slot._shed()
            else:
                self._slots[ident] = slot.without_payload()
            self._dropped_bodies += 1
            self._recount(ident)
        while len(self._slots) > self.max_entries or (
            self._total > self.max_bytes and len(self._slots) > 1
        ):
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        ident, slot = self._slots.popitem(last=False)
        self._forget(ident, slot)
        self._dropped_entries += 1

    def _forget(self, ident: int, slot: Exchange | Recorder) -> None:
        """Uncount entry ``ident``, just taken out of the slots."""
        self._total -= self._sizes.pop(ident)
        held = self._held.pop(ident, None)
        if held is not None:
            self._release(held)
        if isinstance(slot, Recorder):
            slot._journal = None

    # -- reading
    def entries(self, session: str | None = None) -> list[Exchange]:
        """Every entry kept, oldest first (open ones as they stand), of one session or all."""
        with self._lock:
            slots = [self._settled(i, s) for i, s in list(self._slots.items())]
        out = [s.freeze() if isinstance(s, Recorder) else s for s in slots]
        return out if session is None else [e for e in out if e.session == session]

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)

    def clear(self, session: str | None = None) -> None:
        """Forget every entry, or those of one session (open recorders stop being listed)."""
        with self._lock:
            if session is None:
                doomed = list(self._slots)
                self._dropped_entries = self._dropped_bodies = 0
            else:
                doomed = [i for i, s in self._slots.items() if s.session == session]
            for ident in doomed:
                self._forget(ident, self._slots.pop(ident))
            if session is None:
                self._shares.clear()
                self._redactions.clear()
                self._paths.clear()
                self._total = 0

    def stats(self) -> JournalStats:
        with self._lock:
            return JournalStats(
                entries=len(self._slots),
                open=sum(
                    1 for s in self._slots.values() if isinstance(s, Recorder) and not s._finished
                ),
                bytes=self._total,
                max_entries=self.max_entries,
                max_bytes=self.max_bytes,
                body_cap=self.body_cap,
                dropped_entries=self._dropped_entries,
                dropped_bodies=self._dropped_bodies,
            )

    def iter_jsonl(self, session: str | None = None) -> Iterator[str]:
        """The entries as JSON Lines, one line (newline included) at a time."""
        for entry in self.entries(session):
            yield entry.to_jsonl() + "\n"

    def to_jsonl(self, session: str | None = None) -> str:
        return "".join(self.iter_jsonl(session))


def _payload(slot: Exchange | Recorder) -> tuple[tuple[object, int], ...]:
    """The payload objects an entry holds, with their estimated sizes: its body text and its
    parsed request (none once shed)."""
    if slot.shed:
        return ()
    text, request = slot.body, slot.request
    if text:
        if request is not None:
            return ((text, len(text)), (request, slot.request_bytes))
        return ((text, len(text)),)
    return () if request is None else ((request, slot.request_bytes),)
