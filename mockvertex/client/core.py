"""The sans-IO core: requests built, bytes turned into chunks or a ``StatusError``. No I/O.

Both transports (``sync``, ``aio``) call these functions around their own sockets, so one
definition decides what a request looks like, what a reply means, and what gets logged:

* ``Endpoint`` + ``prepare``: the URL (``contract.api``), the headers, the body, and the local
  verdict of ``contract.validation.validate_request``, the validator the mock itself runs, so
  a bad body fails here with Vertex's ``InvalidArgument`` and nothing is sent;
* ``error_from_status``, ``unary_value``, ``ChunkReader``: a non-200 reply, a unary body and a
  stream, decoded with ``contract.wire``'s incremental decoders (the ones the server's framing
  is checked against), every failure an ``AttemptFailed`` carrying the typed error, what the
  retry policy needs to know (``retry.Failure``), and the chunks that arrived intact before it;
* ``log_attempt``, ``give_up``: the one log line per attempt and the error finally raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mockvertex.client.response import GenerateContentResponse
from mockvertex.client.retry import CallRetry, Decision, Failure, FailureKind
from mockvertex.contract import api, protojson, wire
from mockvertex.contract.errors import (
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    NotFound,
    StatusError,
    Unavailable,
    error_class_for,
)
from mockvertex.contract.profiles import ProfileRegistry
from mockvertex.contract.validation import validate_request

__all__ = [
    "USER_AGENT",
    "AttemptFailed",
    "ChunkReader",
    "Endpoint",
    "PreparedRequest",
    "connection_failed",
    "error_from_status",
    "finishes",
    "give_up",
    "log",
    "log_attempt",
    "malformed",
    "prepare",
    "text_request",
    "timed_out",
    "unary_value",
]

log = logging.getLogger("mockvertex.client")

USER_AGENT = "mockvertex-client/0.1.0"
_SHOW = 200  # how much of a body that is not JSON an error message quotes
_ROOTS = {
    "generateContent": "GenerateContentRequest",
    "streamGenerateContent": "GenerateContentRequest",
    "countTokens": "CountTokensRequest",
}


# --------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class Endpoint:
    """Where calls go: a Vertex regional or ``global`` host, or any base URL (the mock).

    ``project`` None gives the location-less path (Vertex express mode).
    """

    base_url: str
    project: str | None = None
    location: str = "us-central1"
    api_version: str = "v1"

    @classmethod
    def vertex(
        cls,
        *,
        project: str | None,
        location: str = "us-central1",
        api_version: str = "v1",
        base_url: str | None = None,
    ) -> Endpoint:
        base = base_url if base_url is not None else api.vertex_base_url(location)
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http:// or https:// URL, not {base!r}")
        return cls(base.rstrip("/"), project, location, api_version)

    def url(self, model: str, method: str, query: Mapping[str, str] | None = None) -> str:
        path = api.model_path(
            model,
            method,
            project=self.project,
            location=self.location,
            api_version=self.api_version,
        )
        if query:
            # Only ``alt`` values built by contract.api: letters, ``;``, ``=``, ``-`` and ``$``.
            path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        return self.base_url + path


@dataclass(frozen=True)
class PreparedRequest:
    """One HTTP request, ready to send but for its ``Authorization`` header."""

    url: str
    body: bytes
    rpc: str
    model: str
    framing: wire.Framing
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"

    def describe(self) -> str:
        return f"{self.rpc} {self.model}"


def text_request(
    prompt: str,
    *,
    system_instruction: str | None = None,
    generation_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body for one user turn of text, the seed's request shape."""
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if system_instruction is not None:
        body["systemInstruction"] = {"parts": [{"text": system_instruction}]}
    if generation_config:
        body["generationConfig"] = dict(generation_config)
    return body


def _model_id(model: str) -> str:
    return model.rsplit("/", 1)[-1]


def _encode(request: str | Mapping[str, Any]) -> bytes:
    body = text_request(request) if isinstance(request, str) else request
    if not isinstance(body, Mapping):
        raise TypeError(f"request must be a prompt string or a mapping, not {type(body).__name__}")
    # NaN is written as the token Python writes: the validator (and Vertex) refuse it with
    # their own message, instead of a ValueError from here.
    # A lone surrogate has no UTF-8 form: written as its JSON escape, for Vertex to judge.
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "backslashreplace")


