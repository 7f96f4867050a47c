"""The retry report: what a client did after each failure, in numbers, from journal entries.

Attempts are grouped into logical calls by session and request digest (model, method and the
request's content), in arrival order; the same digest after a complete answer (outcome ``ok``)
starts a new call. For each call the report gives, per attempt, its time from the first
attempt, status, outcome, chunks delivered, the delay the mock asked for, the gap since the
previous attempt ended and whether that gap covered the delay asked; then the call's gaps,
their growth, jitter, total time and how it ended. Verdicts are derived from those numbers
with the thresholds of :class:`Thresholds`, which the report prints along with them.

Definitions (``g`` the gaps of a call, in order):

- *gap*: the arrival of an attempt minus the end of the one before (its first byte or arrival
  when the mock recorded no end). Negative when the client was back before the mock saw the
  previous attempt end, as after a client timeout on a stall.
- *waited*: ``gap >= asked - retry_after_tolerance``, for an attempt after one that asked a
  delay (a ``Retry-After`` header or a ``google.rpc.RetryInfo`` detail).
- *growth*: the geometric mean of ``g[k] / g[k-1]`` over successive gaps that are both above
  1 ms; *backoff grows* when it is at least ``min_growth`` (needs 2 gaps).
- *jitter*: the gaps fit none of a constant, a geometric (``g[k] = r * g[k-1]``, ``r`` from the
  first two gaps) or a linear (``g[k] = g[k-1] + d``) sequence, each allowed to reach a cap
  once and stay there (a cap needs one more gap to confirm it), where two gaps match when
  they differ by at most ``max(jitter_abs, jitter_rel * expected)``. Needs 3 gaps.
- *fast retry*: a gap under ``storm_gap`` after an attempt the client did not abandon (an
  attempt the client hung up on ends when the mock noticed, not when the client left).
- *storm*: more than ``storm_attempts`` attempts, or at least ``storm_fast_retries`` fast retries.
- *non-retryable*: a retry after a status in ``non_retryable`` (400, 403, 404 by default), or
  after a 401 with the same credential digest (no credential counts as the same).
- *retried after content*: a retry after a failed stream attempt that had delivered chunks:
  the user may see that text twice.
- *gave up*: the call's last attempt failed and none succeeded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from mockvertex.engine.journal import Exchange, Journal, Outcome

__all__ = [
    "GAVE_UP",
    "NO_BACKOFF",
    "RETRIED_AFTER_CONTENT",
    "RETRIED_NON_RETRYABLE",
    "RETRY_AFTER_IGNORED",
    "RETRY_STORM",
    "Attempt",
    "CallReport",
    "Finding",
    "RetryReport",
    "Thresholds",
    "assert_retries",
    "retry_report",
]

# Finding codes (llmock's names where the idea is the same).
RETRY_AFTER_IGNORED = "retry_after_ignored"
RETRIED_NON_RETRYABLE = "retried_non_retryable"
RETRIED_AFTER_CONTENT = "retried_after_content"
RETRY_STORM = "retry_storm"
GAVE_UP = "gave_up"
NO_BACKOFF = "no_backoff"

_FAIL, _WARN = "fail", "warn"
_SOURCES = {"Retry-After": "RA", "RetryInfo": "RI"}
_TINY_GAP = 1e-3  # gaps at or below this are left out of growth ratios
_ABANDONED = frozenset({Outcome.CLIENT_DISCONNECTED})


@dataclass(frozen=True)
class Thresholds:
    """What the verdicts are measured against (seconds, ratios, counts)."""

    retry_after_tolerance: float = 0.05
    min_growth: float = 1.5
    jitter_abs: float = 0.02
    jitter_rel: float = 0.05
    storm_attempts: int = 10
    storm_gap: float = 0.05
    storm_fast_retries: int = 3
    non_retryable: tuple[int, ...] = (400, 403, 404)

    def to_json(self) -> dict[str, Any]:
        return {
            "retry_after_tolerance": self.retry_after_tolerance,
            "min_growth": self.min_growth,
            "jitter_abs": self.jitter_abs,
            "jitter_rel": self.jitter_rel,
            "storm_attempts": self.storm_attempts,
            "storm_gap": self.storm_gap,
            "storm_fast_retries": self.storm_fast_retries,
            "non_retryable": list(self.non_retryable),
        }

    def describe(self) -> str:
        codes = ", ".join(str(c) for c in self.non_retryable)
        return "\n".join(
            [
                "thresholds:",
                f"  waited: gap >= asked - {self.retry_after_tolerance:.3f} s",
                f"  backoff grows: growth >= {self.min_growth:.2f}",
                "  jitter: gaps fit no constant, geometric or linear sequence (capped or not)"
                f" within max({self.jitter_abs:.3f} s, {self.jitter_rel:.0%})",
                f"  storm: > {self.storm_attempts} attempts, or >= {self.storm_fast_retries}"
                f" retries < {self.storm_gap:.3f} s after the previous attempt ended",
                f"  non-retryable: {codes}; 401 with the same credentials",
            ]
        )


@dataclass(frozen=True)
class Finding:
    """One thing the client did wrong (``fail``) or might do better (``warn``)."""

    code: str
    severity: str
    attempt: int | None  # the attempt it is about, numbered from 1
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "attempt": self.attempt,
            "message": self.message,
        }


@dataclass(frozen=True)
class Attempt:
    """One attempt of a logical call, timed from the call's first arrival."""

    number: int
    entry_id: int
    t: float
    duration: float | None
    status: int
    error_code: int | None
    outcome: Outcome
    chunks: int
    asked: float | None
    asked_source: str | None
    gap: float | None  # since the previous attempt ended
    waited: bool | None  # for the delay the previous attempt asked; None if it asked none
    short_by: float | None  # how much sooner than asked it came (0 when it waited)
    token_digest: str | None
    client_hung_up: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "entry_id": self.entry_id,
            "t": self.t,
            "duration": self.duration,
            "status": self.status,
            "error_code": self.error_code,
            "outcome": self.outcome.value,
            "chunks": self.chunks,
            "asked": self.asked,
            "asked_source": self.asked_source,
            "gap": self.gap,
            "waited": self.waited,
            "short_by": self.short_by,
            "token_digest": self.token_digest,
            "client_hung_up": self.client_hung_up,
        }


