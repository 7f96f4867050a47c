"""VertexClient against the mock over a real socket: every fault kind, and what the client did.

Each test scripts the mock, calls the client as a user would, and asserts what the user sees
(the text, the exception class and its fields, the partial answer) and what the mock saw
(the attempts in its journal, the waits between them). Delays are scaled down: backoff
starts at 10 ms, a server never asks for more than 1 s.

Waits are checked twice: the client's own sleep is recorded (the exact wait it chose, with a
fixed random source), and the mock's journal shows the next attempt arrived no earlier
(tolerance ``CLOCK_SLACK`` for the two sides' clock reads) and not absurdly later
(``LATE_SLACK``, generous for a loaded CI machine).
"""

from __future__ import annotations

import datetime
import email.utils
import itertools
import logging
import time
from collections.abc import Iterator
from typing import Any

import google.oauth2.credentials
import pytest
from scenario_builders import say, scenario

from mockvertex.client.retry import RetryBudget, RetryPolicy
from mockvertex.client.sync import VertexClient
from mockvertex.contract import wire
from mockvertex.contract.errors import (
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    StatusError,
    Unauthenticated,
    Unavailable,
)
from mockvertex.contract.wire import Framing
from mockvertex.server.runner import MockVertexServer

MODEL = "gemini-2.0-flash"
TOKEN = "client-test-token"
TEXT = "one two three four five six seven eight nine ten eleven twelve"
CHUNKS = ["Alpha ", "beta ", "gamma ", "delta."]
CLOCK_SLACK = 0.05
LATE_SLACK = 1.5
FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_server_delay=5.0, deadline=20.0)


