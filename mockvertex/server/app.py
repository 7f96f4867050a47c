"""The aiohttp application: routes, auth, the generation handler and the guard around handlers.

A generation request flows: route -> auth -> body -> ``validation`` -> ``scenario`` (choose
the step) -> ``synthesis`` (build the chunks) -> ``stream`` (encode with ``wire`` and send).
Handlers hold no payload logic; everything they send comes from those modules.

Run it directly with ``python -m aiohttp.web -H 127.0.0.1 -P 8080 mockvertex.server.app:init_app``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from functools import partial
from types import MappingProxyType
from typing import NamedTuple
from urllib.parse import unquote

from aiohttp import hdrs, web
from multidict import istr

from mockvertex.config import ServerConfig
from mockvertex.contract import api, protojson, wire
from mockvertex.contract.errors import (
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    StatusError,
    Unauthenticated,
)
from mockvertex.contract.validation import METHODS
from mockvertex.engine.quota import QuotaExceeded
from mockvertex.engine.session import (
    DEFAULT_SESSION,
    MAX_SESSION_NAME,
    SESSION_HEADER,
    MockState,
    Session,
    key_session,
)
from mockvertex.engine.synthesis import Reply, render
from mockvertex.server import control
from mockvertex.server.adc import SESSION_TOKEN_PREFIX
from mockvertex.server.http import (
    EXCHANGE,
    STATE,
    client_fault_reason,
    envelope_response,
    log,
    method_not_allowed,
)
from mockvertex.server.stream import client_gone, send_pieces, send_reply

__all__ = ["STATE", "create_app", "init_app"]

_VERSIONS = ("v1", "v1beta1")
_NO_QUERY: Mapping[str, str] = MappingProxyType({})
_FRAMING_NAMES = {f: f.value for f in wire.Framing}  # an enum's .value is a slow property
_SESSION_BEARER = "Bearer " + SESSION_TOKEN_PREFIX
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

# ---------------------------------------------------------------------------------------------
# Routing


class _Target(NamedTuple):  # immutable like a frozen dataclass, a third of the cost to build
    api_version: str
    model: str
    rpc: str
    resource: str
    located: bool  # the projects/{p}/locations/{l} form


def _parse_target(request: web.Request) -> _Target:
    # Keyed by the raw path, which decides the match: one string to hash, not five.
    raw_path = request.rel_url.raw_path
    target = _TARGETS.get(raw_path, _UNKNOWN)
    if target is _UNKNOWN:
        info = request.match_info
        target = _target_of(
            info["version"],
            info["tail"],
            info.get("publisher"),
            info.get("project"),
            info.get("location"),
        )
        if len(_TARGETS) >= _TARGETS_KEPT:
            _TARGETS.clear()
        _TARGETS[raw_path] = target
    if target is None:
        raise NotFound(f"The requested URL {request.path} was not found on this server.")
    return target  # type: ignore[return-value]


# The targets of the model paths seen last (a client sends the same few paths again and again).
_TARGETS: dict[str, _Target | object | None] = {}
_TARGETS_KEPT = 1024
_UNKNOWN = object()


def _target_of(
    version: str, raw_tail: str, publisher: str | None, project: str | None, location: str | None
) -> _Target | None:
    """The target of a model path's parts (None: not a model method)."""
    tail = unquote(raw_tail)
    model, sep, rpc = tail.rpartition(":")
    if version not in _VERSIONS or not sep or publisher != "google" or rpc not in METHODS:
        return None
    located = project is not None
    if located:
        resource = f"projects/{project}/locations/{location}/publishers/google/models/{model}"
    else:
        resource = f"publishers/google/models/{model}"
    return _Target(version, model, rpc, resource, located)


def _check_auth(
    request: web.Request, query: Mapping[str, str], state: MockState, target: _Target
) -> None:
    config = state.config
    if config.auth == "none":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    api_key = request.headers.get("x-goog-api-key") or query.get("key", "")
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


# ---------------------------------------------------------------------------------------------
# Sessions

# Header names as multidict's istr: a case-insensitive lookup without lowering the key.
_SESSION_KEY = istr(SESSION_HEADER)
_AUTHORIZATION = hdrs.AUTHORIZATION
_API_KEY = istr("x-goog-api-key")


def _resolve_session(
    request: web.Request, query: Mapping[str, str], state: MockState
) -> tuple[Session, StatusError | None]:
    """The request's session: the ``x-mockvertex-session`` header, else the session a bearer
    token the mock issued names (``mockvertex-session.NAME``, see ``server/adc.py``), else the
    project id of a located path, else ``key-<digest>`` of the API key on the express path,
    else ``default``.
    One dict lookup once the session exists. A bad header is answered (the error returned)
    once the route is known; the request is journaled under the name the path gives."""
    headers = request.headers
    explicit = headers.get(_SESSION_KEY)
    problem: StatusError | None = None
    if explicit is not None:
        name = explicit.strip()
        if name and len(name) <= MAX_SESSION_NAME:
            return state.sessions.get(name), None
        problem = InvalidArgument(
            f"Invalid {SESSION_HEADER} header.",
            violations=[
                FieldViolation(
                    SESSION_HEADER, f"must be a session name of 1 to {MAX_SESSION_NAME} characters"
                )
            ],
        )
    authorization = headers.get(_AUTHORIZATION, "")
    if authorization.startswith(_SESSION_BEARER):  # a token the mock issued for a session
        return state.sessions.get(authorization[len(_SESSION_BEARER) :]), problem
    project = request.match_info.get("project")
    if project is not None:
        return state.sessions.get(project), problem
    api_key = headers.get(_API_KEY) or query.get("key")
    name = key_session(api_key) if api_key else DEFAULT_SESSION
    return state.sessions.get(name), problem


