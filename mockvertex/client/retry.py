"""The retry policy both transports share: pure decisions, an injected clock and random source.

A transport reports each failed attempt as a ``Failure`` and gets a ``Decision`` back: retry or
not, how long to wait, and why. Nothing here sleeps or sends; the sync client sleeps with
``time.sleep``, the async one with ``asyncio.sleep``, tests with a fake clock.

What it does, and where each rule comes from:

* **Which failures**: HTTP 408, 429, 500, 502, 503, 504, connection errors and timeouts, as
  google-genai's ``HttpRetryOptions`` (``_api_client.py``: ``retry_args``). 400, 403 and 404
  are never retried, whatever the configuration says: the same request gets the same verdict.
  A 401 is answered by refreshing the credentials once, when they can be refreshed.
* **How long**: exponential backoff with *full jitter* (a uniform wait in ``[0, cap]``, the cap
  ``initial_delay * exp_base ** (retry - 1)`` bounded by ``max_delay``), the AWS architecture
  blog's "Exponential Backoff And Jitter", so a fleet of clients does not retry in lockstep.
  Defaults are google-genai's: 5 attempts, 1 s initial, 60 s cap, base 2.
* **Server hints**: ``Retry-After`` (delay-seconds or an HTTP-date, RFC 9110 §10.2.3) and
  ``google.rpc.RetryInfo.retryDelay`` in the error details are honoured, capped at
  ``max_server_delay``: the wait is the larger of the hint and the jittered backoff, as the
  AWS SDK for JavaScript v3 does (google-genai ignores both: googleapis/python-genai#1875).
* **A deadline** over the whole call, every attempt and every wait (gRPC's call deadline,
  google-api-core's ``Retry(timeout=...)``): a wait that would cross it is not taken.
* **A retry budget** shared by every call of one client (the AWS SDKs' retry quota: 500
  tokens, a retry costs 5, a retried timeout 10, a success gives back what its retry took, or
  1 when it needed none), so an outage does not become a retry storm.
* **Streams**: once a chunk of the answer has reached the caller the call is committed (gRPC's
  retry design A6 commits on response headers; here on content, which is when a replay would
  show the user duplicate text): a failure after it is raised, never retried.
"""

from __future__ import annotations

import enum
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from random import random as _random
from typing import Any

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "NEVER_RETRIED",
    "CallRetry",
    "Decision",
    "Failure",
    "FailureKind",
    "RetryBudget",
    "RetryPolicy",
    "parse_retry_after",
    "parse_retry_info",
]

#: google-genai's ``HttpRetryOptions.http_status_codes`` default.
DEFAULT_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Statuses whose verdict does not change on a second try.
NEVER_RETRIED = frozenset({400, 403, 404})
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d{0,9})?)s\s*$")  # google.protobuf.Duration in JSON


class FailureKind(enum.Enum):
    """What went wrong with one attempt."""

    STATUS = "status"  # an error status, or an error envelope inside a 200 stream
    CONNECTION = "connection"  # refused, reset, or a body that ended early
    TIMEOUT = "timeout"  # connect or read timeout
    MALFORMED = "malformed"  # bytes that are not Vertex's framing


@dataclass(frozen=True)
class Failure:
    """One failed attempt, as the policy needs to see it."""

    kind: FailureKind
    #: The HTTP status (or the ``code`` of an in-stream error envelope), for ``STATUS``.
    http_status: int | None = None
    #: The ``Retry-After`` header as received.
    retry_after: str | None = None
    #: The error's ``details`` (where ``google.rpc.RetryInfo`` lives).
    details: tuple[Mapping[str, Any], ...] = ()
    #: Whether a chunk of this call's answer had already reached the caller.
    delivered: bool = False
    #: Whether the credentials can be refreshed (a 401 is then tried once more).
    refreshable: bool = False

    def describe(self) -> str:
        if self.kind is FailureKind.STATUS:
            return f"HTTP {self.http_status}"
        return str(self.kind.value)


