"""The control plane under ``/_mockvertex/`` and the local OAuth token endpoint.

One versioned resource tree, ``/_mockvertex/v1/``. A *scope* is ``global`` (the server: its
configured and run-time global scenarios, the quota template every session follows, and the
journal and errors of every session) or ``sessions/{name}`` (one session: the project id of a
located path, ``key-<digest>`` of an express-mode API key, or an ``x-mockvertex-session``
header). Reading a session never creates it. Every answer is JSON unless a ``format`` asks for
text; every bad request gets the Google error envelope naming the field and the rule::

    GET    /_mockvertex/v1/health                         {"status": "ok", "version", "sessions"}
    GET    /_mockvertex/v1/sessions                       {"sessions": [names]}
    GET    /_mockvertex/v1/faults                         the fault kinds and their parameters
    GET    /_mockvertex/v1/{scope}/scenarios              the scope's scenarios, uses left
    POST   /_mockvertex/v1/{scope}/scenarios              add one scenario document
    DELETE /_mockvertex/v1/{scope}/scenarios              drop all (global: back to configured)
    DELETE /_mockvertex/v1/{scope}/scenarios/{scenario}   drop one
    POST   /_mockvertex/v1/{scope}/faults                 {"step": {...}, "match"?: {}, "name"?}
    GET    /_mockvertex/v1/{scope}/quota                  specs and remaining budgets
    PUT    /_mockvertex/v1/{scope}/quota                  {"rpm"?: n, "tpm"?: n, "model"?: glob}
    DELETE /_mockvertex/v1/{scope}/quota                  lift the scope's quotas
    GET    /_mockvertex/v1/{scope}/journal                entries (?format=jsonl: JSON Lines)
    DELETE /_mockvertex/v1/{scope}/journal                clear
    GET    /_mockvertex/v1/{scope}/report                 retry report (?format=table: text;
                                                          thresholds as ?storm_attempts=5&...)
    POST   /_mockvertex/v1/{scope}/reset                  {"resources"?: ["scenarios",
                                                          "journal", "quota", "errors"]}
    GET    /_mockvertex/v1/{scope}/errors                 {"errors": [handler bugs as text]}

The global scope's reset resets the whole server. From a shell::

    M=http://127.0.0.1:8080/_mockvertex/v1
    curl -s $M/health
    curl -s -X POST $M/sessions/my-project/faults \\
         -d '{"step": {"error": {"code": 429}, "times": 2}}'
    curl -s -X PUT $M/sessions/my-project/quota -d '{"rpm": 5}'
    curl -s "$M/sessions/my-project/journal?format=jsonl"
    curl -s "$M/sessions/my-project/report?format=table"
    curl -s -X POST $M/sessions/my-project/reset -d '{"resources": ["journal"]}'

The older ``/_mockvertex/journal`` and ``/_mockvertex/scenarios`` keep working on the global
scope.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import Any

import orjson
from aiohttp import web

import mockvertex
from mockvertex.contract import protojson, resources, wire
from mockvertex.contract.errors import (
    DataFileError,
    FieldViolation,
    InvalidArgument,
    NotFound,
    StatusError,
)
from mockvertex.engine.faults import REGISTRY
from mockvertex.engine.report import Thresholds
from mockvertex.engine.scenario import load_scenario
from mockvertex.engine.session import MAX_SESSION_NAME, RESOURCES, MockState, Scope
from mockvertex.server.adc import SESSION_REFRESH_PREFIX, SESSION_TOKEN_PREFIX
from mockvertex.server.http import STATE, MethodNotAllowed, envelope_response

__all__ = ["PREFIX", "ROUTE", "journal", "scenarios", "token_endpoint", "tree"]

#: Where the versioned tree lives.
PREFIX = "/_mockvertex/v1"
_JSONL_TYPE = "application/jsonl"
_TEXT_TYPE = "text/plain"

Handler = Callable[[web.Request, Scope], Awaitable[web.Response]]


#: The route of the versioned tree (added before any catch-all route), answered by :func:`tree`.
ROUTE = PREFIX + "/{tail:.*}"


# ---------------------------------------------------------------------------------------------
# The older endpoints (global scope)


async def journal(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "DELETE":
        state.journal.clear()
        return web.json_response({"cleared": True})
    return _json([e.to_json() for e in state.journal.entries()])


async def scenarios(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "DELETE":
        # As before sessions: the scenarios back to the configured ones, and the journal cleared.
        state.reset(scenarios=True, journal=True, quota=False, errors=False)
        return web.json_response({"reset": True})
    if request.method == "POST":
        raw = await request.read()
        try:
            body = protojson.decode_json(raw)
            scenario = load_scenario(body)
        except DataFileError as exc:
            return envelope_response(
                InvalidArgument(f"{exc.field or '<root>'}: {exc.rule}"), wire.Framing.UNARY
            )
        except StatusError as exc:
            return envelope_response(exc, wire.Framing.UNARY)
        state.book.add(scenario)
        return web.json_response({"added": scenario.name}, status=200)
    return web.json_response(state.book.snapshot())


async def token_endpoint(request: web.Request) -> web.Response:
    """A local OAuth2 token endpoint, so credential files can point their token_uri here.

    A refresh token ``mockvertex-session:NAME`` (an ADC file written for a session) gets the
    session token ``mockvertex-session.NAME``; with ``--auth token=VALUE`` every caller gets
    that one token, so sessions then come from paths and headers only."""
    state = request.app[STATE]
    if state.config.auth == "token":
        token = state.config.token
    else:
        form = await request.post() if request.body_exists else {}
        refresh = str(form.get("refresh_token", ""))
        name = refresh[len(SESSION_REFRESH_PREFIX) :].strip()
        session = refresh.startswith(SESSION_REFRESH_PREFIX) and 0 < len(name) <= 256
        token = SESSION_TOKEN_PREFIX + name if session else "mockvertex-token"
    return web.json_response(
        {"access_token": token, "expires_in": 3600, "token_type": "Bearer", "scope": ""}
    )


# ---------------------------------------------------------------------------------------------
# Answers


def _json(value: Any) -> web.Response:
    try:
        body = orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits in a kept request
        body = json.dumps(value, ensure_ascii=False, default=str).encode()
    return web.Response(body=body, content_type="application/json")


def _text(text: str, content_type: str = _TEXT_TYPE) -> web.Response:
    return web.Response(text=text, content_type=content_type, charset="utf-8")


def _bad(field: str, rule: str) -> InvalidArgument:
    """A bad control request: the message and the BadRequest violation name field and rule."""
    return InvalidArgument(
        f"Invalid control request: {field or '<body>'}: {rule}",
        violations=[FieldViolation(field, rule)],
    )


def _not_found(request: web.Request) -> NotFound:
    return NotFound(f"The requested URL {request.path} was not found on this server.")


# ---------------------------------------------------------------------------------------------
# Routing inside the tree


async def tree(request: web.Request) -> web.StreamResponse:
    try:
        return await _dispatch(request)
    except StatusError as exc:
        return envelope_response(exc, wire.Framing.UNARY)


async def _dispatch(request: web.Request) -> web.Response:
    state = request.app[STATE]
    parts = request.match_info["tail"].split("/")
    if "" in parts:
        raise _not_found(request)
    top: dict[tuple[str, ...], Callable[[web.Request, MockState], Awaitable[web.Response]]]
    top = {("health",): _health, ("sessions",): _sessions, ("faults",): _fault_kinds}
    if len(parts) == 1 and tuple(parts) in top:
        _allow(request, "GET")
        return await top[tuple(parts)](request, state)
    scope: Scope
    if parts[0] == "global" and len(parts) >= 2:
        scope, rest = state.global_scope(), parts[1:]
    elif parts[0] == "sessions" and len(parts) >= 3:
        name = parts[1]
        if len(name) > MAX_SESSION_NAME:
            raise _bad("session", f"must be a session name of 1 to {MAX_SESSION_NAME} characters")
        scope, rest = state.session(name), parts[2:]
    else:
        raise _not_found(request)
    if len(rest) == 2 and rest[0] == "scenarios":
        scenario = rest[1]
        _allow(request, "DELETE")
        scope.remove_scenario(scenario)
        return _json({"removed": scenario, "scope": scope.name})
    methods = _TREE.get(rest[0]) if len(rest) == 1 else None
    if methods is None:
        raise _not_found(request)
    _allow(request, *methods)
    return await methods[request.method](request, scope)


def _allow(request: web.Request, *methods: str) -> None:
    if request.method not in methods:
        allowed = " or ".join(methods)
        raise MethodNotAllowed(
            f"HTTP method {request.method} is not supported by {request.path}; use {allowed}.",
            headers={"Allow": ", ".join(methods)},
        )


async def _body(request: web.Request, *, optional: bool = False) -> Any:
    raw = await request.read()
    if optional and not raw.strip():
        return {}
    return protojson.decode_json(raw)


def _object(value: Any, field: str = "") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(field, f"must be a JSON object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else "a value")


def _query(request: web.Request, allowed: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """The query parameters ``allowed`` names (each with its values, () for any value)."""
    out: dict[str, str] = {}
    for name, value in request.query.items():
        if name not in allowed:
            raise _bad(name, f"unknown parameter; the parameters are: {', '.join(allowed)}")
        choices = allowed[name]
        if choices and value not in choices:
            raise _bad(name, f"must be one of: {', '.join(choices)}")
        out[name] = value
    return out


# ---------------------------------------------------------------------------------------------
# Top-level resources


async def _health(request: web.Request, state: MockState) -> web.Response:
    _query(request, {})
    version = mockvertex.__version__
    return _json({"status": "ok", "version": version, "sessions": len(state.sessions)})


async def _sessions(request: web.Request, state: MockState) -> web.Response:
    _query(request, {})
    return _json({"sessions": state.sessions.names()})


async def _fault_kinds(request: web.Request, state: MockState) -> web.Response:
    _query(request, {})
    return _json(fault_catalogue())


@cache
def fault_catalogue() -> dict[str, Any]:
    """The fault kinds (from the registry) and the parameters the scenario schema gives each,
    with the step keys that break or slow an answer: ``error``, ``delay`` and ``when``."""
    schema = resources.schema("scenario.schema.json")
    defs = schema["$defs"]
    fault = defs["fault"]
    properties = {k: v for k, v in fault["properties"].items() if k != "kind"}
    only: dict[str, str] = {}  # parameter -> the one kind that may have it
    for rule in fault.get("allOf", []):
        kind = rule.get("if", {}).get("not", {}).get("properties", {}).get("kind", {})
        required = rule.get("then", {}).get("not", {}).get("required", [])
        if "const" in kind and len(required) == 1:
            only[required[0]] = kind["const"]
    kinds = []
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        doc = (cls.__doc__ or "").strip().splitlines()
        kinds.append(
            {
                "kind": name,
                "description": doc[0] if doc else "",
                "outcome": str(cls.outcome),
                "parameters": {
                    p: spec for p, spec in properties.items() if only.get(p, name) == name
                },
            }
        )
    step = defs["step"]["properties"]
    return {
        "faults": kinds,
        "step": {k: v.get("description", "") for k, v in step.items()},
        "error": defs["error"]["properties"],
        "delay": defs["delay"]["properties"],
        "when": defs.get("when", {}).get("properties", {}),
    }


# ---------------------------------------------------------------------------------------------
# Scoped resources


async def _list_scenarios(request: web.Request, scope: Scope) -> web.Response:
    _query(request, {})
    return _json(scope.scenarios())


async def _add_scenario(request: web.Request, scope: Scope) -> web.Response:
    document = _object(await _body(request))
    try:
        scenario = load_scenario(document)
    except DataFileError as exc:
        raise _bad(exc.field, exc.rule) from None
    scope.add_scenario(scenario)
    return _json({"added": scenario.name, "scope": scope.name})


async def _clear_scenarios(request: web.Request, scope: Scope) -> web.Response:
    scope.clear_scenarios()
    return _json({"cleared": True, "scope": scope.name})


_FAULT_KEYS = ("step", "match", "name")


async def _add_fault(request: web.Request, scope: Scope) -> web.Response:
    body = _object(await _body(request))
    for key in body:
        if key not in _FAULT_KEYS:
            raise _bad(str(key), "unknown field; the fields are step, match, name")
    if "step" not in body:
        raise _bad("step", "a required field is missing")
    step = _object(body["step"], "step")
    match = _object(body["match"], "match") if body.get("match") is not None else None
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise _bad("name", f"must be a string, got {_kind(name)}")
    try:
        scenario = scope.add_fault(step, match=match, name=name)
    except DataFileError as exc:
        raise _bad(exc.field, exc.rule) from None
    return _json({"added": scenario.name, "scope": scope.name})


async def _get_quota(request: web.Request, scope: Scope) -> web.Response:
    _query(request, {})
    return _json(scope.quota())


async def _put_quota(request: web.Request, scope: Scope) -> web.Response:
    body = _object(await _body(request))
    try:
        scope.set_quota(body)
    except DataFileError as exc:
        raise _bad(exc.field, exc.rule) from None
    return _json(scope.quota())


async def _lift_quota(request: web.Request, scope: Scope) -> web.Response:
    scope.set_quota(None)
    return _json(scope.quota())


async def _get_journal(request: web.Request, scope: Scope) -> web.Response:
    query = _query(request, {"format": ("json", "jsonl")})
    entries = scope.journal()
    if query.get("format") == "jsonl":
        return _text("".join(e.to_jsonl() + "\n" for e in entries), _JSONL_TYPE)
    return _json([e.to_json() for e in entries])


async def _clear_journal(request: web.Request, scope: Scope) -> web.Response:
    scope.clear_journal()
    return _json({"cleared": True, "scope": scope.name})


_THRESHOLDS = {f.name: f for f in dataclasses.fields(Thresholds)}


async def _report(request: web.Request, scope: Scope) -> web.Response:
    allowed: dict[str, tuple[str, ...]] = {"format": ("json", "table")}
    allowed.update(dict.fromkeys(_THRESHOLDS, ()))
    query = _query(request, allowed)
    fmt = query.pop("format", "json")
    report = scope.report(**{name: _threshold(name, text) for name, text in query.items()})
    if fmt == "table":
        return _text(report.table() + "\n")
    return _json(report.to_json())


def _threshold(name: str, text: str) -> Any:
    """A threshold from its query text, typed as its default is."""
    default = _THRESHOLDS[name].default
    if isinstance(default, tuple):
        try:
            codes = tuple(int(p) for p in text.split(",") if p.strip())
        except ValueError:
            codes = ()
        if not codes or not all(100 <= c <= 599 for c in codes):
            raise _bad(name, "must be HTTP status codes separated by commas, e.g. 400,403,404")
        return codes
    if isinstance(default, int):
        if not text.isdigit():
            raise _bad(name, "must be an integer >= 0")
        return int(text)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise _bad(name, "must be a number >= 0")
    return value


async def _reset(request: web.Request, scope: Scope) -> web.Response:
    body = _object(await _body(request, optional=True))
    for key in body:
        if key != "resources":
            raise _bad(str(key), "unknown field; the only field is resources")
    names = body.get("resources", list(RESOURCES))
    rule = f"must be a non-empty list of: {', '.join(RESOURCES)}"
    if not isinstance(names, list) or not names:
        raise _bad("resources", rule)
    for i, name in enumerate(names):
        if name not in RESOURCES:
            raise _bad(f"resources[{i}]", rule)
    chosen = {r: r in names for r in RESOURCES}
    scope.reset(**chosen)
    return _json({"reset": [r for r in RESOURCES if chosen[r]], "scope": scope.name})


async def _errors(request: web.Request, scope: Scope) -> web.Response:
    _query(request, {})
    return _json({"errors": scope.errors()})


_TREE: dict[str, dict[str, Handler]] = {
    "scenarios": {"GET": _list_scenarios, "POST": _add_scenario, "DELETE": _clear_scenarios},
    "faults": {"POST": _add_fault},
    "quota": {"GET": _get_quota, "PUT": _put_quota, "DELETE": _lift_quota},
    "journal": {"GET": _get_journal, "DELETE": _clear_journal},
    "report": {"GET": _report},
    "reset": {"POST": _reset},
    "errors": {"GET": _errors},
}
