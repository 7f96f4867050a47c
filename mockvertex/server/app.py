"""The aiohttp application: routes, auth, thin handlers, the journal and the control plane.

A generation request flows: route -> auth -> body -> ``validation`` -> ``scenario`` (choose
the step) -> ``synthesis`` (build the chunks) -> ``framing`` (encode) -> the socket. Handlers
hold no payload logic; everything they send comes from those modules.

Run it directly with ``python -m aiohttp.web -H 127.0.0.1 -P 8080 mockvertex.server.app:init_app``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple
from urllib.parse import unquote

from aiohttp import web

from mockvertex.config import ServerConfig
from mockvertex.contract import protojson, wire
from mockvertex.contract.errors import (
    DataFileError,
    Internal,
    InvalidArgument,
    NotFound,
    StatusError,
    Unauthenticated,
    Unimplemented,
)
from mockvertex.contract.profiles import ProfileRegistry
from mockvertex.contract.validation import METHODS, validate_request
from mockvertex.engine.scenario import RequestContext, ScenarioBook, load_builtin, load_scenario
from mockvertex.engine.synthesis import Reply, merge_chunks, render

__all__ = [
    "STATE",
    "Exchange",
    "Journal",
    "MockState",
    "create_app",
    "init_app",
]

log = logging.getLogger("mockvertex")

_VERSIONS = ("v1", "v1beta1")
_SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "cookie", "proxy-authorization"})
_SECRET_QUERY = frozenset({"key", "access_token"})  # API keys / tokens sent in the URL
_GFE_HEADERS = {
    "Vary": "Origin, X-Origin, Referer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "X-XSS-Protection": "0",
}
_JSON = "application/json; charset=UTF-8"
# Response headers that never change (aiohttp copies them into each response's own dict).
_JSON_HEADERS = {**_GFE_HEADERS, "Content-Type": _JSON}
_STREAM_HEADERS = {
    wire.Framing.SSE: {
        **_GFE_HEADERS,
        "Content-Type": wire.Framing.SSE.content_type,
        "Content-Disposition": "attachment",
    },
    wire.Framing.ARRAY: {**_GFE_HEADERS, "Content-Type": wire.Framing.ARRAY.content_type},
}
_CREDENTIALS_MISSING = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_CREDENTIALS_INVALID = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


@dataclass
class Exchange:
    """One request the mock answered, as the journal keeps it (no secrets)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    api_version: str = ""
    model: str = ""
    rpc: str = ""
    request: dict[str, Any] | None = None
    status: int = 0
    framing: str = ""
    scenario: str | None = None
    chunks_sent: int = 0
    outcome: str = "pending"
    started: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Journal:
    """Thread-safe record of the latest exchanges (at most ``limit``), newest last."""

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._items: deque[Exchange] = deque(maxlen=limit)

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self._items.append(exchange)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def entries(self) -> list[Exchange]:
        with self._lock:
            return list(self._items)


@dataclass
class MockState:
    """Everything a running mock knows: its config, profiles, scenarios and journal."""

    config: ServerConfig
    profiles: ProfileRegistry
    book: ScenarioBook
    journal: Journal = field(init=False)
    #: Exceptions that escaped a handler: a bug in the mock, re-raised by
    #: ``MockVertexServer.check()``.
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.journal = Journal(self.config.journal_limit)

    @classmethod
    def from_config(cls, config: ServerConfig) -> MockState:
        """The state a fresh mock starts with: built-in plus configured profiles and scenarios."""
        profiles = ProfileRegistry.builtin().with_files(*config.profile_files)
        state = cls(config=config, profiles=profiles, book=ScenarioBook())
        state.reset()
        return state

    def reset(self) -> None:
        """Forget the journal and every scenario added at run time; reload the configured ones."""
        self.journal.clear()
        self.book.clear()
        for scenario in _configured_scenarios(self.config):
            self.book.add(scenario)


STATE: web.AppKey[MockState] = web.AppKey("mockvertex_state", MockState)
# aiohttp >= 3.14 warns (NotAppKeyWarning) on plain string request keys; under ``-W error`` that
# warning turned every answer into a 500. Older aiohttp has no RequestKey.
_EXCHANGE: Any = (
    web.RequestKey("mockvertex_exchange", Exchange)
    if hasattr(web, "RequestKey")
    else "mockvertex_exchange"
)


def _configured_scenarios(config: ServerConfig) -> list[Any]:
    loaded = [load_builtin(name) for name in config.builtin_scenarios]
    loaded.extend(load_scenario(path) for path in config.scenario_files)
    return loaded