# ---------------------------------------------------------------------------------------------
# The generation handler


async def _handle_rpc(request: web.Request, *, state: MockState) -> web.StreamResponse:
    # Most calls have no query string: parsing none costs a microsecond per request.
    query: Mapping[str, str] = request.query if request.rel_url.raw_query_string else _NO_QUERY
    session, bad_session = _resolve_session(request, query, state)
    # The journal drops credentials itself and keeps a keyed digest of the token.
    raw_path = request.rel_url.raw_path
    exchange = state.journal.begin(
        method=request.method,
        path=request.path if "%" in raw_path else raw_path,  # decoding nothing costs 1 us
        query=query,
        headers=request.headers,
        session=session.name,
    )
    request[EXCHANGE] = exchange
    fmt = wire.Framing.UNARY
    if request.method != "POST":
        exchange.status, exchange.outcome = 405, "error"
        return envelope_response(method_not_allowed(request.method), fmt)
    try:
        target = _parse_target(request)
        if bad_session is not None:
            raise bad_session
        exchange.api_version, exchange.model, exchange.rpc = (
            target.api_version,
            target.model,
            target.rpc,
        )
        if target.rpc == "streamGenerateContent":
            fmt = wire.Framing.ARRAY  # what a bad alt is answered in, as Google does
            mode = api.stream_mode(query)
            fmt, int_enums = mode.framing, mode.int_enums
        else:
            int_enums = api.unary_int_enums(query)
        exchange.framing = framing = _FRAMING_NAMES[fmt]
        _check_auth(request, query, state, target)
        raw = await _read_body(request, state.config.max_body_bytes)
        # validate_request is done once per distinct body and target (engine/memo.py).
        where = (target.model, target.rpc, target.api_version, target.resource)
        seen = state.memo.seen(raw, where, state.profiles)
        if seen is not None:
            exchange.set_payload(
                raw,
                seen.request,
                body_sha256=seen.body_sha256,
                body_text=seen.body_text,
                measured=seen.measured,
            )
        else:
            exchange.set_body(raw)
            seen = state.memo.validated(raw, where, state.profiles)
            exchange.set_request(seen.request, estimated=seen.estimated)
        if session.limited and target.rpc != "countTokens":  # countTokens is not charged
            session.quotas.admit(target.model, seen.prompt_tokens())
        ctx = seen.context(framing, session.name)
        chosen = session.book.select(ctx) if session.book else None
        if chosen is None and state.book:
            chosen = state.book.select(ctx)
        exchange.scenario = chosen.scenario.name if chosen else None
        profile = state.profiles.resolve(target.model, resource=target.resource)
        if chosen is None and not int_enums:
            # The default responder's bytes are built once per distinct request (engine/memo.py).
            pieces = seen.default_pieces(ctx, profile, fmt)
            if pieces is not None:
                return await send_pieces(request, exchange, pieces, fmt)
        reply = render(chosen.step if chosen else None, ctx, profile)
        counting = target.rpc == "countTokens"
        if int_enums:
            answer = "CountTokensResponse" if counting else "GenerateContentResponse"
            reply = _with_int_enums(reply, protojson.message_type(f"{target.api_version}/{answer}"))
        use = chosen.use if chosen else 0
        return await send_reply(request, exchange, reply, fmt, counting=counting, use=use)
    except StatusError as error:
        exchange.fail(error)  # status, outcome and the delay it asks for
        if isinstance(error, QuotaExceeded):
            exchange.fault = "quota"
        response = envelope_response(error, fmt)
        if isinstance(error, _Unparsable):
            response.force_close()
        return response


async def _read_body(request: web.Request, limit: int) -> bytes:
    content = request.content
    if content.is_eof():  # all of it came with the headers: taken as is, without a copy
        raw = content.read_nowait()
        if len(raw) > limit:
            raise InvalidArgument(f"Request payload size exceeds the limit: {limit} bytes.")
        return raw
    length = request.content_length
    if length is not None:
        if length > limit:
            raise InvalidArgument(f"Request payload size exceeds the limit: {limit} bytes.")
        # The parser delivers exactly Content-Length bytes, so the limit holds: read in one go.
        return await request.read()
    chunks: list[bytes] = []
    size = 0
    content = request.content
    while True:
        try:
            chunk = await asyncio.wait_for(content.readany(), _STALL_CHECK)
        except TimeoutError:
            _raise_if_unparsable(request)
            continue
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise InvalidArgument(f"Request payload size exceeds the limit: {limit} bytes.")
        chunks.append(chunk)