class Sleeps:
    """A real sleep that remembers what it was asked for."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def journal_secrets() -> tuple[str, ...]:
    return (TOKEN,)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(mock: MockVertexServer, sleeps: Sleeps) -> Iterator[VertexClient]:
    with _client(mock, sleeps) as made:
        yield made


def _client(mock: MockVertexServer, sleeps: Sleeps | None = None, **kwargs: Any) -> VertexClient:
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
    return VertexClient(**options)


def _statuses(mock: MockVertexServer) -> list[int]:
    return [e.status for e in mock.journal()]


def _outcomes(mock: MockVertexServer) -> list[str]:
    return [str(e.outcome) for e in mock.journal()]


def _arrivals(mock: MockVertexServer) -> list[float]:
    """When each attempt reached the mock: monotonic arrival, or wall-clock start."""
    return [float(getattr(e, "arrival", 0.0) or getattr(e, "started", 0.0)) for e in mock.journal()]


def _gaps(mock: MockVertexServer) -> list[float]:
    times = _arrivals(mock)
    return [b - a for a, b in itertools.pairwise(times)]


def _then_ok(name: str, *failing: dict[str, Any], **match: Any) -> dict[str, Any]:
    """``failing`` steps (each once), then the chunks of ``CHUNKS`` forever."""
    return scenario(name, *failing, {"times": "forever", "respond": {"chunks": CHUNKS}}, **match)


def _fault(kind: str, **fields: Any) -> dict[str, Any]:
    return {"respond": {"chunks": CHUNKS}, "fault": {"kind": kind, **fields}}


# --------------------------------------------------------------------------------------------
# The three methods


def test_generate_content(mock: MockVertexServer, client: VertexClient) -> None:
    mock.add_scenario(say("hello", TEXT))

    response = client.generate_content(MODEL, "Tell me about machine learning.")

    assert response.text == TEXT
    assert response.finish_reason == "STOP"
    (exchange,) = mock.journal()
    assert exchange.path == (
        f"/v1/projects/p/locations/us-central1/publishers/google/models/{MODEL}:generateContent"
    )
    assert exchange.request is not None
    assert exchange.request["contents"][0]["parts"][0]["text"] == "Tell me about machine learning."


def test_stream_generate_content_asks_for_sse(mock: MockVertexServer, client: VertexClient) -> None:
    mock.add_scenario(scenario("s", {"times": "forever", "respond": {"chunks": CHUNKS}}))

    stream = client.stream_generate_content(MODEL, "Stream please")
    texts = [chunk.text for chunk in stream]

    assert texts == CHUNKS
    assert stream.text == "".join(CHUNKS)
    assert stream.response().text == "".join(CHUNKS)
    assert stream.response().finish_reason == "STOP"
    assert stream.attempts == 1
    (exchange,) = mock.journal()
    assert exchange.query == {"alt": "sse"}
    assert exchange.framing == "sse"


def test_the_streamed_array_is_selectable(mock: MockVertexServer, client: VertexClient) -> None:
    mock.add_scenario(scenario("s", {"times": "forever", "respond": {"chunks": CHUNKS}}))

    stream = client.stream_generate_content(MODEL, "Array please", framing=Framing.ARRAY)

    assert [chunk.text for chunk in stream] == CHUNKS
    (exchange,) = mock.journal()
    assert exchange.query == {}
    assert exchange.framing == "array"


def test_chunks_are_yielded_as_they_arrive(mock: MockVertexServer, client: VertexClient) -> None:
    paced = {"respond": {"chunks": CHUNKS}, "delay": {"betweenChunks": 0.3}, "times": "forever"}
    mock.add_scenario(scenario("paced", paced))

    stream = client.stream_generate_content(MODEL, "Slowly")
    first = next(stream)
    (in_flight,) = mock.journal()
    rest = list(stream)

    assert first.text == CHUNKS[0]
    assert in_flight.chunks_sent < len(CHUNKS)  # the mock was still sending
    assert [c.text for c in rest] == CHUNKS[1:]


def test_count_tokens(mock: MockVertexServer, client: VertexClient) -> None:
    counted = client.count_tokens(MODEL, "How many tokens is this?")

    assert counted.total_tokens > 0
    assert mock.journal()[0].rpc == "countTokens"


def test_api_version_and_the_location_less_path(mock: MockVertexServer) -> None:
    with _client(mock, project=None, api_version="v1beta1") as client:
        client.generate_content(MODEL, "hi")

    assert mock.journal()[0].path == f"/v1beta1/publishers/google/models/{MODEL}:generateContent"


def test_closing_a_stream_early_stops_reading(mock: MockVertexServer, client: VertexClient) -> None:
    paced = {"respond": {"chunks": CHUNKS}, "delay": {"betweenChunks": 0.2}, "times": "forever"}
    mock.add_scenario(scenario("paced", paced))

    with client.stream_generate_content(MODEL, "Stop me") as stream:
        first = next(stream)

    assert first.text == CHUNKS[0]
    assert list(stream) == []
    assert len(mock.journal()) == 1


# --------------------------------------------------------------------------------------------
# HTTP errors: retried, or not


def test_429_with_retry_after_is_waited_for(
    mock: MockVertexServer, client: VertexClient, sleeps: Sleeps
) -> None:
    mock.add_scenario(_then_ok("rl", {"error": {"code": 429, "retryAfter": 1}}))

    response = client.generate_content(MODEL, "Eventually")

    assert response.text == "".join(CHUNKS)
    assert _statuses(mock) == [429, 200]
    assert sleeps.asked == [1.0]
    (gap,) = _gaps(mock)
    assert 1.0 - CLOCK_SLACK <= gap <= 1.0 + LATE_SLACK


def test_an_http_date_retry_after_is_waited_for(
    mock: MockVertexServer, client: VertexClient, sleeps: Sleeps
) -> None:
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    mock.add_scenario(_then_ok("date", {"error": {"code": 503, "retryAfter": when}}))

    client.generate_content(MODEL, "By the calendar")

    (asked,) = sleeps.asked
    assert 0.0 <= asked <= 1.0  # whole seconds on the wire: up to 1 s left
    (gap,) = _gaps(mock)
    assert gap >= asked - CLOCK_SLACK


def test_retry_info_is_waited_for(
    mock: MockVertexServer, client: VertexClient, sleeps: Sleeps
) -> None:
    mock.add_scenario(_then_ok("info", {"error": {"code": 429, "retryDelay": "0.4s"}}))

    client.generate_content(MODEL, "RetryInfo")

    assert sleeps.asked == [0.4]
    (gap,) = _gaps(mock)
    assert 0.4 - CLOCK_SLACK <= gap <= 0.4 + LATE_SLACK


def test_5xx_is_retried_with_jittered_exponential_backoff(
    mock: MockVertexServer, client: VertexClient, sleeps: Sleeps
) -> None:
    mock.add_scenario(
        _then_ok(
            "5xx", {"error": {"code": 503}}, {"error": {"code": 500}}, {"error": {"code": 502}}
        )
    )

    response = client.generate_content(MODEL, "Through the outage")

    assert response.text == "".join(CHUNKS)
    assert _statuses(mock) == [503, 500, 502, 200]
    assert sleeps.asked == [0.005, 0.01, 0.02]  # half (rng 0.5) of 10, 20, 40 ms
    assert all(
        gap >= wait - CLOCK_SLACK for gap, wait in zip(_gaps(mock), sleeps.asked, strict=True)
    )


def test_attempts_are_capped_and_the_error_says_how_many(
    mock: MockVertexServer, client: VertexClient, sleeps: Sleeps
) -> None:
    mock.add_scenario(scenario("down", {"times": "forever", "error": {"code": 503}}))

    with pytest.raises(Unavailable) as caught:
        client.generate_content(MODEL, "Never")

    error = caught.value
    assert (error.code, error.status, error.attempts) == (503, "UNAVAILABLE", 5)
    assert error.message == Unavailable.default_message
    assert _statuses(mock) == [503] * 5
    assert len(sleeps.asked) == 4


@pytest.mark.parametrize(
    ("code", "klass"), [(400, InvalidArgument), (403, PermissionDenied), (404, NotFound)]
)
def test_400_403_404_are_never_retried(
    mock: MockVertexServer,
    client: VertexClient,
    sleeps: Sleeps,
    code: int,
    klass: type[StatusError],
) -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "R"}]
    mock.add_scenario(
        scenario(
            "no",
            {"times": "forever", "error": {"code": code, "message": "No.", "details": details}},
        )
    )

    with pytest.raises(klass) as caught:
        client.generate_content(MODEL, "Once only")

    assert (caught.value.code, caught.value.message, caught.value.attempts) == (code, "No.", 1)
    assert caught.value.details() == details
    assert _statuses(mock) == [code]
    assert sleeps.asked == []


def test_an_unknown_model_is_vertexs_404_not_a_local_one(
    mock: MockVertexServer, client: VertexClient
) -> None:
    with pytest.raises(NotFound) as caught:
        client.generate_content("gemini-9-pro", "Who?")

    assert "gemini-9-pro" in caught.value.message
    assert _statuses(mock) == [404]


# --------------------------------------------------------------------------------------------
# Credentials


class RotatingCredentials(google.oauth2.credentials.Credentials):
    """Starts with a stale token the mock refuses; each refresh hands out the next token."""

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


def test_a_401_is_answered_with_one_refresh() -> None:
    creds = RotatingCredentials("good-token")
    with MockVertexServer(auth="token=good-token") as mock:
        mock.add_scenario(say("ok", TEXT))
        with _client(mock, token=None, credentials=creds) as client:
            response = client.generate_content(MODEL, "Let me in")
        mock.check()

    assert response.text == TEXT
    assert _statuses(mock) == [401, 200]
    assert creds.refresh_calls == 1


def test_a_second_401_after_the_refresh_is_raised() -> None:
    creds = RotatingCredentials("still-wrong", "never-used")
    with (
        MockVertexServer(auth="token=good-token") as mock,
        _client(mock, token=None, credentials=creds) as client,
        pytest.raises(Unauthenticated) as caught,
    ):
        client.generate_content(MODEL, "Let me in")

    assert caught.value.attempts == 2
    assert _statuses(mock) == [401, 401]
    assert creds.refresh_calls == 1


def test_a_refused_static_token_is_not_retried() -> None:
    with (
        MockVertexServer(auth="token=good-token") as mock,
        _client(mock, token="wrong") as client,
        pytest.raises(Unauthenticated) as caught,
    ):
        client.generate_content(MODEL, "Let me in")

    assert caught.value.attempts == 1
    assert _statuses(mock) == [401]


def test_a_stale_token_is_refreshed_before_the_request() -> None:
    creds = RotatingCredentials("good-token")
    creds.expiry = _utcnow() + datetime.timedelta(minutes=1)  # inside google-auth's threshold
    with (
        MockVertexServer(auth="token=good-token") as mock,
        _client(mock, token=None, credentials=creds) as client,
    ):
        client.generate_content(MODEL, "Fresh")

    assert _statuses(mock) == [200]
    assert creds.refresh_calls == 1


# --------------------------------------------------------------------------------------------
# Faults inside a stream: retried while nothing reached the caller, never after


@pytest.mark.parametrize("framing", [Framing.SSE, Framing.ARRAY])
def test_an_in_stream_429_before_any_chunk_is_retried(
    mock: MockVertexServer, client: VertexClient, framing: Framing
) -> None:
    # googleapis/python-genai#2604: Vertex sends its 429 inside an HTTP 200 stream.
    in_stream_429 = _fault("error", after=0, error={"code": 429})
    mock.add_scenario(_then_ok("in429", in_stream_429))

    stream = client.stream_generate_content(MODEL, "Again", framing=framing)

    assert [c.text for c in stream] == CHUNKS
    assert stream.attempts == 2
    assert _statuses(mock) == [200, 200]
    assert _outcomes(mock) == ["mid_stream_error", "ok"]


@pytest.mark.parametrize("framing", [Framing.SSE, Framing.ARRAY])
def test_an_in_stream_error_after_content_is_raised_with_the_partial_answer(
    mock: MockVertexServer, client: VertexClient, framing: Framing
) -> None:
    mock.add_scenario(_then_ok("late", _fault("error", after=2, error={"code": 429})))
    stream = client.stream_generate_content(MODEL, "Partial", framing=framing)
    got: list[str | None] = []

    with pytest.raises(ResourceExhausted) as caught:
        got.extend(chunk.text for chunk in stream)

    assert got == CHUNKS[:2]
    assert caught.value.attempts == 1
    assert caught.value.partial is not None
    assert caught.value.partial.text == "".join(CHUNKS[:2])
    assert len(mock.journal()) == 1  # never replayed


def test_a_disconnect_before_any_chunk_is_retried(
    mock: MockVertexServer, client: VertexClient
) -> None:
    mock.add_scenario(_then_ok("drop0", _fault("disconnect", after=0)))

    stream = client.stream_generate_content(MODEL, "Again")

    assert stream.response().text is None
    assert [c.text for c in stream] == CHUNKS
    assert _outcomes(mock) == ["disconnected", "ok"]


def test_a_disconnect_inside_the_first_chunk_is_retried(
    mock: MockVertexServer, client: VertexClient
) -> None:
    mock.add_scenario(_then_ok("cut", _fault("disconnect", afterBytes=20)))

    assert "".join(c.text or "" for c in client.stream_generate_content(MODEL, "Cut")) == "".join(
        CHUNKS
    )
    assert len(mock.journal()) == 2


@pytest.mark.parametrize("framing", [Framing.SSE, Framing.ARRAY])
def test_a_disconnect_after_content_raises_with_the_partial_answer(
    mock: MockVertexServer, client: VertexClient, framing: Framing
) -> None:
    mock.add_scenario(_then_ok("drop2", _fault("disconnect", after=2)))
    stream = client.stream_generate_content(MODEL, "Partial", framing=framing)

    with pytest.raises(Unavailable) as caught:
        list(stream)

    assert [c.text for c in stream.chunks] == CHUNKS[:2]
    assert caught.value.partial.text == "".join(CHUNKS[:2])
    assert caught.value.attempts == 1
    assert len(mock.journal()) == 1


@pytest.mark.parametrize("after", [0, 2])
def test_a_malformed_frame_is_retried_only_before_content(
    mock: MockVertexServer, client: VertexClient, after: int
) -> None:
    mock.add_scenario(_then_ok("bad", _fault("malformed", after=after)))
    stream = client.stream_generate_content(MODEL, "Broken")

    if after == 0:
        assert [c.text for c in stream] == CHUNKS
        assert len(mock.journal()) == 2
        return
    with pytest.raises(Internal) as caught:
        list(stream)
    assert caught.value.message.startswith("Malformed response: ")
    assert caught.value.partial.text == "".join(CHUNKS[:2])
    assert len(mock.journal()) == 1


@pytest.mark.parametrize("framing", [Framing.SSE, Framing.ARRAY])
def test_a_truncated_stream_is_not_taken_for_a_whole_answer(
    mock: MockVertexServer, client: VertexClient, framing: Framing
) -> None:
    mock.add_scenario(_then_ok("short", _fault("truncate", after=2)))
    stream = client.stream_generate_content(MODEL, "Short", framing=framing)

    with pytest.raises(Unavailable) as caught:
        list(stream)

    assert caught.value.partial.text == "".join(CHUNKS[:2])
    assert caught.value.partial.finish_reason is None
    assert len(mock.journal()) == 1


def test_a_stream_truncated_before_any_chunk_is_retried(
    mock: MockVertexServer, client: VertexClient
) -> None:
    mock.add_scenario(_then_ok("short0", _fault("truncate", after=0)))

    assert [c.text for c in client.stream_generate_content(MODEL, "Short")] == CHUNKS
    assert len(mock.journal()) == 2


@pytest.mark.parametrize("kind", ["garbage", "empty"])
def test_garbage_and_empty_replies_are_retried(
    mock: MockVertexServer, client: VertexClient, kind: str
) -> None:
    mock.add_scenario(_then_ok(kind, _fault(kind)))

    assert [c.text for c in client.stream_generate_content(MODEL, "Noise")] == CHUNKS
    assert client.generate_content(MODEL, "Noise").text == "".join(CHUNKS)
    assert len(mock.journal()) == 3


def test_a_stall_before_any_chunk_times_out_and_is_retried(
    mock: MockVertexServer, sleeps: Sleeps
) -> None:
    mock.add_scenario(_then_ok("stall0", _fault("stall", after=0, seconds=5)))

    with _client(mock, sleeps, read_timeout=0.3) as client:
        assert [c.text for c in client.stream_generate_content(MODEL, "Wake up")] == CHUNKS

    assert len(mock.journal()) == 2


def test_a_stall_after_content_raises_deadline_exceeded_with_the_partial_answer(
    mock: MockVertexServer, sleeps: Sleeps
) -> None:
    mock.add_scenario(_then_ok("stall1", _fault("stall", after=1, seconds=5)))

    with _client(mock, sleeps, read_timeout=0.3) as client:
        stream = client.stream_generate_content(MODEL, "Wake up")
        with pytest.raises(DeadlineExceeded) as caught:
            list(stream)

    assert caught.value.partial.text == CHUNKS[0]
    assert len(mock.journal()) == 1


def test_a_slow_first_byte_beyond_the_read_timeout_is_retried(
    mock: MockVertexServer, sleeps: Sleeps
) -> None:
    slow = {"respond": {"chunks": CHUNKS}, "delay": {"firstByte": 1.0}}
    mock.add_scenario(_then_ok("slow", slow))

    with _client(mock, sleeps, read_timeout=0.3) as client:
        assert client.generate_content(MODEL, "Hurry").text == "".join(CHUNKS)

    assert len(mock.journal()) == 2


@pytest.mark.parametrize("kind", ["disconnect", "malformed", "truncate", "stall"])
def test_unary_faults_are_retried(mock: MockVertexServer, sleeps: Sleeps, kind: str) -> None:
    fault = _fault(kind, **({"seconds": 5} if kind == "stall" else {}))
    mock.add_scenario(_then_ok(kind, fault))

    with _client(mock, sleeps, read_timeout=0.3) as client:
        assert client.generate_content(MODEL, "Unary").text == "".join(CHUNKS)

    assert len(mock.journal()) == 2


def test_a_dribbled_body_arrives_whole(mock: MockVertexServer, client: VertexClient) -> None:
    dribble = {
        "times": "forever",
        "respond": {"chunks": CHUNKS},
        "delay": {"dribble": {"seconds": 0.3, "pieces": 7}},
    }
    mock.add_scenario(scenario("drib", dribble))

    assert [c.text for c in client.stream_generate_content(MODEL, "Slowly")] == CHUNKS
    assert client.generate_content(MODEL, "Slowly").text == "".join(CHUNKS)


# --------------------------------------------------------------------------------------------
# The deadline and the retry budget


def test_the_deadline_covers_every_attempt_and_wait(mock: MockVertexServer, sleeps: Sleeps) -> None:
    mock.add_scenario(
        scenario("down", {"times": "forever", "error": {"code": 503, "retryAfter": 1}})
    )
    start = time.monotonic()

    with _client(mock, sleeps) as client, pytest.raises(Unavailable) as caught:
        client.generate_content(MODEL, "In time", deadline=1.5)

    elapsed = time.monotonic() - start
    assert caught.value.attempts == 2  # a second 1 s wait would end at 2 s, past the deadline
    assert sleeps.asked == [1.0]
    assert elapsed < 1.5
    assert _statuses(mock) == [503, 503]


def test_the_deadline_shortens_a_slow_attempt(mock: MockVertexServer, sleeps: Sleeps) -> None:
    slow = {"times": "forever", "respond": {"chunks": CHUNKS}, "delay": {"firstByte": 2.0}}
    mock.add_scenario(scenario("slow", slow))

    with _client(mock, sleeps) as client, pytest.raises(DeadlineExceeded) as caught:
        client.generate_content(MODEL, "In time", deadline=0.5)

    assert caught.value.attempts >= 1


def test_the_shared_budget_stops_a_retry_storm(mock: MockVertexServer, sleeps: Sleeps) -> None:
    mock.add_scenario(scenario("down", {"times": "forever", "error": {"code": 503}}))
    budget = RetryBudget(10)  # two retries' worth

    attempts = []
    with _client(mock, sleeps, budget=budget) as client:
        for _ in range(4):
            with pytest.raises(Unavailable) as caught:
                client.generate_content(MODEL, "Storm")
            attempts.append(caught.value.attempts)

    assert attempts == [3, 1, 1, 1]
    assert len(mock.journal()) == 6
    assert budget.available == 0


def test_successes_refill_the_budget(mock: MockVertexServer, sleeps: Sleeps) -> None:
    mock.add_scenario(_then_ok("once", {"error": {"code": 503}}))
    budget = RetryBudget(20)

    with _client(mock, sleeps, budget=budget) as client:
        client.generate_content(MODEL, "One retry")
        assert budget.available == 20  # the retry's 5 tokens came back
        client.generate_content(MODEL, "No retry")

    assert budget.available == 20


# --------------------------------------------------------------------------------------------
# Validation before sending


def test_a_bad_body_is_refused_locally_and_nothing_is_sent(
    mock: MockVertexServer, client: VertexClient
) -> None:
    bad = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"topK": 0.5, "candidateCount": "two"},
    }

    with pytest.raises(InvalidArgument) as caught:
        client.generate_content(MODEL, bad)
    with pytest.raises(InvalidArgument):
        client.stream_generate_content(MODEL, bad)

    assert mock.journal() == []
    assert caught.value.attempts == 0
    assert caught.value.violations


def test_the_local_verdict_is_the_one_the_mock_gives(mock: MockVertexServer) -> None:
    bad = {"contents": [{"role": "robot", "parts": [{"text": "hi"}]}], "bogus": True}
    with _client(mock) as client, pytest.raises(InvalidArgument) as local:
        client.generate_content(MODEL, bad)
    with _client(mock, validate=False) as client, pytest.raises(InvalidArgument) as remote:
        client.generate_content(MODEL, bad)

    assert local.value.to_envelope() == remote.value.to_envelope()
    assert _statuses(mock) == [400]


# --------------------------------------------------------------------------------------------
# Blocked prompts and answers are results


def test_a_blocked_prompt_is_a_result(mock: MockVertexServer, client: VertexClient) -> None:
    mock.add_scenario("safety_block_prompt")

    response = client.generate_content(MODEL, "Something dangerous")
    stream = client.stream_generate_content(MODEL, "Something dangerous")
    chunks = list(stream)

    for result in (response, stream.response()):
        assert result.text is None
        assert result.block_reason == "SAFETY"
        assert any(r.get("blocked") for r in result.safety_ratings)
        why = result.why_no_text()
        assert why is not None
        assert why.startswith("The prompt was blocked (blockReason SAFETY)")
        assert "HARM_CATEGORY_DANGEROUS_CONTENT HIGH (blocked)" in why
    assert len(chunks) == 1


def test_a_blocked_answer_is_a_result(mock: MockVertexServer, client: VertexClient) -> None:
    mock.add_scenario("safety_block_response")

    response = client.generate_content(MODEL, "Say something")
    stream = client.stream_generate_content(MODEL, "Say something")
    streamed_text = "".join(c.text or "" for c in stream)

    assert response.text is None
    assert response.finish_reason == "SAFETY"
    assert response.why_no_text() == (
        "The answer was withheld (finishReason SAFETY). "
        "Ratings: HARM_CATEGORY_HARASSMENT HIGH (blocked)."
    )
    assert streamed_text.startswith("Here is the start")  # earlier chunks did arrive
    assert stream.response().blocked


# --------------------------------------------------------------------------------------------
# Logs, reprs and errors never hold the token


def test_each_attempt_is_logged_with_its_wait_and_reason(
    mock: MockVertexServer, client: VertexClient, caplog: pytest.LogCaptureFixture
) -> None:
    mock.add_scenario(
        _then_ok("rl", {"error": {"code": 429, "retryAfter": 0}}, {"error": {"code": 503}})
    )

    with caplog.at_level(logging.INFO, logger="mockvertex.client"):
        client.generate_content(MODEL, "Log me")

    records = [r for r in caplog.records if r.name == "mockvertex.client"]
    assert [r.mockvertex_attempt for r in records] == [1, 2, 3]  # type: ignore[attr-defined]
    assert [r.mockvertex_outcome for r in records] == [  # type: ignore[attr-defined]
        "429 RESOURCE_EXHAUSTED",
        "503 UNAVAILABLE",
        "200 OK",
    ]
    assert [r.mockvertex_wait for r in records] == [0.005, 0.01, None]  # type: ignore[attr-defined]
    assert records[0].getMessage() == (
        "generateContent gemini-2.0-flash attempt 1/5: 429 RESOURCE_EXHAUSTED; "
        "retrying in 0.005s (backoff 0.005s (full jitter in [0, 0.01s]))"
    )


def test_the_final_attempt_is_logged_as_a_warning(
    mock: MockVertexServer, client: VertexClient, caplog: pytest.LogCaptureFixture
) -> None:
    mock.add_scenario(scenario("no", {"times": "forever", "error": {"code": 400}}))

    with caplog.at_level(logging.INFO, logger="mockvertex.client"), pytest.raises(InvalidArgument):
        client.generate_content(MODEL, "No")

    (record,) = [r for r in caplog.records if r.name == "mockvertex.client"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().endswith("giving up (not retryable: HTTP 400)")


def test_the_token_never_shows(
    mock: MockVertexServer, client: VertexClient, caplog: pytest.LogCaptureFixture
) -> None:
    mock.add_scenario(_then_ok("unary", {"error": {"code": 503}}, method="generateContent"))
    drop = {"times": "forever", **_fault("disconnect", after=1)}
    mock.add_scenario(scenario("drop", drop, method="streamGenerateContent"))
    raised: list[BaseException] = []

    with caplog.at_level(logging.DEBUG):
        client.generate_content(MODEL, "One")
        try:
            list(client.stream_generate_content(MODEL, "Two"))
        except StatusError as exc:
            raised.append(exc)

    assert raised
    shown = [repr(client), *(r.getMessage() for r in caplog.records), *map(str, raised)]
    shown += [repr(e) for e in raised] + [repr(e.__cause__) for e in raised]
    assert not [line for line in shown if TOKEN in line]


def test_decoders_are_the_contracts(mock: MockVertexServer, client: VertexClient) -> None:
    """The client reads streams with contract.wire's decoders, so an SSE comment line (which
    Vertex never sends, and the decoder only counts) does not break it, while a line that is
    not an SSE field is refused as malformed, as the server's framing checks refuse it."""
    comment = b": keepalive\r\n\r\n" + wire.encode_sse_event({"candidates": []})
    assert wire.SSEDecoder().feed(comment) == [{"candidates": []}]
    with pytest.raises(wire.FramingError):
        wire.SSEDecoder().feed(b'{"candidates": []}\r\n\r\n')


