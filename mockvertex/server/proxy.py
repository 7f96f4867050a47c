"""The validating proxy: forwards Vertex calls upstream, checks both ways, records cassettes.

Each request is validated with ``validate_request`` on the way out; with ``check="reject"`` an
invalid one is answered locally with the envelope Vertex would send and never forwarded. The
upstream's answer is streamed to the client piece by piece as it arrives (the first chunk
reaches the client before the upstream finished), while a copy is decoded with the contract's
incremental decoders and every chunk checked against the response schema. Each problem is one
:class:`~mockvertex.engine.inspection.Finding`, listed by the control plane, never a header::

    GET    /_mockvertex/v1/health     {"status": "ok", "mode", "cassette"}
    GET    /_mockvertex/v1/journal    {"entries": [...]}  one per exchange, no secrets, each
                                      with its "findings"
    GET    /_mockvertex/v1/findings   {"findings": [...]} one per finding, with its exchange
    DELETE /_mockvertex/v1/journal | /findings

With a record directory each exchange becomes a redacted cassette entry
(``DIR/NAME.cassette.json``), and the scenario that replays the cassette is written beside it
(``DIR/NAME.json``) within a quarter of a second, and when the proxy stops. The record mode
decides what is replayed from the cassette and what is forwarded (see ``engine/cassette.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from mockvertex.contract import api, wire
from mockvertex.contract.errors import NotFound, StatusError, Unavailable
from mockvertex.contract.validation import validate_request
from mockvertex.engine.cassette import (
    Cassette,
    CassetteEntry,
    RecordMode,
    RedactionRule,
    Redactor,
    load_cassette,
    to_scenario,
)
from mockvertex.engine.inspection import (
    Finding,
    chunk_findings,
    framing_finding,
    request_findings,
)
from mockvertex.engine.journal import Journal, Outcome, Recorder
from mockvertex.server.http import GFE_HEADERS, JSON_HEADERS, STREAM_HEADERS, envelope_response
from mockvertex.server.thread import LoopThread

__all__ = ["PROXY", "ProxyConfig", "ProxyServer", "ProxyState", "create_proxy_app"]

_PATH = re.compile(
    r"^/(?P<version>v1|v1beta1)/(?:projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/)?"
    r"publishers/google/models/(?P<model>[^/:]+):(?P<rpc>generateContent|"
    r"streamGenerateContent|countTokens)$"
)
#: Not copied between the two connections (RFC 9110 §7.6.1 hop-by-hop, and what aiohttp
#: recomputes for the body it sends).
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
        "accept-encoding",
    }
)
#: Where a location-less (express mode) path goes: Vertex's global endpoint.
_DEFAULT_LOCATION = "global"
#: How often a recording proxy writes its cassette when entries were added.
_FLUSH_SECONDS = 0.25


@dataclass(frozen=True)
class ProxyConfig:
    """How the proxy runs. ``upstream`` None: the regional Vertex endpoint of the path's
    location. ``token`` gives a bearer token for requests that bring no credential of their own
    (ADC, say); None passes requests through as they come. ``timing`` scales replayed pacing
    (1: as recorded, 0 or None: at once)."""

    upstream: str | None = None
    check: str = "warn"
    record_dir: Path | None = None
    cassette: str = "cassette"
    mode: RecordMode = RecordMode.ALL
    rules: tuple[RedactionRule, ...] = ()
    volatile: tuple[str, ...] = ()
    timing: float | None = 1.0
    token: Callable[[], str] | None = None
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.check not in ("warn", "reject"):
            raise ValueError(f"check must be warn or reject, not {self.check!r}")
        object.__setattr__(self, "mode", RecordMode.parse(self.mode))

    @property
    def cassette_path(self) -> Path | None:
        return (
            None if self.record_dir is None else self.record_dir / f"{self.cassette}.cassette.json"
        )

    @property
    def scenario_path(self) -> Path | None:
        return None if self.record_dir is None else self.record_dir / f"{self.cassette}.json"


@dataclass
class ProxyState:
    """What the proxy keeps: the journal, the findings, the cassette and its redactor."""

    config: ProxyConfig
    #: The journal keeps no body text (it may quote a credential); ``request`` is the redacted
    #: normalized request instead.
    journal: Journal = field(default_factory=lambda: Journal(body_cap=0))
    findings: list[Finding] = field(default_factory=list)
    cassette: Cassette | None = None
    replay_only: bool = False
    redactor: Redactor = field(default_factory=Redactor)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: One flush at a time: the periodic one runs in an executor thread that a stop cannot
    #: cancel, and the stop's own flush must wait for it rather than write beside it.
    flush_lock: threading.Lock = field(default_factory=threading.Lock)
    client: aiohttp.ClientSession | None = None
    dirty: bool = False

    @classmethod
    def from_config(cls, config: ProxyConfig) -> ProxyState:
        state = cls(config=config, redactor=Redactor(config.rules))
        path = config.cassette_path
        if path is not None:
            existed = path.exists()
            if existed:
                state.cassette = load_cassette(path, volatile=config.volatile)
            else:
                state.cassette = load_cassette(
                    {"format": 1, "name": config.cassette, "entries": []},
                    volatile=config.volatile,
                )
            mode = config.mode
            state.replay_only = mode is RecordMode.NONE or (mode is RecordMode.ONCE and existed)
        elif config.mode is not RecordMode.ALL:
            raise ValueError(f"record mode {config.mode} needs a record directory")
        return state

    def add_findings(self, found: Sequence[Finding]) -> None:
        with self.lock:
            self.findings.extend(found)

    def record(self, entry: CassetteEntry) -> None:
        """Add an entry; the files are written by :meth:`flush` (a quarter of a second later,
        or when the proxy stops), so a long recording does not rewrite them per exchange."""
        if self.cassette is None:
            return
        with self.lock:
            self.cassette.add(entry)
            self.dirty = True

    def flush(self) -> None:
        """Write the cassette and its replay scenario if entries were added since last time."""
        with self.flush_lock:
            self._flush()

    def _flush(self) -> None:
        cassette, config = self.cassette, self.config
        if cassette is None or config.cassette_path is None or config.scenario_path is None:
            return
        with self.lock:
            if not self.dirty:
                return
            self.dirty = False
            document = cassette.dumps()
            scenario = to_scenario(cassette, timing=config.timing)
        config.cassette_path.parent.mkdir(parents=True, exist_ok=True)
        _write_text(config.cassette_path, document)
        _write_text(
            config.scenario_path,
            orjson.dumps(scenario, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n",
        )


def _write_text(path: Path, text: str) -> None:
    """Write atomically: a temporary file renamed over the old one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