@dataclass(frozen=True)
class CallReport:
    """One logical call: its attempts, the numbers about them, verdicts and findings."""

    number: int
    session: str
    model: str
    rpc: str
    digest: str
    attempts: tuple[Attempt, ...]
    gaps: tuple[float, ...]
    ratios: tuple[float, ...]
    growth: float | None
    backoff_grows: bool | None
    jitter: bool | None
    honours_retry_after: bool | None
    fast_retries: int
    storm: bool
    succeeded: bool
    gave_up: bool
    total_time: float
    findings: tuple[Finding, ...] = field(default=())

    @property
    def retries(self) -> int:
        return len(self.attempts) - 1

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "session": self.session,
            "model": self.model,
            "rpc": self.rpc,
            "digest": self.digest,
            "attempts": [a.to_json() for a in self.attempts],
            "gaps": list(self.gaps),
            "ratios": list(self.ratios),
            "growth": self.growth,
            "backoff_grows": self.backoff_grows,
            "jitter": self.jitter,
            "honours_retry_after": self.honours_retry_after,
            "fast_retries": self.fast_retries,
            "storm": self.storm,
            "succeeded": self.succeeded,
            "gave_up": self.gave_up,
            "total_time": self.total_time,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class RetryReport:
    """The retry report of a set of journal entries."""

    calls: tuple[CallReport, ...]
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.calls for f in c.findings]

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == _FAIL]

    def to_json(self) -> dict[str, Any]:
        return {
            "thresholds": self.thresholds.to_json(),
            "calls": [c.to_json() for c in self.calls],
        }

    def table(self) -> str:
        """The report as fixed-width text: a block per call, a row per attempt, findings."""
        blocks = [_call_block(c, self.thresholds) for c in self.calls] or ["no calls recorded"]
        legend = (
            "asked: the delay that attempt asked for (RA = Retry-After header, RI ="
            " google.rpc.RetryInfo detail)\ngap: since the previous attempt ended; waited: whether"
            " that gap covered the delay the previous attempt asked for"
        )
        return "\n\n".join([*blocks, legend + "\n" + self.thresholds.describe()])

    def __str__(self) -> str:
        return self.table()


