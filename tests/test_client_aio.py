"""AsyncVertexClient against the mock: the same policy and decoders as the sync client, on
aiohttp's client side. The fault matrix lives in test_client_sync.py; these tests cover each
path of the async transport once (unary, both stream framings, HTTP errors, in-stream errors
before and after content, resets, stalls, 401 refresh, budget, validation, logging)."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import google.oauth2.credentials
import pytest
from scenario_builders import say, scenario

from mockvertex.client.aio import AsyncVertexClient
from mockvertex.client.retry import RetryBudget, RetryPolicy
from mockvertex.contract.errors import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from mockvertex.contract.wire import Framing
from mockvertex.server.runner import MockVertexServer

MODEL = "gemini-2.0-flash"
TOKEN = "async-client-token"
CHUNKS = ["Alpha ", "beta ", "gamma ", "delta."]
CLOCK_SLACK = 0.05
LATE_SLACK = 1.5
FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_server_delay=5.0, deadline=20.0)


class Sleeps:
    """A real asyncio sleep that remembers what it was asked for."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(seconds)


@pytest.fixture
def journal_secrets() -> tuple[str, ...]:
    return (TOKEN,)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(mock: MockVertexServer, sleeps: Sleeps) -> AsyncIterator[AsyncVertexClient]:
    async with _client(mock, sleeps) as made:
        yield made


def _client(
    mock: MockVertexServer, sleeps: Sleeps | None = None, **kwargs: Any
) -> AsyncVertexClient:
    options: dict[str, Any] = {
        "base_url": mock.url,
        "project": "p",
        "token": TOKEN,
        "retry": FAST,
        "read_timeout": 5.0,
        "rng": lambda: 0.5,
        "sleep": sleeps or Sleeps(),
    }
    options.update(kwargs)
    return AsyncVertexClient(**options)


def _statuses(mock: MockVertexServer) -> list[int]:
    return [e.status for e in mock.journal()]


def _gaps(mock: MockVertexServer) -> list[float]:
    times = [
        float(getattr(e, "arrival", 0.0) or getattr(e, "started", 0.0)) for e in mock.journal()
    ]
    return [b - a for a, b in itertools.pairwise(times)]


def _then_ok(name: str, *failing: dict[str, Any], **match: Any) -> dict[str, Any]:
    return scenario(name, *failing, {"times": "forever", "respond": {"chunks": CHUNKS}}, **match)


def _fault(kind: str, **fields: Any) -> dict[str, Any]:
    return {"respond": {"chunks": CHUNKS}, "fault": {"kind": kind, **fields}}


async def test_generate_content_and_count_tokens(
    mock: MockVertexServer, client: AsyncVertexClient
) -> None:
    mock.add_scenario(say("hi", "Hello from the mock."))

    response = await client.generate_content(MODEL, "Hi")
    counted = await client.count_tokens(MODEL, "Hi")

    assert response.text == "Hello from the mock."
    assert counted.total_tokens > 0
    assert [e.rpc for e in mock.journal()] == ["generateContent", "countTokens"]


@pytest.mark.parametrize(("framing", "query"), [(Framing.SSE, {"alt": "sse"}), (Framing.ARRAY, {})])
async def test_streams_in_both_framings(
    mock: MockVertexServer, client: AsyncVertexClient, framing: Framing, query: dict[str, str]
) -> None:
    mock.add_scenario(scenario("s", {"times": "forever", "respond": {"chunks": CHUNKS}}))

    stream = client.stream_generate_content(MODEL, "Stream", framing=framing)
    texts = [chunk.text async for chunk in stream]

    assert texts == CHUNKS
    assert stream.response().finish_reason == "STOP"
    assert stream.attempts == 1
    assert mock.journal()[0].query == query