@dataclass(frozen=True)
class Decision:
    """What to do after a failed attempt."""

    retry: bool
    wait: float
    reason: str
    #: Refresh the credentials before the next attempt (after a 401).
    refresh: bool = False


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date.

    ``now`` is the wall clock (``time.time()``) an HTTP-date is measured from. A date in the
    past means 0; a value that is neither form is ignored (None), as RFC 9110 allows.
    """
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may parse naive
        return None
    return max(0.0, when.timestamp() - now)


def parse_retry_info(details: Iterable[Mapping[str, Any]]) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``{"retryDelay": "1.5s"}``), if any."""
    for detail in details:
        if detail.get("@type") != RETRY_INFO_TYPE:
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and (m := _DURATION.match(delay)):
            return float(m.group(1))
        if isinstance(delay, Mapping):  # the proto shape, {seconds, nanos}, seen in some logs
            try:
                return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
            except (TypeError, ValueError):
                return None
    return None


class RetryBudget:
    """A token bucket shared by all calls of one client: AWS's retry quota.

    A retry takes ``retry_cost`` tokens (``timeout_cost`` after a timeout) and is refused when
    fewer are left. A success gives back what its own last retry took, or ``success_increment``
    when it needed no retry, up to ``capacity``. Thread-safe.
    """

    def __init__(
        self,
        capacity: int = 500,
        *,
        retry_cost: int = 5,
        timeout_cost: int = 10,
        success_increment: int = 1,
    ) -> None:
        if capacity < 0 or retry_cost < 0 or timeout_cost < 0 or success_increment < 0:
            raise ValueError("retry budget figures must be >= 0")
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self.success_increment = success_increment
        self._available = capacity
        self._lock = threading.Lock()

    @property
    def available(self) -> int:
        return self._available

    def cost(self, kind: FailureKind) -> int:
        return self.timeout_cost if kind is FailureKind.TIMEOUT else self.retry_cost

    def acquire(self, kind: FailureKind) -> int | None:
        """Take the cost of one retry; None (nothing taken) when the budget cannot pay it."""
        cost = self.cost(kind)
        with self._lock:
            if self._available < cost:
                return None
            self._available -= cost
            return cost

    def release(self, retry_cost: int) -> None:
        """A call succeeded: ``retry_cost`` is what its last retry took (0 if none)."""
        with self._lock:
            back = retry_cost if retry_cost else self.success_increment
            self._available = min(self.capacity, self._available + back)

    def __repr__(self) -> str:
        return f"RetryBudget({self._available}/{self.capacity})"


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries; the defaults are google-genai's ``HttpRetryOptions``.

    ``attempts`` counts the first call (1: no retry). ``deadline`` (seconds, None: none) bounds
    the whole call. ``max_server_delay`` caps the wait a server may ask for (default:
    ``max_delay``). ``retry_malformed`` retries a body that is not valid framing, while no
    chunk has reached the caller (a proxy's error page, a frame cut in transit).
    """

    attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 60.0
    exp_base: float = 2.0
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    retry_connection_errors: bool = True
    retry_malformed: bool = True
    max_server_delay: float | None = None
    deadline: float | None = 600.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1 (1: no retry)")
        for name in ("initial_delay", "max_delay", "exp_base"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0")
        if self.exp_base < 1:
            raise ValueError("exp_base must be >= 1")
        if self.max_server_delay is not None and not self.max_server_delay >= 0:
            raise ValueError("max_server_delay must be >= 0")
        if self.deadline is not None and not self.deadline > 0:
            raise ValueError("deadline must be > 0 seconds, or None")
        never = sorted(set(self.retry_statuses) & NEVER_RETRIED)
        if never:
            raise ValueError(f"HTTP {never} is never retried: the same request gets it again")
        object.__setattr__(self, "retry_statuses", frozenset(self.retry_statuses))

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt, no retry (a 401 still gets its one credential refresh)."""
        return cls(attempts=1)

    def backoff_cap(self, retry: int) -> float:
        """The upper bound of the jittered wait before retry number ``retry`` (1-based)."""
        try:
            grown = self.initial_delay * self.exp_base ** (retry - 1)
        except OverflowError:
            grown = math.inf
        return min(self.max_delay, grown)

    def retryable(self, failure: Failure) -> bool:
        if failure.kind is FailureKind.STATUS:
            status = failure.http_status
            return (
                status is not None
                and status not in NEVER_RETRIED
                and (status in self.retry_statuses)
            )
        if failure.kind is FailureKind.MALFORMED:
            return self.retry_malformed
        return self.retry_connection_errors

    def start(
        self,
        *,
        budget: RetryBudget | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = _random,
    ) -> CallRetry:
        """The retry state of one call. ``deadline`` overrides the policy's for this call."""
        limit = self.deadline if deadline is None else deadline
        if limit is not None and not limit > 0:
            raise ValueError("deadline must be > 0 seconds")
        return CallRetry(self, budget, limit, clock, wall_clock, rng)


def _stop(reason: str) -> Decision:
    return Decision(retry=False, wait=0.0, reason=reason)


@dataclass
class CallRetry:
    """One call's attempts: counts them, keeps its deadline, and decides after each failure."""

    policy: RetryPolicy
    budget: RetryBudget | None
    deadline: float | None
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    rng: Callable[[], float]
    attempts: int = 0
    retries: int = 0
    waited: float = 0.0
    refreshed: bool = False
    _started: float = field(default=0.0, init=False)
    _last_cost: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._started = self.clock()

    def begin(self) -> int:
        """An attempt starts; its number (1-based)."""
        self.attempts += 1
        return self.attempts

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline); may be <= 0."""
        if self.deadline is None:
            return None
        return self.deadline - (self.clock() - self._started)

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def timeout(self, per_attempt: float | None) -> float | None:
        """An attempt's timeout: ``per_attempt``, shortened to what the deadline leaves."""
        left = self.remaining()
        if left is None:
            return per_attempt
        left = max(left, 0.001)
        return left if per_attempt is None else min(per_attempt, left)

    def server_delay(self, failure: Failure) -> tuple[float, str] | None:
        """The wait the server asked for, capped, and how it asked; None when it did not."""
        asked: list[tuple[float, str]] = []
        if failure.retry_after is not None:
            seconds = parse_retry_after(failure.retry_after, self.wall_clock())
            if seconds is not None:
                asked.append((seconds, f"Retry-After {failure.retry_after.strip()}"))
        info = parse_retry_info(failure.details)
        if info is not None:
            asked.append((info, f"RetryInfo {info:g}s"))
        if not asked:
            return None
        seconds, how = max(asked)
        cap = (
            self.policy.max_delay
            if self.policy.max_server_delay is None
            else (self.policy.max_server_delay)
        )
        if seconds > cap:
            return cap, f"{how}, capped at {cap:g}s"
        return seconds, how

    def failed(self, failure: Failure) -> Decision:
        """Decide what follows a failed attempt."""
        if failure.delivered:
            return _stop("content already reached the caller: not replayed")
        if failure.http_status == 401 and failure.kind is FailureKind.STATUS:
            if not failure.refreshable:
                return _stop("not retryable: static credentials were refused")
            if self.refreshed:
                return _stop("refused again after a credential refresh")
            if self.expired():
                return _stop("deadline reached")
            self.refreshed = True
            return Decision(
                retry=True, wait=0.0, reason="credentials refreshed once after 401", refresh=True
            )
        if not self.policy.retryable(failure):
            return _stop(f"not retryable: {failure.describe()}")
        if self.attempts >= self.policy.attempts:
            return _stop(f"attempts exhausted ({self.attempts} of {self.policy.attempts})")
        retry = self.retries + 1
        cap = self.policy.backoff_cap(retry)
        wait = cap * self.rng()
        reason = f"backoff {wait:.3f}s (full jitter in [0, {cap:g}s])"
        hinted = self.server_delay(failure)
        if hinted is not None and hinted[0] >= wait:
            wait, reason = hinted[0], f"server asked: {hinted[1]}"
        left = self.remaining()
        if left is not None and wait >= left:
            return _stop(
                f"deadline: {max(left, 0):.3f}s left, a wait of {wait:.3f}s would cross it",
            )
        if self.budget is not None:
            cost = self.budget.acquire(failure.kind)
            if cost is None:
                return _stop(
                    f"retry budget exhausted ({self.budget.available} left, a retry costs "
                    f"{self.budget.cost(failure.kind)})",
                )
            self._last_cost = cost
        self.retries = retry
        self.waited += wait
        return Decision(retry=True, wait=wait, reason=reason)

    def succeeded(self) -> None:
        """The call succeeded: the shared budget gets its tokens back."""
        if self.budget is not None:
            self.budget.release(self._last_cost)

    @property
    def elapsed(self) -> float:
        return self.clock() - self._started