# ---------------------------------------------------------------------------------------------
# Building the report


def retry_report(
    entries: Journal | Iterable[Exchange],
    thresholds: Thresholds | None = None,
    *,
    session: str | None = None,
) -> RetryReport:
    """The retry report of ``entries`` (a journal or its entries), of one session or all."""
    limits = thresholds or Thresholds()
    items = entries.entries(session) if isinstance(entries, Journal) else list(entries)
    groups: list[list[Exchange]] = []
    open_calls: dict[tuple[str, str], list[Exchange]] = {}
    for entry in sorted(items, key=lambda e: (e.arrival, e.id)):
        if session is not None and entry.session != session:
            continue
        key = (entry.session, entry.request_digest)
        group = open_calls.get(key)
        if group is None or group[-1].outcome is Outcome.OK:
            group = []
            open_calls[key] = group
            groups.append(group)
        group.append(entry)
    calls = tuple(_analyse(n, g, limits) for n, g in enumerate(groups, 1))
    return RetryReport(calls, limits)


def _end_of(entry: Exchange) -> float:
    if entry.end is not None:
        return entry.end
    return entry.first_byte if entry.first_byte is not None else entry.arrival


def _analyse(number: int, group: Sequence[Exchange], limits: Thresholds) -> CallReport:
    start = group[0].arrival
    attempts: list[Attempt] = []
    findings: list[Finding] = []
    for index, entry in enumerate(group):
        prev = group[index - 1] if index else None
        gap = None if prev is None else entry.arrival - _end_of(prev)
        waited = short_by = None
        if prev is not None and prev.retry_after is not None and gap is not None:
            waited = gap >= prev.retry_after - limits.retry_after_tolerance
            short_by = max(0.0, prev.retry_after - gap)
        attempts.append(
            Attempt(
                number=index + 1,
                entry_id=entry.id,
                t=entry.arrival - start,
                duration=entry.duration,
                status=entry.status,
                error_code=entry.error_code,
                outcome=entry.outcome,
                chunks=entry.chunks_sent,
                asked=entry.retry_after,
                asked_source=entry.retry_after_source,
                gap=gap,
                waited=waited,
                short_by=short_by,
                token_digest=entry.token_digest,
                client_hung_up=entry.client_hung_up,
            )
        )
        if prev is not None:
            findings.extend(_retry_findings(index + 1, prev, entry, attempts[-1], limits))

    gaps = tuple(a.gap for a in attempts if a.gap is not None)
    ratios = tuple(b / a for a, b in pairwise(gaps) if a > _TINY_GAP and b > _TINY_GAP)
    growth = math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else None
    backoff_grows = None if growth is None else growth >= limits.min_growth
    jitter = _jitter(gaps, limits)
    checks = [a.waited for a in attempts if a.waited is not None]
    honours = all(checks) if checks else None
    fast = sum(
        1
        for prev, a in zip(group, attempts[1:], strict=False)
        if a.gap is not None
        and a.gap < limits.storm_gap
        and not prev.client_hung_up
        and prev.outcome not in _ABANDONED
    )
    storm = len(attempts) > limits.storm_attempts or fast >= limits.storm_fast_retries
    last = group[-1]
    succeeded = last.outcome is Outcome.OK
    gave_up = last.outcome not in (Outcome.OK, Outcome.PENDING)
    total = max(_end_of(e) for e in group) - start

    if storm:
        findings.append(
            Finding(
                RETRY_STORM,
                _FAIL,
                None,
                f"{len(attempts)} attempts (limit {limits.storm_attempts}), {fast} of them"
                f" less than {limits.storm_gap:.3f} s after the previous one ended"
                f" (limit {limits.storm_fast_retries})",
            )
        )
    if backoff_grows is False and not any(e.retry_after is not None for e in group):
        findings.append(
            Finding(
                NO_BACKOFF,
                _WARN,
                None,
                f"gaps {_seconds(gaps)} s did not grow: growth {growth:.2f}"
                f" < {limits.min_growth:.2f}, and the mock asked for no delay",
            )
        )
    if gave_up:
        findings.append(
            Finding(
                GAVE_UP,
                _WARN,
                len(attempts),
                f"the client stopped after {len(attempts)} attempt(s) over {total:.3f} s;"
                f" the last ended {_status_text(last)} {last.outcome.value}, none succeeded",
            )
        )
    return CallReport(
        number=number,
        session=group[0].session,
        model=group[0].model,
        rpc=group[0].rpc,
        digest=group[0].request_digest,
        attempts=tuple(attempts),
        gaps=gaps,
        ratios=ratios,
        growth=growth,
        backoff_grows=backoff_grows,
        jitter=jitter,
        honours_retry_after=honours,
        fast_retries=fast,
        storm=storm,
        succeeded=succeeded,
        gave_up=gave_up,
        total_time=total,
        findings=tuple(findings),
    )