PROXY: web.AppKey[ProxyState] = web.AppKey("mockvertex_proxy", ProxyState)


@dataclass(frozen=True)
class _Call:
    api_version: str
    project: str | None
    location: str | None
    model: str
    rpc: str
    framing: wire.Framing


def _parse_call(request: web.Request) -> _Call:
    m = _PATH.match(request.path)
    if m is None:
        raise NotFound(f"The requested URL {request.path} was not found on this server.")
    rpc = m["rpc"]
    if rpc == "streamGenerateContent":
        framing = api.stream_mode(request.query).framing
    else:
        framing = wire.Framing.UNARY
    return _Call(m["version"], m["project"], m["location"], m["model"], rpc, framing)


def _upstream_url(state: ProxyState, call: _Call, request: web.Request) -> str:
    base = state.config.upstream
    if base is None:
        try:
            base = api.vertex_base_url(call.location or _DEFAULT_LOCATION)
        except ValueError:
            raise NotFound(
                f"The requested URL {request.path} was not found on this server."
            ) from None
    return base.rstrip("/") + request.raw_path


def _out_headers(state: ProxyState, request: web.Request) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
    has_credential = any(k.lower() in ("authorization", "x-goog-api-key") for k in headers)
    if not has_credential and "key" not in request.query and state.config.token is not None:
        headers["Authorization"] = f"Bearer {state.config.token()}"
    headers["Accept-Encoding"] = "identity"
    return headers