# ---------------------------------------------------------------------------------------------
# Responses


def _envelope_response(error: StatusError, fmt: wire.Framing) -> web.Response:
    headers = {**_GFE_HEADERS, **error.headers}
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return web.Response(
        status=error.http_status,
        body=wire.encode_error(error, fmt),
        content_type=None,
        headers={**headers, "Content-Type": _JSON},
    )


# ---------------------------------------------------------------------------------------------
# Routing


class _Target(NamedTuple):  # immutable like a frozen dataclass, a third of the cost to build
    api_version: str
    model: str
    rpc: str
    resource: str
    located: bool  # the projects/{p}/locations/{l} form


def _parse_target(request: web.Request) -> _Target:
    info = request.match_info
    version = info["version"]
    tail = unquote(info["tail"])
    model, sep, rpc = tail.rpartition(":")
    if version not in _VERSIONS or not sep or info.get("publisher") != "google":
        raise NotFound(f"The requested URL {request.path} was not found on this server.")
    located = "project" in info
    if located:
        resource = (
            f"projects/{info['project']}/locations/{info['location']}"
            f"/publishers/google/models/{model}"
        )
    else:
        resource = f"publishers/google/models/{model}"
    if rpc not in METHODS:
        raise NotFound(f"The requested URL {request.path} was not found on this server.")
    return _Target(version, model, rpc, resource, located)


def _check_auth(request: web.Request, state: MockState, target: _Target) -> None:
    config = state.config
    if config.auth == "none":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    api_key = request.headers.get("x-goog-api-key") or request.query.get("key", "")
    if config.auth == "token":
        if bearer == config.token or (not target.located and api_key == config.token):
            return
        raise Unauthenticated(_CREDENTIALS_INVALID if (bearer or api_key) else None)
    if bearer:
        return
    if api_key:
        if not target.located:  # Vertex express mode: API keys on the location-less path
            return
        raise Unauthenticated(
            "API keys are not supported by this API. Expected OAuth2 access token or other "
            "authentication credentials that assert a principal. See "
            "https://cloud.google.com/docs/authentication"
        )
    raise Unauthenticated(_CREDENTIALS_MISSING)


def _safe_headers(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in _SECRET_HEADERS}


# ---------------------------------------------------------------------------------------------
# The generation handler