#: How often a chunked body that stopped arriving is checked for a framing error, in seconds.
_STALL_CHECK = 1.0


def _raise_if_unparsable(request: web.Request) -> None:
    """Answer a chunked body whose framing broke after the handler started reading it.

    aiohttp's C parser (3.14) then drops the body without ending it and queues its own 400 for
    after the handler, which waits for more body until the client gives up (a malformed chunk
    size in the fuzz test: aio-libs/aiohttp#10596 is the same hang for the Python parser).
    The queued error is private to aiohttp, read defensively: absent, nothing is raised."""
    queued = getattr(request.protocol, "_messages", ())
    for message, _ in list(queued):
        exc = getattr(message, "exc", None)
        if getattr(message, "status", None) == 400 and isinstance(exc, BaseException):
            raise _Unparsable(
                f"Invalid JSON payload received. Unable to read the request body: "
                f"{client_fault_reason(exc)}."
            )


class _Unparsable(InvalidArgument):
    """A body whose HTTP framing broke: answered, then the connection is closed (aiohttp's
    own answer to it is queued behind this one)."""


def _with_int_enums(reply: Reply, schema: protojson.MessageType) -> Reply:
    chunks = tuple(protojson.encode_int_enums(c, schema) for c in reply.chunks)
    return replace(reply, chunks=chunks)


# ---------------------------------------------------------------------------------------------
# The guard around every handler: hang-ups, bugs and unknown routes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _guard(handler: Handler, state: MockState) -> Handler:
    """``handler`` answering what escapes it as Google would, and closing the request's
    journal entry at the end. A wrapper rather than an aiohttp middleware: a middleware costs
    two more coroutines per request (aiohttp's own ``current_app`` one included), which
    showed in the server bench."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConnectionError:
            exchange = request.get(EXCHANGE)
            if exchange is not None:
                client_gone(request, exchange)
            return web.Response()
        except asyncio.CancelledError:
            # A runner with handler_cancellation (aiohttp's TestServer) cancels the handler
            # when the client hangs up, instead of letting the next write fail.
            exchange = request.get(EXCHANGE)
            if exchange is not None and exchange.outcome == "pending":
                client_gone(request, exchange)
            raise
        except web.RequestPayloadError as exc:
            # A body aiohttp could not read: broken chunked framing, or a Content-Encoding
            # that does not decode. Answered like the bodies the JSON parser cannot read; the
            # front end's own wording for this case is not known.
            bad_body = InvalidArgument(
                f"Invalid JSON payload received. Unable to read the request body: "
                f"{client_fault_reason(exc)}."
            )
            exchange = request.get(EXCHANGE)
            fmt = wire.Framing.UNARY
            if exchange is not None:
                exchange.fail(bad_body)
                fmt = wire.Framing(exchange.framing or fmt.value)
            return envelope_response(bad_body, fmt)
        except web.HTTPException as exc:
            if exc.status == 413:
                limit = state.config.max_body_bytes
                error: StatusError = InvalidArgument(
                    f"Request payload size exceeds the limit: {limit} bytes."
                )
            else:
                error = NotFound(f"The requested URL {request.path} was not found on this server.")
            return envelope_response(error, wire.Framing.UNARY)
        except Exception as exc:  # a bug in the mock: answer as Google would, keep it for tests
            log.exception("mockvertex bug while handling %s %s", request.method, request.path)
            exchange = request.get(EXCHANGE)
            # The request's session, when it got that far, keeps the bug too.
            session = state.sessions.get(exchange.session) if exchange is not None else None
            state.record_error(exc, session)
            return envelope_response(Internal(), wire.Framing.UNARY)
        finally:
            exchange = request.get(EXCHANGE)
            if exchange is not None:
                state.journal.close(exchange)  # frozen when first read

    named = getattr(handler, "func", handler)  # a partial names its function
    guarded.__name__ = guarded.__qualname__ = getattr(named, "__name__", "handler")
    return guarded


async def _not_found(request: web.Request) -> web.Response:
    return envelope_response(
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
    app = web.Application(client_max_size=config.max_body_bytes + 1024)
    app[STATE] = state
    base = "/{version}/projects/{project}/locations/{location}/publishers/{publisher}/models/{tail}"
    # The state is bound here, not looked up through request.app on every request.
    rpc = _guard(partial(_handle_rpc, state=state), state)
    routes: list[tuple[str, str, Handler]] = [
        ("*", base, rpc),
        ("*", "/{version}/publishers/{publisher}/models/{tail}", rpc),
        ("*", "/_mockvertex/journal", control.journal),
        ("*", "/_mockvertex/scenarios", control.scenarios),
        ("*", control.ROUTE, control.tree),
        ("POST", "/token", control.token_endpoint),
        ("*", "/{anything:.*}", _not_found),  # last: after every other route
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler if handler is rpc else _guard(handler, state))
    return app


def init_app(argv: list[str] | None = None) -> web.Application:
    """Entry point for ``python -m aiohttp.web mockvertex.server.app:init_app`` (env config)."""
    return create_app(ServerConfig.from_env())