def _back_headers(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP}


async def _handle(request: web.Request) -> web.StreamResponse:
    state = request.app[PROXY]
    rec = state.journal.begin(
        method=request.method,
        path=request.path,
        query=request.query.items(),
        headers=request.headers.items(),
    )
    try:
        return await _exchange(request, state, rec)
    finally:
        if rec.end is None:
            rec.end = time.monotonic()
        state.journal.finish(rec)


async def _exchange(request: web.Request, state: ProxyState, rec: Recorder) -> web.StreamResponse:
    try:
        call = _parse_call(request)
    except StatusError as err:
        rec.reject(err)
        return envelope_response(err, wire.Framing.UNARY)
    rec.api_version, rec.model, rec.rpc, rec.framing = (
        call.api_version,
        call.model,
        call.rpc,
        call.framing.value,
    )
    body = await request.read()
    rec.set_body(body)
    normalized: Any
    try:
        normalized = validate_request(
            body, model=call.model, method=call.rpc, api_version=call.api_version
        )
    except StatusError as err:
        state.add_findings(request_findings(rec.id, err))
        if state.config.check == "reject":
            rec.reject(err)
            return envelope_response(err, call.framing)
        try:
            normalized = orjson.loads(body)
        except orjson.JSONDecodeError:
            normalized = body.decode("utf-8", "replace")
    redacted = _redacted_request(state.redactor, request, call, normalized)
    if isinstance(redacted["body"], dict):
        rec.request = redacted["body"]
    cassette = state.cassette
    if cassette is not None and state.config.mode is not RecordMode.ALL:
        entry = cassette.find(redacted)
        if entry is not None:
            rec.scenario = cassette.name
            return await _replay(request, state, rec, entry, call.framing)
        if state.replay_only:
            miss = cassette.miss(redacted)
            rec.reject(miss)
            return envelope_response(miss, call.framing)
    return await _forward(request, state, rec, call, body, redacted)


def _redacted_request(
    redactor: Redactor, request: web.Request, call: _Call, normalized: Any
) -> dict[str, Any]:
    redactor.learn_credentials(request.headers.items(), request.query.items())
    return {
        "apiVersion": call.api_version,
        "model": call.model,
        "rpc": call.rpc,
        "framing": call.framing.value,
        "path": redactor.path(request.path),
        "query": redactor.query(request.query.items()),
        "headers": redactor.headers(request.headers.items()),
        "body": redactor.json(normalized, "request"),
    }


