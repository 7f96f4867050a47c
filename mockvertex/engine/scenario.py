"""Scenarios as data: loading and validating scenario files, matching requests, and the book
that hands out steps with their lifetimes and schedules.

A scenario file (``format: 1``, described in ``mockvertex/schemas/scenario.schema.json``) has a
``match`` and ordered ``steps``; each step is used ``times`` times (``"forever"`` on the last
step, or on a step whose ``when`` has ``forSeconds``). The :class:`ScenarioBook` is the mock's
state: it offers a request to its scenarios in the order added. A scenario whose match holds
and which has uses left hands the request to its current step (its first step with uses left):

* a step without ``when`` answers, and one of its uses is consumed;
* a step with ``when`` (a :class:`~mockvertex.engine.schedule.Schedule`) answers only when its
  schedule says yes. When the schedule says no, the step is not consumed and the request falls
  through to the next matching scenario, then to the default responder (``step`` ``None``);
* a used-up scenario no longer matches: the request falls through the same way.

A step's schedule counters (requests seen, fired, passed; the window's start; the random
source) live in the book's entry for the scenario, so one scenario added to two books, or
added again, starts afresh. The book reads its injected ``clock`` only for ``forSeconds``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import translate
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema

from mockvertex.contract import resources
from mockvertex.contract.errors import DataFileError
from mockvertex.engine.faults import (
    ErrorSpec,
    Fault,
    Pacing,
    parse_error,
    parse_fault,
    parse_pacing,
)
from mockvertex.engine.schedule import Decision, Schedule, ScheduleState, parse_schedule

__all__ = [
    "API_VERSIONS",
    "FRAMINGS",
    "METHODS",
    "Match",
    "RequestContext",
    "Scenario",
    "ScenarioBook",
    "Selection",
    "Step",
    "load_builtin",
    "load_scenario",
    "parse_step",
]

METHODS = ("generateContent", "streamGenerateContent", "countTokens")
API_VERSIONS = ("v1", "v1beta1")
#: The framings a call can ask for (``contract.wire.Framing`` values).
FRAMINGS = ("unary", "sse", "array")
_SCHEMA_NAME = "scenario.schema.json"
_VERSION_SUFFIX = re.compile(r"-\d+$")


def _is_user(content: Mapping[str, Any]) -> bool:
    role = content.get("role")
    return role is None or role == "" or str(role).lower() == "user"


@dataclass(frozen=True)
class RequestContext:
    """What a scenario can look at: the model id and method from the URL, the API version
    (``v1``/``v1beta1``), the normalized request body, the framing the call asked for
    (``unary``, ``sse`` or ``array``; empty: implied by the method, ``array`` for
    streamGenerateContent and ``unary`` otherwise) and the request's session (empty when not
    known)."""

    model: str
    method: str
    api_version: str
    request: Mapping[str, Any]
    framing: str = ""
    session: str = ""

    @property
    def effective_framing(self) -> str:
        """``framing``, or the one the method implies when it was not given."""
        if self.framing:
            return self.framing
        return "array" if self.method == "streamGenerateContent" else "unary"

    @property
    def last_user_text(self) -> str:
        """Concatenated text parts of the last content whose role is user (or absent)."""
        for content in reversed(list(self.request.get("contents") or ())):
            if isinstance(content, Mapping) and _is_user(content):
                return "".join(
                    str(p["text"])
                    for p in content.get("parts") or ()
                    if isinstance(p, Mapping) and "text" in p
                )
        return ""

    @property
    def turn(self) -> int:
        """Number of user contents (role user or absent), function responses included."""
        return sum(
            1 for c in self.request.get("contents") or () if isinstance(c, Mapping) and _is_user(c)
        )

    @property
    def has_tools(self) -> bool:
        return bool(self.request.get("tools"))


@dataclass(frozen=True)
class Match:
    """The ``match`` object of a scenario; ``None`` fields are not tested."""

    model: str | None = None
    methods: tuple[str, ...] | None = None
    contains: str | None = None
    regex: re.Pattern[str] | None = None
    turn: int | None = None
    has_tools: bool | None = None
    api_versions: tuple[str, ...] | None = None
    framings: tuple[str, ...] | None = None
    session: str | None = None
    _model_test: Callable[[str], bool] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _session_test: Callable[[str], object] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # the hot path's shortcuts: no key at all; any of apiVersion, framing, session
    _empty: bool = field(default=True, init=False, repr=False, compare=False)
    _routing: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.model is not None:
            object.__setattr__(self, "_model_test", _ModelGlob(self.model))
        if self.session is not None:
            object.__setattr__(self, "_session_test", _glob(self.session).match)
        routing = (self.api_versions, self.framings, self.session) != (None, None, None)
        others = (self.model, self.methods, self.contains, self.regex, self.turn, self.has_tools)
        object.__setattr__(self, "_routing", routing)
        object.__setattr__(self, "_empty", not routing and all(v is None for v in others))

    def matches(self, ctx: RequestContext) -> bool:
        if self._empty:
            return True
        if self._model_test is not None and not self._model_test(ctx.model):
            return False
        if self.methods is not None and ctx.method not in self.methods:
            return False
        if self._routing:
            if self.api_versions is not None and ctx.api_version not in self.api_versions:
                return False
            if self.framings is not None and ctx.effective_framing not in self.framings:
                return False
            if self._session_test is not None and self._session_test(ctx.session) is None:
                return False
        if self.turn is not None and ctx.turn != self.turn:
            return False
        if self.has_tools is not None and ctx.has_tools != self.has_tools:
            return False
        if self.contains is not None or self.regex is not None:
            text = ctx.last_user_text
            if self.contains is not None and self.contains not in text:
                return False
            if self.regex is not None and self.regex.search(text) is None:
                return False
        return True


def _glob(pattern: str) -> re.Pattern[str]:
    """A case-sensitive fnmatch glob, compiled once (``fnmatchcase`` semantics)."""
    return re.compile(translate(pattern))


class _ModelGlob:
    """Glob match on a model id; a family name also matches its versioned ids (``-001``,
    ``-002``, ...). Answers are remembered per model id (a bounded cache: the ids a server
    sees are few), so the hot path is one dict lookup."""

    __slots__ = ("_known", "_match")
    _LIMIT = 1024

    def __init__(self, pattern: str) -> None:
        self._match = _glob(pattern).match
        self._known: dict[str, bool] = {}

    def __call__(self, model: str) -> bool:
        known = self._known.get(model)
        if known is not None:
            return known
        hit = self._match(model) is not None
        if not hit:
            family = _VERSION_SUFFIX.sub("", model)
            hit = family != model and self._match(family) is not None
        if len(self._known) >= self._LIMIT:
            self._known.clear()
        self._known[model] = hit
        return hit


@dataclass(frozen=True)
class Step:
    """One typed step; ``times`` is ``None`` for ``"forever"``. ``raw`` is the step's JSON.

    ``error``: fail before any byte. Otherwise answer with ``respond`` (the default
    responder's answer when None), paced by ``pacing`` and broken by ``fault``. ``when``: the
    schedule picking the requests the step answers (None: every request reaching it).
    """

    times: int | None
    raw: Mapping[str, Any]
    respond: Mapping[str, Any] | None = None
    error: ErrorSpec | None = None
    fault: Fault | None = None
    pacing: Pacing | None = None
    when: Schedule | None = None


def parse_step(raw: Mapping[str, Any], where: str = "steps[0]", file: str = "<mapping>") -> Step:
    """A typed step from its JSON (checked against the scenario schema by the loader)."""
    times = raw.get("times", 1)
    return Step(
        times=None if times == "forever" else int(times),
        raw=raw,
        respond=raw.get("respond"),
        error=parse_error(raw["error"]) if "error" in raw else None,
        fault=parse_fault(raw["fault"], f"{where}.fault", file) if "fault" in raw else None,
        pacing=parse_pacing(raw["delay"], f"{where}.delay", file) if "delay" in raw else None,
        when=parse_schedule(raw["when"]) if "when" in raw else None,
    )


class Selection(NamedTuple):
    """What the book chose for a request: the scenario, its step, the step's index, and how
    many requests that step had answered before this one."""

    scenario: Scenario
    step: Step
    step_index: int
    use: int


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    match: Match
    steps: tuple[Step, ...]

    def matches(self, ctx: RequestContext) -> bool:
        return self.match.matches(ctx)


# --------------------------------------------------------------------------------------------
# Loading


def load_scenario(source: str | os.PathLike[str] | Mapping[str, Any]) -> Scenario:
    """Load and validate a scenario from a file path or an already parsed mapping.

    Any broken rule raises :class:`DataFileError` naming the file (``<mapping>`` for a
    mapping), the JSON path of the field (``steps[1].times``; empty for the whole document)
    and the rule in plain words.
    """
    if isinstance(source, Mapping):
        return _build("<mapping>", source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(str(path), "", f"cannot read the file: {exc}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(
            str(path), "", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    return _build(str(path), document)


def load_builtin(name: str) -> Scenario:
    """A scenario shipped in ``mockvertex/scenarios/`` by name (without ``.json``)."""
    known = resources.builtin_scenario_names()
    if name not in known:
        raise DataFileError(
            name, "", f"unknown built-in scenario; the built-ins are: {', '.join(known)}"
        )
    return _build(f"builtin:{name}", resources.builtin_scenario(name))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(resources.schema(_SCHEMA_NAME))


def _build(file: str, document: Any) -> Scenario:
    errors = list(_validator().iter_errors(document))
    if errors:
        worst = max(errors, key=jsonschema.exceptions.relevance)
        field_path, rule = _describe(worst)
        raise DataFileError(file, field_path, rule)
    steps: list[Step] = []
    last = len(document["steps"]) - 1
    for i, raw in enumerate(document["steps"]):
        windowed = "forSeconds" in (raw.get("when") or {})
        if raw.get("times") == "forever" and i != last and not windowed:
            raise DataFileError(
                file,
                f"steps[{i}].times",
                '"forever" is allowed on the last step only, or with when.forSeconds',
            )
        steps.append(parse_step(raw, f"steps[{i}]", file))
    return Scenario(
        name=document["name"],
        description=document.get("description", ""),
        match=_build_match(file, document.get("match") or {}),
        steps=tuple(steps),
    )


def _build_match(file: str, raw: Mapping[str, Any]) -> Match:
    methods = _one_or_list(raw.get("method"))
    text_test = raw.get("lastUserText") or {}
    regex = None
    if "regex" in text_test:
        try:
            regex = re.compile(text_test["regex"])
        except re.error as exc:
            raise DataFileError(
                file, "match.lastUserText.regex", f"not a valid regular expression: {exc}"
            ) from exc
    return Match(
        model=raw.get("model"),
        methods=methods,
        contains=text_test.get("contains"),
        regex=regex,
        turn=raw.get("turn"),
        has_tools=raw.get("hasTools"),
        api_versions=_one_or_list(raw.get("apiVersion")),
        framings=_one_or_list(raw.get("framing")),
        session=raw.get("session"),
    )


def _one_or_list(value: str | list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else (value,) if isinstance(value, str) else tuple(value)


def _json_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _describe(error: jsonschema.ValidationError) -> tuple[str, str]:
    """(field path, plain rule) for the most relevant schema violation."""
    where = _json_path(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    value = error.validator_value
    kind = error.validator
    if "x-rule" in schema:
        return where, str(schema["x-rule"])
    if kind == "required":
        missing = [n for n in value if n not in error.instance]
        return _join(where, missing[0] if missing else ""), "a required field is missing"
    if kind == "additionalProperties":
        known = set(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known)
        return _join(where, extra[0] if extra else ""), "unknown field"
    if kind == "type":
        kinds = value if isinstance(value, list) else [value]
        return where, "must be " + " or ".join(_article(str(k)) for k in kinds)
    if kind == "const":
        return where, f"must be {json.dumps(value)}"
    if kind == "enum":
        return where, "must be one of: " + ", ".join(str(v) for v in value)
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">"}.get(kind, "<")
        return where, f"must be {sign} {value}"
    if kind == "minItems":
        return where, f"must have at least {value} item{'s' if value != 1 else ''}"
    if kind == "minProperties":
        return where, f"must have at least {value} field{'s' if value != 1 else ''}"
    if kind == "minLength":
        return where, "must not be empty" if value == 1 else f"must be at least {value} long"
    if kind == "pattern":
        return where, f"must match the pattern {value}"
    if kind == "uniqueItems":
        return where, "must not repeat an item"
    return where, error.message


# --------------------------------------------------------------------------------------------
# The book


class _Entry:
    """One scenario in one book: uses left and answered per step, the current step (``index``,
    None once used up) and the schedule state of each step with ``when`` (``states`` is None
    when no step has one, so unscheduled scenarios pay nothing for schedules)."""

    __slots__ = ("index", "left", "match", "scenario", "states", "used")

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.match = scenario.match
        self.left: list[int | None] = [s.times for s in scenario.steps]  # None = forever
        self.used = [0] * len(scenario.steps)  # requests each step has answered
        states = [None if s.when is None else s.when.new_state() for s in scenario.steps]
        self.states: list[ScheduleState | None] | None = (
            states if any(st is not None for st in states) else None
        )
        self.index: int | None = 0

    def consume(self, index: int) -> int:
        """Use one use of step ``index``; the number of requests it had answered before."""
        left = self.left[index]
        if left is not None:
            self.left[index] = left = left - 1
            if left == 0:
                self.advance()
        use = self.used[index]
        self.used[index] = use + 1
        return use

    def advance(self) -> None:
        """Move ``index`` to the first step with uses left (None: the scenario is used up)."""
        for i in range(self.index or 0, len(self.left)):
            if self.left[i] != 0:
                self.index = i
                return
        self.index = None

    def end_step(self, index: int) -> None:
        """Step ``index``'s window is over: the step is done as if its uses were spent."""
        self.left[index] = 0
        self.advance()

    def settle(self, now: float) -> None:
        """End the current steps whose window is over by ``now`` (without counting a request)."""
        states = self.states
        while states is not None and self.index is not None:
            state = states[self.index]
            if state is None or not state.expired(now):
                return
            state.over = True
            self.end_step(self.index)


class ScenarioBook:
    """The mock's scenario state, safe to share between threads.

    Scenarios are kept in the order added. Adding a scenario whose name is already in the
    book replaces it in place, with fresh uses and fresh schedule state. ``clock`` (seconds,
    monotonic) times ``forSeconds`` windows; tests pass a fake one.
    """

    def __init__(
        self, scenarios: Iterable[Scenario] = (), *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._entries: list[_Entry] = []
        for scenario in scenarios:
            self.add(scenario)

    def add(self, scenario: Scenario) -> None:
        entry = _Entry(scenario)
        with self._lock:
            for i, existing in enumerate(self._entries):
                if existing.scenario.name == scenario.name:
                    self._entries[i] = entry
                    return
            self._entries.append(entry)

    def remove(self, name: str) -> None:
        """Drop a scenario by name (KeyError if absent)."""
        with self._lock:
            for i, existing in enumerate(self._entries):
                if existing.scenario.name == name:
                    del self._entries[i]
                    return
        raise KeyError(name)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def names(self) -> list[str]:
        with self._lock:
            return [e.scenario.name for e in self._entries]

    def __bool__(self) -> bool:
        """Whether any scenario is in the book (an empty one selects nothing)."""
        return bool(self._entries)

    def select(self, ctx: RequestContext) -> Selection | None:
        """The scenario and step answering ``ctx``, consuming one use; None: default responder.

        A scenario whose current step's schedule says no is passed over (nothing consumed) and
        the next matching scenario is asked.
        """
        with self._lock:
            for entry in self._entries:
                index = entry.index
                if index is None or not entry.match.matches(ctx):
                    continue
                if entry.states is not None:
                    index = self._scheduled(entry, index)
                    if index is None:
                        continue
                use = entry.consume(index)
                return Selection(entry.scenario, entry.scenario.steps[index], index, use)
        return None

    def _scheduled(self, entry: _Entry, index: int) -> int | None:
        """The step of ``entry`` that answers, after its schedule: None when it lets the request
        pass or the scenario is used up. A step whose window is over hands on to the next."""
        states = entry.states
        assert states is not None
        while True:
            state = states[index]
            if state is None:
                return index
            now = self._clock() if state.schedule.for_seconds is not None else 0.0
            decision = state.decide(now)
            if decision is Decision.FIRE:
                return index
            if decision is Decision.PASS:
                return None
            entry.end_step(index)
            if entry.index is None:
                return None
            index = entry.index

    def remaining(self, name: str) -> int | None:
        """Uses left in the named scenario; None when it ends with a "forever" step."""
        with self._lock:
            for entry in self._entries:
                if entry.scenario.name == name:
                    if entry.states is not None:
                        entry.settle(self._clock())
                    if any(n is None for n in entry.left):
                        return None
                    return sum(n for n in entry.left if n is not None)
        raise KeyError(name)

    def snapshot(self) -> list[dict[str, Any]]:
        """JSON-ready view of the book, for introspection and the control plane.

        A step with ``when`` also shows its schedule (``when``, defaults filled in) and its
        ``schedule`` state: requests ``seen``, ``fired`` and ``passed``, and with
        ``forSeconds`` the ``secondsLeft`` (None before its first request).
        """
        with self._lock:
            now = self._clock() if any(e.states is not None for e in self._entries) else 0.0
            views: list[dict[str, Any]] = []
            for e in self._entries:
                if e.states is not None:
                    e.settle(now)
                steps: list[dict[str, Any]] = []
                for i, (step, left) in enumerate(zip(e.scenario.steps, e.left, strict=True)):
                    view: dict[str, Any] = {
                        "times": "forever" if step.times is None else step.times,
                        "remaining": "forever" if left is None else left,
                    }
                    state = None if e.states is None else e.states[i]
                    if step.when is not None and state is not None:
                        view["when"] = step.when.to_json()
                        view["schedule"] = state.snapshot(now)
                    steps.append(view)
                views.append(
                    {
                        "name": e.scenario.name,
                        "description": e.scenario.description,
                        "exhausted": e.index is None,
                        "steps": steps,
                    }
                )
            return views
