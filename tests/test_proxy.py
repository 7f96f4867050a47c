"""The validating proxy, offline: client -> proxy -> a MockVertexServer standing in for Vertex."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mockvertex.cli import main
from mockvertex.contract import wire
from mockvertex.engine.cassette import RecordMode, load_cassette, parse_rules
from mockvertex.engine.journal import Outcome
from mockvertex.server.proxy import ProxyConfig, ProxyServer
from mockvertex.server.runner import MockVertexServer

MODEL = "gemini-2.0-flash"
#: Recorded through the proxy from the mock's default responder (timing scaled by 0.1).
RIVERS = Path(__file__).parent / "cassettes" / "rivers.cassette.json"
TOKEN = "ya29.PLANTED-token-7f3a9c"
API_KEY = "AIzaSyPLANTED0key00000000000000000000XY"  # 39 characters, as Google issues keys
PROJECT = "planted-proj-4821"
PROJECT_NUMBER = "861234567012"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
PATHS = {
    "unary": (
        f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/"
        f"{MODEL}:generateContent",
        {},
    ),
    "sse": (
        f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/"
        f"{MODEL}:streamGenerateContent",
        {"alt": "sse"},
    ),
    "array": (
        f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/"
        f"{MODEL}:streamGenerateContent",
        {},
    ),
}
CHUNKS = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Rivers {run}\n"}]}}]},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": " data: to"}]}}]},
    {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": " the sea."}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10},
    },
]


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def raw_scenario(name: str, contains: str, chunks: list[Any], **step: Any) -> dict[str, Any]:
    return {
        "format": 1,
        "name": name,
        "match": {"lastUserText": {"contains": contains}},
        "steps": [{"respond": {"raw": chunks}, "times": "forever", **step}],
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockVertexServer]:
    scenarios = (
        raw_scenario("fixed", "rivers", CHUNKS),
        raw_scenario("paced", "slowly", CHUNKS, delay={"betweenChunks": 0.4}),
        raw_scenario(
            "broken", "broken", [{"candidates": [{"finishReason": "NOT_A_REASON"}], "bogus": 1}]
        ),
        raw_scenario("malformed", "malformed", CHUNKS, fault={"kind": "malformed", "after": 1}),
    )
    with MockVertexServer(scenarios=scenarios) as server:
        yield server


@pytest.fixture
def proxy(upstream: MockVertexServer) -> Iterator[ProxyServer]:
    with ProxyServer(ProxyConfig(upstream=upstream.url)) as server:
        yield server


def call(
    base: str,
    framing: str,
    payload: Any,
    headers: dict[str, str] | None = None,
    *,
    path: str | None = None,
) -> requests.Response:
    route, query = PATHS[framing]
    return requests.post(
        base + (path or route),
        params=query,
        data=json.dumps(payload),
        headers=AUTH if headers is None else headers,
        timeout=10,
    )


def decode(framing: str, data: bytes) -> list[Any]:
    if framing == "sse":
        return wire.decode_sse(data)
    if framing == "array":
        return wire.decode_array(data)
    return [wire.decode_unary(data)]


@pytest.mark.parametrize("framing", ["sse", "array", "unary"])
def test_chunks_reach_the_client_unchanged(
    upstream: MockVertexServer, proxy: ProxyServer, framing: str
) -> None:
    direct = call(upstream.url, framing, body("rivers please"))
    proxied = call(proxy.url, framing, body("rivers please"))
    assert proxied.status_code == direct.status_code == 200
    assert proxied.content == direct.content
    assert proxied.headers["Content-Type"] == direct.headers["Content-Type"]
    if framing != "unary":
        assert decode(framing, proxied.content) == CHUNKS
    assert proxy.findings == []


def test_the_request_reaches_the_upstream_unchanged(
    upstream: MockVertexServer, proxy: ProxyServer
) -> None:
    sent = body("rivers, exactly", generationConfig={"temperature": 0.25})
    before = len(upstream.journal())
    call(proxy.url, "unary", sent)
    entry = upstream.journal()[before]
    assert json.loads(entry.body or "") == sent
    assert entry.token_digest is not None  # the client's own credential was passed through


def test_the_first_chunk_arrives_before_the_upstream_finished(
    upstream: MockVertexServer, proxy: ProxyServer
) -> None:
    route, query = PATHS["sse"]
    with requests.post(
        proxy.url + route,
        params=query,
        data=json.dumps(body("slowly now")),
        headers=AUTH,
        stream=True,
        timeout=10,
    ) as resp:
        decoder = wire.SSEDecoder()
        got: list[Any] = []
        pieces = resp.iter_content(chunk_size=None)
        for piece in pieces:
            got.extend(decoder.feed(piece))
            if got:
                break
        assert got == CHUNKS[:1]
        # The upstream is still pacing the rest of its answer: its exchange is open.
        assert upstream.journal()[-1].outcome is Outcome.PENDING
        rest = b"".join(pieces)
    assert got + decoder.feed(rest) + decoder.close() == CHUNKS


def test_a_response_contract_violation_is_one_finding_each(
    upstream: MockVertexServer, proxy: ProxyServer
) -> None:
    resp = call(proxy.url, "sse", body("broken answer"))
    assert resp.status_code == 200
    assert not any("finding" in h.lower() or "violation" in h.lower() for h in resp.headers)
    plane = requests.get(proxy.url + "/_mockvertex/v1/findings", timeout=10).json()
    found = plane["findings"]
    fields = {f["field"] for f in found}
    assert "candidates[0].finishReason" in fields
    assert "" in fields  # the unknown top-level key `bogus`
    assert all(f["side"] == "response" and f["chunk"] == 0 for f in found)
    assert len({(f["field"], f["message"]) for f in found}) == len(found)
    journal = requests.get(proxy.url + "/_mockvertex/v1/journal", timeout=10).json()["entries"]
    assert {f["exchange"] for f in found} == {journal[-1]["id"]}
    assert journal[-1]["findings"] == found
    assert all(e["findings"] == [] for e in journal[:-1])


@pytest.mark.parametrize("framing", ["sse", "array"])
def test_a_frame_that_does_not_parse_is_a_framing_finding(
    upstream: MockVertexServer, proxy: ProxyServer, framing: str
) -> None:
    direct = call(upstream.url, framing, body("malformed please"))
    proxied = call(proxy.url, framing, body("malformed please"))
    assert proxied.content == direct.content  # passed through as it came
    [finding] = proxy.findings
    assert finding.rule == "framing"
    assert "1: invalid JSON" in finding.message  # the second event or item


def test_an_invalid_request_is_forwarded_with_a_warning(
    upstream: MockVertexServer, proxy: ProxyServer
) -> None:
    before = len(upstream.journal())
    resp = call(proxy.url, "unary", body("rivers", generationConfig={"temperature": 7}))
    assert len(upstream.journal()) == before + 1
    assert resp.status_code == 400  # the upstream's own verdict
    [finding] = proxy.findings
    assert finding.side == "request"
    assert finding.field == "generation_config.temperature"


def test_check_reject_answers_locally_without_forwarding(upstream: MockVertexServer) -> None:
    with ProxyServer(ProxyConfig(upstream=upstream.url, check="reject")) as proxy:
        before = len(upstream.journal())
        invalid = body("rivers", generationConfig={"temperature": 7})
        resp = call(proxy.url, "unary", invalid)
        direct = call(upstream.url, "unary", invalid)
        assert len(upstream.journal()) == before + 1  # only the direct call got there
        assert resp.status_code == 400
        assert resp.json() == direct.json()
        assert proxy.findings[0].field == "generation_config.temperature"


def test_a_path_that_is_not_vertex_gets_an_envelope(proxy: ProxyServer) -> None:
    resp = requests.post(proxy.url + "/v1/nothing:here", data="{}", timeout=10)
    assert resp.status_code == 404
    assert resp.json()["error"]["status"] == "NOT_FOUND"


def test_a_location_that_names_no_vertex_host_is_not_found_without_a_call() -> None:
    with ProxyServer(ProxyConfig()) as proxy:  # the default upstream: Vertex by location
        path = f"/v1/projects/p/locations/evil.example.com@x/publishers/google/models/{MODEL}"
        resp = requests.post(f"{proxy.url}{path}:generateContent", json=body("x"), timeout=10)
    assert resp.status_code == 404
    assert resp.json()["error"]["status"] == "NOT_FOUND"


def test_an_unreachable_upstream_is_unavailable() -> None:
    with ProxyServer(ProxyConfig(upstream="http://127.0.0.1:9")) as proxy:
        resp = call(proxy.url, "unary", body("rivers"))
    assert resp.status_code == 503
    assert resp.json()["error"]["status"] == "UNAVAILABLE"


# ---------------------------------------------------------------------------------------------
# Recording and replay


def record_all(upstream: MockVertexServer, folder: Path, **config: Any) -> dict[str, bytes]:
    got: dict[str, bytes] = {}
    with ProxyServer(ProxyConfig(upstream=upstream.url, record_dir=folder, **config)) as proxy:
        for framing in ("sse", "array", "unary"):
            resp = call(proxy.url, framing, body(f"tell me about {framing} framing"))
            assert resp.status_code == 200
            got[framing] = resp.content
    return got


def test_a_recording_replays_byte_for_byte_from_the_mock(
    upstream: MockVertexServer, tmp_path: Path
) -> None:
    recorded = record_all(upstream, tmp_path, timing=0)
    scenario = tmp_path / "cassette.json"
    with MockVertexServer(scenarios=(scenario,)) as replay:
        for framing in ("sse", "array", "unary"):
            again = call(replay.url, framing, body(f"tell me about {framing} framing"))
            assert again.content == recorded[framing], framing


def test_a_recording_replays_byte_for_byte_from_the_proxy_in_mode_none(
    upstream: MockVertexServer, tmp_path: Path
) -> None:
    recorded = record_all(upstream, tmp_path)
    before = len(upstream.journal())
    config = ProxyConfig(upstream=upstream.url, record_dir=tmp_path, mode=RecordMode.NONE, timing=0)
    with ProxyServer(config) as proxy:
        for framing in ("sse", "array", "unary"):
            again = call(proxy.url, framing, body(f"tell me about {framing} framing"))
            assert again.content == recorded[framing], framing
    assert len(upstream.journal()) == before  # nothing went upstream


def test_a_replay_miss_in_mode_none_fails_loudly(
    upstream: MockVertexServer, tmp_path: Path
) -> None:
    record_all(upstream, tmp_path)
    before = len(upstream.journal())
    config = ProxyConfig(upstream=upstream.url, record_dir=tmp_path, mode=RecordMode.NONE)
    with ProxyServer(config) as proxy:
        resp = call(proxy.url, "sse", body("tell me about sse framings"))
    assert len(upstream.journal()) == before
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["status"] == "FAILED_PRECONDITION"
    assert "record mode is none" in error["message"]
    assert "entry 0 (streamGenerateContent gemini-2.0-flash sse" in error["message"]


def test_mode_new_replays_what_matches_and_records_the_rest(
    upstream: MockVertexServer, tmp_path: Path
) -> None:
    record_all(upstream, tmp_path)
    before = len(upstream.journal())
    config = ProxyConfig(
        upstream=upstream.url, record_dir=tmp_path, mode=RecordMode.NEW_EPISODES, timing=0
    )
    with ProxyServer(config) as proxy:
        call(proxy.url, "sse", body("tell me about sse framing"))
        call(proxy.url, "sse", body("rivers are new"))
    assert len(upstream.journal()) == before + 1
    assert len(load_cassette(tmp_path / "cassette.cassette.json").entries) == 4


def test_mode_once_records_a_new_cassette_then_only_replays(
    upstream: MockVertexServer, tmp_path: Path
) -> None:
    record_all(upstream, tmp_path, mode=RecordMode.ONCE)
    config = ProxyConfig(upstream=upstream.url, record_dir=tmp_path, mode=RecordMode.ONCE)
    with ProxyServer(config) as proxy:
        resp = call(proxy.url, "unary", body("rivers not recorded"))
    assert resp.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_planted_secrets_never_reach_disk(upstream: MockVertexServer, tmp_path: Path) -> None:
    rules = tuple(
        parse_rules(
            [
                {"regex": r"[a-z]+@example\.com", "replace": "someone@example.invalid"},
                {"path": "contents[*].parts[0].text", "on": "request", "replace": "[prompt]"},
            ]
        )
    )
    folder = tmp_path / "rec"
    with ProxyServer(ProxyConfig(upstream=upstream.url, record_dir=folder, rules=rules)) as proxy:
        planted = body(
            f"rivers near {PROJECT} and projects/{PROJECT_NUMBER}; mail alice@example.com",
            systemInstruction={"parts": [{"text": f"key {API_KEY} token {TOKEN}"}]},
        )
        headers = {**AUTH, "Cookie": "SID=planted-cookie-value", "x-goog-user-project": PROJECT}
        assert call(proxy.url, "sse", planted, headers).status_code == 200
        express = f"/v1/publishers/google/models/{MODEL}:generateContent"
        key_headers = {"x-goog-api-key": API_KEY, "Content-Type": "application/json"}
        resp = call(proxy.url, "unary", body("rivers by key"), key_headers, path=express)
        assert resp.status_code == 200
        resp = requests.post(
            proxy.url + express, params={"key": API_KEY}, json=body("rivers"), timeout=10
        )
        assert resp.status_code == 200
        journal = requests.get(proxy.url + "/_mockvertex/v1/journal", timeout=10).text
    written = sorted(p for p in folder.rglob("*") if p.is_file())
    assert [p.name for p in written] == ["cassette.cassette.json", "cassette.json"]
    for path in written:
        text = path.read_text(encoding="utf-8")
        for secret in (TOKEN, API_KEY, PROJECT, PROJECT_NUMBER, "planted-cookie", "alice@"):
            assert secret not in text, (path.name, secret)
    for secret in (TOKEN, API_KEY, "planted-cookie"):
        assert secret not in journal
    cassette = load_cassette(folder / "cassette.cassette.json")
    first = cassette.entries[0].request
    assert first["path"].startswith("/v1/projects/redacted-project/locations/")
    assert first["body"]["contents"][0]["parts"][0]["text"] == "[prompt]"
    assert "redacted-api-key" in json.dumps(first["body"]["systemInstruction"])
    # The same request, redacted the same way, matches its entry: replays still match.
    config = ProxyConfig(
        upstream=upstream.url, record_dir=folder, rules=rules, mode=RecordMode.NONE
    )
    with ProxyServer(config) as proxy:
        assert call(proxy.url, "sse", planted, headers).status_code == 200


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--mode", "sometimes"], "record mode must be one of none, once, new, all"),
        (["--mode", "none"], "record mode none needs a record directory"),
        (["--redact-regex", "("], "--redact: [0].regex: does not compile"),
    ],
)
def test_the_proxy_command_refuses_bad_options(argv: list[str], said: str) -> None:
    err = io.StringIO()
    assert main(["proxy", "--port", "0", *argv], out=io.StringIO(), err=err) == 2
    assert said in err.getvalue()


def encoded(framing: str, chunks: tuple[Any, ...]) -> bytes:
    """The bytes of ``chunks`` in ``framing``, as Vertex (and the mock) lay them out."""
    if framing == "unary":
        return wire.encode_unary(chunks[0])
    if framing == "sse":
        return b"".join(wire.encode_sse_event(c) for c in chunks)
    writer = wire.ArrayWriter()
    return b"".join(writer.item(c) for c in chunks) + writer.close()


@pytest.mark.mockvertex(scenario="tests/cassettes/rivers.json")
def test_the_pytest_marker_replays_a_recording_byte_for_byte(
    mockvertex: Any, mockvertex_server: Any
) -> None:
    cassette = load_cassette(RIVERS)
    assert [e.framing for e in cassette.entries] == ["sse", "array", "unary"]
    for entry in cassette.entries:
        req = entry.request
        resp = requests.post(
            mockvertex_server.url + req["path"],
            params=req.get("query") or {},
            data=json.dumps(req["body"]),
            headers={**AUTH, "x-mockvertex-session": mockvertex.name},
            timeout=10,
        )
        assert resp.status_code == entry.status
        assert resp.content == encoded(entry.framing, entry.chunks), entry.framing


def test_the_proxy_bench_runs_and_every_answer_has_the_direct_bytes() -> None:
    """The bench as a user runs it, in --quick mode (its figures are not asserted)."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / "bench" / "bench_proxy.py"), "--quick"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "added ms" in done.stdout
    assert "answered with the direct bytes: 480/480" in done.stdout
