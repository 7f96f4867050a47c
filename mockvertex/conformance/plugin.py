"""The conformance suite's pytest plugin: its options, its Hypothesis profiles, the session
fixture ``conformance``, the live cost estimate and the divergence report.

Load it with ``-p mockvertex.conformance.plugin`` (``mockvertex conform`` does) or
``pytest_plugins = ["mockvertex.conformance.plugin"]`` in an initial conftest (the checkout's
``conformance/conftest.py`` does). Options::

    --target mock|vertex|URL         where requests go (default: mock, started in-process)
    --project P --location L         the Vertex project and location (--target vertex)
    --token VALUE|adc|none           credentials for a URL (default: none, or the mock's)
    --model M                        the model every request names (default gemini-2.0-flash)
    --conformance-profile ci|dev|live
    --conformance-examples N         examples per property, overriding the profile
    --divergence-report PATH         where the JSON report goes (a .txt table beside it)

The Hypothesis profiles are registered as ``mockvertex-conformance-{ci,dev,live}`` and applied
to the suite's own tests only: loading them globally would change every other Hypothesis test
of the session.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mockvertex.conformance import properties
from mockvertex.conformance.divergence import Recorder, render_table
from mockvertex.conformance.properties import Context, PropertyFailed
from mockvertex.conformance.targets import (
    DEFAULT_MODEL,
    SSE,
    UNARY,
    Target,
    TargetError,
    TargetSpec,
    open_reference,
    open_target,
)
from mockvertex.contract import resources

__all__ = ["PROFILE_NAMES", "Conformance", "register_profiles"]

PROFILE_NAMES = ("ci", "dev", "live")
_PREFIX = "mockvertex-conformance-"
_DEFAULT_REPORT = "mockvertex-divergences.json"
_ATTRIBUTE = "__conformance_property__"
_STASH = pytest.StashKey["_State"]()
_MODES = {"unary": UNARY, "sse": SSE}
_EXCEPTION_PREFIX = re.compile(r"^[\w.]+: ")


def register_profiles() -> None:
    """Register the three profiles with Hypothesis (not loaded: the suite applies them).

    * ``ci``: derandomized, twenty drawn examples per property after the fixed ones, no
      example database: the same run every time, in well under three minutes on two cores;
    * ``dev``: random, more examples;
    * ``live``: derandomized, three drawn examples per property, no fixed ones and no
      shrinking (each example costs real requests, paced by the target).
    """
    from hypothesis import HealthCheck, Phase, settings

    common: dict[str, Any] = {
        "deadline": None,
        "database": None,
        "report_multiple_bugs": False,
        "print_blob": False,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    }
    settings.register_profile(_PREFIX + "ci", max_examples=20, derandomize=True, **common)
    settings.register_profile(_PREFIX + "dev", max_examples=50, **common)
    settings.register_profile(
        _PREFIX + "live",
        max_examples=3,
        derandomize=True,
        phases=[Phase.generate],
        **common,
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockvertex-conformance", "mockvertex conformance kit")
    group.addoption(
        "--target",
        default="mock",
        metavar="mock|vertex|URL",
        help="where the suite sends requests: the mock started in-process (default), Vertex "
        "AI (with --project), or the base URL of any server speaking the Vertex REST API",
    )
    group.addoption("--project", default=None, help="the Vertex project (--target vertex)")
    group.addoption("--location", default="us-central1", help="default: us-central1")
    group.addoption(
        "--token",
        default=None,
        metavar="VALUE|adc|none",
        help="credentials for --target URL: a static bearer token, adc (Application Default "
        "Credentials) or none (the default, but for a mockvertex, which gets a token)",
    )
    group.addoption("--model", default=DEFAULT_MODEL, help=f"default: {DEFAULT_MODEL}")
    group.addoption(
        "--conformance-profile",
        choices=PROFILE_NAMES,
        default=None,
        help="ci (derandomized, the default against a mock), dev (more, random examples) or "
        "live (few examples, rate-limited, a cost estimate first: the default against "
        "Vertex and any URL without the mock's control plane)",
    )
    group.addoption(
        "--conformance-examples",
        type=int,
        default=None,
        metavar="N",
        help="drawn examples per property, overriding the profile's",
    )
    group.addoption(
        "--divergence-report",
        default=None,
        metavar="PATH",
        help=f"write the JSON report here, a table beside it (default against a non-mock "
        f"target: ./{_DEFAULT_REPORT})",
    )


def pytest_configure(config: pytest.Config) -> None:
    register_profiles()
    examples = config.getoption("conformance_examples")
    if examples is not None and examples < 1:
        raise pytest.UsageError("--conformance-examples must be at least 1")
    state = _State(config)
    config.stash[_STASH] = state
    config.pluginmanager.register(state, "mockvertex-conformance-state")


# --------------------------------------------------------------------------------------------
# The run


@dataclass
class _Result:
    nodeid: str
    outcome: str
    detail: str = ""


class Conformance:
    """The session's target and everything the suite's tests share."""

    def __init__(self, config: pytest.Config, target: Target, profile: str) -> None:
        self.config = config
        self.target = target
        self.profile = profile
        self.examples: int | None = config.getoption("conformance_examples")
        self.reference: Target | None = None
        if not target.is_mock:
            self.reference = open_reference(target.model, target.api_version)
        self.recorder = Recorder(target.describe(), profile=profile, api_version=target.api_version)
        self.ctx = Context(target, reference=self.reference, recorder=self.recorder)
        self._repro_dir: Path | None = None

    # -- settings
    def settings(self) -> Any:
        from hypothesis import settings

        base = settings.get_profile(_PREFIX + self.profile)
        if self.examples is None:
            return base
        return settings(base, max_examples=self.examples)

    @property
    def repro_dir(self) -> Path:
        if self._repro_dir is None:
            report = self.config.getoption("divergence_report")
            if report:
                self._repro_dir = Path(report).resolve().parent / "mockvertex-reproductions"
            else:
                self._repro_dir = Path(tempfile.mkdtemp(prefix="mockvertex-conform-"))
        return self._repro_dir

    @property
    def reproductions(self) -> Path | None:
        """Where the failures' bodies were written (None: no failure yet)."""
        return self._repro_dir

    def _written(self, failure: PropertyFailed) -> None:
        failure.reproduce(self.repro_dir, self.target)

    # -- what the tests call
    def check(self, name: str) -> None:
        """Check one property over its examples; a failure carries its reproduction."""
        properties.run(
            self.ctx, properties.PROPERTIES[name], self.settings(), on_failure=self._written
        )

    def require_control(self) -> None:
        if self.target.control is None:
            pytest.skip(
                f"not applicable: {self.target.name} has no mock control plane "
                "(GET /_mockvertex/v1/health does not answer), so no fault can be injected"
            )

    def fault(self, case: str, mode: str) -> None:
        """Both clients against one injected fault; a disagreement must be a known one."""
        self.require_control()
        try:
            result = properties.check_fault(self.ctx, case, _MODES[mode])
        except PropertyFailed as failure:
            failure.property = "clients-raise-alike-on-faults"
            failure.reproduce(self.repro_dir, self.target)
            raise
        if result.kit.same(result.genai):
            return
        known = self.recorder.client_divergence(
            "clients-raise-alike-on-faults", case, mode, str(result.kit), str(result.genai)
        )
        if known is None:
            disagreement = properties.fault_failure(
                self.ctx,
                case,
                _MODES[mode],
                f"{case} in {mode} mode: VertexClient raised {result.kit}, google-genai "
                f"{result.genai}; the injected fault means {result.expected}",
            )
            disagreement.reproduce(self.repro_dir, self.target)
            raise disagreement

    def injected_envelope(self, case: str) -> None:
        self.require_control()
        try:
            properties.check_injected_envelope(self.ctx, case)
        except PropertyFailed as failure:
            failure.property = "error-envelope"
            failure.reproduce(self.repro_dir, self.target)
            raise

    def close(self) -> None:
        self.ctx.close()
        if self.reference is not None:
            self.reference.close()
        self.target.close()


