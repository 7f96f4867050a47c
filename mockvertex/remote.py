"""RemoteMock: a running mockvertex server driven over its control plane (``/_mockvertex/v1/``).

The same operations as ``MockVertexServer`` and its ``MockSession`` handles, over plain HTTP
with ``requests``, for a server in another process or a container (the CLI's control
subcommands and the pytest plugin's ``--mockvertex-url`` use it)::

    mock = RemoteMock("http://127.0.0.1:8080")
    session = mock.session("my-project")
    session.add_fault({"error": {"code": 429}, "times": 2})
    ...                                   # the code under test calls the mock
    report = session.report()             # computed here from the session's journal
    session.reset()

The journal comes back as :class:`~mockvertex.engine.journal.Exchange` objects rebuilt with
``Exchange.from_json``, so a report computes here exactly as it does in the server. An error
envelope from the control plane raises the matching ``StatusError`` (``InvalidArgument`` with
the field and the rule, ``NotFound``, ...); a server that cannot be reached raises
:class:`Unreachable`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests

from mockvertex.contract import resources
from mockvertex.contract.errors import StatusError, Unavailable, error_class_for
from mockvertex.engine.journal import Exchange
from mockvertex.engine.quota import QuotaSpec, parse_quota
from mockvertex.engine.report import RetryReport, Thresholds, retry_report
from mockvertex.engine.scenario import Match, Scenario, load_builtin, load_scenario
from mockvertex.engine.session import GLOBAL, RESOURCES, fault_scenario

__all__ = ["RemoteMock", "RemoteScope", "RemoteSession", "Unreachable"]

_API = "/_mockvertex/v1"
ScenarioSource = str | os.PathLike[str] | Mapping[str, Any] | Scenario


class Unreachable(Unavailable):
    """No mockvertex answered at the URL (nothing listening, a timeout, not HTTP)."""


class _Client:
    """One HTTP connection pool to a server's control plane."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        text: bool = False,
    ) -> Any:
        """The parsed JSON (or ``text``) answer of ``method path``; raise the envelope's error."""
        url = f"{self.url}{_API}/{path}"
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            answer = self._http.request(
                method, url, data=data, params=params, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise Unreachable(f"mockvertex is not reachable at {self.url}: {exc}") from exc
        if answer.status_code >= 400:
            raise _error_of(answer, url)
        if text:
            return answer.text
        try:
            return answer.json()
        except ValueError:
            raise Unreachable(
                f"{url} answered HTTP {answer.status_code} with a body that is not JSON: "
                "is mockvertex running there?"
            ) from None

    def close(self) -> None:
        self._http.close()


def _error_of(answer: requests.Response, url: str) -> StatusError:
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return StatusError.from_envelope(body, answer.status_code)
    klass = error_class_for(answer.status_code)
    return klass(f"{url} answered HTTP {answer.status_code} without an error envelope.")


# ---------------------------------------------------------------------------------------------
# Scenario documents


def _document(source: ScenarioSource) -> dict[str, Any]:
    """The JSON document of a scenario source, checked here first (DataFileError)."""
    if isinstance(source, Scenario):
        return scenario_document(source)
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, str) and not source.endswith(".json") and "/" not in source:
        load_builtin(source)  # an unknown name fails here, listing the built-ins
        document: dict[str, Any] = resources.builtin_scenario(source)
        return document
    path = Path(source)
    load_scenario(path)  # unreadable or invalid files fail here, naming the file
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """A loaded Scenario back as its JSON document (steps keep their JSON; the match is
    written back from its fields)."""
    document: dict[str, Any] = {"format": 1, "name": scenario.name}
    if scenario.description:
        document["description"] = scenario.description
    match = _match_document(scenario.match)
    if match:
        document["match"] = match
    document["steps"] = [dict(step.raw) for step in scenario.steps]
    return document


def _match_document(match: Match) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def one_or_list(key: str, values: tuple[str, ...] | None) -> None:
        if values is not None:
            out[key] = values[0] if len(values) == 1 else list(values)

    if match.model is not None:
        out["model"] = match.model
    one_or_list("method", match.methods)
    if match.contains is not None:
        out["lastUserText"] = {"contains": match.contains}
    elif match.regex is not None:
        out["lastUserText"] = {"regex": match.regex.pattern}
    if match.turn is not None:
        out["turn"] = match.turn
    if match.has_tools is not None:
        out["hasTools"] = match.has_tools
    one_or_list("apiVersion", match.api_versions)
    one_or_list("framing", match.framings)
    if match.session is not None:
        out["session"] = match.session
    return out


