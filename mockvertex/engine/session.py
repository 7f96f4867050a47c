"""Per-session state on one server: each session's scenarios, quotas, journal view and errors.

One mock serves many tests at once. Each request belongs to a **session**, named from the
request (the server resolves it: the project id of a located path, ``key-`` plus a digest of
the API key on the express path, or an explicit ``x-mockvertex-session`` header). A session
owns a :class:`~mockvertex.engine.scenario.ScenarioBook`, its quota buckets
(:class:`~mockvertex.engine.quota.Quotas`) and the handler errors of its requests; its journal
is the shared :class:`~mockvertex.engine.journal.Journal` seen through ``session=``. This is
moto's account/region-keyed backends with ``BaseBackend.reset``: state keyed by a name from the
request, created on first use, reset on its own.

The **global scope** is what the server was configured with (CLI ``--scenario``/``--quota``,
the constructor) plus what is added to it at run time: a session's own scenarios are consulted
first, then the global ones, then the default responder; the global quota specs are a template
every session's own buckets follow, with the session's own specs after them (so they win).

Resources reset separately: clearing a session's journal keeps its scenarios. Resetting every
resource of a session forgets it (it is made afresh on its next use); resetting the global scope
resets the whole server.

:class:`MockSession` and :class:`GlobalScope` are the handles the runner, the control plane and
the pytest plugin use; :class:`MockState` holds it all.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mockvertex.config import ServerConfig
from mockvertex.contract.errors import DataFileError, NotFound
from mockvertex.contract.profiles import ProfileRegistry
from mockvertex.engine.journal import DEFAULT_SESSION, Exchange, Journal
from mockvertex.engine.memo import RequestMemo
from mockvertex.engine.quota import Quotas, QuotaSpec, parse_quota
from mockvertex.engine.report import RetryReport, Thresholds, retry_report
from mockvertex.engine.scenario import Scenario, ScenarioBook, load_builtin, load_scenario

__all__ = [
    "DEFAULT_SESSION",
    "GLOBAL",
    "MAX_SESSION_NAME",
    "RESOURCES",
    "SESSION_HEADER",
    "GlobalScope",
    "MockSession",
    "MockState",
    "Scope",
    "Session",
    "SessionRegistry",
    "as_quota",
    "as_scenario",
    "fault_scenario",
    "key_session",
]

Clock = Callable[[], float]
ScenarioSource = str | os.PathLike[str] | Mapping[str, Any] | Scenario
QuotaSource = QuotaSpec | str | Mapping[str, Any] | None

#: The name of the server-wide scope in the control plane (``/_mockvertex/v1/global/...``).
GLOBAL = "global"
#: The request header that names a request's session explicitly (it wins over the path).
SESSION_HEADER = "x-mockvertex-session"
#: The longest session name accepted, in characters.
MAX_SESSION_NAME = 256
#: What a reset can cover, each on its own.
RESOURCES = ("scenarios", "journal", "quota", "errors")


@lru_cache(maxsize=256)
def key_session(api_key: str) -> str:
    """The session of an API key on the express path: ``key-`` and 12 hex digits of its
    sha256, never the key itself (remembered per key: the hot path hashes each key once)."""
    return "key-" + hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def as_scenario(source: ScenarioSource) -> Scenario:
    """A scenario from a Scenario, a mapping, a file path, or a built-in's name (a string
    without ``/`` that does not end in ``.json``); DataFileError when it breaks a rule."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, str) and not source.endswith(".json") and "/" not in source:
        return load_builtin(source)
    return load_scenario(source)


def as_quota(spec: QuotaSource) -> QuotaSpec | None:
    """A quota spec from a QuotaSpec, the CLI form (``rpm=60,tpm=100000``) or the data form
    (``{"rpm": 60}``); None stays None (lift). ValueError / DataFileError name the rule."""
    if spec is None or isinstance(spec, QuotaSpec):
        return spec
    if isinstance(spec, str):
        return parse_quota(spec)
    return QuotaSpec.from_json(spec, file="<quota>")