class _State:
    """The plugin's per-session state, registered as a plugin of its own: the run (opened once
    a conformance test is collected), each conformance test's outcome, the report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run: Conformance | None = None
        self.results: dict[str, list[_Result]] = {}
        self.report: tuple[Path, Path] | None = None

    def open(self) -> Conformance:
        if self.run is not None:
            return self.run
        config = self.config
        target_name = str(config.getoption("target"))
        profile = config.getoption("conformance_profile")
        paced = profile == "live" or (profile is None and target_name != "mock")
        live = _live_settings()
        spec = TargetSpec(
            target=target_name,
            project=config.getoption("project"),
            location=str(config.getoption("location")),
            token=config.getoption("token"),
            model=str(config.getoption("model")),
            min_interval=60.0 / float(live["requestsPerMinute"]) if paced else 0.0,
            transient_retries=int(live["transientRetries"]) if paced else 0,
        )
        try:
            target = open_target(spec)
        except TargetError as exc:
            raise pytest.UsageError(str(exc)) from None
        if profile is None:
            profile = "ci" if target.is_mock or target.control is not None else "live"
            if profile == "ci":  # a mockvertex behind a URL: no quota to spare
                target.min_interval, target.transient_retries = 0.0, 0
        self.run = Conformance(config, target, profile)
        return self.run

    # -- hooks
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Note each conformance test's outcome (a failure in setup or the call, a skip)."""
        name = getattr(report, "conformance_property", None)
        if name is None:
            return
        if report.when != "call" and (report.when != "setup" or report.passed):
            return
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            reason = str(reason).removeprefix("Skipped: ").removeprefix("not applicable: ")
            result = _Result(report.nodeid, "not applicable", reason)
        elif report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = _EXCEPTION_PREFIX.sub("", str(getattr(crash, "message", "")), count=1)
            result = _Result(report.nodeid, "failed", message)
        else:
            result = _Result(report.nodeid, "passed")
        self.results.setdefault(str(name), []).append(result)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        run = self.run
        if run is None:
            return
        try:
            self._outcomes(run)
            path = self.config.getoption("divergence_report")
            if path is None and not run.target.is_mock:
                path = _DEFAULT_REPORT
            if path is not None:
                self.report = run.recorder.write(Path(path).resolve())
        finally:
            run.close()

    def _outcomes(self, run: Conformance) -> None:
        for name in sorted(self.results):
            results = self.results[name]
            failed = [r for r in results if r.outcome == "failed"]
            skipped = [r for r in results if r.outcome == "not applicable"]
            if failed:
                detail = failed[0].detail.removeprefix(f"{name} failed: ")
                run.recorder.outcome(name, "failed", detail, failed[0].nodeid)
            elif skipped and len(skipped) == len(results):
                run.recorder.outcome(name, "not applicable", skipped[0].detail)
            else:
                ran = f"{len(results) - len(skipped)} of {len(results)} tests ran"
                run.recorder.outcome(name, "passed", ran if len(results) > 1 else "")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        run = self.run
        if run is None:
            return
        if self.report is not None:
            json_path, table_path = self.report
            terminalreporter.section("mockvertex divergence report")
            for line in render_table(run.recorder.to_json()).splitlines():
                terminalreporter.write_line(line)
            terminalreporter.write_line(f"report: {json_path} (table: {table_path})")
        else:  # no report: still say which known divergences let a test pass
            seen = sorted(
                {
                    c["known"]["name"]
                    for c in run.recorder.to_json()["clientDivergences"]
                    if c["known"] is not None
                }
            )
            for name in seen:
                terminalreporter.write_line(
                    f"mockvertex conformance: known divergence seen: {name} "
                    "(mockvertex/conformance/divergences.json)"
                )
        if run.reproductions is not None:
            terminalreporter.write_line(f"reproductions: {run.reproductions}")


