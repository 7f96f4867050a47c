"""The retry report: attempts grouped into calls, gaps, asked delays, growth, jitter, findings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockvertex.contract.errors import error_class_for
from mockvertex.engine.journal import Exchange, Journal, Outcome
from mockvertex.engine.report import (
    GAVE_UP,
    NO_BACKOFF,
    RETRIED_AFTER_CONTENT,
    RETRIED_NON_RETRYABLE,
    RETRY_AFTER_IGNORED,
    RETRY_STORM,
    RetryReport,
    Thresholds,
    assert_retries,
    retry_report,
)

PATH = "/v1/projects/p/locations/us-central1/publishers/google/models/m:generateContent"
REQUEST = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Client:
    """A scripted client: attempts recorded in a journal on a clock the test moves."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.journal = Journal(clock=self.clock, token_key=b"k" * 32)

    def wait(self, seconds: float) -> Client:
        self.clock.now += seconds
        return self

    def attempt(
        self,
        status: int = 200,
        *,
        outcome: Outcome | None = None,
        chunks: int = 0,
        asked: float | None = None,
        retry_info: bool = False,
        took: float = 0.01,
        token: str = "token-1",
        request: dict[str, Any] | None = None,
        session: str = "default",
    ) -> Client:
        rec = self.journal.begin(
            method="POST",
            path=PATH,
            headers={"Authorization": f"Bearer {token}"},
            session=session,
        )
        rec.model, rec.rpc, rec.framing = "m", "generateContent", "sse"
        rec.request = REQUEST if request is None else request
        if chunks:
            rec.status = 200
            rec.record_write(40 * chunks, chunks=chunks)
        self.clock.now += took
        if outcome is None:
            outcome = Outcome.OK if status == 200 else Outcome.ERROR
        if status >= 400:
            headers: dict[str, str] = {}
            details: list[dict[str, Any]] = []
            if asked is not None and retry_info:
                details.append({"@type": RETRY_INFO, "retryDelay": f"{asked}s"})
            elif asked is not None:
                headers["Retry-After"] = str(int(asked)) if asked == int(asked) else str(asked)
            error = error_class_for(status)(headers=headers, details=details)
            if outcome is Outcome.MID_STREAM_ERROR:
                rec.status = 200
            rec.fail(error, outcome=outcome)
        else:
            rec.status = status
            rec.outcome = outcome
        self.journal.finish(rec)
        return self

    def report(self, **kwargs: Any) -> RetryReport:
        return retry_report(self.journal, **kwargs)


def only_call(report: RetryReport) -> Any:
    (call,) = report.calls
    return call


# ---------------------------------------------------------------------------------------------
# The delay the mock asked for


def test_a_client_that_waits_for_retry_after() -> None:
    client = Client().attempt(429, asked=1, took=0.0).wait(1.2).attempt(200)
    call = only_call(client.report())
    first, second = call.attempts
    assert (first.status, first.asked, first.asked_source) == (429, 1.0, "Retry-After")
    assert second.gap == pytest.approx(1.2)
    assert second.t == pytest.approx(1.2)
    assert (second.waited, second.short_by) == (True, 0.0)
    assert call.honours_retry_after is True
    assert call.succeeded
    assert not call.gave_up
    assert call.findings == ()
    assert call.total_time == pytest.approx(1.21)


def test_a_client_that_comes_back_too_soon() -> None:
    client = Client().attempt(429, asked=1, took=0.0).wait(0.3).attempt(200)
    call = only_call(client.report())
    assert call.attempts[1].waited is False
    assert call.attempts[1].short_by == pytest.approx(0.7)
    assert call.honours_retry_after is False
    (finding,) = call.findings
    assert (finding.code, finding.severity, finding.attempt) == (RETRY_AFTER_IGNORED, "fail", 2)
    assert "0.300 s after attempt 1 ended" in finding.message
    assert "asked for 1.000 s (Retry-After)" in finding.message
    assert "0.700 s too early" in finding.message
    assert "tolerance 0.050 s" in finding.message


def test_the_tolerance_is_a_parameter() -> None:
    client = Client().attempt(429, asked=1, took=0.0).wait(0.97).attempt(200)
    assert only_call(client.report()).honours_retry_after is True  # 30 ms short, within 50
    strict = client.report(thresholds=Thresholds(retry_after_tolerance=0.01))
    assert only_call(strict).honours_retry_after is False
    assert "tolerance 0.010 s" in strict.table()


