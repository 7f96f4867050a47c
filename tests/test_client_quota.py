"""VertexClient against the mock's quotas: the 429 of a spent budget names in RetryInfo when the
budget allows the request again, and the client waits exactly that long, or not at all when
the wait would cross its deadline."""

from __future__ import annotations

import time

import pytest

from mockvertex.client import RetryPolicy, VertexClient
from mockvertex.contract.errors import ResourceExhausted
from mockvertex.engine.report import assert_retries
from mockvertex.server.runner import MockVertexServer

MODEL = "gemini-2.0-flash"
POLICY = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_server_delay=5.0, deadline=20.0)


def _client(mock: MockVertexServer) -> VertexClient:
    return VertexClient(base_url=mock.url, project="quota-p", token="t", retry=POLICY)


def test_a_spent_rpm_budget_is_waited_out_for_the_delay_retry_info_names() -> None:
    with MockVertexServer() as mock:
        mock.set_quota("rpm=120")  # a full bucket of 120, then one request every 0.5 s
        with _client(mock) as client:
            for n in range(120):
                assert client.generate_content(MODEL, f"burst {n}").text
            started = time.monotonic()
            answer = client.generate_content(MODEL, "one more")
            waited = time.monotonic() - started
        mock.check()
        entries = mock.journal()
    assert answer.text
    assert [e.status for e in entries[-2:]] == [429, 200]
    limited = entries[-2]
    assert limited.fault == "quota"
    assert limited.retry_after_source == "RetryInfo"
    assert limited.retry_after is not None
    assert 0 < limited.retry_after <= 0.5
    assert waited >= limited.retry_after
    report = assert_retries(entries[-2:], calls=1, attempts=2, honours_retry_after=True)
    assert report.calls[0].attempts[1].waited is True


def test_a_quota_wait_past_the_deadline_is_not_taken() -> None:
    with MockVertexServer() as mock:
        mock.set_quota("rpm=1")  # the next request is allowed in 60 s
        with _client(mock) as client:
            assert client.generate_content(MODEL, "first").text
            started = time.monotonic()
            with pytest.raises(ResourceExhausted) as caught:
                client.generate_content(MODEL, "second", deadline=2.0)
            elapsed = time.monotonic() - started
        mock.check()
        statuses = [e.status for e in mock.journal()]
    assert caught.value.attempts == 1
    assert "Quota exceeded for aiplatform.googleapis.com/" in caught.value.message
    assert "with base model: gemini-2.0-flash" in caught.value.message
    assert elapsed < 1.0  # it did not sleep toward a wait it could not finish
    assert statuses == [200, 429]
