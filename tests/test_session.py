"""Sessions: the registry, per-session scenarios, quotas, journal views and errors, the global
scope, and resets per session and per resource."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from mockvertex.config import ServerConfig
from mockvertex.contract.errors import DataFileError, NotFound
from mockvertex.engine.journal import Exchange
from mockvertex.engine.quota import QuotaExceeded, QuotaSpec
from mockvertex.engine.scenario import RequestContext, load_builtin
from mockvertex.engine.session import (
    GLOBAL,
    MockState,
    Session,
    SessionRegistry,
    as_quota,
    as_scenario,
    fault_scenario,
    key_session,
)

FLASH = "gemini-2.0-flash"
ERROR_STEP = {"error": {"code": 503}, "times": 2}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def scenario_doc(name: str, text: str = "hi") -> dict[str, Any]:
    return {"format": 1, "name": name, "steps": [{"respond": {"text": text}, "times": 1}]}


def ctx(session: str = "") -> RequestContext:
    request = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    return RequestContext(FLASH, "generateContent", "v1", request, session=session)


def record(state: MockState, session: str, status: int = 200) -> None:
    """A journal entry of ``session`` as the server records one."""
    recorder = state.journal.begin(method="POST", path="/v1/x", session=session)
    recorder.status = status
    state.journal.finish(recorder)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> MockState:
    return MockState.from_config(ServerConfig(builtin_scenarios=("max_tokens",)), clock=clock)


# --------------------------------------------------------------------------------- names


def test_key_session_is_a_digest_of_the_key_never_the_key() -> None:
    name = key_session("AIza-secret-key")
    assert name == "key-" + hashlib.sha256(b"AIza-secret-key").hexdigest()[:12]
    assert "secret" not in name
    assert key_session("another") != name


def test_as_scenario_accepts_every_kind_of_source(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"format": 1, "name": "from_file", "steps": [{"respond": {"text": "x"}}]}')
    loaded = load_builtin("max_tokens")
    assert as_scenario(loaded) is loaded
    assert as_scenario("max_tokens").name == "max_tokens"
    assert as_scenario(str(path)).name == "from_file"
    assert as_scenario(path).name == "from_file"
    assert as_scenario(scenario_doc("mapped")).name == "mapped"
    with pytest.raises(DataFileError, match="unknown built-in scenario"):
        as_scenario("no_such_builtin")


def test_as_quota_reads_the_cli_and_the_data_form() -> None:
    assert as_quota("rpm=5,model=gemini-*") == QuotaSpec(rpm=5, model="gemini-*")
    assert as_quota({"tpm": 100}) == QuotaSpec(tpm=100)
    spec = QuotaSpec(rpm=1)
    assert as_quota(spec) is spec
    assert as_quota(None) is None
    with pytest.raises(ValueError, match="rpm must be an integer"):
        as_quota("rpm=zero")
    with pytest.raises(DataFileError) as caught:
        as_quota({"rpm": 0})
    assert caught.value.field == "rpm"


def test_fault_scenario_names_the_field_under_step() -> None:
    scenario = fault_scenario(ERROR_STEP, match={"model": FLASH}, name="f")
    assert (scenario.name, scenario.steps[0].times) == ("f", 2)
    assert scenario.match.model == FLASH
    with pytest.raises(DataFileError) as caught:
        fault_scenario({"error": {"code": 200}}, match=None, name="f")
    assert caught.value.field == "step.error.code"
    with pytest.raises(DataFileError) as caught:
        fault_scenario(ERROR_STEP, match={"colour": "red"}, name="f")
    assert caught.value.field == "match.colour"
    with pytest.raises(DataFileError) as caught:
        fault_scenario(ERROR_STEP, match=None, name="no spaces")
    assert caught.value.field == "name"


# ------------------------------------------------------------------------------ registry


def test_registry_makes_a_session_once_and_finds_without_making(clock: FakeClock) -> None:
    registry = SessionRegistry(clock=clock)
    assert registry.find("a") is None
    first = registry.get("a")
    assert registry.get("a") is first
    assert registry.find("a") is first
    registry.get("b")
    assert registry.names() == ["a", "b"]
    assert len(registry) == 2
    registry.drop("a")
    assert registry.names() == ["b"]
    assert registry.get("a") is not first


def test_template_applies_to_sessions_old_and_new(clock: FakeClock) -> None:
    registry = SessionRegistry(clock=clock)
    old = registry.get("old")
    assert not old.limited
    registry.set_template([QuotaSpec(rpm=1)])
    new = registry.get("new")
    for session in (old, new):
        assert session.limited
        session.quotas.admit(FLASH, 0)
        with pytest.raises(QuotaExceeded):
            session.quotas.admit(FLASH, 0)
    registry.set_template([])
    assert not old.limited
    assert not new.limited


def test_own_quota_comes_after_the_template_and_wins(clock: FakeClock) -> None:
    registry = SessionRegistry(template=[QuotaSpec(rpm=1)], clock=clock)
    session = registry.get("s")
    registry.set_own_quota(session, [QuotaSpec(rpm=3)])
    for _ in range(3):
        session.quotas.admit(FLASH, 0)
    with pytest.raises(QuotaExceeded):
        session.quotas.admit(FLASH, 0)
    assert [s.to_json() for s in session.quotas.specs] == [{"rpm": 1}, {"rpm": 3}]


def test_budgets_are_per_session(state: MockState) -> None:
    state.global_scope().set_quota("rpm=1")
    a, b = state.sessions.get("a"), state.sessions.get("b")
    a.quotas.admit(FLASH, 0)
    b.quotas.admit(FLASH, 0)  # b's own bucket is still full
    with pytest.raises(QuotaExceeded):
        a.quotas.admit(FLASH, 0)


# ----------------------------------------------------------------------- session handles


def test_session_scenarios_are_its_own(state: MockState) -> None:
    mine = state.session("mine")
    mine.add_scenario(scenario_doc("only_mine"))
    assert [s["name"] for s in mine.scenarios()] == ["only_mine"]
    assert [s["name"] for s in state.session("other").scenarios()] == []
    assert [s["name"] for s in state.global_scope().scenarios()] == ["max_tokens"]
    chosen = state.sessions.get("mine").book.select(ctx("mine"))
    assert chosen is not None
    assert chosen.scenario.name == "only_mine"


def test_reading_a_session_never_makes_it(state: MockState) -> None:
    ghost = state.session("ghost")
    assert ghost.scenarios() == []
    assert ghost.journal() == []
    assert ghost.errors() == []
    assert ghost.quota()["models"] == []
    ghost.set_quota(None)
    ghost.clear_scenarios()
    ghost.check()
    assert state.sessions.names() == []


def test_add_fault_names_them_fault_n(state: MockState) -> None:
    session = state.session("s")
    assert session.add_fault(ERROR_STEP).name == "fault-1"
    assert session.add_fault(ERROR_STEP, match={"model": "x"}).name == "fault-2"
    assert session.add_fault(ERROR_STEP, name="mine").name == "mine"
    assert [s["name"] for s in session.scenarios()] == ["fault-1", "fault-2", "mine"]
    assert state.global_scope().add_fault(ERROR_STEP).name == "fault-1"


def test_remove_scenario_raises_not_found(state: MockState) -> None:
    session = state.session("s")
    session.add_scenario(scenario_doc("a"))
    session.remove_scenario("a")
    assert session.scenarios() == []
    with pytest.raises(NotFound, match="No scenario named 'a' in scope 's'"):
        session.remove_scenario("a")
    with pytest.raises(NotFound):
        state.session("ghost").remove_scenario("a")
    with pytest.raises(NotFound, match="scope 'global'"):
        state.global_scope().remove_scenario("nope")


def test_set_quota_replaces_the_same_glob_and_lifts(state: MockState) -> None:
    session = state.session("s")
    session.set_quota("rpm=5")
    session.set_quota({"rpm": 2, "model": "gemini-*"})
    session.set_quota(QuotaSpec(rpm=7))
    view = session.quota()
    assert view["own"] == [{"rpm": 2, "model": "gemini-*"}, {"rpm": 7}]
    assert view["session"] == "s"
    session.set_quota(None)
    assert session.quota()["own"] == []
    assert not state.sessions.get("s").limited


def test_quota_view_shows_the_remaining_budget(state: MockState) -> None:
    session = state.session("s")
    session.set_quota("rpm=3")
    state.sessions.get("s").quotas.admit(FLASH, 0)
    (budget,) = session.quota()["models"]
    assert budget["requests"]["remaining"] == 2
    assert state.global_scope().quota()["sessions"]["s"] == [budget]
    state.sessions.get("unlimited")
    assert list(state.global_scope().quota()["sessions"]) == ["s"]
    state.global_scope().set_quota("rpm=10")
    view = state.global_scope().quota()
    assert view["quotas"] == [{"rpm": 10}]
    assert view["sessions"]["s"][0]["requests"]["limit"] == 3  # its own spec wins


def test_journal_views(state: MockState) -> None:
    record(state, "a", 200)
    record(state, "b", 429)
    record(state, "a", 503)
    assert [e.status for e in state.session("a").journal()] == [200, 503]
    assert [e.status for e in state.session("b").journal()] == [429]
    assert len(state.global_scope().journal()) == 3
    state.session("a").clear_journal()
    assert [e.session for e in state.global_scope().journal()] == ["b"]


def test_report_of_a_session(state: MockState) -> None:
    record(state, "a", 503)
    record(state, "b", 200)
    report = state.session("a").report(storm_attempts=1)
    assert {c.session for c in report.calls} == {"a"}
    assert report.thresholds.storm_attempts == 1
    assert {c.session for c in state.global_scope().report().calls} == {"a", "b"}
    with pytest.raises(TypeError):
        state.session("a").report(no_such_threshold=1)


def test_errors_and_check(state: MockState) -> None:
    session = state.sessions.get("s")
    try:
        raise RuntimeError("boom in the handler")
    except RuntimeError as exc:
        state.record_error(exc, session)
    state.record_error(ValueError("no session"))
    handle = state.session("s")
    (text,) = handle.errors()
    assert "RuntimeError: boom in the handler" in text
    assert "Traceback" in text
    with pytest.raises(AssertionError, match="boom in the handler") as caught:
        handle.check()
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert len(state.global_scope().errors()) == 2
    state.session("other").check()


# -------------------------------------------------------------------------------- resets


def test_reset_one_resource_keeps_the_others(state: MockState) -> None:
    session = state.session("s")
    session.add_fault(ERROR_STEP)
    session.set_quota("rpm=5")
    record(state, "s")
    session.reset(scenarios=False, quota=False, errors=False)  # the journal only
    assert session.journal() == []
    assert [s["name"] for s in session.scenarios()] == ["fault-1"]
    assert session.quota()["own"] == [{"rpm": 5}]
    session.reset(journal=False, quota=False, errors=False)  # the scenarios only
    assert session.scenarios() == []
    assert session.quota()["own"] == [{"rpm": 5}]
    assert "s" in state.sessions.names()


def test_reset_quota_refills_the_buckets(state: MockState) -> None:
    session = state.session("s")
    session.set_quota("rpm=1")
    state.sessions.get("s").quotas.admit(FLASH, 0)
    session.reset(scenarios=False, journal=False, errors=False)
    assert session.quota()["own"] == []
    state.global_scope().set_quota("rpm=1")
    own = state.sessions.get("s")
    own.quotas.admit(FLASH, 0)
    session.reset(scenarios=False, journal=False, errors=False)
    own.quotas.admit(FLASH, 0)  # full again under the global spec


def test_reset_everything_forgets_the_session_and_its_errors(state: MockState) -> None:
    session = state.session("s")
    session.add_fault(ERROR_STEP)
    state.record_error(RuntimeError("bug"), state.sessions.get("s"))
    state.record_error(RuntimeError("other bug"), state.sessions.get("t"))
    record(state, "s")
    record(state, "t")
    session.reset()
    assert "s" not in state.sessions.names()
    assert session.scenarios() == []
    assert session.journal() == []
    assert session.errors() == []
    assert [str(e) for e in state.errors] == ["other bug"]  # the server-wide list follows
    assert [e.session for e in state.journal.entries()] == ["t"]
    session.add_fault(ERROR_STEP)  # the handle still works: the session is made afresh
    assert "s" in state.sessions.names()


def test_global_reset_is_the_whole_server(state: MockState) -> None:
    glob = state.global_scope()
    glob.add_scenario(scenario_doc("run_time"))
    glob.set_quota("rpm=1")
    state.session("s").add_fault(ERROR_STEP)
    record(state, "s")
    state.record_error(RuntimeError("bug"))
    glob.reset()
    assert [s["name"] for s in glob.scenarios()] == ["max_tokens"]  # the configured one
    assert glob.quota()["quotas"] == []
    assert state.sessions.names() == []
    assert state.journal.entries() == []
    assert state.errors == []


def test_global_reset_per_resource_reaches_every_session(state: MockState) -> None:
    state.session("a").add_fault(ERROR_STEP)
    state.session("b").add_fault(ERROR_STEP)
    state.session("a").set_quota("rpm=1")
    record(state, "a")
    state.global_scope().reset(journal=False, quota=False, errors=False)
    assert state.session("a").scenarios() == []
    assert state.session("b").scenarios() == []
    assert state.session("a").quota()["own"] == [{"rpm": 1}]
    assert len(state.journal.entries()) == 1
    assert state.sessions.names() == ["a", "b"]


def test_configured_quota_survives_a_lift_only_until_reset(clock: FakeClock) -> None:
    state = MockState.from_config(ServerConfig(quotas=("rpm=2",)), clock=clock)
    assert state.sessions.get("s").limited
    state.global_scope().set_quota(None)
    assert not state.sessions.get("s").limited
    state.reset(scenarios=False, journal=False, errors=False)
    assert state.global_scope().quota()["quotas"] == [{"rpm": 2}]
    assert state.sessions.get("s").limited


def test_constructor_scenarios_are_configured_ones(clock: FakeClock) -> None:
    state = MockState.from_config(ServerConfig(), scenarios=[scenario_doc("extra")], clock=clock)
    state.global_scope().add_scenario(scenario_doc("later"))
    state.global_scope().clear_scenarios()
    assert [s["name"] for s in state.global_scope().scenarios()] == ["extra"]


def test_bad_configured_quota_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="rpm must be an integer"):
        MockState.from_config(ServerConfig(quotas=("rpm=-1",)))


def test_handles_name_their_scope(state: MockState) -> None:
    assert state.global_scope().name == GLOBAL
    assert repr(state.session("s")) == "MockSession('s')"
    assert repr(Session("x")) == "Session('x')"


def test_journal_entries_keep_their_session(state: MockState) -> None:
    record(state, "a")
    (entry,) = state.session("a").journal()
    assert isinstance(entry, Exchange)
    assert Exchange.from_json(entry.to_json()).session == "a"