def check_locally(
    body: bytes,
    *,
    model: str,
    rpc: str,
    api_version: str,
    profiles: ProfileRegistry | None = None,
) -> None:
    """Vertex's verdict on ``body``, as the mock gives it; raises ``InvalidArgument``.

    A model the local profiles do not know is Vertex's to judge (new models appear before
    mockvertex knows them): its body gets the front end's stage only, the proto3 JSON parse.
    """
    try:
        validate_request(body, model=model, method=rpc, api_version=api_version, profiles=profiles)
    except NotFound:
        msg = protojson.message_type(f"{api_version}/{_ROOTS[rpc]}")
        _, violations = protojson.parse_message(protojson.decode_json(body), msg)
        if violations:
            raise InvalidArgument(violations=violations) from None


def prepare(
    endpoint: Endpoint,
    model: str,
    rpc: str,
    request: str | Mapping[str, Any],
    *,
    framing: wire.Framing = wire.Framing.UNARY,
    validate: bool = True,
    profiles: ProfileRegistry | None = None,
) -> PreparedRequest:
    """Build a call; with ``validate`` (the default) a bad body raises and nothing is sent."""
    if (rpc == "streamGenerateContent") != (framing is not wire.Framing.UNARY):
        raise ValueError(f"{rpc} cannot be framed as {framing.value}")
    query = api.stream_query(framing) if rpc == "streamGenerateContent" else None
    url = endpoint.url(model, rpc, query)
    body = _encode(request)
    if validate:
        check_locally(
            body,
            model=_model_id(model),
            rpc=rpc,
            api_version=endpoint.api_version,
            profiles=profiles,
        )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "x-goog-api-client": USER_AGENT,
    }
    return PreparedRequest(url, body, rpc, _model_id(model), framing, headers)


# --------------------------------------------------------------------------------------------
# Replies


