"""The mutable :class:`Recorder` of one exchange while the mock answers it, and the measure of
a parsed request (its canonical digest and what it retains)."""

from __future__ import annotations

import codecs
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from mockvertex.contract.errors import StatusError
from mockvertex.engine.exchange import (
    DEFAULT_SESSION,
    ENTRY_OVERHEAD,
    OUTCOMES,
    Exchange,
    Outcome,
    Verdict,
    retry_after_of,
)
from mockvertex.engine.redaction import Redactions

if TYPE_CHECKING:
    from mockvertex.engine.journal import Journal

__all__ = ["DEFAULT_BODY_CAP", "Recorder", "estimate_request_bytes", "measure_request"]

#: How much of a request body an entry keeps as text, in bytes (size and digest cover it all).
DEFAULT_BODY_CAP = 64 * 1024
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
        self._fixed_bytes = ENTRY_OVERHEAD + len(path) + size
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
        self._outcome = OUTCOMES.get(value) or Outcome(value)
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
