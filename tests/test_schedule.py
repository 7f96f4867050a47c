"""Schedules on their own: which requests each kind fires on, AND-ed combinations, the seeded
probability's reproducibility, the forSeconds window on a driven clock, counters and JSON."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockvertex.engine.schedule import Decision, Schedule, ScheduleState, parse_schedule

FIRE, PASS, OVER = Decision.FIRE, Decision.PASS, Decision.OVER


def run(schedule: Schedule, n: int, times: list[float] | None = None) -> list[Decision]:
    """The decisions for n requests reaching the step (at the given clock readings)."""
    state = schedule.new_state()
    return [state.decide(times[i] if times else 0.0) for i in range(n)]


def fired_at(schedule: Schedule, n: int) -> list[int]:
    """1-based numbers of the requests the schedule fired on, out of n."""
    return [i + 1 for i, d in enumerate(run(schedule, n)) if d is FIRE]


# --------------------------------------------------------------------------------------------
# Each kind alone


def test_empty_schedule_always_fires() -> None:
    assert run(Schedule(), 3) == [FIRE, FIRE, FIRE]


def test_every_k_fires_on_multiples_of_k() -> None:
    assert fired_at(Schedule(every=3), 10) == [3, 6, 9]
    assert fired_at(Schedule(every=1), 3) == [1, 2, 3]


def test_every_with_offset_skips_the_first_requests() -> None:
    assert fired_at(Schedule(every=3, offset=1), 10) == [4, 7, 10]
    assert fired_at(Schedule(every=1, offset=2), 5) == [3, 4, 5]
    assert fired_at(Schedule(every=2, offset=5), 10) == [7, 9]


@given(every=st.integers(1, 7), offset=st.integers(0, 10), n=st.integers(0, 40))
def test_every_fires_exactly_on_offset_plus_multiples(every: int, offset: int, n: int) -> None:
    expected = [offset + every * j for j in range(1, n + 1) if offset + every * j <= n]
    assert fired_at(Schedule(every=every, offset=offset), n) == expected


def test_probability_zero_never_fires_and_one_always_fires() -> None:
    assert set(run(Schedule(probability=0.0), 200)) == {PASS}
    assert set(run(Schedule(probability=1.0), 200)) == {FIRE}


def test_probability_follows_the_seeded_draws() -> None:
    draws = random.Random(42)
    expected = [FIRE if draws.random() < 0.3 else PASS for _ in range(50)]
    assert run(Schedule(probability=0.3, seed=42), 50) == expected
    assert PASS in expected
    assert FIRE in expected


def test_probability_is_reproducible_from_its_seed_and_differs_between_seeds() -> None:
    a = run(Schedule(probability=0.5, seed=1), 64)
    b = run(Schedule(probability=0.5, seed=1), 64)
    c = run(Schedule(probability=0.5, seed=2), 64)
    assert a == b
    assert a != c


def test_probability_default_seed_is_zero() -> None:
    assert run(Schedule(probability=0.5), 32) == run(Schedule(probability=0.5, seed=0), 32)


def test_for_seconds_window_starts_with_the_first_request() -> None:
    decisions = run(Schedule(for_seconds=5.0), 5, times=[100.0, 102.0, 104.999, 105.0, 200.0])
    assert decisions == [FIRE, FIRE, FIRE, OVER, OVER]


def test_for_seconds_over_is_not_counted_as_seen() -> None:
    state = Schedule(for_seconds=1.0).new_state()
    assert [state.decide(0.0), state.decide(0.5), state.decide(1.0)] == [FIRE, FIRE, OVER]
    assert (state.seen, state.fired, state.passed, state.over) == (2, 2, 0, True)


def test_expired_looks_at_the_window_without_counting() -> None:
    state = Schedule(for_seconds=2.0).new_state()
    assert not state.expired(1e9)  # not started: no window yet
    state.decide(10.0)
    assert not state.expired(11.9)
    assert state.expired(12.0)
    assert state.seen == 1
    assert not Schedule(every=2).new_state().expired(1e9)


def test_after_successes_lets_the_first_m_pass() -> None:
    assert run(Schedule(after_successes=2), 5) == [PASS, PASS, FIRE, FIRE, FIRE]
    assert run(Schedule(after_successes=0), 2) == [FIRE, FIRE]


# --------------------------------------------------------------------------------------------
# Combinations (AND)


def test_every_and_after_successes_count_passes_of_any_cause() -> None:
    # every 2 fires on 2, 4, 6...; the passes on 1 and 3 are the two successes, so 2 (one
    # success so far) passes as well, and 4 is the first to fire
    assert fired_at(Schedule(every=2, after_successes=2), 8) == [4, 6, 8]


def test_every_and_window() -> None:
    decisions = run(Schedule(every=2, for_seconds=10.0), 5, times=[0.0, 1.0, 2.0, 3.0, 10.0])
    assert decisions == [PASS, FIRE, PASS, FIRE, OVER]


def test_probability_draws_for_every_request_whatever_the_other_keys_say() -> None:
    # with every=2 the odd requests pass on every; they still take their draw, so the even
    # requests get the same draws as in the plain probability schedule
    alone = run(Schedule(probability=0.5, seed=9), 40)
    combined = run(Schedule(every=2, probability=0.5, seed=9), 40)
    for i, (one, both) in enumerate(zip(alone, combined, strict=True)):
        assert both == (one if i % 2 == 1 else PASS)


def test_after_successes_and_probability() -> None:
    state = Schedule(probability=1.0, after_successes=3).new_state()
    assert [state.decide() for _ in range(5)] == [PASS, PASS, PASS, FIRE, FIRE]


def test_counters_add_up() -> None:
    state = Schedule(every=3).new_state()
    for _ in range(7):
        state.decide()
    assert (state.seen, state.fired, state.passed) == (7, 2, 5)


# --------------------------------------------------------------------------------------------
# Parsing, JSON and snapshot


def test_parse_reads_every_key() -> None:
    raw = {
        "every": 4,
        "offset": 1,
        "probability": 0.25,
        "seed": 3,
        "forSeconds": 2,
        "afterSuccesses": 5,
    }
    schedule = parse_schedule(raw)
    assert schedule == Schedule(
        every=4, offset=1, probability=0.25, seed=3, for_seconds=2.0, after_successes=5
    )
    assert schedule.to_json() == {**raw, "forSeconds": 2.0}


def test_to_json_fills_in_defaults_and_omits_absent_keys() -> None:
    assert parse_schedule({"every": 2}).to_json() == {"every": 2, "offset": 0}
    assert parse_schedule({"probability": 1}).to_json() == {"probability": 1.0, "seed": 0}
    assert parse_schedule({"afterSuccesses": 0}).to_json() == {"afterSuccesses": 0}


def test_schedule_is_frozen_and_state_is_separate() -> None:
    schedule = Schedule(every=2)
    with pytest.raises(AttributeError):
        schedule.every = 3  # type: ignore[misc]
    one, two = schedule.new_state(), schedule.new_state()
    one.decide()
    assert (one.seen, two.seen) == (1, 0)


def test_state_snapshot() -> None:
    state = ScheduleState(Schedule(for_seconds=4.0))
    assert state.snapshot(0.0) == {"seen": 0, "fired": 0, "passed": 0, "secondsLeft": None}
    state.decide(10.0)
    assert state.snapshot(11.5) == {"seen": 1, "fired": 1, "passed": 0, "secondsLeft": 2.5}
    assert state.snapshot(20.0)["secondsLeft"] == 0.0
    assert Schedule(every=2).new_state().snapshot(0.0) == {"seen": 0, "fired": 0, "passed": 0}
