"""Issue 6, done-when: two tests in parallel on one server with different sessions see only
their own faults and journal; a burst past the RPM budget gets 429s, and requests succeed
again after the window (the quota clock is injected through the server, so no test waits)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mockvertex.engine.quota import REQUESTS_METRIC
from mockvertex.remote import RemoteMock
from mockvertex.server.runner import MockVertexServer

BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about rivers"}]}]}
ROUNDS = 6
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def call(server: MockVertexServer, project: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        path = server.url_for("gemini-2.0-flash", project=project)[len(server.url) :]
        conn.request("POST", path, body=json.dumps(BODY), headers={"Authorization": "Bearer t"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.fixture
def server() -> Iterator[MockVertexServer]:
    with MockVertexServer() as running:
        yield running
        running.check()


def test_parallel_sessions_see_only_their_own_faults_and_journal(
    server: MockVertexServer,
) -> None:
    plans = {
        "team-a": ({"error": {"code": 503}, "times": 3}, [503, 503, 503, 200, 200, 200]),
        "team-b": ({"error": {"code": 429, "retryAfter": 1}, "times": 2}, [429, 429] + [200] * 4),
    }
    # One test scripts its session in process, the other over the control plane.
    server.session("team-a").add_fault(plans["team-a"][0])
    RemoteMock(server.url).session("team-b").add_fault(plans["team-b"][0])
    barrier = threading.Barrier(len(plans), timeout=10)
    seen: dict[str, list[int]] = {}
    failures: list[BaseException] = []

    def one_test(project: str) -> None:
        try:
            statuses = []
            for _ in range(ROUNDS):
                barrier.wait()  # each round, both tests hit the server at once
                statuses.append(call(server, project)[0])
            seen[project] = statuses
            barrier.wait()
            if project == "team-a":  # a test resetting its own session mid-run
                server.reset("team-a", scenarios=False, quota=False, errors=False)
            barrier.wait()
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=one_test, args=(p,)) for p in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures, failures
    for project, (_, expected) in plans.items():
        assert seen[project] == expected
    assert server.journal("team-a") == []  # cleared by its own test
    journal_b = server.journal("team-b")
    assert [e.status for e in journal_b] == plans["team-b"][1]
    assert {e.session for e in journal_b} == {"team-b"}
    assert {c.session for c in server.report("team-b").calls} == {"team-b"}
    assert server.report("team-a").calls == ()
    assert [s["name"] for s in server.session("team-a").scenarios()] == ["fault-1"]
    assert set(server.sessions()) == {"team-a", "team-b"}


def test_a_burst_past_the_rpm_budget_gets_429_until_the_window_refills() -> None:
    clock = FakeClock()
    with MockVertexServer(quotas=("rpm=5",), clock=clock) as server:
        statuses = [call(server, "burst")[0] for _ in range(8)]
        assert statuses == [200] * 5 + [429] * 3
        status, body = call(server, "burst")
        assert status == 429
        error = body["error"]
        assert error["status"] == "RESOURCE_EXHAUSTED"
        assert error["message"] == (
            f"Quota exceeded for {REQUESTS_METRIC} with base model: gemini-2.0-flash. Please "
            "submit a quota increase request. "
            "https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
        )
        (retry,) = [d for d in error["details"] if d["@type"] == RETRY_INFO]
        assert retry["retryDelay"] == "12s"  # 5 a minute: one more every 12 seconds
        assert call(server, "bystander")[0] == 200  # another session's budget is its own
        (budget,) = server.session("burst").quota()["models"]
        assert budget["requests"]["remaining"] == 0
        clock.now += 12
        assert [call(server, "burst")[0] for _ in range(2)] == [200, 429]
        clock.now += 60  # a whole window: the bucket is full again
        assert [call(server, "burst")[0] for _ in range(6)] == [200] * 5 + [429]
        journal = server.journal("burst")
        assert [e.fault for e in journal if e.status == 429] == ["quota"] * 6
        server.check()
