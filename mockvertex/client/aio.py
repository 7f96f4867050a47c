"""``AsyncVertexClient``: the async transport, on aiohttp's client, over the same core and policy.

    async with AsyncVertexClient(base_url=mock.url, project="p", token="x") as client:
        print((await client.generate_content("gemini-2.0-flash", "Hello")).text)
        async for chunk in client.stream_generate_content("gemini-2.0-flash", "A story"):
            print(chunk.text or "", end="", flush=True)

Retries are not an aiohttp client middleware (style §8.7 suggests one): a middleware sees
requests and responses, not whether a streamed chunk has reached the caller, which is what
decides whether a stream may be retried. The loop below asks the shared policy instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from random import random as _random
from types import TracebackType
from typing import Any

import aiohttp

from mockvertex.client import core
from mockvertex.client.base import ClientBase
from mockvertex.client.response import CountTokensResponse, GenerateContentResponse
from mockvertex.client.retry import CallRetry, RetryBudget, RetryPolicy
from mockvertex.contract.profiles import ProfileRegistry
from mockvertex.contract.wire import Framing

__all__ = ["AsyncResponseStream", "AsyncVertexClient"]


class AsyncVertexClient(ClientBase):
    """The async twin of ``VertexClient``: the same arguments, coroutines instead of calls.

    The aiohttp session is created on first use (inside the running loop) unless one is
    given; ``aclose()`` or ``async with`` closes a session the client created. Refreshing
    google-auth credentials (blocking I/O) runs in a worker thread.
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
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
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
        self._session = session
        self._sleep = sleep

    # -- the API
    async def generate_content(
        self,
        model: str,
        request: str | Mapping[str, Any],
        *,
        deadline: float | None = None,
    ) -> GenerateContentResponse:
        """``generateContent``: a prompt string or a GenerateContentRequest mapping."""
        prepared = self._prepare(model, "generateContent", request, Framing.UNARY)
        return GenerateContentResponse(await self._unary(prepared, deadline))

    def stream_generate_content(
        self,
        model: str,
        request: str | Mapping[str, Any],
        *,
        framing: Framing = Framing.SSE,
        deadline: float | None = None,
    ) -> AsyncResponseStream:
        """``streamGenerateContent``: iterate with ``async for``; validated now, sent then."""
        prepared = self._prepare(model, "streamGenerateContent", request, framing)
        return AsyncResponseStream(self, prepared, deadline)

    async def count_tokens(
        self,
        model: str,
        request: str | Mapping[str, Any],
        *,
        deadline: float | None = None,
    ) -> CountTokensResponse:
        """``countTokens``: a prompt string or a CountTokensRequest mapping."""
        prepared = self._prepare(model, "countTokens", request, Framing.UNARY)
        return CountTokensResponse(await self._unary(prepared, deadline))

    # -- lifecycle
    async def aclose(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AsyncVertexClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- one attempt
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _token(self) -> str:
        if self._tokens.stale():
            return await asyncio.to_thread(self._tokens.token)
        return self._tokens.token()

    async def _send(self, prepared: core.PreparedRequest, run: CallRetry) -> aiohttp.ClientResponse:
        headers = self._static_headers(prepared, await self._token())
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=run.timeout(self.connect_timeout),
            sock_read=run.timeout(self.read_timeout),
        )
        try:
            response = await self._http().request(
                prepared.method,
                prepared.url,
                data=prepared.body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            )
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise core.timed_out(f"Timed out: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise core.connection_failed(f"Connection failed: {type(exc).__name__}") from exc
        if response.status != 200:
            try:
                body = await response.read()
            except (aiohttp.ClientError, TimeoutError, asyncio.TimeoutError):
                body = b""
            finally:
                response.release()
            raise core.error_from_status(response.status, response.headers, body)
        return response

    async def _retry(
        self,
        failed: core.AttemptFailed,
        prepared: core.PreparedRequest,
        run: CallRetry,
        delivered: list[GenerateContentResponse],
    ) -> None:
        decision = self._decide(failed, prepared, run, delivered)
        if decision.refresh:
            await asyncio.to_thread(self._tokens.refresh)
        if decision.wait:
            await self._sleep(decision.wait)

    # -- one call
    async def _unary(
        self, prepared: core.PreparedRequest, deadline: float | None
    ) -> dict[str, Any]:
        run = self._start(deadline)
        while True:
            run.begin()
            try:
                response = await self._send(prepared, run)
                try:
                    body = b"".join([piece async for piece in _pieces(response, run)])
                finally:
                    response.release()
                value = core.unary_value(body, answer=prepared.rpc == "generateContent")
            except core.AttemptFailed as failed:
                await self._retry(failed, prepared, run, [])
                continue
            self._succeeded(prepared, run, "200 OK")
            return value

    async def _stream(
        self,
        prepared: core.PreparedRequest,
        deadline: float | None,
        stream: AsyncResponseStream,
    ) -> AsyncIterator[GenerateContentResponse]:
        run = self._start(deadline)
        delivered = stream.chunks
        while True:
            stream.attempts = run.begin()
            reader = core.ChunkReader(prepared.framing)
            try:
                response = await self._send(prepared, run)
                try:
                    async for piece in _pieces(response, run):
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
                await self._retry(failed, prepared, run, delivered)
                continue
            for value in tail:
                delivered.append(GenerateContentResponse(value))
                yield delivered[-1]
            self._succeeded(prepared, run, f"200 OK, {reader.chunks} chunks")
            return


async def _pieces(response: aiohttp.ClientResponse, run: CallRetry) -> AsyncIterator[bytes]:
    """The body as it arrives; transport failures and the deadline become AttemptFailed."""
    while True:
        if run.expired():
            raise core.deadline_passed(run)
        try:
            piece = await response.content.readany()
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise core.timed_out("Timed out reading the body.") from exc
        except (aiohttp.ClientError, OSError) as exc:  # ClientPayloadError: cut short
            raise core.connection_failed(
                f"The connection broke in the body: {type(exc).__name__}"
            ) from exc
        if not piece:
            return
        yield piece


class AsyncResponseStream:
    """The chunks of one async ``streamGenerateContent`` call, as they arrive (``async for``).

    Same contract as ``ResponseStream``: ``chunks``, ``response()``, ``text``, ``attempts``; a
    failure after the first chunk raises with ``partial`` set, never replayed.
    """

    def __init__(
        self,
        client: AsyncVertexClient,
        prepared: core.PreparedRequest,
        deadline: float | None,
    ) -> None:
        self.chunks: list[GenerateContentResponse] = []
        self.attempts = 0
        self._iterator = client._stream(prepared, deadline, self)

    def __aiter__(self) -> AsyncResponseStream:
        return self

    async def __anext__(self) -> GenerateContentResponse:
        return await self._iterator.__anext__()

    def response(self) -> GenerateContentResponse:
        """The chunks delivered so far, merged into one response."""
        return GenerateContentResponse.merged(self.chunks)

    @property
    def text(self) -> str:
        """The answer text delivered so far."""
        return "".join(c.text or "" for c in self.chunks)

    async def aclose(self) -> None:
        """Stop early: the connection is closed and nothing more is read."""
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncResponseStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