# --------------------------------------------------------------------------------------------
# More of the catalogue: a slow first chunk, stopped answers, schedules


def test_a_slow_first_chunk_after_the_headers_is_retried(
    mock: MockVertexServer, sleeps: Sleeps
) -> None:
    slow = {"respond": {"chunks": CHUNKS}, "delay": {"firstChunk": 1.0}}
    mock.add_scenario(_then_ok("late", slow))

    with _client(mock, sleeps, read_timeout=0.3) as client:
        stream = client.stream_generate_content(MODEL, "Hurry")
        assert [c.text for c in stream] == CHUNKS

    assert stream.attempts == 2
    assert _statuses(mock) == [200, 200]


@pytest.mark.parametrize(
    ("name", "reason", "why"),
    [
        ("recitation", "RECITATION", "The answer was withheld (finishReason RECITATION)."),
        ("max_tokens", "MAX_TOKENS", None),
    ],
)
def test_stopped_answers_are_results(
    mock: MockVertexServer, client: VertexClient, name: str, reason: str, why: str | None
) -> None:
    mock.add_scenario(name)

    response = client.generate_content(MODEL, "Go on")
    stream = client.stream_generate_content(MODEL, "Go on")
    list(stream)

    assert response.finish_reason == stream.response().finish_reason == reason
    assert response.why_no_text() == why
    assert (response.text is None) == (why is not None)
    assert len(mock.journal()) == 2  # neither was retried