def test_retry_info_counts_as_an_asked_delay() -> None:
    client = Client().attempt(429, asked=2.5, retry_info=True).wait(1).attempt(200)
    call = only_call(client.report())
    assert (call.attempts[0].asked, call.attempts[0].asked_source) == (2.5, "RetryInfo")
    assert call.codes() == [RETRY_AFTER_IGNORED]
    assert "(RetryInfo)" in call.findings[0].message
    assert "2.500 RI" in client.report().table()


def test_no_delay_asked_means_nothing_to_honour() -> None:
    call = only_call(Client().attempt(503).wait(1).attempt(200).report())
    assert call.attempts[1].waited is None
    assert call.honours_retry_after is None


# ---------------------------------------------------------------------------------------------
# Backoff and jitter


def _with_gaps(*gaps: float, status: int = 503) -> Client:
    client = Client().attempt(status, took=0.0)
    for gap in gaps:
        client.wait(gap).attempt(status, took=0.0)
    return client


def test_exponential_gaps_grow_without_jitter() -> None:
    call = only_call(_with_gaps(1, 2, 4).report())
    assert call.gaps == pytest.approx((1, 2, 4))
    assert call.ratios == pytest.approx((2, 2))
    assert call.growth == pytest.approx(2.0)
    assert call.backoff_grows is True
    assert call.jitter is False


def test_jittered_gaps_are_detected() -> None:
    call = only_call(_with_gaps(1.3, 2.1, 4.9, 8.2).report())
    assert call.backoff_grows is True
    assert call.jitter is True


def test_constant_linear_and_capped_sequences_have_no_jitter() -> None:
    for gaps in [(1, 1, 1, 1), (1, 2, 3, 4), (1, 2, 4, 8, 8, 8), (1, 2, 4, 6, 6)]:
        assert only_call(_with_gaps(*gaps).report()).jitter is False, gaps


def test_small_timing_noise_is_not_jitter() -> None:
    call = only_call(_with_gaps(1.004, 2.003, 4.011, 7.995).report())
    assert call.jitter is False
    assert call.growth == pytest.approx(2.0, rel=0.01)


def test_jitter_and_growth_need_enough_gaps() -> None:
    one = only_call(_with_gaps(1).report())
    assert (one.growth, one.backoff_grows, one.jitter) == (None, None, None)
    two = only_call(_with_gaps(1, 3).report())
    assert (two.backoff_grows, two.jitter) == (True, None)
    table = _with_gaps(1).report().table()
    assert "backoff grows: - (needs 2 gaps)" in table
    assert "jitter: - (needs 3 gaps)" in table


def test_constant_gaps_without_an_asked_delay_warn_of_no_backoff() -> None:
    call = only_call(_with_gaps(0.5, 0.5, 0.5).report())
    assert call.backoff_grows is False
    assert NO_BACKOFF in call.codes()
    asked = Client().attempt(429, asked=1).wait(1).attempt(429, asked=1).wait(1).attempt(200)
    assert NO_BACKOFF not in only_call(asked.report()).codes()  # the mock set the pace


# ---------------------------------------------------------------------------------------------
# Storms and giving up


def test_twelve_attempts_are_a_storm() -> None:
    client = _with_gaps(*[1.0] * 11)
    call = only_call(client.report())
    assert len(call.attempts) == 12
    assert call.fast_retries == 0
    assert call.storm
    assert RETRY_STORM in call.codes()
    ten = only_call(_with_gaps(*[1.0] * 9).report())
    assert not ten.storm


def test_fast_retries_are_a_storm() -> None:
    call = only_call(_with_gaps(0.01, 0.01, 0.01).report())
    assert call.fast_retries == 3
    assert call.storm
    assert not only_call(_with_gaps(0.01, 0.01).report()).storm


def test_an_unbounded_429_loop_is_flagged() -> None:
    client = Client()
    for _ in range(30):
        client.attempt(429, asked=1, took=0.002).wait(0.001)
    call = only_call(client.report())
    assert len(call.attempts) == 30
    assert call.storm
    assert call.fast_retries == 29
    assert call.honours_retry_after is False
    assert call.gave_up
    codes = call.codes()
    assert codes.count(RETRY_AFTER_IGNORED) == 29
    assert RETRY_STORM in codes
    assert GAVE_UP in codes
    with pytest.raises(AssertionError, match="retry_storm"):
        assert_retries(client.journal)