def _retry_findings(
    number: int, prev: Exchange, entry: Exchange, attempt: Attempt, limits: Thresholds
) -> list[Finding]:
    """What attempt ``number`` (``entry``) did wrong by coming after ``prev``."""
    out: list[Finding] = []
    if attempt.waited is False and prev.retry_after is not None and attempt.gap is not None:
        source = prev.retry_after_source or "the mock"
        out.append(
            Finding(
                RETRY_AFTER_IGNORED,
                _FAIL,
                number,
                f"attempt {number} came {attempt.gap:.3f} s after attempt {number - 1} ended,"
                f" which asked for {prev.retry_after:.3f} s ({source}):"
                f" {attempt.short_by or 0.0:.3f} s too early"
                f" (tolerance {limits.retry_after_tolerance:.3f} s)",
            )
        )
    code = _error_code(prev)
    if code in limits.non_retryable:
        out.append(
            Finding(
                RETRIED_NON_RETRYABLE,
                _FAIL,
                number,
                f"attempt {number} repeated a request attempt {number - 1} was refused"
                f" with {_status_text(prev)}, which a retry cannot fix",
            )
        )
    elif code == 401 and entry.token_digest == prev.token_digest:
        credential = (
            f"the same credentials (digest {entry.token_digest})"
            if entry.token_digest is not None
            else "no credentials again"
        )
        out.append(
            Finding(
                RETRIED_NON_RETRYABLE,
                _FAIL,
                number,
                f"attempt {number} retried a 401 of attempt {number - 1} with {credential}",
            )
        )
    failed = prev.outcome not in (Outcome.OK, Outcome.PENDING)
    if failed and prev.chunks_sent > 0 and prev.framing != "unary":
        out.append(
            Finding(
                RETRIED_AFTER_CONTENT,
                _FAIL,
                number,
                f"attempt {number - 1} had delivered {prev.chunks_sent} chunk(s) before it"
                f" ended {prev.outcome.value}; attempt {number} asks again, so the user may"
                " see that text twice",
            )
        )
    return out


def _error_code(entry: Exchange) -> int | None:
    if entry.error_code is not None:
        return entry.error_code
    return entry.status if entry.status >= 400 else None


