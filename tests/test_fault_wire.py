"""Every fault kind over a real socket: the bytes a client receives, framing by framing.

``MockVertexServer`` runs on 127.0.0.1 in the test's own event loop, and a raw asyncio protocol
plays the client: it records every byte as it arrives (status line, headers, the body still in
its chunked transfer encoding) and how the connection ended: a clean FIN (``eof``), an RST
(``reset``), or nothing more within the time it waits (``silent``; the client then hangs up).
Replies use ``respond.raw`` chunks so every expected byte is known; the expected bytes are
written with the standard library's ``json`` in Google's spacing.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mockvertex.contract import wire
from mockvertex.contract.responses import merge_chunks
from mockvertex.engine.faults import MALFORMED_FRAME
from mockvertex.server.runner import MockVertexServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "scenarios"
MODEL = "gemini-2.0-flash"
BASE = f"/v1/projects/p/locations/us-central1/publishers/google/models/{MODEL}"
REQUEST = json.dumps({"contents": [{"role": "user", "parts": [{"text": "break it"}]}]}).encode()
RESOURCE_EXHAUSTED = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
FRAMINGS = ["unary", "sse", "array"]
STREAMS = ["sse", "array"]


def _chunk(text: str, **candidate: Any) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, **candidate}],
        "usageMetadata": {"trafficType": "ON_DEMAND"},
        "modelVersion": "gemini-2.0-flash-001",
    }


RAW = [_chunk("one "), _chunk("two "), _chunk("three", finishReason="STOP")]


# --------------------------------------------------------------------------------------------
# Expected bytes


def sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ": ")).encode() + b"\r\n\r\n"


def pretty(obj: Any) -> bytes:
    return json.dumps(obj, indent=2).encode()


def frames(framing: str, objs: Sequence[Any]) -> list[bytes]:
    """What each write of a stream holds: one SSE event, or one array element with its lead."""
    if framing == "sse":
        return [sse(o) for o in objs]
    return [(b"\n,\r\n" if i else b"[") + pretty(o) for i, o in enumerate(objs)]


def envelope(code: int, status: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, **extra}}


# --------------------------------------------------------------------------------------------
# The raw client


@dataclass
class Received:
    """Everything one connection delivered, in arrival order, and how it ended."""

    reads: list[tuple[float, bytes]] = field(default_factory=list)
    ending: str = ""  # "eof", "reset" or "silent"

    @property
    def data(self) -> bytes:
        return b"".join(d for _, d in self.reads)

    @property
    def head(self) -> bytes:
        head, sep, _ = self.data.partition(b"\r\n\r\n")
        return head if sep else b""

    @property
    def status(self) -> int:
        return int(self.head.split(b" ", 2)[1]) if self.head else 0

    @property
    def headers(self) -> dict[str, str]:
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        return {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}

    @property
    def body(self) -> bytes:
        """The body as it was on the wire (still chunked when the transfer was)."""
        return self.data.partition(b"\r\n\r\n")[2]

    def http_chunks(self) -> tuple[list[bytes], bool]:
        """The chunks of a chunked body, and whether its terminating zero chunk arrived."""
        assert self.headers.get("transfer-encoding") == "chunked"
        out: list[bytes] = []
        rest = self.body
        while rest:
            size_line, sep, rest = rest.partition(b"\r\n")
            assert sep, f"a cut chunk-size line: {size_line!r}"
            size = int(size_line, 16)
            if size == 0:
                assert rest == b"\r\n", f"bytes after the last chunk: {rest!r}"
                return out, True
            payload, rest = rest[:size], rest[size:]
            assert rest[:2] == b"\r\n", "a chunk cut short"
            out.append(payload)
            rest = rest[2:]
        return out, False

    def payload(self) -> bytes:
        """The body without its transfer encoding."""
        if self.headers.get("transfer-encoding") == "chunked":
            return b"".join(self.http_chunks()[0])
        return self.body


class _Tap(asyncio.Protocol):
    def __init__(self, received: Received) -> None:
        self.received = received
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.closed: asyncio.Future[None] = self.loop.create_future()

    def data_received(self, data: bytes) -> None:
        self.received.reads.append((self.loop.time() - self.started, data))

    def eof_received(self) -> bool:
        self.received.ending = "eof"
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ConnectionResetError):
            self.received.ending = "reset"
        elif exc is not None:
            self.received.ending = repr(exc)
        elif not self.received.ending:
            self.received.ending = "eof"
        if not self.closed.done():
            self.closed.set_result(None)


async def post(
    mock: MockVertexServer, path: str, *, wait: float = 3.0, body: bytes = REQUEST
) -> Received:
    """POST ``body`` on a fresh connection and record the answer for up to ``wait`` seconds."""
    received = Received()
    loop = asyncio.get_running_loop()
    transport, tap = await loop.create_connection(lambda: _Tap(received), "127.0.0.1", mock.port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{mock.port}\r\n"
        "Authorization: Bearer t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    transport.write(head.encode() + body)
    try:
        await asyncio.wait_for(asyncio.shield(tap.closed), wait)
    except TimeoutError:
        received.ending = "silent"
        transport.close()  # the client gives up
        await tap.closed
    return received


def path_for(framing: str) -> str:
    if framing == "unary":
        return f"{BASE}:generateContent"
    return f"{BASE}:streamGenerateContent" + ("?alt=sse" if framing == "sse" else "")


@pytest.fixture
async def mock() -> AsyncIterator[MockVertexServer]:
    async with MockVertexServer() as server:
        yield server
        server.check()


def step(**keys: Any) -> dict[str, Any]:
    return {"times": "forever", "respond": {"raw": RAW}, **keys}


def add(mock: MockVertexServer, *steps: dict[str, Any]) -> None:
    mock.add_scenario({"format": 1, "name": "wire", "steps": list(steps)})


async def settled(mock: MockVertexServer, outcome: str) -> Any:
    """The last journal entry once it reads ``outcome`` (the server may still be finishing)."""
    for _ in range(200):
        entries = mock.journal()
        if entries and entries[-1].outcome == outcome:
            return entries[-1]
        await asyncio.sleep(0.01)
    raise AssertionError(f"the journal never said {outcome}: {mock.journal()[-1:]}")


# --------------------------------------------------------------------------------------------
# No fault


@pytest.mark.parametrize("framing", STREAMS)
async def test_a_stream_is_one_http_chunk_per_frame_then_the_zero_chunk(
    mock: MockVertexServer, framing: str
) -> None:
    add(mock, step())
    got = await post(mock, path_for(framing))
    assert got.status == 200
    assert got.headers["content-type"] == wire.Framing(framing).content_type
    chunks, complete = got.http_chunks()
    closing = [] if framing == "sse" else [b"\n]"]
    assert chunks == [*frames(framing, RAW), *closing]
    assert complete
    assert got.ending == "eof"
    entry = await settled(mock, "ok")
    assert entry.chunks_sent == 3


async def test_a_unary_reply_has_its_length_and_pretty_body(mock: MockVertexServer) -> None:
    add(mock, step())
    got = await post(mock, path_for("unary"))
    body = pretty(merge_chunks(RAW))
    assert (got.status, got.headers["content-length"], got.body) == (200, str(len(body)), body)
    assert got.ending == "eof"


# --------------------------------------------------------------------------------------------
# HTTP errors before any byte of a reply


QUOTA_DETAILS = [
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "RATE_LIMIT_EXCEEDED",
        "domain": "aiplatform.googleapis.com",
    },
    {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"subject": "projects/p", "description": "requests per minute"}],
    },
    {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"url": "https://example.com"}]},
]


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_http_429_with_retry_after_and_every_detail(
    mock: MockVertexServer, framing: str
) -> None:
    error = {"code": 429, "retryAfter": 2, "retryDelay": "2s", "details": QUOTA_DETAILS}
    add(mock, {"times": "forever", "error": error})
    got = await post(mock, path_for(framing))
    expected = pretty(
        envelope(
            429,
            "RESOURCE_EXHAUSTED",
            RESOURCE_EXHAUSTED,
            details=[*QUOTA_DETAILS, {"@type": RETRY_INFO, "retryDelay": "2s"}],
        )
    )
    assert got.head.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert got.headers["retry-after"] == "2"
    assert got.headers["content-type"] == "application/json; charset=UTF-8"
    # Array-mode streams get the envelope wrapped in the array, as Vertex sends it.
    assert got.payload() == (b"[" + expected + b"\n]" if framing == "array" else expected)
    assert (await settled(mock, "error")).status == 429


async def test_retry_after_as_an_http_date(mock: MockVertexServer) -> None:
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    add(mock, {"times": "forever", "error": {"code": 503, "retryAfter": date}})
    got = await post(mock, path_for("sse"))
    assert got.status == 503
    assert got.headers["retry-after"] == date
    assert json.loads(got.payload()) == envelope(
        503, "UNAVAILABLE", "The service is currently unavailable."
    )


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
        (403, "PERMISSION_DENIED", "The caller does not have permission."),
        (500, "INTERNAL", "Internal error encountered."),
        (409, "ABORTED", "The operation was aborted."),
        (504, "DEADLINE_EXCEEDED", "Deadline exceeded."),
    ],
)
async def test_any_code_gets_its_status_line_and_rpc_status(
    mock: MockVertexServer, code: int, status: str, message: str
) -> None:
    add(mock, {"times": "forever", "error": {"code": code}})
    got = await post(mock, path_for("unary"))
    assert got.status == code
    assert json.loads(got.body) == envelope(code, status, message)


async def test_the_per_minute_quota_wording_names_the_model(mock: MockVertexServer) -> None:
    mock.add_scenario("quota_exhausted")
    got = await post(mock, path_for("array"))
    (item,) = json.loads(got.payload())
    assert item["error"]["message"] == (
        "Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute_per_"
        f"project_per_base_model with base model: {MODEL}. Please submit a quota increase "
        "request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
    )


# --------------------------------------------------------------------------------------------
# error: inside a 200 stream


@pytest.mark.parametrize("framing", STREAMS)
@pytest.mark.parametrize("after", [0, 2])
async def test_a_429_inside_a_200_stream(mock: MockVertexServer, framing: str, after: int) -> None:
    add(mock, step(fault={"kind": "error", "after": after, "error": {"code": 429}}))
    got = await post(mock, path_for(framing))
    assert got.status == 200
    chunks, complete = got.http_chunks()
    quota = envelope(429, "RESOURCE_EXHAUSTED", RESOURCE_EXHAUSTED)
    if framing == "sse":
        assert chunks == [*frames("sse", RAW[:after]), sse(quota)]
        assert chunks[-1].startswith(b'data: {"error": {"code": 429,')
    else:
        *leading, last = frames("array", [*RAW[:after], quota])
        assert chunks == [*leading, last + b"\n]"]
        assert json.loads(got.payload())[-1] == quota
    assert complete
    entry = await settled(mock, "mid_stream_error")
    assert (entry.status, entry.chunks_sent) == (200, after)


async def test_a_mid_stream_error_on_a_unary_call_is_its_status(mock: MockVertexServer) -> None:
    fault = {"kind": "error", "after": 1, "error": {"code": 503, "retryAfter": 1}}
    add(mock, step(fault=fault))
    got = await post(mock, path_for("unary"))
    assert got.status == 503
    assert got.headers["retry-after"] == "1"
    assert json.loads(got.body)["error"]["status"] == "UNAVAILABLE"


# --------------------------------------------------------------------------------------------
# disconnect


@pytest.mark.parametrize("framing", STREAMS)
async def test_disconnect_after_n_chunks_is_an_rst_mid_body(
    mock: MockVertexServer, framing: str
) -> None:
    add(mock, step(fault={"kind": "disconnect", "after": 2}))
    got = await post(mock, path_for(framing))
    assert got.status == 200
    chunks, complete = got.http_chunks()
    assert chunks == frames(framing, RAW[:2])
    assert not complete
    assert got.ending == "reset"
    assert (await settled(mock, "disconnected")).chunks_sent == 2


async def test_disconnect_on_unary_resets_before_any_byte(mock: MockVertexServer) -> None:
    add(mock, step(fault={"kind": "disconnect"}))
    got = await post(mock, path_for("unary"))
    assert (got.data, got.ending) == (b"", "reset")


@pytest.mark.parametrize("framing", STREAMS)
async def test_disconnect_after_bytes_cuts_a_json_object(
    mock: MockVertexServer, framing: str
) -> None:
    first = len(frames(framing, RAW)[0])
    add(mock, step(fault={"kind": "disconnect", "afterBytes": first + 20}))
    got = await post(mock, path_for(framing))
    chunks, complete = got.http_chunks()
    whole = b"".join(frames(framing, RAW))
    assert b"".join(chunks) == whole[: first + 20]
    assert not complete
    assert got.ending == "reset"
    assert (await settled(mock, "disconnected")).chunks_sent == 1


async def test_disconnect_after_bytes_on_unary_promises_more_than_it_sends(
    mock: MockVertexServer,
) -> None:
    add(mock, step(fault={"kind": "disconnect", "afterBytes": 40}))
    got = await post(mock, path_for("unary"))
    body = pretty(merge_chunks(RAW))
    assert got.headers["content-length"] == str(len(body))
    assert (got.body, got.ending) == (body[:40], "reset")


# --------------------------------------------------------------------------------------------
# truncate, malformed


@pytest.mark.parametrize("framing", STREAMS)
async def test_truncate_ends_the_transfer_cleanly_without_the_last_chunk(
    mock: MockVertexServer, framing: str
) -> None:
    add(mock, step(fault={"kind": "truncate", "after": 5}))
    got = await post(mock, path_for(framing))
    chunks, complete = got.http_chunks()
    assert chunks == frames(framing, RAW[:2])  # never the finishReason chunk, never "]"
    assert complete
    assert got.ending == "eof"
    if framing == "array":
        with pytest.raises(wire.FramingError, match="Unfinished stream"):
            wire.decode_array(got.payload())
    assert (await settled(mock, "truncated")).chunks_sent == 2


async def test_truncate_on_unary_is_a_complete_body_without_finish_reason(
    mock: MockVertexServer,
) -> None:
    add(mock, step(fault={"kind": "truncate", "after": 2}))
    got = await post(mock, path_for("unary"))
    assert got.body == pretty(merge_chunks(RAW[:2]))
    assert "finishReason" not in json.loads(got.body)["candidates"][0]


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_malformed_is_one_bad_frame_in_an_otherwise_clean_reply(
    mock: MockVertexServer, framing: str
) -> None:
    add(mock, step(fault={"kind": "malformed", "after": 1}))
    got = await post(mock, path_for(framing))
    assert got.status == 200
    if framing == "unary":
        assert got.body == MALFORMED_FRAME
        assert got.headers["content-length"] == str(len(MALFORMED_FRAME))
    else:
        chunks, complete = got.http_chunks()
        bad = (
            b"data: " + MALFORMED_FRAME + b"\r\n\r\n"
            if framing == "sse"
            else b"\n,\r\n" + MALFORMED_FRAME + b"\n]"
        )
        assert chunks == [*frames(framing, RAW[:1]), bad]
        assert complete
    await settled(mock, "malformed")


# --------------------------------------------------------------------------------------------
# garbage, empty


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_garbage_is_seeded_bytes_with_no_http_around_them(
    mock: MockVertexServer, framing: str
) -> None:
    add(mock, step(fault={"kind": "garbage", "bytes": 48, "seed": 7}))
    first = await post(mock, path_for(framing))
    second = await post(mock, path_for(framing))
    assert first.data == random.Random(7 * 1_000_003 + 0).randbytes(48)
    assert second.data == random.Random(7 * 1_000_003 + 1).randbytes(48)
    assert not first.data.startswith(b"HTTP/")
    assert first.ending == "eof"
    await settled(mock, "garbage")


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_empty_closes_before_any_byte(mock: MockVertexServer, framing: str) -> None:
    add(mock, step(fault={"kind": "empty"}))
    got = await post(mock, path_for(framing))
    assert (got.data, got.ending) == (b"", "eof")
    await settled(mock, "empty")


# --------------------------------------------------------------------------------------------
# stall


@pytest.mark.parametrize("framing", STREAMS)
async def test_stall_holds_after_n_chunks_then_resets_at_its_limit(
    mock: MockVertexServer, framing: str
) -> None:
    add(mock, step(fault={"kind": "stall", "after": 1, "seconds": 0.3}))
    got = await post(mock, path_for(framing), wait=5.0)
    chunks, complete = got.http_chunks()
    assert chunks == frames(framing, RAW[:1])
    assert not complete
    assert got.ending == "reset"
    assert (await settled(mock, "stalled")).chunks_sent == 1


async def test_stall_on_unary_sends_the_headers_only(mock: MockVertexServer) -> None:
    add(mock, step(fault={"kind": "stall", "seconds": 0.2}))
    got = await post(mock, path_for("unary"), wait=5.0)
    assert got.status == 200
    assert got.headers["content-length"] == str(len(pretty(merge_chunks(RAW))))
    assert (got.body, got.ending) == (b"", "reset")


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_stall_ends_when_the_client_gives_up(mock: MockVertexServer, framing: str) -> None:
    add(mock, step(fault={"kind": "stall", "seconds": 30}))
    got = await post(mock, path_for(framing), wait=0.2)
    assert got.status == 200
    assert got.ending == "silent"
    entry = await settled(mock, "client_disconnected")
    assert entry.chunks_sent == 0


# --------------------------------------------------------------------------------------------
# Delays and the dribble (lower bounds only: a sleep never ends early)


def _arrivals(got: Received, marks: Sequence[bytes]) -> list[float]:
    """When the first byte of each mark arrived (seconds after the request went out)."""
    seen = b""
    out = []
    pending = list(marks)
    for at, data in got.reads:
        seen += data
        while pending and pending[0] in seen:
            out.append(at)
            seen = seen[seen.index(pending[0]) + len(pending[0]) :]
            pending.pop(0)
    assert not pending, f"never arrived: {pending}"
    return out


async def test_delays_before_headers_first_chunk_and_between(mock: MockVertexServer) -> None:
    pacing = {"firstByte": 0.15, "firstChunk": 0.15, "betweenChunks": 0.1}
    add(mock, step(delay=pacing))
    got = await post(mock, path_for("sse"))
    headers, one, two, three = _arrivals(got, [b"HTTP/1.1 200", b'"one "', b'"two "', b'"three"'])
    assert headers >= 0.15
    assert one - headers >= 0.14
    assert two - one >= 0.09
    assert three - two >= 0.09
    chunks, complete = got.http_chunks()
    assert (chunks, complete) == (frames("sse", RAW), True)


async def test_a_delayed_error_waits_before_its_status_line(mock: MockVertexServer) -> None:
    add(mock, {"times": "forever", "error": {"code": 503}, "delay": {"firstByte": 0.2}})
    got = await post(mock, path_for("unary"))
    assert got.status == 503
    assert got.reads[0][0] >= 0.2


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_dribble_spreads_the_body_over_its_duration(
    mock: MockVertexServer, framing: str
) -> None:
    add(mock, step(delay={"dribble": {"seconds": 0.3, "pieces": 4}}))
    got = await post(mock, path_for(framing))
    expected = (
        pretty(merge_chunks(RAW))
        if framing == "unary"
        else b"".join(frames(framing, RAW)) + (b"\n]" if framing == "array" else b"")
    )
    assert got.payload() == expected
    if framing != "unary":
        chunks, complete = got.http_chunks()
        assert len(chunks) == 4
        assert complete
    body_reads = [at for at, data in got.reads if b"HTTP/1.1" not in data]
    assert got.reads[-1][0] - got.reads[0][0] >= 0.29
    assert len(body_reads) >= 3  # the slices arrive apart


# --------------------------------------------------------------------------------------------
# Content faults: the built-ins give the shapes Vertex sends (wire.md section 5), in each framing


def decoded(got: Received, framing: str) -> list[dict[str, Any]]:
    assert got.status == 200
    if framing == "unary":
        return [json.loads(got.body)]
    payload = got.payload()
    return wire.decode_sse(payload) if framing == "sse" else wire.decode_array(payload)


def _candidate(chunk: dict[str, Any]) -> dict[str, Any]:
    (candidate,) = chunk["candidates"]
    return dict(candidate)


def _blocked(ratings: list[dict[str, Any]]) -> list[str]:
    return [r["category"] for r in ratings if r.get("blocked")]


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_a_blocked_prompt_is_one_200_chunk_with_prompt_feedback_only(
    mock: MockVertexServer, framing: str
) -> None:
    mock.add_scenario("safety_block_prompt")
    (chunk,) = decoded(await post(mock, path_for(framing)), framing)
    assert "candidates" not in chunk
    assert chunk["promptFeedback"]["blockReason"] == "SAFETY"
    assert _blocked(chunk["promptFeedback"]["safetyRatings"]) == ["HARM_CATEGORY_DANGEROUS_CONTENT"]
    usage = chunk["usageMetadata"]
    assert set(usage) == {"promptTokenCount", "totalTokenCount"}
    assert usage["promptTokenCount"] == usage["totalTokenCount"] > 0


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_a_prohibited_prompt_comes_bare(mock: MockVertexServer, framing: str) -> None:
    mock.add_scenario("prohibited_prompt")
    (chunk,) = decoded(await post(mock, path_for(framing)), framing)
    assert chunk["promptFeedback"] == {"blockReason": "PROHIBITED_CONTENT"}
    assert "candidates" not in chunk


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_a_blocked_response_after_some_text(mock: MockVertexServer, framing: str) -> None:
    mock.add_scenario("safety_block_response")
    chunks = decoded(await post(mock, path_for(framing)), framing)
    last = _candidate(chunks[-1])
    assert last["finishReason"] == "SAFETY"
    assert "content" not in last
    assert _blocked(last["safetyRatings"]) == ["HARM_CATEGORY_HARASSMENT"]
    if framing != "unary":  # the text went out before the block
        texts = [p["text"] for c in chunks[:-1] for p in _candidate(c)["content"]["parts"]]
        assert "".join(texts).startswith("Here is the start of an answer")
        assert all("finishReason" not in _candidate(c) for c in chunks[:-1])


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_recitation_stops_with_citations_and_no_content(
    mock: MockVertexServer, framing: str
) -> None:
    mock.add_scenario("recitation")
    last = _candidate(decoded(await post(mock, path_for(framing)), framing)[-1])
    assert last["finishReason"] == "RECITATION"
    assert "content" not in last
    (citation,) = last["citationMetadata"]["citations"]
    assert citation["title"] == "A Tale of Two Cities"


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_max_tokens_ends_on_text(mock: MockVertexServer, framing: str) -> None:
    mock.add_scenario("max_tokens")
    last = _candidate(decoded(await post(mock, path_for(framing)), framing)[-1])
    assert last["finishReason"] == "MAX_TOKENS"
    assert last["content"]["parts"][-1]["text"]


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_an_empty_candidate_has_a_role_and_no_parts(
    mock: MockVertexServer, framing: str
) -> None:
    mock.add_scenario("empty_candidate")
    (chunk,) = decoded(await post(mock, path_for(framing)), framing)
    candidate = _candidate(chunk)
    assert candidate["content"] == {"role": "model"}
    assert candidate["finishReason"] == "STOP"
    assert chunk["usageMetadata"]["candidatesTokenCount"] == 0


WEATHER_REQUEST = json.dumps(
    {
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"city": {"type": "STRING"}},
                            "required": ["city"],
                        },
                    }
                ]
            }
        ],
    }
).encode()


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_a_function_call_whose_args_break_the_declaration(
    mock: MockVertexServer, framing: str
) -> None:
    mock.add_scenario("function_call_bad_args")
    chunks = decoded(await post(mock, path_for(framing), body=WEATHER_REQUEST), framing)
    (part,) = _candidate(chunks[-1])["content"]["parts"]
    call = part["functionCall"]
    assert call["name"] == "get_weather"  # the declared function ...
    assert call["args"] == {"undeclared_argument": "not in the declaration"}  # ... wrongly called
    assert "city" not in call["args"]
    assert _candidate(chunks[-1])["finishReason"] == "STOP"


async def test_a_nameless_call_follows_allowed_names_else_has_a_placeholder(
    mock: MockVertexServer,
) -> None:
    call = {"functionCall": {"args": {"x": 1}}}
    mock.add_scenario({"format": 1, "name": "nameless", "steps": [{"times": 2, "respond": call}]})
    request = json.loads(WEATHER_REQUEST)
    request["tools"][0]["functionDeclarations"].append({"name": "get_time"})
    request["toolConfig"] = {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}
    }
    allowed = decoded(
        await post(mock, path_for("unary"), body=json.dumps(request).encode()), "unary"
    )
    assert _candidate(allowed[0])["content"]["parts"][0]["functionCall"]["name"] == "get_time"
    bare = decoded(await post(mock, path_for("unary")), "unary")
    assert _candidate(bare[0])["content"]["parts"][0]["functionCall"]["name"] == "unknown_function"


EVERY_FAULT = json.dumps(
    {"contents": [{"role": "user", "parts": [{"text": "every fault, in turn"}]}]}
).encode()


async def test_every_fault_kind_in_turn(mock: MockVertexServer) -> None:
    """The fixture's steps, one request each: what the client saw and what the journal says."""
    mock.add_scenario(FIXTURES / "every_fault_kind.json")
    seen = []
    for _ in range(9):
        got = await post(mock, path_for("sse"), body=EVERY_FAULT)
        seen.append((got.status, got.ending))
    assert seen == [
        (429, "eof"),  # HTTP error
        (200, "eof"),  # a 429 event inside the stream
        (200, "reset"),  # reset inside a JSON object
        (200, "eof"),  # truncated
        (200, "eof"),  # malformed
        (0, "eof"),  # garbage: no status line
        (0, "eof"),  # empty
        (200, "reset"),  # stall, reset at its 0.2 s limit
        (200, "eof"),  # then normal answers
    ]
    await settled(mock, "ok")
    assert [str(e.outcome) for e in mock.journal()] == [
        "error",
        "mid_stream_error",
        "disconnected",
        "truncated",
        "malformed",
        "garbage",
        "empty",
        "stalled",
        "ok",
    ]