def test_a_client_that_gives_up() -> None:
    call = only_call(Client().attempt(503).wait(1).attempt(503).report())
    assert call.gave_up
    assert not call.succeeded
    (finding,) = call.findings
    assert (finding.code, finding.severity) == (GAVE_UP, "warn")
    assert "stopped after 2 attempt(s)" in finding.message


def test_a_retry_after_a_client_timeout_is_not_a_fast_retry() -> None:
    client = Client()
    client.attempt(200, outcome=Outcome.CLIENT_DISCONNECTED, took=5.0)
    client.attempt(200, outcome=Outcome.CLIENT_DISCONNECTED, took=5.0)
    client.attempt(200, outcome=Outcome.CLIENT_DISCONNECTED, took=5.0)
    client.attempt(200)
    call = only_call(client.report())
    assert call.gaps == (0.0, 0.0, 0.0)
    assert call.fast_retries == 0
    assert not call.storm


# ---------------------------------------------------------------------------------------------
# Retrying what a retry cannot fix


@pytest.mark.parametrize("status", [400, 403, 404])
def test_retrying_a_non_retryable_error(status: int) -> None:
    call = only_call(Client().attempt(status).wait(1).attempt(status).report())
    assert RETRIED_NON_RETRYABLE in call.codes()
    finding = next(f for f in call.findings if f.code == RETRIED_NON_RETRYABLE)
    assert finding.attempt == 2
    assert f"refused with {status}" in finding.message


def test_retrying_a_401_with_the_same_token() -> None:
    same = only_call(Client().attempt(401).wait(1).attempt(401).report())
    assert RETRIED_NON_RETRYABLE in same.codes()
    digest = same.attempts[0].token_digest
    assert digest is not None
    assert f"same credentials (digest {digest})" in same.findings[0].message
    fresh = Client().attempt(401, token="old").wait(1).attempt(401, token="new")
    assert RETRIED_NON_RETRYABLE not in only_call(fresh.report()).codes()


def test_a_401_by_hand_built_entries() -> None:
    def entry(ident: int, at: float, digest: str | None) -> Exchange:
        return Exchange(
            id=ident,
            arrival=at,
            end=at + 0.01,
            status=401,
            outcome=Outcome.ERROR,
            token_digest=digest,
            request_digest="r",
        )

    assert only_call(retry_report([entry(1, 0, None), entry(2, 1, None)])).codes() == [
        RETRIED_NON_RETRYABLE,
        GAVE_UP,
    ]
    assert only_call(retry_report([entry(1, 0, "aa"), entry(2, 1, "bb")])).codes() == [GAVE_UP]


def test_retrying_after_stream_content_was_delivered() -> None:
    client = Client().attempt(503, outcome=Outcome.MID_STREAM_ERROR, chunks=3).wait(1)
    call = only_call(client.attempt(200, chunks=4).report())
    assert call.attempts[0].status == 200
    assert call.attempts[0].error_code == 503
    assert call.attempts[0].chunks == 3
    (finding,) = call.findings
    assert (finding.code, finding.attempt) == (RETRIED_AFTER_CONTENT, 2)
    assert "delivered 3 chunk(s)" in finding.message
    assert "see that text twice" in finding.message
    before_content = Client().attempt(503, outcome=Outcome.MID_STREAM_ERROR).wait(1)
    assert only_call(before_content.attempt(200).report()).findings == ()


# ---------------------------------------------------------------------------------------------
# Grouping


def test_a_success_ends_a_logical_call() -> None:
    client = Client().attempt(429).wait(1).attempt(200).wait(5).attempt(200)
    report = client.report()
    assert [len(c.attempts) for c in report.calls] == [2, 1]
    assert [c.number for c in report.calls] == [1, 2]


def test_different_requests_and_sessions_are_different_calls() -> None:
    other = {"contents": [{"role": "user", "parts": [{"text": "something else"}]}]}
    client = Client().attempt(429).attempt(429, request=other).attempt(429, session="b")
    client.wait(1).attempt(200).attempt(200, request=other).attempt(200, session="b")
    report = client.report()
    assert [len(c.attempts) for c in report.calls] == [2, 2, 2]
    assert [c.session for c in report.calls] == ["default", "default", "b"]
    assert len(retry_report(client.journal, session="b").calls) == 1