def _quota_document(spec: QuotaSpec | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(spec, QuotaSpec):
        return spec.to_json()
    if isinstance(spec, str):
        return parse_quota(spec).to_json()  # ValueError naming the bad part, before sending
    return dict(spec)


# ---------------------------------------------------------------------------------------------
# Scopes


class RemoteScope:
    """A scope of a remote server (``global`` or a session): the ``MockSession`` methods."""

    def __init__(self, client: _Client, name: str, path: str) -> None:
        self._client = client
        self.name = name
        self._path = path

    def _call(self, method: str, resource: str, **kwargs: Any) -> Any:
        return self._client.call(method, f"{self._path}/{resource}", **kwargs)

    # -- scenarios
    def add_scenario(self, scenario: ScenarioSource) -> Scenario:
        """Add a scenario (a Scenario, mapping, file path or built-in name); returns it."""
        document = _document(scenario)
        self._call("POST", "scenarios", body=document)
        return load_scenario(document)

    def add_fault(
        self,
        step: Mapping[str, Any],
        *,
        match: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> Scenario:
        """A one-step scenario (``fault-N`` unless named), e.g.
        ``add_fault({"error": {"code": 429}, "times": 2})``."""
        body: dict[str, Any] = {"step": dict(step)}
        if match is not None:
            body["match"] = dict(match)
        if name is not None:
            body["name"] = name
        added = self._call("POST", "faults", body=body)["added"]
        return fault_scenario(step, match=match, name=added)

    def remove_scenario(self, name: str) -> None:
        """Drop one scenario by name; NotFound when the scope has none of that name."""
        self._call("DELETE", f"scenarios/{quote(name, safe='')}")

    def clear_scenarios(self) -> None:
        self._call("DELETE", "scenarios")

    def scenarios(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self._call("GET", "scenarios")
        return answer

    # -- quota
    def set_quota(self, spec: QuotaSpec | str | Mapping[str, Any] | None) -> None:
        """Set the scope's budget for the spec's model glob; None lifts the scope's quotas."""
        if spec is None:
            self._call("DELETE", "quota")
        else:
            self._call("PUT", "quota", body=_quota_document(spec))

    def quota(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", "quota")
        return answer

    # -- journal and report
    def journal(self) -> list[Exchange]:
        """The scope's exchanges, rebuilt from the control plane's JSON."""
        return [Exchange.from_json(raw) for raw in self._call("GET", "journal")]

    def clear_journal(self) -> None:
        self._call("DELETE", "journal")

    def report(self, **thresholds: Any) -> RetryReport:
        """The retry report, computed here from the scope's journal."""
        return retry_report(self.journal(), Thresholds(**thresholds))

    def server_report(
        self, thresholds: Mapping[str, str] | None = None, *, table: bool = False
    ) -> Any:
        """The retry report as the server computes it: its JSON, or with ``table`` its text;
        ``thresholds`` go as query text (``{"storm_attempts": "5"}``), checked by the server."""
        params = {**(thresholds or {}), "format": "table" if table else "json"}
        return self._call("GET", "report", params=params, text=table)

    # -- errors and reset
    def errors(self) -> list[str]:
        """The handler bugs the server recorded for this scope, as traceback text."""
        answer: list[str] = self._call("GET", "errors")["errors"]
        return answer

    def check(self) -> None:
        """Raise AssertionError with the first handler bug, if any."""
        errors = self.errors()
        if errors:
            raise AssertionError(
                f"mockvertex server-side error in scope {self.name!r}:\n{errors[0]}"
            )

    def reset(
        self,
        *,
        scenarios: bool = True,
        journal: bool = True,
        quota: bool = True,
        errors: bool = True,
    ) -> None:
        """Reset the resources named (a session's; the global scope's is the whole server's)."""
        chosen = {"scenarios": scenarios, "journal": journal, "quota": quota, "errors": errors}
        names = [r for r in RESOURCES if chosen[r]]
        if names:
            self._call("POST", "reset", body={"resources": names})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._client.url!r}, {self.name!r})"


class RemoteSession(RemoteScope):
    """One session of a remote server."""

    def __init__(self, client: _Client, name: str) -> None:
        super().__init__(client, name, f"sessions/{quote(name, safe='')}")


class RemoteMock:
    """A mockvertex server running elsewhere, by its base URL (``http://127.0.0.1:8080``)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._client = _Client(url, timeout)
        self._global = RemoteScope(self._client, GLOBAL, GLOBAL)

    @property
    def url(self) -> str:
        """The base URL SDKs use (no trailing slash)."""
        return self._client.url

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "version": ..., "sessions": N}``; Unreachable when no server."""
        answer: dict[str, Any] = self._client.call("GET", "health")
        return answer

    def faults(self) -> dict[str, Any]:
        """The fault kinds the server knows and their parameters."""
        answer: dict[str, Any] = self._client.call("GET", "faults")
        return answer

    def session(self, name: str) -> RemoteSession:
        return RemoteSession(self._client, name)

    def global_scope(self) -> RemoteScope:
        return self._global

    def sessions(self) -> list[str]:
        answer: list[str] = self._client.call("GET", "sessions")["sessions"]
        return answer

    def _scope(self, session: str | None) -> RemoteScope:
        return self._global if session is None else self.session(session)

    def journal(self, session: str | None = None) -> list[Exchange]:
        """One session's exchanges, or every session's (None)."""
        return self._scope(session).journal()

    def report(self, session: str | None = None, **thresholds: Any) -> RetryReport:
        return self._scope(session).report(**thresholds)

    def reset(
        self,
        session: str | None = None,
        *,
        scenarios: bool = True,
        journal: bool = True,
        quota: bool = True,
        errors: bool = True,
    ) -> None:
        """Reset one session, or the whole server (None), per resource."""
        self._scope(session).reset(scenarios=scenarios, journal=journal, quota=quota, errors=errors)

    def add_scenario(self, scenario: ScenarioSource) -> Scenario:
        """Add a global scenario."""
        return self._global.add_scenario(scenario)

    def set_quota(self, spec: QuotaSpec | str | Mapping[str, Any] | None) -> None:
        """Set (or with None lift) a global quota, applied to every session's buckets."""
        self._global.set_quota(spec)

    def errors(self) -> list[str]:
        return self._global.errors()

    def check(self) -> None:
        """Raise AssertionError with the first handler bug the server recorded, if any."""
        self._global.check()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteMock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteMock({self.url!r})"