async def _handle_rpc(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    exchange = Exchange(
        method=request.method,
        path=request.path,
        query={k: v for k, v in request.query.items() if k not in _SECRET_QUERY},
        headers=_safe_headers(request),
        body="",
    )
    state.journal.add(exchange)
    request[_EXCHANGE] = exchange
    fmt = wire.Framing.UNARY
    if request.method != "POST":
        exchange.status, exchange.outcome = 405, "error"
        return _envelope_response(_method_not_allowed(request.method), fmt)
    try:
        target = _parse_target(request)
        exchange.api_version, exchange.model, exchange.rpc = (
            target.api_version,
            target.model,
            target.rpc,
        )
        if target.rpc == "streamGenerateContent":
            fmt = wire.Framing.ARRAY  # what a bad alt is answered in, as Google does
            mode = wire.stream_mode(request.query)
            fmt, int_enums = mode.framing, mode.int_enums
        else:
            int_enums = wire.unary_int_enums(request.query)
        exchange.framing = fmt.value
        _check_auth(request, state, target)
        raw = await _read_body(request, state.config.max_body_bytes)
        exchange.body = raw.decode("utf-8", "replace")
        normalized = validate_request(
            raw,
            model=target.model,
            method=target.rpc,
            api_version=target.api_version,
            profiles=state.profiles,
            resource=target.resource,
        )
        exchange.request = normalized
        ctx = RequestContext(
            model=target.model,
            method=target.rpc,
            api_version=target.api_version,
            request=normalized,
        )
        chosen = state.book.select(ctx)
        exchange.scenario = chosen[0].name if chosen else None
        step = chosen[1].raw if chosen else None
        profile = state.profiles.resolve(target.model, resource=target.resource)
        reply = render(step, ctx, profile)
        counting = target.rpc == "countTokens"
        if int_enums:
            answer = "CountTokensResponse" if counting else "GenerateContentResponse"
            reply = _with_int_enums(reply, protojson.message_type(f"{target.api_version}/{answer}"))
        if fmt is wire.Framing.UNARY:
            return await _send_unary(request, exchange, reply, counting=counting)
        return await _send_stream(request, exchange, reply, fmt)
    except StatusError as error:
        exchange.status, exchange.outcome = error.http_status, "error"
        return _envelope_response(error, fmt)


async def _read_body(request: web.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None:
        if length > limit:
            raise InvalidArgument(f"Request payload size exceeds the limit: {limit} bytes.")
        # The parser delivers exactly Content-Length bytes, so the limit holds: read in one go.
        return await request.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise InvalidArgument(f"Request payload size exceeds the limit: {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _with_int_enums(reply: Reply, schema: protojson.MessageType) -> Reply:
    chunks = tuple(protojson.encode_int_enums(c, schema) for c in reply.chunks)
    return replace(reply, chunks=chunks)


async def _send_unary(
    request: web.Request, exchange: Exchange, reply: Reply, *, counting: bool
) -> web.StreamResponse:
    if reply.first_byte_delay:
        await asyncio.sleep(reply.first_byte_delay)
    if reply.error is not None:
        raise reply.error
    if reply.disconnect_after is not None or reply.malformed_after is not None:
        if reply.malformed_after is not None:
            return _garbage_response(exchange)
        _drop(request, exchange)
        return web.Response()
    exchange.status, exchange.outcome, exchange.chunks_sent = 200, "ok", 1
    return web.Response(
        body=wire.encode_unary(reply.chunks[0] if counting else merge_chunks(reply.chunks)),
        headers=_JSON_HEADERS,
    )


def _garbage_response(exchange: Exchange) -> web.Response:
    exchange.status, exchange.outcome = 200, "malformed"
    return web.Response(
        body=b'{"candidates": [{"content": {"role": "model", "parts": [{"text": "',
        headers=_JSON_HEADERS,
    )


def _drop(request: web.Request, exchange: Exchange) -> None:
    exchange.outcome = "disconnected"
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _send_stream(
    request: web.Request, exchange: Exchange, reply: Reply, fmt: wire.Framing
) -> web.StreamResponse:
    if reply.first_byte_delay:
        await asyncio.sleep(reply.first_byte_delay)
    if reply.error is not None and not reply.error_after:
        raise reply.error
    headers = _STREAM_HEADERS[fmt]
    if reply.headers:
        headers = {
            **_GFE_HEADERS,
            **reply.headers,
            "Content-Type": fmt.content_type,
            **({"Content-Disposition": "attachment"} if fmt is wire.Framing.SSE else {}),
        }
    response = web.StreamResponse(status=200, headers=headers)
    exchange.status = 200
    try:
        await _write_stream(request, response, exchange, reply, fmt)
    except ConnectionError:
        _client_gone(request, exchange)
    return response


def _client_gone(request: web.Request, exchange: Exchange) -> None:
    exchange.outcome = "client_disconnected"
    log.info("client hung up during %s %s", request.method, request.path)


async def _write_stream(
    request: web.Request,
    response: web.StreamResponse,
    exchange: Exchange,
    reply: Reply,
    fmt: wire.Framing,
) -> None:
    await response.prepare(request)
    writer = wire.ArrayWriter()
    encode = wire.encode_sse_event if fmt is wire.Framing.SSE else writer.item
    delay = reply.chunk_delay
    faulty = (
        reply.error is not None
        or reply.malformed_after is not None
        or reply.disconnect_after is not None
    )
    for index, chunk in enumerate(reply.chunks):
        if index and delay:
            await asyncio.sleep(delay)
        if faulty and await _interrupt(request, response, exchange, reply, index, fmt, writer):
            return
        await response.write(encode(chunk))
        exchange.chunks_sent = index + 1
    if faulty and await _interrupt(
        request, response, exchange, reply, len(reply.chunks), fmt, writer
    ):
        return
    # The outcome is recorded before the last bytes go out: a client that has read them may
    # look at the journal at once. A failed write still turns it into client_disconnected.
    exchange.outcome = "ok"
    if fmt is wire.Framing.ARRAY:
        await response.write(writer.close())
    await response.write_eof()


async def _interrupt(
    request: web.Request,
    response: web.StreamResponse,
    exchange: Exchange,
    reply: Reply,
    index: int,
    fmt: wire.Framing,
    writer: wire.ArrayWriter,
) -> bool:
    """Inject the reply's fault if it is due before chunk ``index``; True when the stream ends."""
    if reply.error is not None and reply.error_after == index:
        envelope = reply.error.to_envelope()
        exchange.outcome = "mid_stream_error"
        if fmt is wire.Framing.SSE:
            await response.write(wire.encode_sse_event(envelope))
        else:
            await response.write(writer.item(envelope) + writer.close())
        await response.write_eof()
        return True
    if reply.malformed_after == index:
        exchange.outcome = "malformed"
        if fmt is wire.Framing.SSE:
            await response.write(b'data: {"candidates": [{\r\n\r\n')
        else:
            await response.write((b"\n,\r\n" if writer.count else b"[") + b'{"candidates": [')
        await response.write_eof()
        return True
    if reply.disconnect_after == index:
        _drop(request, exchange)
        return True
    return False


# ---------------------------------------------------------------------------------------------
# Middleware: hang-ups, bugs and unknown routes


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ConnectionError:
        exchange = request.get(_EXCHANGE)
        if exchange is not None:
            _client_gone(request, exchange)
        return web.Response()
    except asyncio.CancelledError:
        # A runner with handler_cancellation (aiohttp's TestServer) cancels the handler when
        # the client hangs up, instead of letting the next write fail.
        exchange = request.get(_EXCHANGE)
        if exchange is not None and exchange.outcome == "pending":
            _client_gone(request, exchange)
        raise
    except web.HTTPException as exc:
        if exc.status == 413:
            limit = request.app[STATE].config.max_body_bytes
            error: StatusError = InvalidArgument(
                f"Request payload size exceeds the limit: {limit} bytes."
            )
        else:
            error = NotFound(f"The requested URL {request.path} was not found on this server.")
        return _envelope_response(error, wire.Framing.UNARY)
    except Exception as exc:  # a bug in the mock: answer as Google would, keep it for tests
        log.exception("mockvertex bug while handling %s %s", request.method, request.path)
        request.app[STATE].errors.append(exc)
        return _envelope_response(Internal(), wire.Framing.UNARY)


class _MethodNotAllowed(Unimplemented):
    """A model method called with a verb other than POST (google.rpc has no 405 of its own)."""

    http_status = 405


def _method_not_allowed(method: str) -> StatusError:
    return _MethodNotAllowed(f"HTTP method {method} is not supported by this URL; use POST.")


# ---------------------------------------------------------------------------------------------
# Control plane and the local OAuth token endpoint


async def _journal(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "DELETE":
        state.journal.clear()
        return web.json_response({"cleared": True})
    return web.json_response([e.to_json() for e in state.journal.entries()])


async def _scenarios(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "DELETE":
        state.reset()
        return web.json_response({"reset": True})
    if request.method == "POST":
        raw = await request.read()
        try:
            body = protojson.decode_json(raw)
            scenario = load_scenario(body)
        except DataFileError as exc:
            return _envelope_response(
                InvalidArgument(f"{exc.field or '<root>'}: {exc.rule}"), wire.Framing.UNARY
            )
        except StatusError as exc:
            return _envelope_response(exc, wire.Framing.UNARY)
        state.book.add(scenario)
        return web.json_response({"added": scenario.name}, status=200)
    return web.json_response(state.book.snapshot())


async def _token(request: web.Request) -> web.Response:
    """A local OAuth2 token endpoint, so credential files can point their token_uri here."""
    state = request.app[STATE]
    token = state.config.token if state.config.auth == "token" else "mockvertex-token"
    return web.json_response(
        {"access_token": token, "expires_in": 3600, "token_type": "Bearer", "scope": ""}
    )


async def _not_found(request: web.Request) -> web.Response:
    return _envelope_response(
        NotFound(f"The requested URL {request.path} was not found on this server."),
        wire.Framing.UNARY,
    )


# ---------------------------------------------------------------------------------------------
# Assembly


def create_app(
    config: ServerConfig | None = None,
    *,
    state: MockState | None = None,
) -> web.Application:
    """The mock as an aiohttp application (serve it with any aiohttp runner)."""
    config = config or ServerConfig()
    if state is None:
        state = MockState.from_config(config)
    app = web.Application(middlewares=[_guard], client_max_size=config.max_body_bytes + 1024)
    app[STATE] = state
    base = "/{version}/projects/{project}/locations/{location}/publishers/{publisher}/models/{tail}"
    app.router.add_route("*", base, _handle_rpc)
    app.router.add_route("*", "/{version}/publishers/{publisher}/models/{tail}", _handle_rpc)
    app.router.add_route("*", "/_mockvertex/journal", _journal)
    app.router.add_route("*", "/_mockvertex/scenarios", _scenarios)
    app.router.add_post("/token", _token)
    app.router.add_route("*", "/{anything:.*}", _not_found)
    return app


def init_app(argv: list[str] | None = None) -> web.Application:
    """Entry point for ``python -m aiohttp.web mockvertex.server.app:init_app`` (env config)."""
    return create_app(ServerConfig.from_env())
