"""Sending a reply on the socket: unary bodies, SSE and array streams, and their faults.

A reply with neither fault nor pacing takes the direct path below. Anything else goes through
:func:`mockvertex.engine.faults.deliver` over :class:`SocketInjector`, the engine's injector
interface implemented on an aiohttp response and its transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Sequence

from aiohttp import web

try:  # POSIX: how much of what was written the kernel still holds for the peer
    import fcntl
    import termios
except ImportError:  # pragma: no cover - Windows
    fcntl = termios = None  # type: ignore[assignment]

from mockvertex.contract import wire
from mockvertex.contract.errors import StatusError
from mockvertex.engine.faults import Outlet, Pacing, deliver
from mockvertex.engine.journal import Recorder
from mockvertex.engine.memo import encode_pieces
from mockvertex.engine.synthesis import Reply
from mockvertex.server.http import JSON_HEADERS, STREAM_HEADERS, envelope_response, log

__all__ = ["SocketInjector", "client_gone", "send_pieces", "send_reply"]

#: How often a stall looks whether its client has gone, in seconds.
_HOLD_POLL = 0.05
#: The longest a reset waits for the bytes already written to leave, in seconds.
_FLUSH_LIMIT = 2.0
_FLUSH_POLL = 0.002
#: SO_LINGER on, zero seconds: closing the socket then sends RST instead of FIN.
_LINGER_RST = struct.pack("ii", 1, 0)
_NO_PACING = Pacing()


class SocketInjector:
    """The engine's :class:`~mockvertex.engine.faults.Injector` on one aiohttp request."""

    def __init__(self, request: web.Request, exchange: Recorder, fmt: wire.Framing) -> None:
        self.request = request
        self.exchange = exchange
        self.framing = fmt
        #: What the handler returns to aiohttp once the fault is done.
        self.response: web.StreamResponse | None = None
        self.outlet: Outlet | None = None

    def _record(self) -> None:
        """Copy what the outlet knows into the journal before the exchange's last act: a
        client that has read the last bytes may look at the journal at once."""
        if self.outlet is not None:
            self.exchange.chunks_sent = self.outlet.chunks_sent
            self.exchange.outcome = self.outlet.outcome

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def start(self, content_length: int | None = None) -> None:
        if self.response is not None:
            return
        headers = STREAM_HEADERS.get(self.framing, JSON_HEADERS)
        response = web.StreamResponse(status=200, headers=headers)
        if content_length is not None:
            response.content_length = content_length
        self.response = response
        self.exchange.status = 200
        await response.prepare(self.request)

    async def write(self, data: bytes) -> None:
        await self.start()
        assert self.response is not None
        outlet = self.outlet
        if outlet is not None:  # before the bytes can reach the client, which may look at once
            self.exchange.chunks_sent = outlet.chunks_sent
            if outlet.outcome != "ok":  # a fault's outcome is decided; "ok" only at the end
                self.exchange.outcome = outlet.outcome
        await self.response.write(data)

    async def end(self) -> None:
        await self.start()
        self._record()
        assert self.response is not None
        await self.response.write_eof()

    async def reset(self) -> None:
        self._record()
        transport = self.request.transport
        if transport is None:
            return
        # abort() alone closes with a FIN, which a client reads as a clean end of stream;
        # a zero linger makes the kernel send RST (ECONNRESET on the client's next read),
        # once the bytes written so far have left (a zero linger drops what is queued).
        await _flushed(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        transport.abort()

    async def close(self) -> None:
        self._record()
        transport = self.request.transport
        if transport is not None:
            transport.close()

    async def raw(self, data: bytes) -> None:
        self._record()
        transport = self.request.transport
        if transport is not None:
            transport.write(data)
            transport.close()

    async def error(self, error: StatusError) -> None:
        self.exchange.status = error.http_status
        self.response = envelope_response(error, self.framing)

    async def hold(self, seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            transport = self.request.transport
            if transport is None or transport.is_closing():
                return True
            await asyncio.sleep(min(_HOLD_POLL, max(0.0, deadline - loop.time())))
        return False


async def _flushed(transport: asyncio.BaseTransport) -> None:
    """Wait (bounded) until the transport's buffer and the kernel's send queue are empty."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _FLUSH_LIMIT
    sock = transport.get_extra_info("socket")
    while loop.time() < deadline and not transport.is_closing():
        pending = transport.get_write_buffer_size()  # type: ignore[attr-defined]
        if not pending and sock is not None:
            pending = _unsent(sock)
        if not pending:
            return
        await asyncio.sleep(_FLUSH_POLL)


def _unsent(sock: socket.socket) -> int:
    """Bytes the kernel still holds for the peer (not yet acknowledged); 0 where unknown."""
    request = getattr(termios, "TIOCOUTQ", None)
    if request is None or fcntl is None:
        return 0
    try:
        buf = fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", buf)[0])


async def send_reply(
    request: web.Request,
    exchange: Recorder,
    reply: Reply,
    fmt: wire.Framing,
    *,
    counting: bool,
    use: int = 0,
) -> web.StreamResponse:
    """Send ``reply`` in framing ``fmt`` (``use``: how many replies its step sent before, which
    seeds its sampled delays and random bytes); the journal entry says what went out."""
    pacing = reply.pacing
    if reply.error is not None:
        if pacing is not None and pacing.first_byte is not None:
            await asyncio.sleep(pacing.first_byte.sample(pacing.rng(use)))
        raise reply.error
    if reply.fault is None and pacing is None:
        if reply.encoded is not None:  # already encoded (engine/memo.py)
            return await send_pieces(request, exchange, reply.encoded, fmt)
        if counting:  # the one CountTokensResponse, not merged as candidates are
            return await send_pieces(request, exchange, (wire.encode_unary(reply.chunks[0]),), fmt)
        return await send_pieces(request, exchange, encode_pieces(reply.chunks, fmt), fmt)
    injector = SocketInjector(request, exchange, fmt)
    outlet = Outlet(
        injector,
        reply.chunks,
        fmt,
        pacing=pacing or _NO_PACING,
        model=exchange.model,
        use=use,
        counting=counting,
    )
    injector.outlet = outlet
    try:
        await deliver(outlet, reply.fault)
    except ConnectionError:
        exchange.chunks_sent = outlet.chunks_sent
        client_gone(request, exchange)
    else:
        injector._record()
        if outlet.outcome == "client_disconnected":
            client_gone(request, exchange)
    return injector.response or web.Response()


async def send_pieces(
    request: web.Request, exchange: Recorder, pieces: Sequence[bytes], fmt: wire.Framing
) -> web.StreamResponse:
    """Send a reply without fault or pacing, already encoded in framing ``fmt``: the unary
    body; or one piece per chunk, written one at a time, then for the array its closing
    piece."""
    if fmt is wire.Framing.UNARY:
        exchange.answered(1)
        return web.Response(body=pieces[0], headers=JSON_HEADERS)
    response = web.StreamResponse(status=200, headers=STREAM_HEADERS[fmt])
    exchange.status = 200
    chunks = len(pieces) - (fmt is wire.Framing.ARRAY)
    try:
        await response.prepare(request)
        for index in range(chunks):
            await response.write(pieces[index])
            exchange.chunks_sent = index + 1
        # The outcome is recorded before the last bytes go out: a client that has read them
        # may look at the journal at once. A failed write still turns it into
        # client_disconnected.
        exchange.outcome = "ok"
        if chunks < len(pieces):
            await response.write(pieces[-1])
        await response.write_eof()
    except ConnectionError:
        client_gone(request, exchange)
    return response


def client_gone(request: web.Request, exchange: Recorder) -> None:
    exchange.outcome = "client_disconnected"
    log.info("client hung up during %s %s", request.method, request.path)