def fault_scenario(
    step: Mapping[str, Any], *, match: Mapping[str, Any] | None, name: str
) -> Scenario:
    """The one-step scenario ``{"format": 1, "name", "match", "steps": [step]}``; a broken
    rule is a DataFileError whose field starts with ``step`` (or ``match``, ``name``)."""
    document = {"format": 1, "name": name, "match": dict(match or {}), "steps": [step]}
    try:
        return load_scenario(document)
    except DataFileError as exc:
        where = exc.field
        if where == "steps":
            where = "step"
        elif where.startswith("steps[0]"):
            where = "step" + where[len("steps[0]") :]
        raise DataFileError("<fault>", where, exc.rule) from exc


def _free_fault_name(book: ScenarioBook) -> str:
    """``fault-N`` with the smallest N no scenario of ``book`` is called."""
    names = set(book.names())
    return next(n for i in itertools.count(1) if (n := f"fault-{i}") not in names)


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


def _with_spec(specs: Sequence[QuotaSpec], spec: QuotaSpec) -> list[QuotaSpec]:
    """``specs`` with ``spec`` as the last (winning) one, replacing one for the same glob."""
    return [s for s in specs if s.model != spec.model] + [spec]


# ---------------------------------------------------------------------------------------------
# One session's own state


class Session:
    """One session's own resources. ``limited`` is False while no quota spec applies, so the
    server skips quota work altogether; ``quotas`` always exists (for its snapshot)."""

    __slots__ = ("book", "errors", "limited", "name", "own_quota", "quotas")

    def __init__(
        self,
        name: str,
        *,
        template: Sequence[QuotaSpec] = (),
        clock: Clock = time.monotonic,
        retry_after_header: bool = False,
    ) -> None:
        self.name = name
        self.book = ScenarioBook(clock=clock)
        #: The session's own quota specs; the registry's template comes before them.
        self.own_quota: list[QuotaSpec] = []
        self.quotas = Quotas(template, clock=clock, retry_after_header=retry_after_header)
        self.limited = bool(template)
        #: Exceptions that escaped a handler while answering this session (bugs in the mock).
        self.errors: list[BaseException] = []

    def apply_quota(self, template: Sequence[QuotaSpec]) -> None:
        specs = [*template, *self.own_quota]
        self.quotas.replace(specs)
        self.limited = bool(specs)

    def __repr__(self) -> str:
        return f"Session({self.name!r})"


