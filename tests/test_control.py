"""The control plane in-process: every ``/_mockvertex/v1/`` endpoint, bad control requests
answered with the Google envelope (field and rule, never a 500), and how a request finds its
session and its quota."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

import mockvertex
import mockvertex.server.app
from mockvertex.config import ServerConfig
from mockvertex.contract.errors import StatusError
from mockvertex.engine.faults import REGISTRY
from mockvertex.engine.journal import parse_jsonl
from mockvertex.engine.quota import REQUESTS_METRIC, TOKENS_METRIC
from mockvertex.engine.session import MockState
from mockvertex.server.app import STATE, create_app

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

V1 = "/_mockvertex/v1"
MODEL = "gemini-2.0-flash"
BODY: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "Tell me about rivers"}]}]}
AUTH = {"Authorization": "Bearer ya29.control-test"}
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def rpc(method: str = "generateContent", *, project: str = "p", query: str = "") -> str:
    return (
        f"/v1/projects/{project}/locations/us-central1/publishers/google/models/"
        f"{MODEL}:{method}{query}"
    )


def express(method: str = "generateContent", query: str = "") -> str:
    return f"/v1/publishers/google/models/{MODEL}:{method}{query}"


def scenario(name: str, text: str = "scripted", **match: Any) -> dict[str, Any]:
    return {
        "format": 1,
        "name": name,
        "match": match,
        "steps": [{"respond": {"text": text}, "times": "forever"}],
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(aiohttp_client: Any, clock: FakeClock) -> MakeClient:
    async def make(config: ServerConfig | None = None) -> Client:
        config = config or ServerConfig()
        state = MockState.from_config(config, clock=clock)
        client: Client = await aiohttp_client(create_app(config, state=state))
        return client

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()


async def generate(client: Client, path: str | None = None, **kwargs: Any) -> Any:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    resp = await client.post(path or rpc(), json=kwargs.pop("body", BODY), headers=headers)
    return resp


async def text_of(resp: Any) -> str:
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    return str(answer["candidates"][0]["content"]["parts"][0]["text"])


async def ok(resp: Any) -> Any:
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/json")
    return await resp.json()


async def bad(resp: Any, field: str, rule: str = "", status: int = 400) -> dict[str, Any]:
    """A control error: the Google envelope, its BadRequest naming ``field`` and the rule."""
    assert resp.status == status, await resp.text()
    error: dict[str, Any] = (await resp.json())["error"]
    assert error["code"] == status
    assert set(error) <= {"code", "message", "status", "details"}
    if status == 400:
        assert error["status"] == "INVALID_ARGUMENT"
        (detail,) = error["details"]
        assert detail["@type"] == BAD_REQUEST
        (violation,) = detail["fieldViolations"]
        assert violation.get("field", "") == field
        assert rule in violation["description"]
        assert field in error["message"]
    return error


def state_of(client: Client) -> MockState:
    return client.app[STATE]


# ------------------------------------------------------------------------ session routing


async def test_a_located_request_belongs_to_its_project(client: Client) -> None:
    await text_of(await generate(client, rpc(project="team-a")))
    await text_of(await generate(client, rpc(project="team-b")))
    assert [e.session for e in state_of(client).journal.entries()] == ["team-a", "team-b"]
    assert (await ok(await client.get(f"{V1}/sessions"))) == {"sessions": ["team-a", "team-b"]}


async def test_an_express_request_belongs_to_a_digest_of_its_key(client: Client) -> None:
    key = "AIza-control-secret"
    name = "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]
    await text_of(await client.post(express(), json=BODY, headers={"x-goog-api-key": key}))
    await text_of(await client.post(express(query=f"?key={key}"), json=BODY))
    entries = state_of(client).journal.entries()
    assert [e.session for e in entries] == [name, name]
    assert key not in json.dumps([e.to_json() for e in entries])
    assert key not in json.dumps(await ok(await client.get(f"{V1}/sessions")))


async def test_an_express_request_without_a_key_is_default(make_client: MakeClient) -> None:
    client = await make_client(ServerConfig(auth="none"))
    await text_of(await client.post(express(), json=BODY))
    assert state_of(client).journal.entries()[0].session == "default"


async def test_the_session_header_wins(client: Client) -> None:
    headers = {"x-mockvertex-session": "  chosen  "}
    await text_of(await generate(client, rpc(project="p"), headers=headers))
    await text_of(
        await client.post(express(), json=BODY, headers={"x-goog-api-key": "k", **headers})
    )
    assert [e.session for e in state_of(client).journal.entries()] == ["chosen", "chosen"]


@pytest.mark.parametrize("value", ["", "   ", "x" * 257])
async def test_a_bad_session_header_is_invalid_argument(client: Client, value: str) -> None:
    resp = await generate(client, headers={"x-mockvertex-session": value})
    await bad(resp, "x-mockvertex-session", "1 to 256 characters")
    (entry,) = state_of(client).journal.entries()
    assert (entry.session, entry.status) == ("p", 400)


async def test_session_scenarios_come_before_global_ones(client: Client) -> None:
    await ok(await client.post(f"{V1}/global/scenarios", json=scenario("everyone", "global")))
    await ok(await client.post(f"{V1}/sessions/mine/scenarios", json=scenario("own", "own")))
    assert await text_of(await generate(client, rpc(project="mine"))) == "own"
    assert await text_of(await generate(client, rpc(project="other"))) == "global"
    entries = state_of(client).journal.entries()
    assert [e.scenario for e in entries] == ["own", "everyone"]


async def test_a_session_fault_reaches_only_that_session(client: Client) -> None:
    step = {"error": {"code": 503}, "times": 1}
    added = await ok(await client.post(f"{V1}/sessions/flaky/faults", json={"step": step}))
    assert added == {"added": "fault-1", "scope": "flaky"}
    assert (await generate(client, rpc(project="steady"))).status == 200
    assert (await generate(client, rpc(project="flaky"))).status == 503
    assert (await generate(client, rpc(project="flaky"))).status == 200


async def test_a_handler_bug_is_kept_in_its_session(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("synthesis exploded")

    with monkeypatch.context() as patch:
        patch.setattr(mockvertex.server.app, "render", broken)
        assert (await generate(client, rpc(project="unlucky"))).status == 500
    assert (await generate(client, rpc(project="fine"))).status == 200
    (text,) = (await ok(await client.get(f"{V1}/sessions/unlucky/errors")))["errors"]
    assert "RuntimeError: synthesis exploded" in text
    assert (await ok(await client.get(f"{V1}/sessions/fine/errors"))) == {"errors": []}
    assert len((await ok(await client.get(f"{V1}/global/errors")))["errors"]) == 1
    await ok(await client.post(f"{V1}/sessions/unlucky/reset", json={"resources": ["errors"]}))
    assert (await ok(await client.get(f"{V1}/global/errors"))) == {"errors": []}
    assert state_of(client).errors == []


# ---------------------------------------------------------------------------- quotas


async def quota_error(resp: Any, *, framing_list: bool = False) -> dict[str, Any]:
    assert resp.status == 429
    body = await resp.json(content_type=None)
    if framing_list:
        assert isinstance(body, list)
        (body,) = body
    error: dict[str, Any] = body["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    return error


async def test_a_spent_rpm_budget_answers_vertex_429(client: Client, clock: FakeClock) -> None:
    await ok(await client.put(f"{V1}/sessions/p/quota", json={"rpm": 2}))
    for _ in range(2):
        await text_of(await generate(client))
    error = await quota_error(await generate(client))
    assert REQUESTS_METRIC in error["message"]
    assert "Please submit a quota increase request" in error["message"]
    types = [d["@type"] for d in error["details"]]
    assert types == [QUOTA_FAILURE, ERROR_INFO, RETRY_INFO]
    assert error["details"][2]["retryDelay"] == "30s"  # rpm 2: one request every 30 s
    entry = state_of(client).journal.entries()[-1]
    assert (entry.status, entry.fault) == (429, "quota")
    clock.now += 30
    await text_of(await generate(client))


async def test_quota_429_in_each_framing(client: Client) -> None:
    await ok(await client.put(f"{V1}/sessions/p/quota", json={"rpm": 1}))
    await text_of(await generate(client))
    await quota_error(await generate(client, rpc("streamGenerateContent")), framing_list=True)
    await quota_error(await generate(client, rpc("streamGenerateContent", query="?alt=sse")))


async def test_count_tokens_is_not_charged(client: Client) -> None:
    await ok(await client.put(f"{V1}/sessions/p/quota", json={"rpm": 1}))
    for _ in range(3):
        assert (await generate(client, rpc("countTokens"))).status == 200
    await text_of(await generate(client))
    (budget,) = (await ok(await client.get(f"{V1}/sessions/p/quota")))["models"]
    assert budget["requests"]["remaining"] == 0


async def test_a_tpm_budget_counts_prompt_tokens(client: Client) -> None:
    counted = await ok(await generate(client, rpc("countTokens")))
    tokens = counted["totalTokens"]
    await ok(await client.put(f"{V1}/sessions/p/quota", json={"tpm": tokens * 2}))
    for _ in range(2):
        await text_of(await generate(client))
    error = await quota_error(await generate(client))
    assert TOKENS_METRIC in error["message"]


async def test_configured_quota_applies_to_every_session(make_client: MakeClient) -> None:
    client = await make_client(ServerConfig(quotas=("rpm=1",), quota_retry_after=True))
    for project in ("a", "b"):
        await text_of(await generate(client, rpc(project=project)))
        resp = await generate(client, rpc(project=project))
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "60"
    view = await ok(await client.get(f"{V1}/global/quota"))
    assert view["quotas"] == [{"rpm": 1}]
    assert set(view["sessions"]) == {"a", "b"}
    await ok(await client.delete(f"{V1}/global/quota"))
    await text_of(await generate(client, rpc(project="a")))


async def test_no_quota_no_quota_work(client: Client) -> None:
    await text_of(await generate(client))
    session = state_of(client).sessions.get("p")
    assert not session.limited
    assert session.quotas.snapshot()["models"] == []


# ---------------------------------------------------------------------- top-level resources


async def test_health(client: Client) -> None:
    assert await ok(await client.get(f"{V1}/health")) == {
        "status": "ok",
        "version": mockvertex.__version__,
        "sessions": 0,
    }
    await generate(client)
    assert (await ok(await client.get(f"{V1}/health")))["sessions"] == 1


async def test_fault_catalogue_lists_the_registry(client: Client) -> None:
    catalogue = await ok(await client.get(f"{V1}/faults"))
    kinds = {k["kind"]: k for k in catalogue["faults"]}
    assert set(kinds) == set(REGISTRY)
    assert "afterBytes" in kinds["disconnect"]["parameters"]
    assert "afterBytes" not in kinds["truncate"]["parameters"]
    assert "seconds" in kinds["stall"]["parameters"]
    assert "after" in kinds["error"]["parameters"]
    assert kinds["disconnect"]["outcome"] == "disconnected"
    assert {"error", "delay", "fault", "times"} <= set(catalogue["step"])
    assert "retryAfter" in catalogue["error"]
    assert "betweenChunks" in catalogue["delay"]


# ------------------------------------------------------------------------- scenarios


@pytest.mark.parametrize("scope", ["global", "sessions/s1"])
async def test_scenarios_add_list_remove_clear(client: Client, scope: str) -> None:
    base = f"{V1}/{scope}/scenarios"
    name = scope.rsplit("/", 1)[-1]
    assert await ok(await client.post(base, json=scenario("one"))) == {
        "added": "one",
        "scope": name,
    }
    await ok(await client.post(base, json=scenario("two")))
    listed = await ok(await client.get(base))
    assert [s["name"] for s in listed] == ["one", "two"]
    assert listed[0]["steps"] == [{"times": "forever", "remaining": "forever"}]
    assert await ok(await client.delete(f"{base}/one")) == {"removed": "one", "scope": name}
    assert [s["name"] for s in await ok(await client.get(base))] == ["two"]
    error = await bad(await client.delete(f"{base}/one"), "", status=404)
    assert error["message"] == f"No scenario named 'one' in scope '{name}'."
    assert await ok(await client.delete(base)) == {"cleared": True, "scope": name}
    assert await ok(await client.get(base)) == []


async def test_global_clear_goes_back_to_the_configured_scenarios(make_client: MakeClient) -> None:
    client = await make_client(ServerConfig(builtin_scenarios=("max_tokens",)))
    await ok(await client.post(f"{V1}/global/scenarios", json=scenario("later")))
    await ok(await client.delete(f"{V1}/global/scenarios"))
    assert [s["name"] for s in await ok(await client.get(f"{V1}/global/scenarios"))] == [
        "max_tokens"
    ]


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"format": 2, "name": "x", "steps": [{}]}, "format", "must be 1"),
        ({"format": 1, "name": "x"}, "steps", "required"),
        ({"format": 1, "name": "x", "steps": [{"times": 0}]}, "steps[0].times", "positive"),
        ([1, 2], "", "must be a JSON object, got an array"),
        ("text", "", "must be a JSON object, got a string"),
    ],
)
async def test_a_bad_scenario_names_field_and_rule(
    client: Client, body: Any, field: str, rule: str
) -> None:
    await bad(await client.post(f"{V1}/sessions/s/scenarios", json=body), field, rule)
    assert state_of(client).sessions.names() == []


async def test_bad_json_is_invalid_argument(client: Client) -> None:
    resp = await client.post(f"{V1}/global/scenarios", data=b"{nope")
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["message"].startswith("Invalid JSON payload received.")


# ----------------------------------------------------------------------------- faults


async def test_add_fault_with_match_and_name(client: Client) -> None:
    body = {"step": {"error": {"code": 429}}, "match": {"model": "gemini-2.5-*"}, "name": "rl"}
    assert await ok(await client.post(f"{V1}/sessions/p/faults", json=body)) == {
        "added": "rl",
        "scope": "p",
    }
    assert (await generate(client)).status == 200  # gemini-2.0-flash does not match


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({}, "step", "a required field is missing"),
        ({"step": {}, "colour": 1}, "colour", "unknown field"),
        ({"step": []}, "step", "must be a JSON object, got an array"),
        ({"step": {}, "match": 3}, "match", "must be a JSON object, got a number"),
        ({"step": {}, "name": 3}, "name", "must be a string"),
        ({"step": {"error": {"code": 200}}}, "step.error.code", "must be >= 400"),
        ({"step": {"fault": {"kind": "explode"}}}, "step.fault.kind", "must be one of"),
        ({"step": {}, "match": {"colour": "red"}}, "match.colour", "unknown field"),
        ({"step": {}, "name": "has space"}, "name", "pattern"),
    ],
)
async def test_a_bad_fault_names_field_and_rule(
    client: Client, body: Any, field: str, rule: str
) -> None:
    await bad(await client.post(f"{V1}/sessions/p/faults", json=body), field, rule)
    assert await ok(await client.get(f"{V1}/sessions/p/scenarios")) == []


# ------------------------------------------------------------------------------ quota


async def test_quota_put_get_delete(client: Client) -> None:
    view = await ok(await client.put(f"{V1}/sessions/p/quota", json={"rpm": 5, "tpm": 1000}))
    assert view["own"] == [{"rpm": 5, "tpm": 1000}]
    assert view["session"] == "p"
    await generate(client)
    (budget,) = (await ok(await client.get(f"{V1}/sessions/p/quota")))["models"]
    assert budget["requests"] == {
        "limit": 5,
        "remaining": 4,
        "secondsUntilNext": 0.0,
        "secondsUntilFull": 12.0,
    }
    assert (await ok(await client.delete(f"{V1}/sessions/p/quota")))["own"] == []


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"rpm": 0}, "rpm", "must be an integer from 1 to"),
        ({"tpm": "many"}, "tpm", "must be an integer"),
        ({"rpm": 1, "burst": 2}, "burst", "unknown key"),
        ({"model": "gemini-*"}, "", "rpm, tpm or both"),
        ({"rpm": 1, "model": ""}, "model", "non-empty glob"),
        ([], "", "must be a JSON object"),
    ],
)
async def test_a_bad_quota_names_field_and_rule(
    client: Client, body: Any, field: str, rule: str
) -> None:
    await bad(await client.put(f"{V1}/global/quota", json=body), field, rule)


# ---------------------------------------------------------------------------- journal


async def test_journal_json_and_jsonl_per_scope(client: Client) -> None:
    await generate(client, rpc(project="a"))
    await generate(client, rpc(project="b"))
    entries = await ok(await client.get(f"{V1}/sessions/a/journal"))
    assert [e["session"] for e in entries] == ["a"]
    assert len(await ok(await client.get(f"{V1}/global/journal"))) == 2
    resp = await client.get(f"{V1}/sessions/b/journal", params={"format": "jsonl"})
    assert resp.headers["Content-Type"].startswith("application/jsonl")
    (entry,) = parse_jsonl(await resp.text())
    assert (entry.session, entry.status) == ("b", 200)
    assert await ok(await client.delete(f"{V1}/sessions/a/journal")) == {
        "cleared": True,
        "scope": "a",
    }
    assert [e["session"] for e in await ok(await client.get(f"{V1}/global/journal"))] == ["b"]
    await ok(await client.delete(f"{V1}/global/journal"))
    assert await ok(await client.get(f"{V1}/global/journal")) == []


async def test_journal_query_is_checked(client: Client) -> None:
    await bad(await client.get(f"{V1}/global/journal?format=xml"), "format", "json, jsonl")
    await bad(await client.get(f"{V1}/global/journal?limit=3"), "limit", "unknown parameter")


# ----------------------------------------------------------------------------- report


async def test_report_json_table_and_thresholds(client: Client) -> None:
    await ok(
        await client.post(
            f"{V1}/sessions/p/faults", json={"step": {"error": {"code": 503}, "times": 2}}
        )
    )
    for _ in range(3):
        await generate(client)
    report = await ok(await client.get(f"{V1}/sessions/p/report"))
    (call,) = report["calls"]
    assert [a["status"] for a in call["attempts"]] == [503, 503, 200]
    assert report["thresholds"]["storm_attempts"] == 10
    tuned = await ok(
        await client.get(
            f"{V1}/sessions/p/report",
            params={"storm_attempts": "2", "storm_gap": "0.5", "non_retryable": "400,503"},
        )
    )
    assert tuned["thresholds"]["storm_attempts"] == 2
    assert tuned["thresholds"]["non_retryable"] == [400, 503]
    codes = {f["code"] for f in tuned["calls"][0]["findings"]}
    assert {"retry_storm", "retried_non_retryable"} <= codes
    resp = await client.get(f"{V1}/sessions/p/report", params={"format": "table"})
    assert resp.headers["Content-Type"].startswith("text/plain")
    table = await resp.text()
    assert "call 1: session p" in table
    assert "thresholds:" in table
    assert (await ok(await client.get(f"{V1}/sessions/nobody/report")))["calls"] == []


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ("storm_attempts=-1", "storm_attempts", "integer >= 0"),
        ("storm_attempts=1.5", "storm_attempts", "integer >= 0"),
        ("storm_gap=fast", "storm_gap", "number >= 0"),
        ("storm_gap=nan", "storm_gap", "number >= 0"),
        ("non_retryable=4xx", "non_retryable", "HTTP status codes"),
        ("non_retryable=99", "non_retryable", "HTTP status codes"),
        ("format=html", "format", "json, table"),
        ("strict=1", "strict", "unknown parameter"),
    ],
)
async def test_report_query_is_checked(client: Client, query: str, field: str, rule: str) -> None:
    await bad(await client.get(f"{V1}/global/report?{query}"), field, rule)


# ------------------------------------------------------------------------------ reset


async def test_reset_one_resource(client: Client) -> None:
    await ok(await client.post(f"{V1}/sessions/p/faults", json={"step": {}}))
    await generate(client)
    answer = await ok(await client.post(f"{V1}/sessions/p/reset", json={"resources": ["journal"]}))
    assert answer == {"reset": ["journal"], "scope": "p"}
    assert await ok(await client.get(f"{V1}/sessions/p/journal")) == []
    assert len(await ok(await client.get(f"{V1}/sessions/p/scenarios"))) == 1
    answer = await ok(await client.post(f"{V1}/sessions/p/reset"))
    assert answer == {"reset": ["scenarios", "journal", "quota", "errors"], "scope": "p"}
    assert await ok(await client.get(f"{V1}/sessions/p/scenarios")) == []
    assert (await ok(await client.get(f"{V1}/sessions")))["sessions"] == []


async def test_global_reset_resets_every_session(client: Client) -> None:
    await ok(await client.post(f"{V1}/sessions/a/faults", json={"step": {}}))
    await ok(await client.post(f"{V1}/global/scenarios", json=scenario("g")))
    await generate(client, rpc(project="a"))
    await ok(await client.post(f"{V1}/global/reset", json={}))
    assert await ok(await client.get(f"{V1}/global/scenarios")) == []
    assert await ok(await client.get(f"{V1}/sessions/a/scenarios")) == []
    assert await ok(await client.get(f"{V1}/global/journal")) == []


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"resources": "journal"}, "resources", "non-empty list"),
        ({"resources": []}, "resources", "non-empty list"),
        ({"resources": ["journal", "cache"]}, "resources[1]", "scenarios, journal, quota"),
        ({"everything": True}, "everything", "the only field is resources"),
        (7, "", "must be a JSON object"),
    ],
)
async def test_a_bad_reset_names_field_and_rule(
    client: Client, body: Any, field: str, rule: str
) -> None:
    await bad(await client.post(f"{V1}/global/reset", json=body), field, rule)


# ----------------------------------------------------------------------- routing errors


@pytest.mark.parametrize(
    "path",
    [
        "",
        "nothing",
        "health/",
        "global",
        "global/nothing",
        "sessions/s",
        "sessions/s/",
        "sessions/s/journal/1",
        "sessions//journal",
        "global/scenarios/a/b",
    ],
)
async def test_an_unknown_control_path_is_not_found(client: Client, path: str) -> None:
    resp = await client.get(f"{V1}/{path}")
    error = await bad(resp, "", status=404)
    assert error["status"] == "NOT_FOUND"
    assert "was not found on this server" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "health", "GET"),
        ("DELETE", "sessions", "GET"),
        ("PUT", "global/journal", "GET, DELETE"),
        ("GET", "global/reset", "POST"),
        ("GET", "sessions/s/faults", "POST"),
        ("POST", "global/quota", "GET, PUT, DELETE"),
        ("GET", "global/scenarios/x", "DELETE"),
        ("PATCH", "global/scenarios", "GET, POST, DELETE"),
    ],
)
async def test_a_wrong_method_is_405_with_allow(
    client: Client, method: str, path: str, allowed: str
) -> None:
    resp = await client.request(method, f"{V1}/{path}")
    error = await bad(resp, "", status=405)
    assert resp.headers["Allow"] == allowed
    assert method in error["message"]


async def test_a_session_name_too_long_is_invalid(client: Client) -> None:
    resp = await client.get(f"{V1}/sessions/{'n' * 300}/journal")
    await bad(resp, "session", "1 to 256 characters")


async def test_no_control_request_is_a_500(client: Client) -> None:
    """Junk of every kind at every resource: always an answer below 500, never a bug."""
    bodies: list[bytes] = [b"", b"null", b"{}", b"[]", b'"s"', b"{bad", b"\xff\xfe", b"1e999"]
    paths = [*(f"global/{r}" for r in ("scenarios", "faults", "quota", "journal", "reset"))]
    paths += ["sessions/x/report", "sessions/x/errors", "global/scenarios/x", "faults"]
    for path in paths:
        for method in ("GET", "POST", "PUT", "DELETE"):
            for raw in bodies:
                resp = await client.request(method, f"{V1}/{path}", data=raw)
                assert resp.status < 500, (method, path, raw, await resp.text())
                if resp.status >= 400:
                    StatusError.from_envelope(await resp.json())
    assert state_of(client).errors == []


# ---------------------------------------------------------------------- older endpoints


async def test_old_endpoints_work_on_the_global_scope(client: Client) -> None:
    resp = await client.post("/_mockvertex/scenarios", json=scenario("old"))
    assert await resp.json() == {"added": "old"}
    assert [s["name"] for s in await ok(await client.get(f"{V1}/global/scenarios"))] == ["old"]
    await ok(await client.post(f"{V1}/sessions/s/faults", json={"step": {}}))
    await generate(client, rpc(project="s"))
    journal = await ok(await client.get("/_mockvertex/journal"))
    assert [e["session"] for e in journal] == ["s"]
    assert await ok(await client.delete("/_mockvertex/scenarios")) == {"reset": True}
    assert await ok(await client.get("/_mockvertex/scenarios")) == []
    assert await ok(await client.get(f"{V1}/sessions/s/scenarios")) == []
    assert await ok(await client.get("/_mockvertex/journal")) == []