async def _forward(
    request: web.Request,
    state: ProxyState,
    rec: Recorder,
    call: _Call,
    body: bytes,
    redacted: dict[str, Any],
) -> web.StreamResponse:
    client = state.client
    assert client is not None, "the proxy's client session starts with the app"
    try:
        url = _upstream_url(state, call, request)
    except StatusError as refused:
        rec.reject(refused)
        return envelope_response(refused, call.framing)
    loop = asyncio.get_running_loop()
    started = loop.time()
    chunks: list[Any] = []
    offsets: list[float] = []
    found: list[Finding] = []
    try:
        upstream = await client.post(url, data=body, headers=_out_headers(state, request))
    except (aiohttp.ClientError, TimeoutError) as exc:
        gone = Unavailable(f"The upstream did not answer: {type(exc).__name__}.")
        rec.fail(gone)
        return envelope_response(gone, call.framing)
    response = web.StreamResponse(status=upstream.status, headers=_back_headers(upstream.headers))
    rec.status = upstream.status
    streaming = upstream.status == 200 and call.framing is not wire.Framing.UNARY
    decoder: wire.SSEDecoder | wire.ArrayDecoder | None = None
    if streaming:
        decoder = wire.SSEDecoder() if call.framing is wire.Framing.SSE else wire.ArrayDecoder()
    whole = bytearray()
    broken = False

    def take(objs: list[Any]) -> None:
        for obj in objs:
            found.extend(
                chunk_findings(
                    rec.id,
                    len(chunks),
                    obj,
                    api_version=call.api_version,
                    rpc=call.rpc,
                    framing=call.framing.value,
                )
            )
            chunks.append(obj)
            offsets.append(loop.time() - started)

    try:
        async with upstream:
            await response.prepare(request)
            rec.mark_first_byte()
            async for piece in upstream.content.iter_any():
                # Checked before it is passed on: once the client has a chunk, its findings
                # are on the control plane.
                if decoder is None:
                    whole += piece
                elif not broken:
                    try:
                        take(decoder.feed(piece))
                    except wire.FramingError as exc:
                        broken = True
                        found.append(framing_finding(rec.id, exc, len(chunks)))
                state.add_findings(found)
                found.clear()
                await response.write(piece)
                rec.record_write(len(piece))
            error: dict[str, Any] | None = None
            if decoder is not None and not broken:
                try:
                    take(decoder.close())
                except wire.FramingError as exc:
                    broken = True
                    found.append(framing_finding(rec.id, exc, len(chunks)))
            elif decoder is None:
                try:
                    parsed = wire.decode_unary(bytes(whole))
                except (wire.FramingError, ValueError) as exc:
                    broken = True
                    found.append(framing_finding(rec.id, exc, 0))
                else:
                    if upstream.status >= 400:
                        env = parsed[0] if isinstance(parsed, list) and len(parsed) == 1 else parsed
                        error = (
                            env if isinstance(env, dict) else {"error": {"code": upstream.status}}
                        )
                    else:
                        take([parsed])
            rec.chunks_sent = len(chunks)
            rec.outcome = Outcome.MALFORMED if broken else Outcome.OK
            if upstream.status >= 400:
                rec.outcome, rec.error_code = Outcome.ERROR, upstream.status
            state.add_findings(found)
            if not broken:
                state.record(
                    CassetteEntry(
                        request=redacted,
                        status=upstream.status,
                        framing=call.framing.value,
                        headers=state.redactor.headers(upstream.headers.items()),
                        chunks=tuple(state.redactor.json(c, "response") for c in chunks),
                        offsets=tuple(offsets),
                        error=None if error is None else state.redactor.json(error, "response"),
                    )
                )
            await response.write_eof()
    except aiohttp.ClientError as exc:  # the upstream broke off
        rec.outcome = Outcome.DISCONNECTED
        state.add_findings([framing_finding(rec.id, exc, len(chunks))])
    except ConnectionError:  # the client hung up
        rec.outcome, rec.client_hung_up = Outcome.CLIENT_DISCONNECTED, True
    return response


async def _replay(
    request: web.Request,
    state: ProxyState,
    rec: Recorder,
    entry: CassetteEntry,
    framing: wire.Framing,
) -> web.StreamResponse:
    """Send a recorded entry with the encoders the mock uses, paced as recorded (scaled)."""
    if entry.status >= 400 or entry.error is not None:
        err = StatusError.from_envelope(entry.error or {}, entry.status)
        retry = {k.lower(): v for k, v in entry.headers.items()}.get("retry-after")
        if retry is not None:
            err.headers["Retry-After"] = retry
        rec.fail(err)
        return envelope_response(err, framing)
    scale = state.config.timing or 0.0
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def wait(i: int) -> None:
        if scale and i < len(entry.offsets):
            delay = started + entry.offsets[i] * scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    rec.status = entry.status
    if framing is wire.Framing.UNARY:
        await wait(0)
        rec.chunks_sent, rec.outcome = 1, Outcome.OK
        return web.Response(body=wire.encode_unary(entry.chunks[0]), headers=JSON_HEADERS)
    response = web.StreamResponse(status=200, headers=STREAM_HEADERS[framing])
    await response.prepare(request)
    writer = wire.ArrayWriter()
    encode = wire.encode_sse_event if framing is wire.Framing.SSE else writer.item
    for i, chunk in enumerate(entry.chunks):
        await wait(i)
        await response.write(encode(chunk))
        rec.chunks_sent = i + 1
    if framing is wire.Framing.ARRAY:
        await response.write(writer.close())
    rec.outcome = Outcome.OK
    await response.write_eof()
    return response