def _status_text(entry: Exchange) -> str:
    text = str(entry.status)
    if entry.error_code is not None and entry.error_code != entry.status:
        text += f" (error {entry.error_code} in the stream)"
    if entry.verdict is not None:
        text += f" {entry.verdict.status}"
    return text


def _jitter(gaps: Sequence[float], limits: Thresholds) -> bool | None:
    """True when the gaps fit no deterministic sequence (see the module's definitions)."""
    if len(gaps) < 3:
        return None

    def close(actual: float, expected: float) -> bool:
        return abs(actual - expected) <= max(limits.jitter_abs, limits.jitter_rel * abs(expected))

    first, second = gaps[0], gaps[1]
    families: list[Callable[[float], float]] = [lambda g: g + (second - first)]
    if first > _TINY_GAP:
        families.append(lambda g: g * (second / first))
    return not any(_fits(gaps, step, close) for step in families)


def _fits(
    gaps: Sequence[float],
    step: Callable[[float], float],
    close: Callable[[float, float], bool],
) -> bool:
    capped = False
    for k in range(2, len(gaps)):
        prev, actual = gaps[k - 1], gaps[k]
        if not capped and close(actual, step(prev)):
            continue
        if close(actual, prev):
            capped = True  # at the cap: stays there
            continue
        expected = step(prev)
        low, high = min(prev, expected), max(prev, expected)
        if not capped and low < actual < high and k + 1 < len(gaps):
            capped = True  # cut short by a cap on its way to the next step; confirmed next
            continue
        return False
    return True


# ---------------------------------------------------------------------------------------------
# The table


_HEADER = (
    f"{'#':>4}  {'t (s)':>9}  {'status':>8}  {'outcome':<19}  {'chunks':>6}  "
    f"{'asked (s)':>10}  {'gap (s)':>9}  waited"
)


def _seconds(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values) if values else "-"


