"""Sending a reply on the socket: unary bodies, SSE and array streams, and their faults."""

from __future__ import annotations

import asyncio

from aiohttp import web

from mockvertex.contract import wire
from mockvertex.contract.responses import merge_chunks
from mockvertex.engine.journal import Exchange
from mockvertex.engine.synthesis import Reply
from mockvertex.server.http import GFE_HEADERS, JSON_HEADERS, STREAM_HEADERS, log

__all__ = ["client_gone", "send_stream", "send_unary"]


async def send_unary(
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
        headers=JSON_HEADERS,
    )


def _garbage_response(exchange: Exchange) -> web.Response:
    exchange.status, exchange.outcome = 200, "malformed"
    return web.Response(
        body=b'{"candidates": [{"content": {"role": "model", "parts": [{"text": "',
        headers=JSON_HEADERS,
    )


def _drop(request: web.Request, exchange: Exchange) -> None:
    exchange.outcome = "disconnected"
    transport = request.transport
    if transport is not None:
        transport.abort()


async def send_stream(
    request: web.Request, exchange: Exchange, reply: Reply, fmt: wire.Framing
) -> web.StreamResponse:
    if reply.first_byte_delay:
        await asyncio.sleep(reply.first_byte_delay)
    if reply.error is not None and not reply.error_after:
        raise reply.error
    headers = STREAM_HEADERS[fmt]
    if reply.headers:
        headers = {
            **GFE_HEADERS,
            **reply.headers,
            "Content-Type": fmt.content_type,
            **({"Content-Disposition": "attachment"} if fmt is wire.Framing.SSE else {}),
        }
    response = web.StreamResponse(status=200, headers=headers)
    exchange.status = 200
    try:
        await _write_stream(request, response, exchange, reply, fmt)
    except ConnectionError:
        client_gone(request, exchange)
    return response


def client_gone(request: web.Request, exchange: Exchange) -> None:
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