# ---------------------------------------------------------------------------------------------
# The control plane


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS),
        headers={**GFE_HEADERS, "Content-Type": "application/json; charset=UTF-8"},
    )


async def _control(request: web.Request) -> web.Response:
    state = request.app[PROXY]
    what = request.match_info["what"]
    if request.method == "GET" and what == "health":
        cassette = state.cassette
        return _json(
            {
                "status": "ok",
                "mode": state.config.mode.value,
                "check": state.config.check,
                "cassette": None if cassette is None else cassette.name,
                "entries": None if cassette is None else len(cassette.entries),
            }
        )
    if what == "journal" and request.method in ("GET", "DELETE"):
        if request.method == "DELETE":
            state.journal.clear()
            return _json({})
        with state.lock:
            by_exchange: dict[int, list[dict[str, Any]]] = {}
            for finding in state.findings:
                by_exchange.setdefault(finding.exchange, []).append(finding.to_json())
        entries = [
            {**e.to_json(), "findings": by_exchange.get(e.id, [])} for e in state.journal.entries()
        ]
        return _json({"entries": entries})
    if what == "findings" and request.method in ("GET", "DELETE"):
        with state.lock:
            if request.method == "DELETE":
                state.findings.clear()
                return _json({})
            return _json({"findings": [f.to_json() for f in state.findings]})
    err = NotFound(f"The requested URL {request.path} was not found on this server.")
    return envelope_response(err, wire.Framing.UNARY)


def create_proxy_app(config: ProxyConfig, state: ProxyState | None = None) -> web.Application:
    """The proxy as an aiohttp app (its upstream client opens and closes with the app)."""
    app = web.Application()
    app[PROXY] = state or ProxyState.from_config(config)

    async def client_session(app: web.Application) -> Any:
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30), auto_decompress=False
        )
        app[PROXY].client = session
        yield
        await session.close()

    async def cassette_writer(app: web.Application) -> Any:
        state = app[PROXY]
        loop = asyncio.get_running_loop()

        async def every_quarter_second() -> None:
            while True:
                await asyncio.sleep(_FLUSH_SECONDS)
                await loop.run_in_executor(None, state.flush)

        task = asyncio.create_task(every_quarter_second())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        state.flush()

    app.cleanup_ctx.append(client_session)
    app.cleanup_ctx.append(cassette_writer)
    app.router.add_route("*", "/_mockvertex/v1/{what}", _control)
    app.router.add_route("*", "/{tail:.*}", _handle)
    return app


class ProxyServer:
    """A running proxy: ``start()``/``stop()`` in a thread of its own, or ``async with``."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.state = ProxyState.from_config(config)
        self._runner: web.AppRunner | None = None
        self._thread = LoopThread(self.start_async, self.stop_async, name="mockvertex-proxy")
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the proxy is not running")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def findings(self) -> list[Finding]:
        with self.state.lock:
            return list(self.state.findings)

    async def start_async(self) -> None:
        app = create_proxy_app(self.config, self.state)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ProxyServer:
        await self.start_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_async()

    def start(self) -> ProxyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()
        self._port = None

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        async def main() -> None:
            await self.start_async()
            try:
                await asyncio.Event().wait()
            finally:
                await self.stop_async()

        asyncio.run(main())
