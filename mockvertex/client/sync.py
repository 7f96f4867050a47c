"""``VertexClient``: the sync transport, on requests, over the sans-IO core and retry policy.

client = VertexClient(project="my-project", location="us-central1")   # ADC
client = VertexClient(base_url=mock.url, project="p", token="x")      # the mock
print(client.generate_content("gemini-2.0-flash", "Hello").text)
for chunk in client.stream_generate_content("gemini-2.0-flash", "Tell me a story"):
    print(chunk.text or "", end="", flush=True)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from random import random as _random
from types import TracebackType
from typing import Any

import requests
from urllib3.exceptions import HTTPError, ReadTimeoutError

from mockvertex.client import core
from mockvertex.client.base import ClientBase
from mockvertex.client.response import CountTokensResponse, GenerateContentResponse
from mockvertex.client.retry import CallRetry, RetryBudget, RetryPolicy
from mockvertex.contract.profiles import ProfileRegistry
from mockvertex.contract.wire import Framing

__all__ = ["ResponseStream", "VertexClient"]

_READ_SIZE = 64 * 1024


class VertexClient(ClientBase):
    """A client of the Vertex AI Gemini API (or anything that speaks it, like the mock).

    Credentials: ``token`` (a static bearer token, for the mock), ``credentials`` (any
    google-auth credentials object or a ``TokenSource``), or neither: Application Default
    Credentials with the cloud-platform scope, whose project is used when ``project`` is None.
    ``base_url`` None means Vertex's host for ``location`` (``global`` included).

    Every call is validated locally first (``validate=False`` skips it) and retried by
    ``retry`` (a ``RetryPolicy``; ``RetryPolicy.none()`` for one attempt) within its deadline,
    against ``budget``, a retry budget shared by all calls of this client. ``clock``,
    ``sleep``, ``wall_clock`` and ``rng`` are injectable for tests.
    """

    def __init__(
        self,
        *,
        project: str | None = None,
        location: str = "us-central1",
        base_url: str | None = None,
        api_version: str = "v1",
        token: str | None = None,
        credentials: Any = None,
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        validate: bool = True,
        profiles: ProfileRegistry | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = _random,
    ) -> None:
        super().__init__(
            project=project,
            location=location,
            base_url=base_url,
            api_version=api_version,
            token=token,
            credentials=credentials,
            retry=retry,
            budget=budget,
            validate=validate,
            profiles=profiles,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            clock=clock,
            wall_clock=wall_clock,
            rng=rng,
        )
        self._own_session = session is None
        self._session = session or requests.Session()
        self._sleep = sleep

    # -- the API
    def generate_content(
        self,
        model: str,
        request: str | Mapping[str, Any],
        *,
        deadline: float | None = None,
    ) -> GenerateContentResponse:
        """``generateContent``: a prompt string or a GenerateContentRequest mapping."""
        prepared = self._prepare(model, "generateContent", request, Framing.UNARY)
        return GenerateContentResponse(self._unary(prepared, deadline))

    def stream_generate_content(
        self,
        model: str,
        request: str | Mapping[str, Any],
        *,
        framing: Framing = Framing.SSE,
        deadline: float | None = None,
    ) -> ResponseStream:
        """``streamGenerateContent``: chunks as they arrive (SSE, or ``Framing.ARRAY``).

        The request is validated now and sent when iteration starts.
        """
        prepared = self._prepare(model, "streamGenerateContent", request, framing)
        return ResponseStream(self, prepared, deadline)

    def count_tokens(
        self,
        model: str,
        request: str | Mapping[str, Any],
        *,
        deadline: float | None = None,
    ) -> CountTokensResponse:
        """``countTokens``: a prompt string or a CountTokensRequest mapping."""
        prepared = self._prepare(model, "countTokens", request, Framing.UNARY)
        return CountTokensResponse(self._unary(prepared, deadline))

    # -- lifecycle
    def close(self) -> None:
        if self._own_session:
            self._session.close()

    def __enter__(self) -> VertexClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- one attempt
    def _send(self, prepared: core.PreparedRequest, run: CallRetry) -> requests.Response:
        headers = self._static_headers(prepared, self._tokens.token())
        try:
            response = self._session.request(
                prepared.method,
                prepared.url,
                data=prepared.body,
                headers=headers,
                timeout=(run.timeout(self.connect_timeout), run.timeout(self.read_timeout)),
                stream=True,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise core.timed_out(f"Timed out: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise core.connection_failed(f"Connection failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            try:
                body = response.content
            except requests.RequestException:
                body = b""
            finally:
                response.close()
            raise core.error_from_status(response.status_code, response.headers, body)
        return response

    def _retry(
        self,
        failed: core.AttemptFailed,
        prepared: core.PreparedRequest,
        run: CallRetry,
        delivered: list[GenerateContentResponse],
    ) -> None:
        decision = self._decide(failed, prepared, run, delivered)
        if decision.refresh:
            self._tokens.refresh()
        if decision.wait:
            self._sleep(decision.wait)

    # -- one call
    def _unary(self, prepared: core.PreparedRequest, deadline: float | None) -> dict[str, Any]:
        run = self._start(deadline)
        while True:
            run.begin()
            try:
                response = self._send(prepared, run)
                try:
                    body = b"".join(_pieces(response, run))
                finally:
                    response.close()
                value = core.unary_value(body, answer=prepared.rpc == "generateContent")
            except core.AttemptFailed as failed:
                self._retry(failed, prepared, run, [])
                continue
            self._succeeded(prepared, run, "200 OK")
            return value

    def _stream(
        self, prepared: core.PreparedRequest, deadline: float | None, stream: ResponseStream
    ) -> Iterator[GenerateContentResponse]:
        run = self._start(deadline)
        delivered = stream.chunks
        while True:
            stream.attempts = run.begin()
            reader = core.ChunkReader(prepared.framing)
            try:
                response = self._send(prepared, run)
                try:
                    for piece in _pieces(response, run):
                        for value in reader.feed(piece):
                            delivered.append(GenerateContentResponse(value))
                            yield delivered[-1]
                    tail = reader.close()
                finally:
                    response.close()
            except core.AttemptFailed as failed:
                for value in failed.chunks:  # they arrived intact before the failure
                    delivered.append(GenerateContentResponse(value))
                    yield delivered[-1]
                self._retry(failed, prepared, run, delivered)
                continue
            for value in tail:
                delivered.append(GenerateContentResponse(value))
                yield delivered[-1]
            self._succeeded(prepared, run, f"200 OK, {reader.chunks} chunks")
            return


def _pieces(response: requests.Response, run: CallRetry) -> Iterator[bytes]:
    """The body as it arrives; transport failures and the deadline become AttemptFailed.

    ``read1`` returns what one read of the socket gave (decoded), so a chunk is handed on
    when it arrives whatever the body's framing; ``iter_content`` would wait for a full
    buffer on a body that is not chunked.
    """
    raw = response.raw
    while True:
        if run.expired():
            raise core.deadline_passed(run)
        try:
            piece = raw.read1(_READ_SIZE, decode_content=True)
        except ReadTimeoutError as exc:
            raise core.timed_out("Timed out reading the body.") from exc
        except (HTTPError, OSError) as exc:  # ProtocolError: reset, incomplete chunk, ...
            raise core.connection_failed(
                f"The connection broke in the body: {type(exc).__name__}"
            ) from exc
        if not piece:
            return
        yield piece


class ResponseStream:
    """The chunks of one ``streamGenerateContent`` call, as they arrive.

    Iterate it once. ``chunks`` are those delivered so far, ``response()`` is what they add up
    to (``merge_chunks``), ``attempts`` the HTTP attempts made. A failure after the first chunk
    raises with ``partial`` set to the response so far; it is never replayed.
    """

    def __init__(
        self, client: VertexClient, prepared: core.PreparedRequest, deadline: float | None
    ) -> None:
        self.chunks: list[GenerateContentResponse] = []
        self.attempts = 0
        self._iterator = client._stream(prepared, deadline, self)

    def __iter__(self) -> Iterator[GenerateContentResponse]:
        return self

    def __next__(self) -> GenerateContentResponse:
        return next(self._iterator)

    def response(self) -> GenerateContentResponse:
        """The chunks delivered so far, merged into one response."""
        return GenerateContentResponse.merged(self.chunks)

    @property
    def text(self) -> str:
        """The answer text delivered so far."""
        return "".join(c.text or "" for c in self.chunks)

    def close(self) -> None:
        """Stop early: the connection is closed and nothing more is read."""
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ResponseStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