class AttemptFailed(Exception):
    """One attempt failed: the error to raise, the policy's view of it, the chunks before it."""

    def __init__(
        self,
        error: StatusError,
        failure: Failure,
        chunks: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.failure = failure
        self.chunks: list[dict[str, Any]] = chunks or []


def _status_failure(error: StatusError, headers: Mapping[str, str]) -> Failure:
    retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    return Failure(
        FailureKind.STATUS,
        http_status=error.http_status,
        retry_after=retry_after,
        details=tuple(error.details()),
    )


def _show(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= _SHOW else text[:_SHOW] + "..."


def error_from_status(status: int, headers: Mapping[str, str], body: bytes) -> AttemptFailed:
    """A non-200 reply as the typed error its envelope names (array-wrapped or not)."""
    try:
        value = wire.decode_unary(body)
    except wire.FramingError:
        value = None
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, Mapping) and isinstance(value.get("error"), Mapping):
        error = StatusError.from_envelope(value, http_status=status)
    else:  # not Google's envelope: a proxy's page, an empty body
        klass = error_class_for(status)
        shown = _show(body)
        error = klass(f"HTTP {status} without an error envelope: {shown!r}" if shown else None)
    error.headers = dict(headers)
    return AttemptFailed(error, _status_failure(error, headers))


def _in_stream_error(value: Mapping[str, Any], chunks: list[dict[str, Any]]) -> AttemptFailed:
    envelope = value.get("error")
    code = envelope.get("code") if isinstance(envelope, Mapping) else None
    status = int(code) if isinstance(code, int) and 400 <= code <= 599 else 500
    error = StatusError.from_envelope(value, http_status=status)
    return AttemptFailed(error, _status_failure(error, {}), chunks)


def malformed(exc: wire.FramingError, chunks: list[dict[str, Any]] | None = None) -> AttemptFailed:
    """Bytes that are not Vertex's framing (gRPC reports an unparsable reply as INTERNAL)."""
    error = Internal(f"Malformed response: {exc}")
    return AttemptFailed(error, Failure(FailureKind.MALFORMED), chunks)


def connection_failed(what: str, chunks: list[dict[str, Any]] | None = None) -> AttemptFailed:
    """The connection failed or the body ended early: UNAVAILABLE, as gRPC reports it."""
    return AttemptFailed(Unavailable(what), Failure(FailureKind.CONNECTION), chunks)


def timed_out(what: str, chunks: list[dict[str, Any]] | None = None) -> AttemptFailed:
    return AttemptFailed(DeadlineExceeded(what), Failure(FailureKind.TIMEOUT), chunks)


def finishes(chunk: Mapping[str, Any]) -> bool:
    """Whether a response (or chunk) ends an answer: a finishReason, or a blocked prompt."""
    feedback = chunk.get("promptFeedback") or {}
    return "blockReason" in feedback or any(
        "finishReason" in c for c in chunk.get("candidates") or ()
    )


def unary_value(body: bytes, *, answer: bool = False) -> dict[str, Any]:
    """A 200 unary body; an error envelope in it (it happens) raises like a non-200 would.

    With ``answer`` (generateContent) the body must also finish the answer, as every Vertex
    reply does: one that does not (``{}``, a cut-short reply) is incomplete, like a stream
    that ends without a finishReason.
    """
    try:
        value = wire.decode_unary(body)
    except wire.FramingError as exc:
        raise malformed(exc) from exc
    if wire.is_error_chunk(value):
        raise _in_stream_error(value, [])
    if not isinstance(value, dict):
        raise malformed(wire.FramingError(f"unary body: not a JSON object: {_show(body)!r}"))
    if answer and not finishes(value):
        raise connection_failed(
            "The reply has no finishReason and no block reason: the answer is incomplete."
        )
    return value


class ChunkReader:
    """Bytes of one streamed reply in, complete chunks out, with contract.wire's decoders.

    ``feed`` returns the chunks the bytes completed; an error envelope in the stream, a
    malformed frame, or (at ``close``) a body that ended early raises ``AttemptFailed`` with
    the chunks decoded before it. A stream is complete once a candidate carried a
    ``finishReason`` or the prompt was blocked: Vertex ends every stream so.
    """

    def __init__(self, framing: wire.Framing) -> None:
        if framing is wire.Framing.SSE:
            self._decoder: wire.SSEDecoder | wire.ArrayDecoder = wire.SSEDecoder()
        elif framing is wire.Framing.ARRAY:
            self._decoder = wire.ArrayDecoder()
        else:
            raise ValueError("a ChunkReader reads SSE or array streams")
        self.framing = framing
        self.chunks = 0
        self.finished = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        try:
            values = self._decoder.feed(data)
        except wire.FramingError as exc:
            raise malformed(exc, self._check(exc.decoded)) from exc
        return self._check(values)

    def close(self) -> list[dict[str, Any]]:
        try:
            values = self._decoder.close()
        except wire.FramingError as exc:
            chunks = self._check(exc.decoded)
            raise connection_failed(f"The stream ended early: {exc}", chunks) from exc
        chunks = self._check(values)
        if not self.finished:
            what = "before any chunk" if not self.chunks else f"after {self.chunks} chunks"
            raise connection_failed(
                f"The stream ended {what} without a finishReason: the answer is incomplete.",
                chunks,
            )
        return chunks

    def _check(self, values: list[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for value in values:
            if wire.is_error_chunk(value):
                raise _in_stream_error(value, out)
            if not isinstance(value, dict):
                raise malformed(wire.FramingError(f"a chunk that is not an object: {value!r}"), out)
            self.chunks += 1
            self.finished = self.finished or finishes(value)
            out.append(value)
        return out


# --------------------------------------------------------------------------------------------
# What each attempt logs, and what is finally raised


def log_attempt(
    prepared: PreparedRequest,
    run: CallRetry,
    attempts: int,
    outcome: str,
    decision: Decision | None = None,
) -> None:
    """One line per attempt: which, how it ended, the wait chosen and why. Never a token."""
    final = decision is not None and not decision.retry
    if not log.isEnabledFor(logging.WARNING if final else logging.INFO):
        return
    extra = {
        "mockvertex_attempt": run.attempts,
        "mockvertex_outcome": outcome,
        "mockvertex_wait": decision.wait if decision is not None and decision.retry else None,
        "mockvertex_reason": decision.reason if decision is not None else None,
    }
    head = f"{prepared.describe()} attempt {run.attempts}/{attempts}: {outcome}"
    if decision is None:
        log.info("%s", head, extra=extra)
    elif decision.retry:
        log.info("%s; retrying in %.3fs (%s)", head, decision.wait, decision.reason, extra=extra)
    else:
        log.warning("%s; giving up (%s)", head, decision.reason, extra=extra)


def outcome_of(failed: AttemptFailed) -> str:
    error = failed.error
    if failed.failure.kind is FailureKind.STATUS:
        return f"{error.http_status} {error.status}"
    return f"{failed.failure.kind.value}: {error.message}"


def give_up(
    failed: AttemptFailed, run: CallRetry, delivered: list[GenerateContentResponse]
) -> StatusError:
    """The error a call raises: attempts made, and the response delivered so far, if any."""
    error = failed.error
    error.attempts = run.attempts
    if delivered:
        error.partial = GenerateContentResponse.merged(delivered)
    return error


def deadline_passed(run: CallRetry, chunks: list[dict[str, Any]] | None = None) -> AttemptFailed:
    return timed_out(f"The call's deadline of {run.deadline:g}s passed.", chunks)
