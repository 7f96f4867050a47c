"""Tests for mockvertex.client.retry: the pure policy, with a fake clock and a fixed random source.

Every wait is computed, never slept: each assertion is exact.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockvertex.client.retry import (
    DEFAULT_RETRY_STATUSES,
    CallRetry,
    Failure,
    FailureKind,
    RetryBudget,
    RetryPolicy,
    parse_retry_after,
    parse_retry_info,
)

NOW = 1_800_000_000.0  # a fixed wall clock


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _run(
    policy: RetryPolicy | None = None,
    *,
    rng: Callable[[], float] = lambda: 0.5,
    budget: RetryBudget | None = None,
    deadline: float | None = None,
    clock: FakeClock | None = None,
) -> CallRetry:
    return (policy or RetryPolicy()).start(
        budget=budget,
        deadline=deadline,
        clock=clock or FakeClock(),
        wall_clock=lambda: NOW,
        rng=rng,
    )


def _status(code: int, **kwargs: object) -> Failure:
    return Failure(FailureKind.STATUS, http_status=code, **kwargs)  # type: ignore[arg-type]


def _waits(run: CallRetry, failure: Failure, clock: FakeClock | None = None) -> list[float]:
    """Fail every attempt with ``failure``; the waits chosen until the policy stops."""
    waits: list[float] = []
    for _ in range(100):
        run.begin()
        decision = run.failed(failure)
        if not decision.retry:
            return waits
        waits.append(decision.wait)
        if clock is not None:
            clock.sleep(decision.wait)
    raise AssertionError("the policy never stopped")


# --------------------------------------------------------------------------------------------
# Defaults and backoff


def test_defaults_are_google_genais_http_retry_options() -> None:
    policy = RetryPolicy()

    assert (policy.attempts, policy.initial_delay, policy.max_delay, policy.exp_base) == (
        5,
        1.0,
        60.0,
        2.0,
    )
    assert policy.retry_statuses == DEFAULT_RETRY_STATUSES == {408, 429, 500, 502, 503, 504}


def test_full_jitter_waits_are_the_random_fraction_of_a_doubling_cap() -> None:
    run = _run(rng=lambda: 0.5)

    waits = _waits(run, _status(503))

    assert waits == [0.5, 1.0, 2.0, 4.0]  # half of 1, 2, 4, 8: four retries for five attempts
    assert run.attempts == 5


def test_the_cap_stops_growing_at_max_delay() -> None:
    policy = RetryPolicy(attempts=10, initial_delay=1.0, max_delay=5.0)

    assert [policy.backoff_cap(n) for n in range(1, 7)] == [1, 2, 4, 5, 5, 5]
    assert _waits(_run(policy, rng=lambda: 1.0), _status(500)) == [1, 2, 4, 5, 5, 5, 5, 5, 5]


def test_full_jitter_can_choose_no_wait_at_all() -> None:
    assert _waits(_run(RetryPolicy(attempts=3), rng=lambda: 0.0), _status(429)) == [0.0, 0.0]


def test_a_huge_exponent_does_not_overflow() -> None:
    assert RetryPolicy(max_delay=60.0, exp_base=10.0).backoff_cap(10_000) == 60.0


@given(
    rng=st.floats(min_value=0, max_value=1, exclude_max=True),
    retry=st.integers(min_value=1, max_value=50),
    initial=st.floats(min_value=0, max_value=10),
    cap=st.floats(min_value=0, max_value=120),
)
def test_a_backoff_wait_lies_in_zero_to_the_cap(
    rng: float, retry: int, initial: float, cap: float
) -> None:
    policy = RetryPolicy(attempts=100, initial_delay=initial, max_delay=cap, deadline=None)
    run = _run(policy, rng=lambda: rng)
    run.retries = retry - 1
    run.begin()

    decision = run.failed(_status(503))

    assert decision.retry
    assert 0 <= decision.wait <= policy.backoff_cap(retry) <= cap


def test_one_attempt_means_no_retry() -> None:
    run = _run(RetryPolicy.none())
    run.begin()

    decision = run.failed(_status(503))

    assert not decision.retry
    assert decision.reason == "attempts exhausted (1 of 1)"


# --------------------------------------------------------------------------------------------
# What is retried


@pytest.mark.parametrize("code", sorted(DEFAULT_RETRY_STATUSES))
def test_default_statuses_are_retried(code: int) -> None:
    run = _run()
    run.begin()

    assert run.failed(_status(code)).retry


@pytest.mark.parametrize("code", [400, 403, 404, 409, 422, 501])
def test_other_statuses_are_not_retried(code: int) -> None:
    run = _run()
    run.begin()

    decision = run.failed(_status(code))

    assert not decision.retry
    assert decision.reason == f"not retryable: HTTP {code}"


@pytest.mark.parametrize("code", [400, 403, 404])
def test_400_403_404_cannot_be_configured_retryable(code: int) -> None:
    with pytest.raises(ValueError, match="never retried"):
        RetryPolicy(retry_statuses=frozenset({429, code}))


@pytest.mark.parametrize("kind", [FailureKind.CONNECTION, FailureKind.TIMEOUT])
def test_connection_errors_and_timeouts_are_retried(kind: FailureKind) -> None:
    run = _run()
    run.begin()

    assert run.failed(Failure(kind)).retry


def test_connection_errors_can_be_left_alone() -> None:
    run = _run(RetryPolicy(retry_connection_errors=False))
    run.begin()

    assert not run.failed(Failure(FailureKind.CONNECTION)).retry


def test_a_malformed_body_is_retried_unless_told_otherwise() -> None:
    for policy, expected in ((RetryPolicy(), True), (RetryPolicy(retry_malformed=False), False)):
        run = _run(policy)
        run.begin()
        assert run.failed(Failure(FailureKind.MALFORMED)).retry is expected


def test_nothing_is_retried_once_content_reached_the_caller() -> None:
    run = _run()
    run.begin()

    decision = run.failed(_status(429, delivered=True))

    assert not decision.retry
    assert "not replayed" in decision.reason


def test_a_401_gets_one_refresh_when_the_credentials_can_refresh() -> None:
    run = _run(RetryPolicy.none())
    run.begin()

    first = run.failed(_status(401, refreshable=True))
    run.begin()
    second = run.failed(_status(401, refreshable=True))

    assert (first.retry, first.refresh, first.wait) == (True, True, 0.0)
    assert (second.retry, second.refresh) == (False, False)
    assert second.reason == "refused again after a credential refresh"


def test_a_401_with_static_credentials_is_final() -> None:
    run = _run()
    run.begin()

    decision = run.failed(_status(401))

    assert not decision.retry
    assert "static credentials" in decision.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "attempts"),
        ({"initial_delay": -1.0}, "initial_delay"),
        ({"max_delay": float("inf")}, "max_delay"),
        ({"exp_base": 0.5}, "exp_base"),
        ({"max_server_delay": -1.0}, "max_server_delay"),
        ({"deadline": 0.0}, "deadline"),
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Server hints


def test_parse_retry_after_seconds_and_dates() -> None:
    in_30s = email.utils.formatdate(NOW + 30, usegmt=True)
    past = email.utils.formatdate(NOW - 30, usegmt=True)

    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after(" 0 ", NOW) == 0.0
    assert parse_retry_after(in_30s, NOW) == 30.0
    assert parse_retry_after(past, NOW) == 0.0
    for junk in ("soon", "-1", "1.5", "", "Wed, 99 Foo 2026 07:28:00 GMT"):
        assert parse_retry_after(junk, NOW) is None


def test_parse_retry_info() -> None:
    info = "type.googleapis.com/google.rpc.RetryInfo"

    assert parse_retry_info([{"@type": info, "retryDelay": "1.5s"}]) == 1.5
    assert parse_retry_info([{"@type": "x"}, {"@type": info, "retryDelay": "30s"}]) == 30.0
    assert parse_retry_info([{"@type": info, "retryDelay": {"seconds": 2, "nanos": 5e8}}]) == 2.5
    assert parse_retry_info([{"@type": info, "retryDelay": "soon"}]) is None
    assert parse_retry_info([{"@type": info, "retryDelay": {"seconds": "x"}}]) is None
    assert parse_retry_info([]) is None


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    run = _run(rng=lambda: 0.5)
    run.begin()

    decision = run.failed(_status(429, retry_after="3"))

    assert (decision.retry, decision.wait) == (True, 3.0)
    assert decision.reason == "server asked: Retry-After 3"


def test_an_http_date_retry_after_counts_from_the_wall_clock() -> None:
    run = _run()
    run.begin()

    decision = run.failed(_status(503, retry_after=email.utils.formatdate(NOW + 12, usegmt=True)))

    assert decision.wait == 12.0


def test_the_backoff_wins_when_the_hint_is_shorter() -> None:
    run = _run(rng=lambda: 0.5)
    run.retries = 3  # the next cap is 8 s
    run.begin()

    decision = run.failed(_status(429, retry_after="1"))

    assert decision.wait == 4.0
    assert decision.reason.startswith("backoff")


def test_retry_info_is_honoured_and_the_larger_hint_wins() -> None:
    info = ({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"},)
    run = _run(rng=lambda: 0.0)
    run.begin()
    only_info = run.failed(_status(429, details=info))
    run.begin()
    both = run.failed(_status(429, details=info, retry_after="4"))

    assert (only_info.wait, only_info.reason) == (2.5, "server asked: RetryInfo 2.5s")
    assert (both.wait, both.reason) == (4.0, "server asked: Retry-After 4")


def test_a_server_hint_is_capped() -> None:
    run = _run(RetryPolicy(max_server_delay=10.0), rng=lambda: 0.0)
    run.begin()

    decision = run.failed(_status(429, retry_after="3600"))

    assert decision.wait == 10.0
    assert decision.reason == "server asked: Retry-After 3600, capped at 10s"


def test_the_server_hint_cap_defaults_to_max_delay() -> None:
    run = _run(RetryPolicy(max_delay=20.0), rng=lambda: 0.0)
    run.begin()

    assert run.failed(_status(429, retry_after="3600")).wait == 20.0


# --------------------------------------------------------------------------------------------
# The deadline


def test_a_wait_that_would_cross_the_deadline_is_not_taken() -> None:
    clock = FakeClock()
    run = _run(RetryPolicy(attempts=10), rng=lambda: 1.0, deadline=10.0, clock=clock)

    waits = _waits(run, _status(503), clock)

    assert waits == [1.0, 2.0, 4.0]  # 7 s waited; the next 8 s wait would reach 15 s
    assert clock.now == 7.0


def test_the_deadline_counts_the_attempts_time_too() -> None:
    clock = FakeClock()
    run = _run(rng=lambda: 0.5, deadline=5.0, clock=clock)
    run.begin()
    clock.now = 4.8  # the first attempt took 4.8 s

    decision = run.failed(_status(503))

    assert not decision.retry
    assert decision.reason == "deadline: 0.200s left, a wait of 0.500s would cross it"


def test_a_server_hint_beyond_the_deadline_ends_the_call() -> None:
    run = _run(deadline=2.0)
    run.begin()

    decision = run.failed(_status(429, retry_after="5"))

    assert not decision.retry
    assert decision.reason.startswith("deadline:")


def test_timeouts_are_shortened_to_what_the_deadline_leaves() -> None:
    clock = FakeClock()
    run = _run(deadline=30.0, clock=clock)
    clock.now = 25.0

    assert run.timeout(300.0) == 5.0
    assert run.timeout(2.0) == 2.0
    assert run.remaining() == 5.0
    assert not run.expired()
    clock.now = 31.0
    assert run.expired()
    assert run.timeout(300.0) == 0.001  # never zero: zero means "no timeout" to some clients


def test_no_deadline_means_no_limit() -> None:
    run = _run(RetryPolicy(deadline=None))

    assert run.remaining() is None
    assert run.timeout(7.0) == 7.0
    assert not run.expired()


def test_a_call_deadline_overrides_the_policys() -> None:
    assert _run(RetryPolicy(deadline=100.0), deadline=3.0).deadline == 3.0
    with pytest.raises(ValueError, match="deadline"):
        _run(deadline=-1.0)


# --------------------------------------------------------------------------------------------
# The retry budget


def test_the_budget_has_aws_retry_quota_defaults() -> None:
    budget = RetryBudget()

    assert (budget.capacity, budget.retry_cost, budget.timeout_cost) == (500, 5, 10)
    assert budget.success_increment == 1


def test_retries_take_tokens_and_an_empty_budget_refuses() -> None:
    budget = RetryBudget(12)
    run = _run(RetryPolicy(attempts=10), budget=budget)

    waits = _waits(run, _status(503))

    assert len(waits) == 2  # 12 tokens pay two retries of 5
    assert budget.available == 2
    assert run.attempts == 3


def test_a_storm_across_calls_is_stopped_by_the_shared_budget() -> None:
    budget = RetryBudget(20)
    attempts = []
    for _ in range(5):
        run = _run(budget=budget)
        _waits(run, _status(503))
        attempts.append(run.attempts)

    assert attempts == [5, 1, 1, 1, 1]  # 20 tokens pay the first call's 4 retries, no more
    assert budget.available == 0


def test_the_refusal_says_so() -> None:
    run = _run(budget=RetryBudget(4))
    run.begin()

    decision = run.failed(_status(503))

    assert not decision.retry
    assert decision.reason == "retry budget exhausted (4 left, a retry costs 5)"


def test_timeouts_cost_more() -> None:
    budget = RetryBudget(15)
    run = _run(budget=budget)

    assert len(_waits(run, Failure(FailureKind.TIMEOUT))) == 1
    assert budget.available == 5


def test_success_gives_back_the_last_retry_cost_or_one() -> None:
    budget = RetryBudget(100)
    retried = _run(budget=budget)
    retried.begin()
    retried.failed(_status(503))
    retried.begin()
    retried.failed(_status(503))
    assert budget.available == 90

    retried.succeeded()
    assert budget.available == 95

    clean = _run(budget=budget)
    clean.begin()
    clean.succeeded()
    assert budget.available == 96


def test_the_budget_never_grows_past_its_capacity() -> None:
    budget = RetryBudget(10)
    for _ in range(3):
        run = _run(budget=budget)
        run.begin()
        run.succeeded()

    assert budget.available == 10


def test_no_tokens_are_taken_for_a_retry_the_deadline_forbids() -> None:
    budget = RetryBudget(100)
    run = _run(budget=budget, deadline=1.0)
    run.begin()

    assert not run.failed(_status(429, retry_after="5")).retry
    assert budget.available == 100


def test_bad_budgets_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        RetryBudget(-1)
    assert repr(RetryBudget(7)) == "RetryBudget(7/7)"