class SessionRegistry:
    """Sessions by name, made on first use; the quota template every session follows.

    ``get`` is one dict lookup once a session exists (the lock is taken only to create it).
    """

    def __init__(
        self,
        *,
        template: Iterable[QuotaSpec] = (),
        clock: Clock = time.monotonic,
        retry_after_header: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._template: tuple[QuotaSpec, ...] = tuple(template)
        self._clock = clock
        self._retry_after_header = retry_after_header

    def get(self, name: str) -> Session:
        """The session called ``name``, made now if it is new."""
        session = self._sessions.get(name)
        if session is None:
            with self._lock:
                session = self._sessions.get(name)
                if session is None:
                    session = Session(
                        name,
                        template=self._template,
                        clock=self._clock,
                        retry_after_header=self._retry_after_header,
                    )
                    self._sessions[name] = session
        return session

    def find(self, name: str) -> Session | None:
        """The session called ``name`` if it exists (never makes one)."""
        return self._sessions.get(name)

    def names(self) -> list[str]:
        """Every session in use, in the order first seen."""
        with self._lock:
            return list(self._sessions)

    def all(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def __len__(self) -> int:
        return len(self._sessions)

    def drop(self, name: str) -> None:
        """Forget a session (its next use makes it afresh)."""
        with self._lock:
            self._sessions.pop(name, None)

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()

    @property
    def template(self) -> tuple[QuotaSpec, ...]:
        return self._template

    def set_template(self, specs: Iterable[QuotaSpec]) -> None:
        """Replace the global quota specs; every session's buckets follow at once."""
        with self._lock:
            self._template = tuple(specs)
            for session in self._sessions.values():
                session.apply_quota(self._template)

    def set_own_quota(self, session: Session, specs: Iterable[QuotaSpec]) -> None:
        with self._lock:
            session.own_quota = list(specs)
            session.apply_quota(self._template)


# ---------------------------------------------------------------------------------------------
# The whole mock


@dataclass
class MockState:
    """Everything a running mock knows: config, profiles, the global scenarios, the shared
    journal, the sessions, and every handler error (``errors``, re-raised by
    ``MockVertexServer.check()``)."""

    config: ServerConfig
    profiles: ProfileRegistry
    book: ScenarioBook
    journal: Journal = field(init=False)
    #: Exceptions that escaped a handler, any session: bugs in the mock.
    errors: list[BaseException] = field(default_factory=list)
    #: The clock quota buckets and scenario windows read (tests pass a fake one).
    clock: Clock = time.monotonic
    #: Scenarios given at construction beyond the config's (``MockVertexServer(scenarios=)``).
    extra_scenarios: tuple[Scenario, ...] = ()
    sessions: SessionRegistry = field(init=False)
    #: Validations and default replies of the request bodies seen most recently.
    memo: RequestMemo = field(init=False, repr=False)
    _configured_quota: tuple[QuotaSpec, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        self.journal = Journal(
            self.config.journal_limit,
            self.config.journal_max_bytes,
            body_cap=self.config.journal_body_cap,
        )
        self._configured_quota = tuple(parse_quota(text) for text in self.config.quotas)
        self.memo = RequestMemo()
        self.sessions = SessionRegistry(
            template=self._configured_quota,
            clock=self.clock,
            retry_after_header=self.config.quota_retry_after,
        )

    @classmethod
    def from_config(
        cls,
        config: ServerConfig,
        *,
        scenarios: Iterable[ScenarioSource] = (),
        clock: Clock = time.monotonic,
    ) -> MockState:
        """The state a fresh mock starts with: built-in plus configured profiles, scenarios
        and quotas. A bad quota text is a ValueError, a bad scenario a DataFileError."""
        profiles = ProfileRegistry.builtin().with_files(*config.profile_files)
        extra = tuple(as_scenario(s) for s in scenarios)
        state = cls(
            config=config,
            profiles=profiles,
            book=ScenarioBook(clock=clock),
            clock=clock,
            extra_scenarios=extra,
        )
        state._reload_scenarios()
        return state

    def _reload_scenarios(self) -> None:
        self.book.clear()
        for scenario in _configured_scenarios(self.config):
            self.book.add(scenario)
        for scenario in self.extra_scenarios:
            self.book.add(scenario)

    # -- the handles
    def session(self, name: str) -> MockSession:
        """The handle of session ``name`` (its state is made on first write or request)."""
        return MockSession(self, name)

    def global_scope(self) -> GlobalScope:
        return GlobalScope(self)

    def record_error(self, exc: BaseException, session: Session | None = None) -> None:
        """A handler bug: kept server-wide and, when the request's session is known, there."""
        self.errors.append(exc)
        if session is not None:
            session.errors.append(exc)

    # -- reset
    def reset(
        self,
        *,
        scenarios: bool = True,
        journal: bool = True,
        quota: bool = True,
        errors: bool = True,
    ) -> None:
        """Reset the whole server, per resource: every session, and the global scope back to
        its configuration (configured scenarios reloaded, configured quotas only, buckets
        full). With every resource the sessions themselves are forgotten."""
        if scenarios:
            self._reload_scenarios()
        if journal:
            self.journal.clear()
        if quota:
            self.sessions.set_template(self._configured_quota)
        if errors:
            self.errors.clear()
        if scenarios and journal and quota and errors:
            self.sessions.clear()
            return
        for session in self.sessions.all():
            self._reset_session(session, scenarios=scenarios, quota=quota, errors=errors)

    def reset_session(
        self,
        name: str,
        *,
        scenarios: bool = True,
        journal: bool = True,
        quota: bool = True,
        errors: bool = True,
    ) -> None:
        """Reset one session, per resource; with every resource the session is forgotten."""
        if journal:
            self.journal.clear(session=name)
        session = self.sessions.find(name)
        if session is None:
            return
        if errors:
            mine = {id(e) for e in session.errors}
            self.errors[:] = [e for e in self.errors if id(e) not in mine]
        self._reset_session(session, scenarios=scenarios, quota=quota, errors=errors)
        if scenarios and journal and quota and errors:
            self.sessions.drop(name)

    def _reset_session(
        self, session: Session, *, scenarios: bool, quota: bool, errors: bool
    ) -> None:
        if scenarios:
            session.book.clear()
        if quota:
            self.sessions.set_own_quota(session, ())
            session.quotas.reset()
        if errors:
            session.errors.clear()


def _configured_scenarios(config: ServerConfig) -> list[Scenario]:
    loaded = [load_builtin(name) for name in config.builtin_scenarios]
    loaded.extend(load_scenario(path) for path in config.scenario_files)
    return loaded


# ---------------------------------------------------------------------------------------------
# Handles: one interface for a session and for the global scope


class Scope:
    """What the control plane and the runner do to a scope: scenarios, faults, quota, journal,
    report, reset, errors. Reading never creates a session; writing does."""

    name: str

    def __init__(self, state: MockState) -> None:
        self._state = state

    # -- scenarios
    def _book(self, *, create: bool) -> ScenarioBook | None:
        raise NotImplementedError

    def add_scenario(self, scenario: ScenarioSource) -> Scenario:
        """Add a scenario (a Scenario, mapping, file path or built-in name); returns it. One
        with the name of a scenario already there replaces it, with fresh uses."""
        loaded = as_scenario(scenario)
        book = self._book(create=True)
        assert book is not None
        book.add(loaded)
        return loaded

    def add_fault(
        self,
        step: Mapping[str, Any],
        *,
        match: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> Scenario:
        """A one-step scenario (``fault-N`` unless named), e.g.
        ``add_fault({"error": {"code": 429}, "times": 2})``."""
        book = self._book(create=True)
        assert book is not None
        scenario = fault_scenario(step, match=match, name=name or _free_fault_name(book))
        book.add(scenario)
        return scenario

    def remove_scenario(self, name: str) -> None:
        """Drop one scenario by name; NotFound when the scope has none of that name."""
        book = self._book(create=False)
        try:
            if book is None:
                raise KeyError(name)
            book.remove(name)
        except KeyError:
            raise NotFound(f"No scenario named {name!r} in scope {self.name!r}.") from None

    def clear_scenarios(self) -> None:
        raise NotImplementedError

    def scenarios(self) -> list[dict[str, Any]]:
        """The scope's scenarios and their remaining uses (``ScenarioBook.snapshot``)."""
        book = self._book(create=False)
        return [] if book is None else book.snapshot()

    # -- quota, journal, report, errors, reset
    def set_quota(self, spec: QuotaSource) -> None:
        raise NotImplementedError

    def quota(self) -> dict[str, Any]:
        raise NotImplementedError

    def journal(self) -> list[Exchange]:
        raise NotImplementedError

    def clear_journal(self) -> None:
        self.reset(scenarios=False, journal=True, quota=False, errors=False)

    def report(self, **thresholds: Any) -> RetryReport:
        """The retry report of this scope's journal (``thresholds``: ``Thresholds`` fields)."""
        return retry_report(self.journal(), Thresholds(**thresholds))

    def _errors(self) -> list[BaseException]:
        raise NotImplementedError

    def errors(self) -> list[str]:
        """The handler bugs recorded for this scope, as traceback text, oldest first."""
        return [_error_text(e) for e in self._errors()]

    def check(self) -> None:
        """Raise AssertionError with the first handler bug (chained to it), if any."""
        errors = self._errors()
        if errors:
            raise AssertionError(
                f"mockvertex server-side error in scope {self.name!r}:\n{_error_text(errors[0])}"
            ) from errors[0]

    def reset(
        self,
        *,
        scenarios: bool = True,
        journal: bool = True,
        quota: bool = True,
        errors: bool = True,
    ) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class MockSession(Scope):
    """One session's handle. It holds only the name: a reset that forgets the session does
    not stale it, and its next write (or request) makes the session afresh."""

    def __init__(self, state: MockState, name: str) -> None:
        super().__init__(state)
        self.name = name

    def _session(self, *, create: bool) -> Session | None:
        registry = self._state.sessions
        return registry.get(self.name) if create else registry.find(self.name)

    def _book(self, *, create: bool) -> ScenarioBook | None:
        session = self._session(create=create)
        return None if session is None else session.book

    def clear_scenarios(self) -> None:
        """Drop every scenario of the session (the global ones stay)."""
        book = self._book(create=False)
        if book is not None:
            book.clear()

    def set_quota(self, spec: QuotaSource) -> None:
        """Set this session's budget for ``spec.model`` (every model without one): it wins
        over the global specs and replaces an earlier one for the same glob. None lifts every
        quota of the session's own (the global specs still apply)."""
        parsed = as_quota(spec)
        session = self._session(create=parsed is not None)
        if session is None:
            return
        registry = self._state.sessions
        own = () if parsed is None else _with_spec(session.own_quota, parsed)
        registry.set_own_quota(session, own)

    def quota(self) -> dict[str, Any]:
        """``Quotas.snapshot()`` of the session (the global specs first) plus its own specs."""
        session = self._session(create=False)
        if session is None:
            template = self._state.sessions.template
            view: dict[str, Any] = {"quotas": [s.to_json() for s in template], "models": []}
            own: list[QuotaSpec] = []
        else:
            view = session.quotas.snapshot()
            own = session.own_quota
        view["session"] = self.name
        view["own"] = [s.to_json() for s in own]
        return view

    def journal(self) -> list[Exchange]:
        """The session's exchanges, oldest first (tokens and API keys are never kept)."""
        return self._state.journal.entries(session=self.name)

    def _errors(self) -> list[BaseException]:
        session = self._session(create=False)
        return [] if session is None else list(session.errors)

    def reset(
        self,
        *,
        scenarios: bool = True,
        journal: bool = True,
        quota: bool = True,
        errors: bool = True,
    ) -> None:
        """Reset the session's resources named; with all of them the session is forgotten."""
        self._state.reset_session(
            self.name, scenarios=scenarios, journal=journal, quota=quota, errors=errors
        )


class GlobalScope(Scope):
    """The server-wide scope: the global scenarios and quota template, and the journal and
    errors of every session. Its reset resets the whole server."""

    name = GLOBAL

    def _book(self, *, create: bool) -> ScenarioBook:
        return self._state.book

    def clear_scenarios(self) -> None:
        """Back to the configured global scenarios (the sessions' own stay)."""
        self._state._reload_scenarios()

    def set_quota(self, spec: QuotaSource) -> None:
        """Set the global budget for ``spec.model`` (every model without one), applied to
        every session's own buckets; None lifts every global quota, configured ones too."""
        parsed = as_quota(spec)
        registry = self._state.sessions
        specs = () if parsed is None else _with_spec(registry.template, parsed)
        registry.set_template(specs)

    def quota(self) -> dict[str, Any]:
        """The global specs, and per session the budgets in use."""
        registry = self._state.sessions
        sessions = {}
        for session in registry.all():
            models = session.quotas.snapshot()["models"] if session.limited else []
            if models:
                sessions[session.name] = models
        return {
            "quotas": [s.to_json() for s in registry.template],
            "models": [],
            "session": GLOBAL,
            "sessions": sessions,
        }

    def journal(self) -> list[Exchange]:
        """Every exchange of every session, oldest first."""
        return self._state.journal.entries()

    def _errors(self) -> list[BaseException]:
        return list(self._state.errors)

    def reset(
        self,
        *,
        scenarios: bool = True,
        journal: bool = True,
        quota: bool = True,
        errors: bool = True,
    ) -> None:
        """Reset the whole server (``MockState.reset``)."""
        self._state.reset(scenarios=scenarios, journal=journal, quota=quota, errors=errors)