async def test_chunks_are_yielded_as_they_arrive(
    mock: MockVertexServer, client: AsyncVertexClient
) -> None:
    paced = {"times": "forever", "respond": {"chunks": CHUNKS}, "delay": {"betweenChunks": 0.3}}
    mock.add_scenario(scenario("paced", paced))

    async with client.stream_generate_content(MODEL, "Slowly") as stream:
        first = await stream.__anext__()
        (in_flight,) = mock.journal()

    assert first.text == CHUNKS[0]
    assert in_flight.chunks_sent < len(CHUNKS)


async def test_429_with_retry_after_is_waited_for(
    mock: MockVertexServer, client: AsyncVertexClient, sleeps: Sleeps
) -> None:
    mock.add_scenario(_then_ok("rl", {"error": {"code": 429, "retryAfter": 1}}))

    response = await client.generate_content(MODEL, "Eventually")

    assert response.text == "".join(CHUNKS)
    assert _statuses(mock) == [429, 200]
    assert sleeps.asked == [1.0]
    (gap,) = _gaps(mock)
    assert 1.0 - CLOCK_SLACK <= gap <= 1.0 + LATE_SLACK


async def test_a_404_is_not_retried(mock: MockVertexServer, client: AsyncVertexClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.generate_content("gemini-9-pro", "Who?")

    assert caught.value.attempts == 1
    assert _statuses(mock) == [404]


async def test_an_in_stream_429_before_any_chunk_is_retried(
    mock: MockVertexServer, client: AsyncVertexClient
) -> None:
    mock.add_scenario(_then_ok("in429", _fault("error", after=0, error={"code": 429})))

    stream = client.stream_generate_content(MODEL, "Again")

    assert [c.text async for c in stream] == CHUNKS
    assert stream.attempts == 2
    assert [str(e.outcome) for e in mock.journal()] == ["mid_stream_error", "ok"]


@pytest.mark.parametrize(
    ("fault", "klass"),
    [
        (_fault("error", after=2, error={"code": 429}), ResourceExhausted),
        (_fault("disconnect", after=2), Unavailable),
        (_fault("truncate", after=2), Unavailable),
    ],
)
async def test_a_failure_after_content_is_raised_with_the_partial_answer(
    mock: MockVertexServer,
    client: AsyncVertexClient,
    fault: dict[str, Any],
    klass: type[Exception],
) -> None:
    mock.add_scenario(_then_ok("late", fault))
    stream = client.stream_generate_content(MODEL, "Partial")

    with pytest.raises(klass) as caught:
        [c async for c in stream]

    assert [c.text for c in stream.chunks] == CHUNKS[:2]
    assert caught.value.partial.text == "".join(CHUNKS[:2])  # type: ignore[attr-defined]
    assert caught.value.attempts == 1  # type: ignore[attr-defined]
    assert len(mock.journal()) == 1


@pytest.mark.parametrize("kind", ["disconnect", "malformed", "garbage", "empty", "truncate"])
async def test_faults_before_content_are_retried(
    mock: MockVertexServer, client: AsyncVertexClient, kind: str
) -> None:
    mock.add_scenario(_then_ok(kind, _fault(kind)))

    assert [c.text async for c in client.stream_generate_content(MODEL, "Again")] == CHUNKS
    assert len(mock.journal()) == 2


async def test_a_stall_times_out_then_is_retried(mock: MockVertexServer, sleeps: Sleeps) -> None:
    mock.add_scenario(_then_ok("stall", _fault("stall", after=0, seconds=5)))

    async with _client(mock, sleeps, read_timeout=0.3) as client:
        assert (await client.generate_content(MODEL, "Wake up")).text == "".join(CHUNKS)

    assert len(mock.journal()) == 2


async def test_a_stall_after_content_raises_deadline_exceeded(
    mock: MockVertexServer, sleeps: Sleeps
) -> None:
    mock.add_scenario(_then_ok("stall1", _fault("stall", after=1, seconds=5)))

    async with _client(mock, sleeps, read_timeout=0.3) as client:
        stream = client.stream_generate_content(MODEL, "Wake up")
        with pytest.raises(DeadlineExceeded) as caught:
            [c async for c in stream]

    assert caught.value.partial.text == CHUNKS[0]


async def test_the_deadline_is_kept(mock: MockVertexServer, sleeps: Sleeps) -> None:
    mock.add_scenario(
        scenario("down", {"times": "forever", "error": {"code": 503, "retryAfter": 1}})
    )

    async with _client(mock, sleeps) as client:
        with pytest.raises(Unavailable) as caught:
            await client.generate_content(MODEL, "In time", deadline=1.5)

    assert caught.value.attempts == 2
    assert sleeps.asked == [1.0]


async def test_the_shared_budget_stops_a_retry_storm(
    mock: MockVertexServer, sleeps: Sleeps
) -> None:
    mock.add_scenario(scenario("down", {"times": "forever", "error": {"code": 503}}))
    budget = RetryBudget(10)

    async with _client(mock, sleeps, budget=budget) as client:
        results = await asyncio.gather(
            *(client.generate_content(MODEL, f"Storm {i}") for i in range(4)),
            return_exceptions=True,
        )

    assert all(isinstance(r, Unavailable) for r in results)
    assert sum(r.attempts for r in results) == 4 + 2  # type: ignore[union-attr]
    assert len(mock.journal()) == 6


class RotatingCredentials(google.oauth2.credentials.Credentials):
    def __init__(self, *tokens: str) -> None:
        super().__init__(token="stale-token")  # type: ignore[no-untyped-call]
        self.expiry = _utcnow() + datetime.timedelta(hours=1)
        self._next = list(tokens)
        self.refresh_calls = 0

    def refresh(self, request: Any) -> None:
        self.refresh_calls += 1
        self.token = self._next.pop(0)
        self.expiry = _utcnow() + datetime.timedelta(hours=1)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


async def test_a_401_is_answered_with_one_refresh() -> None:
    creds = RotatingCredentials("good-token")
    async with MockVertexServer(auth="token=good-token") as mock:
        mock.add_scenario(say("ok", "Welcome."))
        async with _client(mock, token=None, credentials=creds) as client:
            response = await client.generate_content(MODEL, "Let me in")

    assert response.text == "Welcome."
    assert _statuses(mock) == [401, 200]
    assert creds.refresh_calls == 1


async def test_a_second_401_is_raised() -> None:
    creds = RotatingCredentials("still-wrong")
    async with (
        MockVertexServer(auth="token=good-token") as mock,
        _client(mock, token=None, credentials=creds) as client,
    ):
        with pytest.raises(Unauthenticated) as caught:
            await client.generate_content(MODEL, "Let me in")

    assert caught.value.attempts == 2
    assert creds.refresh_calls == 1


async def test_a_bad_body_is_refused_locally(
    mock: MockVertexServer, client: AsyncVertexClient
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await client.generate_content(MODEL, {"contents": [], "bogus": 1})
    with pytest.raises(InvalidArgument):
        client.stream_generate_content(MODEL, {"contents": [], "bogus": 1})

    assert caught.value.attempts == 0
    assert mock.journal() == []


async def test_attempts_are_logged_without_the_token(
    mock: MockVertexServer, client: AsyncVertexClient, caplog: pytest.LogCaptureFixture
) -> None:
    mock.add_scenario(_then_ok("rl", {"error": {"code": 429, "retryAfter": 0}}))

    with caplog.at_level(logging.DEBUG):
        await client.generate_content(MODEL, "Log me")

    ours = [r for r in caplog.records if r.name == "mockvertex.client"]
    assert [r.mockvertex_outcome for r in ours] == ["429 RESOURCE_EXHAUSTED", "200 OK"]  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if TOKEN in r.getMessage()]
    assert TOKEN not in repr(client)


async def test_a_session_can_be_given_and_is_left_open(mock: MockVertexServer) -> None:
    import aiohttp

    mock.add_scenario(say("hi", "Shared session."))
    async with aiohttp.ClientSession() as session:
        async with _client(mock, session=session) as client:
            assert (await client.generate_content(MODEL, "Hi")).text == "Shared session."
        assert not session.closed