def test_pending_attempts_are_neither_success_nor_giving_up() -> None:
    client = Client().attempt(503).wait(1)
    client.journal.begin(method="POST", path=PATH).request = REQUEST
    report = client.report()
    assert len(report.calls) == 2  # the pending one carries no model or rpc: its own call
    assert report.calls[1].attempts[0].outcome is Outcome.PENDING
    assert not report.calls[1].gave_up
    assert "still pending" in report.table()


# ---------------------------------------------------------------------------------------------
# JSON and the table


def test_json_carries_the_numbers_and_the_thresholds() -> None:
    report = Client().attempt(429, asked=1).wait(0.3).attempt(200).report()
    data = json.loads(json.dumps(report.to_json()))
    assert data["thresholds"]["retry_after_tolerance"] == 0.05
    assert data["thresholds"]["non_retryable"] == [400, 403, 404]
    (call,) = data["calls"]
    assert [a["status"] for a in call["attempts"]] == [429, 200]
    assert [a["outcome"] for a in call["attempts"]] == ["error", "ok"]
    assert call["attempts"][1]["waited"] is False
    assert call["attempts"][1]["gap"] == pytest.approx(0.3)
    assert call["honours_retry_after"] is False
    assert call["findings"][0]["code"] == RETRY_AFTER_IGNORED


def test_the_table_has_a_row_per_attempt_then_findings_and_thresholds() -> None:
    report = Client().attempt(429, asked=1).wait(0.3).attempt(200, chunks=2).report()
    table = report.table()
    lines = table.splitlines()
    assert lines[0].startswith("call 1: session default, m generateContent, digest ")
    assert lines[0].endswith("2 attempt(s)")
    header = lines[1].split()
    assert header[:4] == ["#", "t", "(s)", "status"]
    assert "waited" in header
    assert lines[2].split()[:7] == ["1", "0.000", "429", "error", "0", "1.000", "RA"]
    assert lines[3].split()[:6] == ["2", "0.310", "200", "ok", "2", "-"]
    assert "no, 0.700 s early" in lines[3]
    assert "FAIL retry_after_ignored: attempt 2" in table
    assert "waited: gap >= asked - 0.050 s" in table
    assert "storm: > 10 attempts, or >= 3 retries < 0.050 s" in table
    assert str(report) == table
    assert retry_report([]).table().startswith("no calls recorded")


# ---------------------------------------------------------------------------------------------
# assert_retries


def test_assert_retries_passes_for_a_good_client() -> None:
    client = Client().attempt(429, asked=1).wait(1.1).attempt(503).wait(2.2).attempt(200)
    report = assert_retries(
        client.journal,
        attempts=3,
        max_attempts=5,
        honours_retry_after=True,
        backoff_grows=True,
        gave_up=False,
        calls=1,
    )
    assert report.failures == []
    assert_retries(report, call=-1, attempts=3)
    assert_retries(client.journal.entries(), session="default", attempts=3)


def test_assert_retries_fails_with_the_table() -> None:
    client = Client().attempt(429, asked=1).wait(0.3).attempt(200)
    with pytest.raises(AssertionError) as caught:
        assert_retries(client.journal, attempts=3, honours_retry_after=True)
    message = str(caught.value)
    assert "expected 3 attempt(s), saw 2" in message
    assert "expected honours_retry_after=True, saw False" in message
    assert retry_report(client.journal).table() in message


def test_assert_retries_checks_the_default_bans() -> None:
    content = Client().attempt(503, outcome=Outcome.MID_STREAM_ERROR, chunks=3).attempt(200)
    with pytest.raises(AssertionError, match="retried_after_content"):
        assert_retries(content.journal)
    assert_retries(content.journal, no_retry_after_content=False)
    bad = Client().attempt(400).attempt(400)
    with pytest.raises(AssertionError, match="retried_non_retryable"):
        assert_retries(bad.journal)


def test_assert_retries_cannot_be_satisfied_by_missing_numbers() -> None:
    client = Client().attempt(200)
    with pytest.raises(AssertionError, match="backoff_grows=True, but the numbers cannot tell"):
        assert_retries(client.journal, backoff_grows=True)
    with pytest.raises(AssertionError, match="no attempts recorded"):
        assert_retries([])
    with pytest.raises(AssertionError, match="no call 3"):
        assert_retries(client.journal, call=3)
    with pytest.raises(AssertionError, match="expected 2 logical call"):
        assert_retries(client.journal, calls=2)
