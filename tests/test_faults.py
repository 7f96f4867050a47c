"""The fault registry at engine level: every kind in every framing, through a recording injector.

Each test delivers a small reply through :func:`mockvertex.engine.faults.deliver` over a fake
:class:`~mockvertex.engine.faults.Injector` that records its acts (start, write, sleep, end,
reset, close, raw, error, hold), and asserts the exact acts and bytes. The expected bytes are
built here with the standard library's ``json`` (Google's spacing), not with the encoders
under test.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mockvertex.contract import resources
from mockvertex.contract.errors import DataFileError, StatusError
from mockvertex.contract.responses import merge_chunks
from mockvertex.contract.wire import Framing
from mockvertex.engine.faults import (
    MALFORMED_FRAME,
    REGISTRY,
    Delay,
    Disconnect,
    Dribble,
    Empty,
    ErrorAfter,
    ErrorSpec,
    Fault,
    Garbage,
    Malformed,
    Outlet,
    Pacing,
    Stall,
    Truncate,
    deliver,
    parse_delay,
    parse_error,
    parse_fault,
    parse_pacing,
)
from mockvertex.engine.scenario import RequestContext, ScenarioBook, load_scenario

UNARY, SSE, ARRAY = Framing.UNARY, Framing.SSE, Framing.ARRAY
FRAMINGS = [UNARY, SSE, ARRAY]
STREAMS = [SSE, ARRAY]
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
RESOURCE_EXHAUSTED = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)


def _chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
    if finish is not None:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-2.0-flash-001"}


CHUNKS = (_chunk("one "), _chunk("two "), _chunk("three", "STOP"))


# --------------------------------------------------------------------------------------------
# The expected bytes, written with the standard library


def sse(obj: Any) -> bytes:
    """One SSE event as Vertex writes it: compact JSON with ``": "`` after keys, CRLF CRLF."""
    return b"data: " + json.dumps(obj, separators=(",", ": ")).encode() + b"\r\n\r\n"


def pretty(obj: Any) -> bytes:
    return json.dumps(obj, indent=2).encode()


def array(objs: Sequence[Any], *, closed: bool = True) -> bytes:
    """The streamed array: ``[`` glued to the first object, ``\\n,\\r\\n`` between, ``\\n]``."""
    body = b"[" + b"\n,\r\n".join(pretty(o) for o in objs)
    return body + b"\n]" if closed else body


def stream(framing: Framing, objs: Sequence[Any], *, closed: bool = True) -> bytes:
    if framing is SSE:
        return b"".join(sse(o) for o in objs)
    return array(objs, closed=closed)


def envelope(code: int, status: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, **extra}}


# --------------------------------------------------------------------------------------------
# The recording injector


@dataclass
class Recorder:
    """An :class:`Injector` that only writes down what it is asked to do."""

    #: What ``hold`` answers: True when the client is to have hung up meanwhile.
    client_hangs_up: bool = False
    acts: list[tuple[Any, ...]] = field(default_factory=list)
    started: bool = False

    async def sleep(self, seconds: float) -> None:
        self.acts.append(("sleep", seconds))

    async def start(self, content_length: int | None = None) -> None:
        if not self.started:
            self.started = True
            self.acts.append(("start", content_length))

    async def write(self, data: bytes) -> None:
        await self.start()
        self.acts.append(("write", data))

    async def end(self) -> None:
        await self.start()
        self.acts.append(("end",))

    async def reset(self) -> None:
        self.acts.append(("reset",))

    async def close(self) -> None:
        self.acts.append(("close",))

    async def raw(self, data: bytes) -> None:
        self.acts.append(("raw", data))

    async def error(self, error: StatusError) -> None:
        self.acts.append(("error", error.http_status, error.to_envelope(), dict(error.headers)))

    async def hold(self, seconds: float) -> bool:
        self.acts.append(("hold", seconds))
        return self.client_hangs_up

    # -- reading the record
    @property
    def body(self) -> bytes:
        return b"".join(a[1] for a in self.acts if a[0] == "write")

    @property
    def kinds(self) -> list[str]:
        return [a[0] for a in self.acts]

    @property
    def sleeps(self) -> list[float]:
        return [a[1] for a in self.acts if a[0] == "sleep"]


async def run(
    fault: Fault | None,
    framing: Framing,
    *,
    chunks: Sequence[Mapping[str, Any]] = CHUNKS,
    pacing: Pacing | None = None,
    use: int = 0,
    counting: bool = False,
    client_hangs_up: bool = False,
) -> tuple[Recorder, Outlet]:
    recorder = Recorder(client_hangs_up=client_hangs_up)
    outlet = Outlet(
        recorder,
        chunks,
        framing,
        pacing=pacing or Pacing(),
        model="gemini-2.0-flash",
        use=use,
        counting=counting,
    )
    await deliver(outlet, fault)
    return recorder, outlet


def _writes(data: Sequence[bytes]) -> list[tuple[Any, ...]]:
    return [("write", d) for d in data]


def _stream_writes(framing: Framing, objs: Sequence[Any]) -> list[bytes]:
    """The writes of a stream of ``objs``, one per chunk, as the outlet makes them."""
    if framing is SSE:
        return [sse(o) for o in objs]
    return [(b"\n,\r\n" if i else b"[") + pretty(o) for i, o in enumerate(objs)]


# --------------------------------------------------------------------------------------------
# The registry and the scenario schema


def test_the_registry_holds_every_kind_the_schema_names() -> None:
    schema = resources.schema("scenario.schema.json")
    assert sorted(schema["$defs"]["fault"]["properties"]["kind"]["enum"]) == sorted(REGISTRY)
    assert all(cls.kind == kind for kind, cls in REGISTRY.items())
    outcomes = {cls.outcome for cls in REGISTRY.values()}
    assert len(outcomes) == len(REGISTRY)  # each kind names its own journal outcome


FAULT_JSON = [
    {"kind": "error", "after": 2, "error": {"code": 503}},
    {
        "kind": "error",
        "after": 0,
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "Quota exceeded for {model}.",
            "details": [{"@type": "type.googleapis.com/google.rpc.Help", "links": []}],
            "retryAfter": 7,
            "retryDelay": "7s",
        },
    },
    {
        "kind": "error",
        "after": 1,
        "error": {"code": 429, "retryAfter": "Wed, 21 Oct 2026 07:28:00 GMT"},
    },
    {"kind": "disconnect", "after": 1},
    {"kind": "disconnect", "afterBytes": 40},
    {"kind": "truncate", "after": 2},
    {"kind": "malformed", "after": 1},
    {"kind": "garbage", "bytes": 12, "seed": 3},
    {"kind": "empty"},
    {"kind": "stall", "after": 1, "seconds": 0.5},
]


@pytest.mark.parametrize("raw", FAULT_JSON, ids=lambda r: str(r["kind"]))
def test_a_fault_parses_and_writes_back_its_own_json(raw: dict[str, Any]) -> None:
    fault = parse_fault(raw)
    assert type(fault) is REGISTRY[raw["kind"]]
    assert parse_fault(fault.to_json()) == fault
    written = fault.to_json()
    for key, value in raw.items():  # every key given survives, the defaults are filled in
        assert written[key] == value


def test_defaults_of_each_kind() -> None:
    assert parse_fault({"kind": "error"}) == ErrorAfter(0, ErrorSpec(500))
    assert parse_fault({"kind": "disconnect"}) == Disconnect(0)
    assert parse_fault({"kind": "truncate"}) == Truncate(0)
    assert parse_fault({"kind": "malformed"}) == Malformed(0)
    assert parse_fault({"kind": "garbage"}) == Garbage(64, 0)
    assert parse_fault({"kind": "empty"}) == Empty()
    assert parse_fault({"kind": "stall"}) == Stall(0, 30.0)


def test_unknown_kind_and_exclusive_keys_are_data_file_errors() -> None:
    with pytest.raises(DataFileError) as caught:
        parse_fault({"kind": "reset"}, "steps[2].fault", "f.json")
    assert (caught.value.file, caught.value.field) == ("f.json", "steps[2].fault.kind")
    assert "disconnect, empty, error, garbage, malformed, stall, truncate" in caught.value.rule
    with pytest.raises(DataFileError, match="after and afterBytes are exclusive"):
        parse_fault({"kind": "disconnect", "after": 1, "afterBytes": 2})


# --------------------------------------------------------------------------------------------
# HTTP errors: the exception a step's error becomes


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
        (403, "PERMISSION_DENIED", "The caller does not have permission."),
        (404, "NOT_FOUND", "Requested entity was not found."),
        (429, "RESOURCE_EXHAUSTED", RESOURCE_EXHAUSTED),
        (500, "INTERNAL", "Internal error encountered."),
        (503, "UNAVAILABLE", "The service is currently unavailable."),
        (504, "DEADLINE_EXCEEDED", "Deadline exceeded."),
    ],
)
def test_an_error_code_alone_gets_its_status_and_vertex_message(
    code: int, status: str, message: str
) -> None:
    error = parse_error({"code": code}).build("gemini-2.0-flash")
    assert error.to_envelope() == envelope(code, status, message)
    assert error.headers == {}


def test_any_code_keeps_its_http_status_with_the_status_named() -> None:
    error = parse_error({"code": 502, "status": "UNAVAILABLE"}).build("m")
    assert (error.http_status, error.status) == (502, "UNAVAILABLE")
    odd = parse_error({"code": 418, "status": "FAILED_PRECONDITION", "message": "No."}).build("m")
    assert odd.to_envelope() == envelope(418, "FAILED_PRECONDITION", "No.")


def test_error_details_retry_after_and_retry_info() -> None:
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "aiplatform.googleapis.com",
            "metadata": {"method": "google.cloud.aiplatform.v1.PredictionService.GenerateContent"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"subject": "projects/p", "description": "per minute"}],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {"description": "Quotas", "url": "https://cloud.google.com/vertex-ai/docs/quotas"}
            ],
        },
    ]
    spec = parse_error(
        {
            "code": 429,
            "message": "Quota exceeded for base model: {model}.",
            "details": details,
            "retryAfter": 5,
            "retryDelay": "5.5s",
        }
    )
    error = spec.build("gemini-2.5-pro")
    assert error.to_envelope() == envelope(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for base model: gemini-2.5-pro.",
        details=[*details, {"@type": RETRY_INFO, "retryDelay": "5.5s"}],
    )
    assert error.headers == {"Retry-After": "5"}
    date = parse_error({"code": 503, "retryAfter": "Wed, 21 Oct 2026 07:28:00 GMT"}).build("m")
    assert date.headers == {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}


# --------------------------------------------------------------------------------------------
# No fault: what every delivery is measured against


@pytest.mark.parametrize("framing", STREAMS)
async def test_a_stream_without_fault(framing: Framing) -> None:
    recorder, outlet = await run(None, framing)
    closing = [] if framing is SSE else [("write", b"\n]")]
    assert recorder.acts == [
        ("start", None),
        *_writes(_stream_writes(framing, CHUNKS)),
        *closing,
        ("end",),
    ]
    assert recorder.body == stream(framing, CHUNKS)
    assert (outlet.chunks_sent, outlet.outcome) == (3, "ok")


async def test_a_unary_reply_without_fault() -> None:
    recorder, outlet = await run(None, UNARY)
    body = pretty(merge_chunks(CHUNKS))
    assert recorder.acts == [("start", len(body)), ("write", body), ("end",)]
    assert json.loads(body)["candidates"][0]["content"]["parts"] == [{"text": "one two three"}]
    assert (outlet.chunks_sent, outlet.outcome) == (1, "ok")


# --------------------------------------------------------------------------------------------
# error: an error object after N chunks


def _quota(after: int) -> ErrorAfter:
    return ErrorAfter(after, ErrorSpec(429, retry_delay="2s"))


QUOTA_ENVELOPE = envelope(
    429,
    "RESOURCE_EXHAUSTED",
    RESOURCE_EXHAUSTED,
    details=[{"@type": RETRY_INFO, "retryDelay": "2s"}],
)


@pytest.mark.parametrize("after", [0, 1, 2])
async def test_error_after_n_chunks_in_sse_is_an_error_event_in_a_200_stream(after: int) -> None:
    recorder, outlet = await run(_quota(after), SSE)
    assert recorder.acts == [
        ("start", None),
        *_writes(_stream_writes(SSE, CHUNKS[:after])),
        ("write", sse(QUOTA_ENVELOPE)),
        ("end",),
    ]
    # The event line starts the way google-genai looks for: '{"error":'.
    last_event = recorder.body.split(b"\r\n\r\n")[-2]
    assert last_event.startswith(b'data: {"error": {"code": 429,"message": "Resource exhausted.')
    assert (outlet.chunks_sent, outlet.outcome) == (after, "mid_stream_error")


@pytest.mark.parametrize("after", [0, 1, 2])
async def test_error_after_n_chunks_in_array_is_the_last_element(after: int) -> None:
    recorder, outlet = await run(_quota(after), ARRAY)
    assert recorder.body == array([*CHUNKS[:after], QUOTA_ENVELOPE])
    assert recorder.kinds == ["start", *["write"] * (after + 1), "end"]
    if after == 0:  # exactly what Vertex sends for a rejected stream, here inside a 200
        assert recorder.body == b"[" + pretty(QUOTA_ENVELOPE) + b"\n]"
    assert (outlet.chunks_sent, outlet.outcome) == (after, "mid_stream_error")


async def test_error_on_a_unary_call_is_the_error_status_with_its_headers() -> None:
    fault = ErrorAfter(1, ErrorSpec(429, retry_after="3", retry_delay="3s"))
    recorder, outlet = await run(fault, UNARY)
    expected = envelope(
        429,
        "RESOURCE_EXHAUSTED",
        RESOURCE_EXHAUSTED,
        details=[{"@type": RETRY_INFO, "retryDelay": "3s"}],
    )
    assert recorder.acts == [("error", 429, expected, {"Retry-After": "3"})]
    assert (outlet.chunks_sent, outlet.outcome) == (0, "error")


# --------------------------------------------------------------------------------------------
# disconnect: RST after N chunks or N bytes


@pytest.mark.parametrize("framing", STREAMS)
@pytest.mark.parametrize("after", [0, 2])
async def test_disconnect_after_n_chunks(framing: Framing, after: int) -> None:
    recorder, outlet = await run(Disconnect(after), framing)
    assert recorder.acts == [
        ("start", None),
        *_writes(_stream_writes(framing, CHUNKS[:after])),
        ("reset",),
    ]
    assert (outlet.chunks_sent, outlet.outcome) == (after, "disconnected")


async def test_disconnect_on_unary_resets_before_the_status_line() -> None:
    recorder, outlet = await run(Disconnect(1), UNARY)
    assert recorder.acts == [("reset",)]
    assert (outlet.chunks_sent, outlet.outcome) == (0, "disconnected")


@pytest.mark.parametrize("framing", STREAMS)
async def test_disconnect_after_bytes_cuts_inside_a_json_object(framing: Framing) -> None:
    whole = stream(framing, CHUNKS)
    first = len(_stream_writes(framing, CHUNKS[:1])[0])
    cut = first + 25  # 25 bytes into the second chunk
    recorder, outlet = await run(Disconnect(0, after_bytes=cut), framing)
    assert recorder.acts == [("start", None), ("write", whole[:cut]), ("reset",)]
    assert recorder.body[first:].startswith(b"data: {" if framing is SSE else b"\n,\r\n{")
    assert (outlet.chunks_sent, outlet.outcome) == (1, "disconnected")


async def test_disconnect_after_bytes_on_unary_sends_the_full_length_then_less() -> None:
    body = pretty(merge_chunks(CHUNKS))
    recorder, outlet = await run(Disconnect(0, after_bytes=30), UNARY)
    assert recorder.acts == [("start", len(body)), ("write", body[:30]), ("reset",)]
    assert outlet.outcome == "disconnected"


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_disconnect_after_zero_bytes_sends_the_headers_only(framing: Framing) -> None:
    recorder, _ = await run(Disconnect(0, after_bytes=0), framing)
    assert recorder.kinds == ["start", "reset"]


async def test_disconnect_after_more_bytes_than_the_body_sends_it_all_but_never_ends() -> None:
    recorder, outlet = await run(Disconnect(0, after_bytes=10**6), ARRAY)
    assert recorder.body == array(CHUNKS)
    assert recorder.kinds == ["start", "write", "reset"]
    assert outlet.chunks_sent == 3


# --------------------------------------------------------------------------------------------
# truncate: a clean end with no last chunk


@pytest.mark.parametrize("framing", STREAMS)
@pytest.mark.parametrize("after", [1, 2])
async def test_truncate_ends_cleanly_without_the_last_chunk(framing: Framing, after: int) -> None:
    recorder, outlet = await run(Truncate(after), framing)
    assert recorder.acts == [
        ("start", None),
        *_writes(_stream_writes(framing, CHUNKS[:after])),
        ("end",),
    ]
    assert recorder.body == stream(framing, CHUNKS[:after], closed=False)
    assert b"finishReason" not in recorder.body
    assert not recorder.body.endswith(b"]")
    assert (outlet.chunks_sent, outlet.outcome) == (after, "truncated")


@pytest.mark.parametrize("framing", STREAMS)
async def test_truncate_never_sends_the_finishing_chunk(framing: Framing) -> None:
    recorder, outlet = await run(Truncate(10), framing)
    assert recorder.body == stream(framing, CHUNKS[:2], closed=False)
    assert outlet.chunks_sent == 2


async def test_truncate_after_zero_opens_the_array_and_never_closes_it() -> None:
    recorder, _ = await run(Truncate(0), ARRAY)
    assert recorder.acts == [("start", None), ("write", b"["), ("end",)]
    sse_recorder, _ = await run(Truncate(0), SSE)
    assert sse_recorder.acts == [("start", None), ("end",)]


async def test_truncate_on_unary_is_the_merge_of_the_chunks_before() -> None:
    recorder, outlet = await run(Truncate(2), UNARY)
    body = pretty(merge_chunks(CHUNKS[:2]))
    assert recorder.acts == [("start", len(body)), ("write", body), ("end",)]
    assert "finishReason" not in json.loads(body)["candidates"][0]
    assert outlet.outcome == "truncated"


async def test_truncate_on_count_tokens_keeps_the_one_body() -> None:
    counts = ({"totalTokens": 7, "totalBillableCharacters": 20},)
    recorder, _ = await run(Truncate(0), UNARY, chunks=counts, counting=True)
    assert recorder.body == pretty(counts[0])


# --------------------------------------------------------------------------------------------
# malformed: a whole frame that does not parse


def test_the_malformed_frame_balances_its_brackets_and_is_not_json() -> None:
    text = MALFORMED_FRAME.decode()
    assert text.count("{") == text.count("}")
    assert text.count("[") == text.count("]")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.parametrize("after", [0, 1])
async def test_malformed_in_sse_is_one_bad_event_then_a_clean_end(after: int) -> None:
    recorder, outlet = await run(Malformed(after), SSE)
    assert recorder.acts == [
        ("start", None),
        *_writes(_stream_writes(SSE, CHUNKS[:after])),
        ("write", b"data: " + MALFORMED_FRAME + b"\r\n\r\n"),
        ("end",),
    ]
    assert (outlet.chunks_sent, outlet.outcome) == (after, "malformed")


@pytest.mark.parametrize("after", [0, 1])
async def test_malformed_in_array_is_one_bad_element_of_a_closed_array(after: int) -> None:
    recorder, _ = await run(Malformed(after), ARRAY)
    lead = b"\n,\r\n" if after else b"["
    assert recorder.acts == [
        ("start", None),
        *_writes(_stream_writes(ARRAY, CHUNKS[:after])),
        ("write", lead + MALFORMED_FRAME + b"\n]"),
        ("end",),
    ]


async def test_malformed_unary_body_has_its_own_length() -> None:
    recorder, outlet = await run(Malformed(1), UNARY)
    assert recorder.acts == [("start", len(MALFORMED_FRAME)), ("write", MALFORMED_FRAME), ("end",)]
    assert outlet.outcome == "malformed"


# --------------------------------------------------------------------------------------------
# garbage, empty


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_garbage_is_seeded_random_bytes_instead_of_a_response(framing: Framing) -> None:
    recorder, outlet = await run(Garbage(16, seed=5), framing, use=2)
    expected = random.Random(5 * 1_000_003 + 2).randbytes(16)
    assert recorder.acts == [("raw", expected)]
    assert (outlet.chunks_sent, outlet.outcome) == (0, "garbage")


async def test_garbage_differs_per_use_and_repeats_per_seed() -> None:
    first, _ = await run(Garbage(32, seed=1), SSE, use=0)
    again, _ = await run(Garbage(32, seed=1), SSE, use=0)
    second, _ = await run(Garbage(32, seed=1), SSE, use=1)
    other, _ = await run(Garbage(32, seed=2), SSE, use=0)
    assert first.acts == again.acts
    assert first.acts != second.acts
    assert first.acts != other.acts


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_empty_closes_before_any_byte(framing: Framing) -> None:
    recorder, outlet = await run(Empty(), framing)
    assert recorder.acts == [("close",)]
    assert (outlet.chunks_sent, outlet.outcome) == (0, "empty")


# --------------------------------------------------------------------------------------------
# stall


@pytest.mark.parametrize("framing", STREAMS)
async def test_stall_sends_n_chunks_holds_then_resets(framing: Framing) -> None:
    recorder, outlet = await run(Stall(1, 0.25), framing)
    assert recorder.acts == [
        ("start", None),
        *_writes(_stream_writes(framing, CHUNKS[:1])),
        ("hold", 0.25),
        ("reset",),
    ]
    assert (outlet.chunks_sent, outlet.outcome) == (1, "stalled")


async def test_stall_on_unary_sends_headers_with_the_full_length_then_nothing() -> None:
    body = pretty(merge_chunks(CHUNKS))
    recorder, outlet = await run(Stall(0, 0.25), UNARY)
    assert recorder.acts == [("start", len(body)), ("hold", 0.25), ("reset",)]
    assert outlet.outcome == "stalled"


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_stall_ends_when_the_client_gives_up(framing: Framing) -> None:
    recorder, outlet = await run(Stall(0, 5.0), framing, client_hangs_up=True)
    assert recorder.kinds == ["start", "hold"]
    assert outlet.outcome == "client_disconnected"


# --------------------------------------------------------------------------------------------
# Pacing


@pytest.mark.parametrize("framing", STREAMS)
async def test_pacing_before_headers_before_the_first_chunk_and_between(framing: Framing) -> None:
    pacing = Pacing(
        first_byte=Delay("fixed", 0.5),
        first_chunk=Delay("fixed", 0.25),
        between_chunks=Delay("fixed", 0.125),
    )
    recorder, _ = await run(None, framing, pacing=pacing)
    writes = _stream_writes(framing, CHUNKS)
    closing = [] if framing is SSE else [("write", b"\n]")]
    assert recorder.acts == [
        ("sleep", 0.5),
        ("start", None),
        ("sleep", 0.25),
        ("write", writes[0]),
        ("sleep", 0.125),
        ("write", writes[1]),
        ("sleep", 0.125),
        ("write", writes[2]),
        *closing,
        ("end",),
    ]


async def test_pacing_of_a_unary_reply_puts_first_chunk_between_headers_and_body() -> None:
    pacing = Pacing(first_byte=Delay("fixed", 0.5), first_chunk=Delay("fixed", 0.25))
    recorder, _ = await run(None, UNARY, pacing=pacing)
    assert recorder.kinds == ["sleep", "start", "sleep", "write", "end"]
    assert recorder.sleeps == [0.5, 0.25]


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_pacing_holds_on_the_fault_path_too(framing: Framing) -> None:
    pacing = Pacing(first_byte=Delay("fixed", 0.5), between_chunks=Delay("fixed", 0.125))
    recorder, _ = await run(Empty(), framing, pacing=pacing)
    assert recorder.acts == [("sleep", 0.5), ("close",)]
    cut, _ = await run(Disconnect(3), SSE, pacing=pacing)
    assert cut.sleeps == [0.5, 0.125, 0.125]
    assert cut.kinds[-1] == "reset"


def test_parse_delay_forms() -> None:
    assert parse_delay(2) == Delay("fixed", 2.0)
    assert parse_delay({"uniform": [0.1, 0.3]}) == Delay("uniform", 0.1, 0.3)
    assert parse_delay({"lognormal": {"median": 0.2, "sigma": 0.5}}) == Delay("lognormal", 0.2, 0.5)
    for raw in (2, {"uniform": [0.1, 0.3]}, {"lognormal": {"median": 0.2, "sigma": 0.5}}):
        assert parse_delay(parse_delay(raw).to_json()) == parse_delay(raw)
    with pytest.raises(DataFileError, match="upper bound"):
        parse_delay({"uniform": [0.3, 0.1]}, "steps[0].delay.firstByte", "f.json")


def test_uniform_and_lognormal_samples() -> None:
    rng = random.Random(11)
    uniform = [Delay("uniform", 0.1, 0.3).sample(rng) for _ in range(200)]
    assert all(0.1 <= s <= 0.3 for s in uniform)
    assert len(set(uniform)) == 200
    samples = sorted(Delay("lognormal", 0.2, 0.5).sample(rng) for _ in range(401))
    assert all(s > 0 for s in samples)
    assert 0.15 < samples[200] < 0.27  # the median of 401 draws sits near 0.2
    assert Delay("lognormal", 0.0, 0.5).sample(rng) == 0.0


SEEDED = {
    "firstByte": {"uniform": [0.0, 1.0]},
    "betweenChunks": {"lognormal": {"median": 0.05, "sigma": 1.0}},
}


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_same_seed_and_same_use_give_the_same_delays(framing: Framing) -> None:
    pacing = parse_pacing({**SEEDED, "seed": 42})

    async def sleeps(p: Pacing, use: int) -> list[float]:
        recorder, _ = await run(None, framing, pacing=p, use=use)
        return recorder.sleeps

    first = [await sleeps(pacing, use) for use in range(3)]
    again = [await sleeps(parse_pacing({**SEEDED, "seed": 42}), use) for use in range(3)]
    other = [await sleeps(parse_pacing({**SEEDED, "seed": 43}), use) for use in range(3)]
    assert first == again
    assert first != other
    assert len({tuple(s) for s in first}) == 3  # each request of the order draws its own
    assert len(first[0]) == (1 if framing is UNARY else 3)


def test_the_request_order_fixes_the_delays_through_the_book() -> None:
    """Two fresh books with the same seeded scenario hand out the same delays in order."""
    document = {
        "format": 1,
        "name": "jittery",
        "steps": [
            {"times": 2, "delay": {"firstByte": {"uniform": [0, 1]}, "seed": 9}},
            {
                "times": "forever",
                "delay": {"firstByte": {"lognormal": {"median": 0.1, "sigma": 1}}},
            },
        ],
    }
    ctx = RequestContext("gemini-2.0-flash", "generateContent", "v1", {"contents": []})

    def delays() -> list[float]:
        book = ScenarioBook([load_scenario(document)])
        out = []
        for _ in range(5):
            chosen = book.select(ctx)
            assert chosen is not None
            assert chosen.step.pacing is not None
            pacing = chosen.step.pacing
            assert pacing.first_byte is not None
            out.append(pacing.first_byte.sample(pacing.rng(chosen.use)))
        return out

    first = delays()
    assert first == delays()
    assert len(set(first)) == 5
    assert all(0 <= d <= 1 for d in first[:2])


# --------------------------------------------------------------------------------------------
# Dribble


@pytest.mark.parametrize("framing", STREAMS)
async def test_dribble_spreads_the_stream_bytes_over_the_duration(framing: Framing) -> None:
    pacing = Pacing(dribble=Dribble(1.0, 5))
    recorder, outlet = await run(None, framing, pacing=pacing)
    whole = stream(framing, CHUNKS)
    assert recorder.body == whole
    assert recorder.kinds == ["start", *["write", "sleep"] * 4, "write", "end"]
    assert recorder.sleeps == [0.25] * 4  # the last byte leaves 1.0 s after the first
    pieces = [a[1] for a in recorder.acts if a[0] == "write"]
    assert max(len(p) for p in pieces) - min(len(p) for p in pieces) <= 1
    assert (outlet.chunks_sent, outlet.outcome) == (3, "ok")


async def test_dribble_of_a_unary_body_keeps_its_length() -> None:
    body = pretty(merge_chunks(CHUNKS))
    recorder, _ = await run(None, UNARY, pacing=Pacing(dribble=Dribble(0.5, 3)))
    assert recorder.acts[0] == ("start", len(body))
    assert recorder.body == body
    assert recorder.sleeps == [0.25, 0.25]


async def test_dribble_in_one_piece_waits_the_duration_before_the_end() -> None:
    recorder, _ = await run(None, SSE, pacing=Pacing(dribble=Dribble(0.5, 1)))
    assert recorder.kinds == ["start", "write", "sleep", "end"]
    assert recorder.sleeps == [0.5]


def test_parse_pacing_reads_every_key() -> None:
    pacing = parse_pacing(
        {
            "firstByte": 0.5,
            "firstChunk": {"uniform": [0, 0.1]},
            "betweenChunks": 0.01,
            "dribble": {"seconds": 2},
            "seed": 4,
        }
    )
    assert pacing == Pacing(
        first_byte=Delay("fixed", 0.5),
        first_chunk=Delay("uniform", 0.0, 0.1),
        between_chunks=Delay("fixed", 0.01),
        dribble=Dribble(2.0, 10),
        seed=4,
    )


@pytest.mark.parametrize(
    ("fault", "field", "rule"),
    [
        ({"kind": "empty", "after": 2}, "steps[0].fault", "fault.after is not allowed with kind"),
        ({"kind": "garbage", "after": 1}, "steps[0].fault", "fault.after is not allowed with kind"),
        ({"kind": "stall", "seconds": 0}, "steps[0].fault.seconds", "must be > 0"),
        ({"kind": "garbage", "bytes": 0}, "steps[0].fault.bytes", "must be >= 1"),
        ({"kind": "truncate", "seed": 1}, "steps[0].fault", "fault.seed is allowed only with"),
    ],
)
def test_a_scenario_file_with_a_bad_fault_names_the_field_and_rule(
    fault: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(DataFileError) as caught:
        load_scenario({"format": 1, "name": "bad", "steps": [{"fault": fault}]})
    assert caught.value.field == field
    assert caught.value.rule.startswith(rule)


@pytest.mark.parametrize(
    ("delay", "field"),
    [
        ({"firstByte": -1}, "steps[0].delay.firstByte"),
        ({"betweenChunks": {"uniform": [0.1]}}, "steps[0].delay.betweenChunks"),
        ({"firstChunk": {"lognormal": {"median": 1}}}, "steps[0].delay.firstChunk"),
        ({"dribble": {"seconds": 1, "pieces": 0}}, "steps[0].delay.dribble.pieces"),
    ],
)
def test_a_bad_delay_names_the_field(delay: dict[str, Any], field: str) -> None:
    with pytest.raises(DataFileError) as caught:
        load_scenario({"format": 1, "name": "bad", "steps": [{"delay": delay}]})
    assert caught.value.field == field


def test_the_seeded_jitter_fixture_repeats_its_delays_in_request_order() -> None:
    path = Path(__file__).resolve().parent.parent / "fixtures" / "scenarios" / "seeded_jitter.json"
    request = {"contents": [{"role": "user", "parts": [{"text": "some jitter please"}]}]}
    ctx = RequestContext("gemini-2.0-flash", "streamGenerateContent", "v1", request)

    async def delays() -> list[list[float]]:
        book = ScenarioBook([load_scenario(path)])
        out = []
        for _ in range(3):
            chosen = book.select(ctx)
            assert chosen is not None
            recorder, _ = await _deliver_step(chosen.step.pacing, chosen.use)
            out.append(recorder.sleeps)
        return out

    first, again = asyncio.run(delays()), asyncio.run(delays())
    assert first == again
    assert len({tuple(d) for d in first}) == 3
    assert all(len(d) == 4 and 0 <= d[0] <= 0.05 for d in first)  # firstByte, then 3 gaps


async def _deliver_step(pacing: Pacing | None, use: int) -> tuple[Recorder, Outlet]:
    return await run(None, SSE, chunks=(*CHUNKS, _chunk("four")), pacing=pacing, use=use)


def test_a_lognormal_tail_is_cut_at_its_max() -> None:
    capped = parse_delay({"lognormal": {"median": 0.1, "sigma": 3, "max": 0.5}})
    assert capped == Delay("lognormal", 0.1, 3.0, 0.5)
    assert parse_delay(capped.to_json()) == capped
    free = Delay("lognormal", 0.1, 3.0)
    draws = [(capped.sample(random.Random(i)), free.sample(random.Random(i))) for i in range(300)]
    assert max(c for c, _ in draws) == 0.5  # some draws of the long tail hit the cap
    assert max(f for _, f in draws) > 0.5
    assert all(c == min(f, 0.5) for c, f in draws)  # the same draws, cut
