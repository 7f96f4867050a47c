"""The request memo: validation once per distinct body, the default reply's bytes once per
request and framing, the clock's createTime in every answer, bounds, and the server using it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mockvertex.config import ServerConfig
from mockvertex.contract import wire
from mockvertex.contract.errors import InvalidArgument
from mockvertex.contract.profiles import ProfileRegistry
from mockvertex.contract.responses import merge_chunks
from mockvertex.contract.validation import validate_request
from mockvertex.engine.journal import Journal, measure_request
from mockvertex.engine.memo import RequestMemo, Seen
from mockvertex.engine.scenario import RequestContext
from mockvertex.engine.synthesis import create_time, render
from mockvertex.server.app import STATE, create_app

MODEL = "gemini-2.0-flash"
RESOURCE = f"projects/p/locations/us-central1/publishers/google/models/{MODEL}"
PROFILES = ProfileRegistry.builtin()
PROFILE = PROFILES.resolve(MODEL)
TEXT = {"contents": [{"role": "user", "parts": [{"text": "Tell me about rivers and lakes"}]}]}
TOOLS = {
    "contents": [{"role": "user", "parts": [{"text": "Which theaters show Barbie?"}]}],
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "find_theaters",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"location": {"type": "STRING"}},
                        "required": ["location"],
                    },
                }
            ]
        }
    ],
}
THINKING = {
    **TEXT,
    "generationConfig": {"thinkingConfig": {"includeThoughts": True}, "maxOutputTokens": 30},
}
JSON_ANSWER = {**TEXT, "generationConfig": {"responseMimeType": "application/json"}}
T0 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def _validated(memo: RequestMemo, raw: bytes, model: str = MODEL) -> Seen:
    return memo.validated(raw, (model, "generateContent", "v1", RESOURCE), PROFILES)


def _twice(memo: RequestMemo, raw: bytes) -> Seen:
    """The Seen of a body sent twice (the default reply is kept from the second on)."""
    first = _validated(memo, raw)
    assert _validated(memo, raw) is first
    return first


def _ctx(seen: Seen, method: str = "generateContent") -> RequestContext:
    return RequestContext(model=MODEL, method=method, api_version="v1", request=seen.request)


def _pieces(chunks: tuple[dict[str, Any], ...], fmt: wire.Framing) -> list[bytes]:
    if fmt is wire.Framing.UNARY:
        return [wire.encode_unary(merge_chunks(chunks))]
    if fmt is wire.Framing.SSE:
        return [wire.encode_sse_event(c) for c in chunks]
    writer = wire.ArrayWriter()
    return [*(writer.item(c) for c in chunks), writer.close()]


# ---------------------------------------------------------------------------------------------
# Validation


def test_a_body_seen_again_is_not_validated_again() -> None:
    memo = RequestMemo()
    raw = _raw(TEXT)
    first = _validated(memo, raw)
    assert first.request == validate_request(raw, model=MODEL, profiles=PROFILES)
    assert first.measured == measure_request(first.request)
    again = _validated(memo, bytes(raw))  # equal bytes, another object
    assert again is first
    assert (memo.hits, memo.misses, len(memo)) == (1, 1, 1)


def test_the_target_is_part_of_what_is_remembered() -> None:
    memo = RequestMemo()
    raw = _raw(TEXT)
    one = _validated(memo, raw)
    other = _validated(memo, raw, model="gemini-1.5-flash")
    streamed = memo.validated(raw, (MODEL, "streamGenerateContent", "v1", RESOURCE), PROFILES)
    another_registry = memo.validated(
        raw, (MODEL, "generateContent", "v1", RESOURCE), ProfileRegistry.builtin()
    )
    assert len({id(s) for s in (one, other, streamed, another_registry)}) == 4
    assert memo.hits == 0


def test_an_invalid_body_is_refused_every_time_and_not_kept() -> None:
    memo = RequestMemo()
    raw = _raw({"contents": [{"role": "user", "parts": [{"txt": "typo"}]}]})
    for _ in range(2):
        with pytest.raises(InvalidArgument, match='Unknown name "txt"'):
            _validated(memo, raw)
    assert (len(memo), memo.misses) == (0, 2)


def test_what_the_journal_keeps_of_the_body_is_remembered_with_it() -> None:
    memo = RequestMemo()
    raw = _raw({"contents": [{"parts": [{"text": "caf\u00e9"}]}]}).replace(b"\\u00e9", "é".encode())
    assert memo.seen(raw, (MODEL, "generateContent", "v1", RESOURCE), PROFILES) is None
    first = _validated(memo, raw)
    assert (first.body_sha256, first.body_text) == ("", "")  # made when it comes again
    assert memo.seen(raw, (MODEL, "generateContent", "v1", RESOURCE), PROFILES) is first
    assert first.body_sha256 == hashlib.sha256(raw).hexdigest()
    assert first.body_text == raw.decode()
    assert first.uses == 2
    assert memo.seen(raw, (MODEL, "generateContent", "v1beta1", RESOURCE), PROFILES) is None


def test_a_recorder_given_a_remembered_body_records_what_set_body_would() -> None:
    memo = RequestMemo()
    raw = _raw(TEXT)
    seen = _twice(memo, raw)
    journal = Journal()
    plain, given = (journal.begin(method="POST", path="/x") for _ in range(2))
    plain.set_body(raw)
    plain.set_request(seen.request)
    given.set_payload(
        raw,
        seen.request,
        body_sha256=seen.body_sha256,
        body_text=seen.body_text,
        measured=seen.measured,
    )
    one, two = (
        dataclasses.replace(journal.finish(r), id=0, arrival=0.0, wall_time=0.0, end=0.0)
        for r in (plain, given)
    )
    assert one == two
    capped = Journal(body_cap=8).begin(method="POST", path="/x")
    capped.set_payload(
        raw,
        seen.request,
        body_sha256=seen.body_sha256,
        body_text=seen.body_text,
        measured=seen.measured,
    )
    assert capped.body_truncated
    assert capped.body == raw[:8].decode()


def test_bounds_in_entries_body_size_and_bytes() -> None:
    memo = RequestMemo(max_entries=2, max_body=200)
    bodies = [_raw({"contents": [{"parts": [{"text": f"question {i}"}]}]}) for i in range(3)]
    for raw in bodies:
        _validated(memo, raw)
    assert len(memo) == 2  # the first one went
    _validated(memo, bodies[0])
    assert memo.hits == 0
    big = _raw({"contents": [{"parts": [{"text": "x" * 300}]}]})
    assert _validated(memo, big) is not _validated(memo, big)
    assert len(memo) == 2
    small = RequestMemo(max_bytes=1)
    _validated(small, bodies[0])
    assert len(small) == 0
    assert small.retained_bytes == 0


def test_prompt_tokens_are_counted_once() -> None:
    seen = _validated(RequestMemo(), _raw(TOOLS))
    assert seen.tokens is None
    count = seen.prompt_tokens()
    assert count > 0
    assert seen.tokens == count


# ---------------------------------------------------------------------------------------------
# The default responder's reply


@pytest.mark.parametrize(
    ("body", "model"),
    [(TEXT, MODEL), (TOOLS, MODEL), (THINKING, "gemini-2.5-flash"), (JSON_ANSWER, MODEL)],
)
@pytest.mark.parametrize("fmt", list(wire.Framing))
def test_the_reply_is_the_rendered_one_in_bytes_and_chunks(
    body: dict[str, Any], model: str, fmt: wire.Framing
) -> None:
    clock = Clock()
    memo = RequestMemo(now=clock)
    seen = _validated(memo, _raw(body), model)
    assert _validated(memo, _raw(body), model) is seen  # sent again: its bytes are kept
    profile = PROFILES.resolve(model)
    ctx = RequestContext(
        model=model, method="generateContent", api_version="v1", request=seen.request
    )
    for step in range(3):
        clock.now = T0 + timedelta(seconds=step, microseconds=7 * step)
        reply = render(None, ctx, profile, cache=seen, framing=fmt)
        expected = render(None, ctx, profile, now=clock.now)
        assert reply.encoded is not None
        assert list(reply.encoded) == _pieces(expected.chunks, fmt)
        assert reply.chunks == expected.chunks
        assert (reply.error, reply.fault, reply.pacing) == (None, None, None)
        stamp = create_time(clock.now).encode()
        assert all(piece.count(stamp) == 1 for piece in reply.encoded if piece != b"\n]")


def test_create_time_follows_the_clock() -> None:
    clock = Clock()
    memo = RequestMemo(now=clock)
    seen = _twice(memo, _raw(TEXT))
    first = render(None, _ctx(seen), PROFILE, cache=seen, framing=wire.Framing.UNARY)
    clock.now = T0 + timedelta(milliseconds=1)
    second = render(None, _ctx(seen), PROFILE, cache=seen, framing=wire.Framing.UNARY)
    assert first.encoded != second.encoded
    times = [json.loads(r.encoded[0])["createTime"] for r in (first, second) if r.encoded]
    assert times == [create_time(T0), create_time(clock.now)]


def test_a_body_sent_once_is_rendered_as_always() -> None:
    memo = RequestMemo(now=Clock())
    seen = _validated(memo, _raw(TEXT))
    assert seen.uses == 1
    assert (seen.body_sha256, seen.body_text) == ("", "")
    reply = render(None, _ctx(seen), PROFILE, cache=seen, framing=wire.Framing.SSE)
    assert reply.encoded is None
    rendered = render(None, _ctx(seen), PROFILE, now=T0).chunks
    assert _without_times(list(reply.chunks)) == _without_times(list(rendered))
    assert seen.templates == {}


def test_count_tokens_and_other_requests_are_rendered_as_always() -> None:
    memo = RequestMemo()
    seen = _validated(memo, _raw(TEXT))
    counted = render(
        None, _ctx(seen, "countTokens"), PROFILE, cache=seen, framing=wire.Framing.UNARY
    )
    assert counted.encoded is None
    assert "totalTokens" in counted.chunks[0]
    other = _twice(memo, _raw(TOOLS))
    ctx = RequestContext(model=MODEL, method="generateContent", api_version="v1", request=TEXT)
    assert other.default_reply(ctx, PROFILE, wire.Framing.SSE) is None  # not its request


def test_the_bytes_are_counted_in_the_budget() -> None:
    memo = RequestMemo()
    seen = _twice(memo, _raw(TEXT))
    before = memo.retained_bytes
    render(None, _ctx(seen), PROFILE, cache=seen, framing=wire.Framing.SSE)
    assert memo.retained_bytes > before


# ---------------------------------------------------------------------------------------------
# In the server


async def test_the_server_answers_a_repeated_request_as_the_first(aiohttp_client: Any) -> None:
    app = create_app(ServerConfig(auth="none"))
    client: TestClient[web.Request, web.Application] = await aiohttp_client(app)
    state = app[STATE]
    url = f"/v1/{RESOURCE}"
    answers: dict[str, list[bytes]] = {}
    for query, rpc in (("", "generateContent"), ("?alt=sse", "streamGenerateContent")):
        for body in (TEXT, TOOLS):
            for _ in range(3):
                resp = await client.post(f"{url}:{rpc}{query}", data=_raw(body))
                assert resp.status == 200
                answers.setdefault(f"{rpc}{query}{body is TOOLS}", []).append(await resp.read())
    assert state.memo.hits == 8  # two of each three
    for bodies in answers.values():
        stripped = [json.dumps(_without_times(_decoded(b))) for b in bodies]
        assert stripped == [stripped[0]] * 3
    entries = state.journal.entries()
    assert [e.outcome for e in entries] == ["ok"] * 12
    assert len({e.request_digest for e in entries}) == 4
    assert all(e.request is not None for e in entries)


def _decoded(body: bytes) -> Any:
    return wire.decode_sse(body) if body.startswith(b"data: ") else json.loads(body)


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k != "createTime"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value
