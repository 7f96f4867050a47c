"""Schedules: when a scenario step fires, written as data in the step's ``when`` object.

Words used below. A request *reaches* a step when it is offered to the step's scenario (every
scenario before it in the book either did not match or let the request pass), the scenario's
``match`` holds, and the step is the scenario's current one (its first step with uses left).
The step then either **fires**: it answers the request and one of its ``times`` is used; or
**passes**: the step is not consumed, and the request falls through to the next matching
scenario in the book, then to the default responder. A step without ``when`` always fires.

The keys of ``when`` are AND-ed: the step fires only when every key given says yes.

* ``"every": K`` (``"offset": O``, default 0): the first O requests that reach the step are
  not counted; after them every K-th one fires, i.e. the requests numbered O+K, O+2K, ...
  (1-based, counting every request that reached the step). ``{"every": 3}`` fires on the
  3rd, 6th, 9th; ``{"every": 3, "offset": 1}`` on the 4th, 7th, 10th.
* ``"probability": p`` (``"seed": s``, default 0): fires with probability p. The n-th request
  that reaches the step is decided by the n-th draw of ``random.Random(s)`` (a draw is taken
  for every request that reaches the step, whatever the other keys say), so the same seed and
  the same request order give the same faults, in every run and on every machine.
* ``"forSeconds": S``: fires during the S seconds that start with the first request reaching
  the step (not when the scenario was added: a server started with ``--scenario`` may wait a
  long time before its first request). The first request at or after S seconds ends the
  window, and with it the step: the step is over as if its ``times`` were used up, so the
  scenario's next step takes over, for that same request, and after the last step the
  scenario is used up. A step whose window is over never fires again.
* ``"afterSuccesses": M``: the first M *successes* pass. A success is a request this step let
  pass (for any reason: this key or another one) to later scenarios or the default responder,
  whatever they then answered; requests the step fired on are not successes.

``times`` counts the requests the step fired on; passes use none of it.

:class:`Schedule` is the typed, frozen value parsed once at load; :class:`ScheduleState` is the
mutable counters (requests seen, fired, passed), the window's start and the random source of
one step in one book, kept by the book beside the step, never in the frozen step.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Decision", "Schedule", "ScheduleState", "parse_schedule"]


class Decision(enum.Enum):
    """What a schedule says about one request that reached its step."""

    FIRE = "fire"  # the step answers, one use is consumed
    PASS = "pass"  # the request falls through to later scenarios, nothing consumed
    OVER = "over"  # the step's window has ended: the step is done, the request not counted


@dataclass(frozen=True, slots=True)
class Schedule:
    """A step's ``when``, typed; ``None`` fields are not tested."""

    every: int | None = None
    offset: int = 0
    probability: float | None = None
    seed: int = 0
    for_seconds: float | None = None
    after_successes: int | None = None

    def new_state(self) -> ScheduleState:
        """Fresh counters for this schedule in one book."""
        return ScheduleState(self)

    def to_json(self) -> dict[str, Any]:
        """The ``when`` object this schedule was read from (defaults filled in: ``offset``
        with ``every``, ``seed`` with ``probability``)."""
        out: dict[str, Any] = {}
        if self.every is not None:
            out["every"] = self.every
            out["offset"] = self.offset
        if self.probability is not None:
            out["probability"] = self.probability
            out["seed"] = self.seed
        if self.for_seconds is not None:
            out["forSeconds"] = self.for_seconds
        if self.after_successes is not None:
            out["afterSuccesses"] = self.after_successes
        return out


def parse_schedule(raw: Mapping[str, Any]) -> Schedule:
    """A :class:`Schedule` from a ``when`` object already checked against the scenario schema
    (which holds every rule: the loader reports them with the field path)."""
    every = raw.get("every")
    probability = raw.get("probability")
    for_seconds = raw.get("forSeconds")
    after = raw.get("afterSuccesses")
    return Schedule(
        every=None if every is None else int(every),
        offset=int(raw.get("offset", 0)),
        probability=None if probability is None else float(probability),
        seed=int(raw.get("seed", 0)),
        for_seconds=None if for_seconds is None else float(for_seconds),
        after_successes=None if after is None else int(after),
    )


@dataclass(slots=True)
class ScheduleState:
    """One step's schedule counters in one book. Not thread-safe: the book holds its lock.

    ``seen`` counts the requests that reached the step while its window (if any) was open;
    ``seen == fired + passed``. ``started`` is the clock reading of the first request.
    """

    schedule: Schedule
    seen: int = 0
    fired: int = 0
    passed: int = 0
    started: float | None = None
    over: bool = False
    rng: random.Random | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.schedule.probability is not None and self.rng is None:
            self.rng = random.Random(self.schedule.seed)

    def expired(self, now: float) -> bool:
        """Whether the ``forSeconds`` window has ended by ``now`` (False before it starts)."""
        if self.over:
            return True
        limit = self.schedule.for_seconds
        return limit is not None and self.started is not None and now - self.started >= limit

    def decide(self, now: float = 0.0) -> Decision:
        """Fire or pass the request reaching the step at clock reading ``now``, counting it.

        ``now`` is read only by ``forSeconds``; the book passes 0 for other schedules.
        """
        schedule = self.schedule
        if schedule.for_seconds is not None:
            if self.started is None:
                self.started = now
            elif self.over or now - self.started >= schedule.for_seconds:
                self.over = True
                return Decision.OVER
        self.seen = n = self.seen + 1
        fire = True
        if schedule.every is not None:
            k = n - schedule.offset
            fire = k > 0 and k % schedule.every == 0
        if self.rng is not None:
            draw = self.rng.random()  # always drawn: the n-th request gets the n-th draw
            fire = fire and draw < (schedule.probability or 0.0)
        if fire and schedule.after_successes is not None:
            fire = self.passed >= schedule.after_successes
        if fire:
            self.fired += 1
            return Decision.FIRE
        self.passed += 1
        return Decision.PASS

    def snapshot(self, now: float) -> dict[str, Any]:
        """JSON-ready counters; ``secondsLeft`` (with ``forSeconds``) is None before the first
        request and 0 once the window is over."""
        out: dict[str, Any] = {"seen": self.seen, "fired": self.fired, "passed": self.passed}
        limit = self.schedule.for_seconds
        if limit is not None:
            if self.started is None:
                out["secondsLeft"] = None
            else:
                out["secondsLeft"] = 0.0 if self.over else max(0.0, limit - (now - self.started))
        return out