def _cell(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def _row(a: Attempt) -> str:
    status = str(a.status)
    if a.error_code is not None and a.error_code != a.status:
        status = f"{a.status}/{a.error_code}"
    if a.asked is None:
        asked = f"{'-':>10}"
    else:
        asked = f"{a.asked:>7.3f} {_SOURCES.get(a.asked_source or '', '??')}"
    if a.waited is None:
        waited = "-"
    elif a.waited:
        waited = "yes"
    else:
        waited = f"no, {a.short_by or 0.0:.3f} s early"
    hung = " (client hung up)" if a.client_hung_up else ""
    return (
        f"{a.number:>4}  {a.t:>9.3f}  {status:>8}  {a.outcome.value:<19}  {a.chunks:>6}  "
        f"{asked}  {_cell(a.gap, 9)}  {waited}{hung}"
    )


def _yes_no(*, value: bool | None, missing: str) -> str:
    if value is None:
        return f"- ({missing})"
    return "yes" if value else "no"


def _call_block(call: CallReport, limits: Thresholds) -> str:
    where = f"{call.model} {call.rpc}".strip() or "?"
    head = (
        f"call {call.number}: session {call.session}, {where}, digest {call.digest or '-'},"
        f" {len(call.attempts)} attempt(s)"
    )
    growth = "-" if call.growth is None else f"{call.growth:.2f}"
    if call.succeeded:
        ending = "succeeded"
    elif call.gave_up:
        ending = "gave up"
    else:
        ending = "still pending"
    grows = _yes_no(value=call.backoff_grows, missing="needs 2 gaps")
    jitter = _yes_no(value=call.jitter, missing="needs 3 gaps")
    honoured = _yes_no(value=call.honours_retry_after, missing="none asked")
    numbers = [
        f"  total {call.total_time:.3f} s; gaps {_seconds(call.gaps)} s;"
        f" growth {growth} (backoff grows: {grows}); jitter: {jitter}",
        f"  asked delays honoured: {honoured}; fast retries {call.fast_retries};"
        f" storm: {'yes' if call.storm else 'no'}; {ending}",
    ]
    if call.findings:
        found = [f"    {f.severity.upper():<4} {f.code}: {f.message}" for f in call.findings]
    else:
        found = ["    none"]
    rows = ["  " + _row(a) for a in call.attempts]
    return "\n".join([head, "  " + _HEADER, *rows, *numbers, "  findings:", *found])


# ---------------------------------------------------------------------------------------------
# Assertions


def assert_retries(
    report_or_entries: RetryReport | Journal | Iterable[Exchange],
    *,
    attempts: int | None = None,
    max_attempts: int | None = None,
    honours_retry_after: bool | None = None,
    backoff_grows: bool | None = None,
    jitter: bool | None = None,
    no_non_retryable: bool = True,
    no_retry_after_content: bool = True,
    no_storm: bool = True,
    gave_up: bool | None = None,
    calls: int | None = None,
    call: int | None = None,
    session: str | None = None,
    thresholds: Thresholds | None = None,
) -> RetryReport:
    """Check what a client did; raise AssertionError with the report's table if it differs.

    Each expectation holds for every logical call, or for ``report.calls[call]`` alone.
    ``None`` checks nothing; a verdict the numbers cannot give (``None``, such as growth with
    fewer than two gaps) fails any True or False expectation. ``calls`` is the number of
    logical calls expected. ``thresholds`` applies when entries are given. Returns the report.
    """
    if isinstance(report_or_entries, RetryReport):
        report = report_or_entries
        if session is not None:
            report = RetryReport(
                tuple(c for c in report.calls if c.session == session), report.thresholds
            )
    else:
        report = retry_report(report_or_entries, thresholds, session=session)
    problems: list[str] = []
    if calls is not None and len(report.calls) != calls:
        problems.append(f"expected {calls} logical call(s), saw {len(report.calls)}")
    selected = list(report.calls)
    if call is not None:
        try:
            selected = [report.calls[call]]
        except IndexError:
            problems.append(f"no call {call}: the report has {len(report.calls)}")
            selected = []
    elif not selected:
        problems.append("no attempts recorded")
    for c in selected:
        problems.extend(
            _check_call(
                c,
                attempts=attempts,
                max_attempts=max_attempts,
                verdicts={
                    "honours_retry_after": honours_retry_after,
                    "backoff_grows": backoff_grows,
                    "jitter": jitter,
                    "gave_up": gave_up,
                },
                banned={
                    RETRIED_NON_RETRYABLE: no_non_retryable,
                    RETRIED_AFTER_CONTENT: no_retry_after_content,
                    RETRY_STORM: no_storm,
                },
            )
        )
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise AssertionError(f"retry expectations not met:\n{listed}\n\n{report.table()}")
    return report


def _check_call(
    c: CallReport,
    *,
    attempts: int | None,
    max_attempts: int | None,
    verdicts: dict[str, bool | None],
    banned: dict[str, bool],
) -> list[str]:
    out: list[str] = []
    name = f"call {c.number}"
    if attempts is not None and len(c.attempts) != attempts:
        out.append(f"{name}: expected {attempts} attempt(s), saw {len(c.attempts)}")
    if max_attempts is not None and len(c.attempts) > max_attempts:
        out.append(f"{name}: expected at most {max_attempts} attempt(s), saw {len(c.attempts)}")
    for verdict, expected in verdicts.items():
        if expected is None:
            continue
        actual = getattr(c, verdict)
        if actual is None:
            out.append(f"{name}: expected {verdict}={expected}, but the numbers cannot tell")
        elif actual != expected:
            out.append(f"{name}: expected {verdict}={expected}, saw {actual}")
    for code, forbidden in banned.items():
        if forbidden:
            out.extend(f"{name}: {f.code}: {f.message}" for f in c.findings if f.code == code)
    return out