def _live_settings() -> dict[str, Any]:
    document: dict[str, Any] = resources.data("conformance", "live.json")
    return document


def _property_of(item: pytest.Item) -> str | None:
    function = getattr(item, "function", None)
    name = getattr(function, _ATTRIBUTE, None)
    return None if name is None else str(name)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash[_STASH]
    items = [i for i in session.items if _property_of(i) is not None]
    if not items:
        return
    run = state.open()
    if run.profile == "live":
        _print(session.config, _cost_estimate(run, items))


def _print(config: pytest.Config, text: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for line in text.splitlines():
            reporter.write_line(line)
    else:  # pragma: no cover - pytest always has one unless -p no:terminal
        print(text)


def _cost_estimate(run: Conformance, items: list[pytest.Item]) -> str:
    """The most requests the run can send and what they may cost, before it starts."""
    from mockvertex.contract.tokens import request_tokens
    from mockvertex.contract.validation import validate_request

    live = _live_settings()
    examples = run.settings().max_examples
    requests = 0
    for item in items:
        function = getattr(item, "function", None)
        if getattr(function, "__conformance_needs_control__", False) and not run.target.control:
            continue  # not applicable: sends nothing
        name = _property_of(item) or ""
        prop = properties.PROPERTIES.get(name)
        per = prop.requests if prop is not None else 2
        requests += per * (examples if prop is not None and prop.check is not None else 1)
    prompt_tokens = []
    for example in properties.fixed_examples():
        try:
            request = validate_request(example.body, model=run.target.model, method=example.rpc)
        except Exception:  # refused bodies are charged nothing
            continue
        prompt_tokens.append(request_tokens(request))
    average = sum(prompt_tokens) // max(len(prompt_tokens), 1)
    answer = int(live["answerTokens"])
    prices = live["prices"]
    price = prices.get(run.target.model) or max(prices.values(), key=lambda p: p["output"])
    cost = requests * (average * price["input"] + answer * price["output"]) / 1_000_000
    rate = 60.0 / run.target.min_interval if run.target.min_interval else 0
    minutes = requests / rate if rate else 0
    return (
        f"mockvertex conformance, live profile against {run.target.name} "
        f"({run.target.model}, {run.target.location}): at most {requests} requests"
        + (f", at most {rate:g} a minute ({_duration(minutes)})" if rate else "")
        + f"; about {requests * average:,} prompt tokens and at most {requests * answer:,} answer "
        f"tokens, about ${cost:.2f} at ${price['input']:g} / ${price['output']:g} per million "
        "(list prices in mockvertex/conformance/live.json: an estimate, not a quote)."
    )


def _duration(minutes: float) -> str:
    return "under a minute" if minutes < 1 else f"about {minutes:.0f} min"


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest) -> Conformance:
    """The run: the target, the reference mock, the recorder, the Hypothesis settings (closed
    when the session finishes, after the report is written)."""
    return request.config.stash[_STASH].open()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    name = _property_of(item)
    if name is not None:
        report.conformance_property = name
    return report
