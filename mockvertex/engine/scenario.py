"""Scenarios as data: loading and validating scenario files, matching requests, and the book
that hands out steps with their lifetimes.

A scenario file (``format: 1``, described in ``mockvertex/schemas/scenario.schema.json``) has a
``match`` and ordered ``steps``; each step is used ``times`` times (``"forever"`` on the last
step only). The :class:`ScenarioBook` is the mock's state: for a request it picks the first
scenario, in the order added, whose match holds and which has uses left, and consumes one use
of that scenario's current step. A used-up scenario no longer matches, so the request falls
through to the next scenario and finally to the default responder (``step`` ``None``).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
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

__all__ = [
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
_SCHEMA_NAME = "scenario.schema.json"
_VERSION_SUFFIX = re.compile(r"-\d+$")


def _is_user(content: Mapping[str, Any]) -> bool:
    role = content.get("role")
    return role is None or role == "" or str(role).lower() == "user"


@dataclass(frozen=True)
class RequestContext:
    """What a scenario can look at: the model id and method from the URL, the API version
    (``v1``/``v1beta1``) and the normalized request body."""

    model: str
    method: str
    api_version: str
    request: Mapping[str, Any]

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

    def matches(self, ctx: RequestContext) -> bool:
        if self.model is not None and not _model_matches(self.model, ctx.model):
            return False
        if self.methods is not None and ctx.method not in self.methods:
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


def _model_matches(pattern: str, model: str) -> bool:
    """Glob match; a family name also matches its versioned ids (``-001``, ``-002``, ...)."""
    if fnmatchcase(model, pattern):
        return True
    family = _VERSION_SUFFIX.sub("", model)
    return family != model and fnmatchcase(family, pattern)


@dataclass(frozen=True)
class Step:
    """One typed step; ``times`` is ``None`` for ``"forever"``. ``raw`` is the step's JSON.

    ``error``: fail before any byte. Otherwise answer with ``respond`` (the default
    responder's answer when None), paced by ``pacing`` and broken by ``fault``.
    """

    times: int | None
    raw: Mapping[str, Any]
    respond: Mapping[str, Any] | None = None
    error: ErrorSpec | None = None
    fault: Fault | None = None
    pacing: Pacing | None = None


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
    for i, raw in enumerate(document["steps"]):
        if raw.get("times") == "forever" and i != len(document["steps"]) - 1:
            raise DataFileError(
                file, f"steps[{i}].times", '"forever" is allowed on the last step only'
            )
        steps.append(parse_step(raw, f"steps[{i}]", file))
    return Scenario(
        name=document["name"],
        description=document.get("description", ""),
        match=_build_match(file, document.get("match") or {}),
        steps=tuple(steps),
    )


def _build_match(file: str, raw: Mapping[str, Any]) -> Match:
    method = raw.get("method")
    methods = None if method is None else (method,) if isinstance(method, str) else tuple(method)
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
    )


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


@dataclass
class _Entry:
    scenario: Scenario
    left: list[int | None] = field(default_factory=list)  # None = forever
    used: list[int] = field(default_factory=list)  # requests each step has answered

    def current(self) -> int | None:
        for i, n in enumerate(self.left):
            if n is None or n > 0:
                return i
        return None


class ScenarioBook:
    """The mock's scenario state, safe to share between threads.

    Scenarios are kept in the order added. Adding a scenario whose name is already in the
    book replaces it in place, with fresh uses.
    """

    def __init__(self, scenarios: Iterable[Scenario] = ()) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        for scenario in scenarios:
            self.add(scenario)

    def add(self, scenario: Scenario) -> None:
        entry = _Entry(scenario, [s.times for s in scenario.steps], [0] * len(scenario.steps))
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

    def select(self, ctx: RequestContext) -> Selection | None:
        """The scenario and step answering ``ctx``, consuming one use; None: default responder."""
        with self._lock:
            for entry in self._entries:
                index = entry.current()
                if index is None or not entry.scenario.matches(ctx):
                    continue
                left = entry.left[index]
                if left is not None:
                    entry.left[index] = left - 1
                use = entry.used[index]
                entry.used[index] = use + 1
                return Selection(entry.scenario, entry.scenario.steps[index], index, use)
        return None

    def remaining(self, name: str) -> int | None:
        """Uses left in the named scenario; None when it ends with a "forever" step."""
        with self._lock:
            for entry in self._entries:
                if entry.scenario.name == name:
                    if any(n is None for n in entry.left):
                        return None
                    return sum(n for n in entry.left if n is not None)
        raise KeyError(name)

    def snapshot(self) -> list[dict[str, Any]]:
        """JSON-ready view of the book, for introspection and the control plane."""
        with self._lock:
            return [
                {
                    "name": e.scenario.name,
                    "description": e.scenario.description,
                    "exhausted": e.current() is None,
                    "steps": [
                        {
                            "times": "forever" if step.times is None else step.times,
                            "remaining": "forever" if left is None else left,
                        }
                        for step, left in zip(e.scenario.steps, e.left, strict=True)
                    ],
                }
                for e in self._entries
            ]