def test_an_outage_window_is_ridden_out_within_the_deadline(
    mock: MockVertexServer, sleeps: Sleeps
) -> None:
    outage = {"times": "forever", "error": {"code": 503}, "when": {"forSeconds": 0.5}}
    mock.add_scenario(_then_ok("outage", outage))
    policy = RetryPolicy(attempts=10, initial_delay=0.1, max_delay=0.4, deadline=5.0)

    with _client(mock, sleeps, retry=policy) as client:
        response = client.generate_content(MODEL, "Still there?")

    statuses = _statuses(mock)
    assert response.text == "".join(CHUNKS)
    assert statuses[-1] == 200
    assert set(statuses[:-1]) == {503}
    # rng 0.5: waits of 0.05, 0.1, 0.2, 0.2 s put attempt 5 at 0.55 s, past the window (or
    # attempt 4 already, on a slow machine): the outage is waited out, not hammered.
    assert sleeps.asked[: len(statuses) - 1] == [0.05, 0.1, 0.2, 0.2][: len(statuses) - 1]
    assert len(statuses) in (4, 5)


def test_seeded_chaos_is_absorbed_and_every_failure_retried_once(
    mock: MockVertexServer, client: VertexClient
) -> None:
    chaos = {"times": "forever", "error": {"code": 500}, "when": {"probability": 0.3, "seed": 7}}
    mock.add_scenario(scenario("chaos", chaos))
    mock.add_scenario(scenario("ok", {"times": "forever", "respond": {"chunks": CHUNKS}}))

    texts = [client.generate_content(MODEL, f"Call {i}").text for i in range(12)]

    statuses = _statuses(mock)
    assert texts == ["".join(CHUNKS)] * 12
    assert statuses.count(200) == 12
    assert statuses.count(500) == len(statuses) - 12


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("empty_candidate", "The answer has no text parts (finishReason STOP)."),
        ("prohibited_prompt", "The prompt was blocked (blockReason PROHIBITED_CONTENT)."),
    ],
)
def test_content_faults_say_why_there_is_no_text(
    mock: MockVertexServer, client: VertexClient, name: str, why: str
) -> None:
    mock.add_scenario(name)

    unary = client.generate_content(MODEL, "Anything?")
    stream = client.stream_generate_content(MODEL, "Anything?")
    list(stream)

    assert unary.text is None
    assert unary.why_no_text() == stream.response().why_no_text() == why
    assert len(mock.journal()) == 2


def test_a_function_call_is_returned_as_it_came(
    mock: MockVertexServer, client: VertexClient
) -> None:
    mock.add_scenario("function_call_bad_args")
    declaration = {
        "name": "get_weather",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
    }
    request = {
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
        "tools": [{"functionDeclarations": [declaration]}],
    }

    response = client.generate_content(MODEL, request)

    (call,) = response.function_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"undeclared_argument": "not in the declaration"}
    assert response.why_no_text() == "The answer is a function call (get_weather), not text."
