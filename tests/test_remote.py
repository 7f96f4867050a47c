"""RemoteMock: a threaded server driven over HTTP gives what the server gives in-process."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockvertex.contract.errors import InvalidArgument, NotFound, StatusError
from mockvertex.engine.faults import REGISTRY
from mockvertex.engine.quota import QuotaSpec
from mockvertex.engine.scenario import load_builtin, load_scenario
from mockvertex.remote import RemoteMock, RemoteSession, Unreachable, scenario_document
from mockvertex.server.runner import MockVertexServer

BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about rivers"}]}]}
FAULT = {"error": {"code": 503}, "times": 2}


class FakeClock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def call(server: MockVertexServer, project: str, method: str = "generateContent") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        path = server.url_for("gemini-2.0-flash", method, project=project)[len(server.url) :]
        conn.request("POST", path, body=json.dumps(BODY), headers={"Authorization": "Bearer t"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[MockVertexServer]:
    with MockVertexServer(builtin_scenarios=("max_tokens",), clock=clock) as running:
        yield running
        running.check()


@pytest.fixture
def remote(server: MockVertexServer) -> Iterator[RemoteMock]:
    with RemoteMock(server.url + "/") as mock:
        yield mock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_health_sessions_and_fault_kinds(server: MockVertexServer, remote: RemoteMock) -> None:
    assert remote.url == server.url
    assert remote.health()["status"] == "ok"
    call(server, "p1")
    assert remote.sessions() == ["p1"] == server.sessions()
    assert {k["kind"] for k in remote.faults()["faults"]} == set(REGISTRY)


def test_session_faults_scenarios_and_journal(server: MockVertexServer, remote: RemoteMock) -> None:
    session = remote.session("p1")
    assert isinstance(session, RemoteSession)
    fault = session.add_fault(FAULT)
    assert fault.name == "fault-1"
    assert fault.steps[0].times == 2
    named = session.add_fault({"error": {"code": 429}}, match={"model": "x-*"}, name="rl")
    assert (named.name, named.match.model) == ("rl", "x-*")
    assert [call(server, "p1") for _ in range(3)] == [503, 503, 200]
    assert call(server, "p2") == 200
    assert [s["name"] for s in session.scenarios()] == ["fault-1", "rl"]
    session.remove_scenario("rl")
    with pytest.raises(NotFound, match="No scenario named 'rl'"):
        session.remove_scenario("rl")
    entries = session.journal()
    assert [e.status for e in entries] == [503, 503, 200]
    local = server.journal("p1")
    assert [e.to_json() for e in entries] == [e.to_json() for e in local]
    assert len(remote.journal()) == 4
    assert [e.session for e in remote.journal("p2")] == ["p2"]


def test_report_computes_as_the_server_does(server: MockVertexServer, remote: RemoteMock) -> None:
    remote.session("p1").add_fault(FAULT)
    for _ in range(3):
        call(server, "p1")
    here = remote.report("p1", storm_attempts=2)
    there = server.report("p1", storm_attempts=2)
    assert here.to_json() == there.to_json()
    assert remote.session("p1").report().to_json() == server.session("p1").report().to_json()
    served = remote.session("p1").server_report({"storm_attempts": "2"})
    assert served == there.to_json()
    assert "call 1: session p1" in remote.session("p1").server_report(table=True)


def test_add_scenario_from_every_kind_of_source(
    tmp_path: Path, server: MockVertexServer, remote: RemoteMock
) -> None:
    path = tmp_path / "file.json"
    path.write_text(
        json.dumps({"format": 1, "name": "from_file", "steps": [{"respond": {"text": "x"}}]})
    )
    session = remote.session("s")
    assert session.add_scenario("recitation").name == "recitation"
    assert session.add_scenario(path).name == "from_file"
    assert session.add_scenario(str(path)).name == "from_file"
    mapped = {"format": 1, "name": "mapped", "steps": [{"respond": {"text": "y"}}]}
    assert session.add_scenario(mapped).name == "mapped"
    loaded = load_scenario(
        {
            "format": 1,
            "name": "typed",
            "description": "with a full match",
            "match": {
                "model": "gemini-*",
                "method": ["generateContent", "countTokens"],
                "lastUserText": {"regex": "(?i)rivers"},
                "turn": 1,
                "hasTools": False,
                "apiVersion": "v1",
                "framing": ["unary", "sse"],
                "session": "s*",
            },
            "steps": [{"respond": {"text": "typed"}, "times": "forever"}],
        }
    )
    assert session.add_scenario(loaded).name == "typed"
    assert load_scenario(scenario_document(loaded)) == loaded
    names = [s["name"] for s in server.session("s").scenarios()]
    assert names == ["recitation", "from_file", "mapped", "typed"]
    assert remote.add_scenario("recitation").name == "recitation"
    assert [s["name"] for s in server.state.global_scope().scenarios()] == [
        "max_tokens",
        "recitation",
    ]


def test_scenario_document_of_a_contains_match() -> None:
    loaded = load_builtin("max_tokens")
    assert load_scenario(scenario_document(loaded)) == loaded
    text = load_scenario(
        {
            "format": 1,
            "name": "t",
            "match": {"lastUserText": {"contains": "x"}, "method": "generateContent"},
            "steps": [{}],
        }
    )
    assert scenario_document(text)["match"] == {
        "method": "generateContent",
        "lastUserText": {"contains": "x"},
    }


def test_bad_requests_raise_the_typed_error(remote: RemoteMock) -> None:
    with pytest.raises(InvalidArgument) as caught:
        remote.session("s").add_fault({"error": {"code": 200}})
    assert caught.value.violations[0].field == "step.error.code"
    with pytest.raises(InvalidArgument) as caught:
        remote.session("s").set_quota({"rpm": 0})
    assert caught.value.violations[0].field == "rpm"
    with pytest.raises(ValueError, match="rpm must be an integer"):
        remote.session("s").set_quota("rpm=none")
    with pytest.raises(InvalidArgument) as caught:
        remote.session("s").add_scenario({"format": 1, "name": "x", "steps": []})
    assert caught.value.violations[0].field == "steps"
    with pytest.raises(TypeError):
        remote.report(no_such_threshold=1)


def test_quota_set_show_lift(server: MockVertexServer, remote: RemoteMock, clock: Any) -> None:
    session = remote.session("q")
    session.set_quota("rpm=1")
    assert call(server, "q") == 200
    assert call(server, "q") == 429
    (budget,) = session.quota()["models"]
    assert budget["requests"]["remaining"] == 0
    clock.now += 60
    assert call(server, "q") == 200
    session.set_quota(None)
    assert session.quota()["own"] == []
    remote.set_quota(QuotaSpec(rpm=1))
    session.set_quota({"tpm": 10**6})  # an own spec for every model wins over the global one
    assert [call(server, "q") for _ in range(2)] == [200, 200]
    assert call(server, "other") == 200
    assert call(server, "other") == 429
    remote.set_quota(None)
    assert call(server, "other") == 200


def test_reset_per_session_and_resource(server: MockVertexServer, remote: RemoteMock) -> None:
    session = remote.session("r")
    session.add_fault(FAULT)
    call(server, "r")
    session.reset(scenarios=False, quota=False, errors=False)
    assert session.journal() == []
    assert len(session.scenarios()) == 1
    session.reset(scenarios=False, journal=False, quota=False, errors=False)  # nothing
    assert len(session.scenarios()) == 1
    session.reset()
    assert session.scenarios() == []
    assert "r" not in remote.sessions()
    remote.add_scenario({"format": 1, "name": "g", "steps": [{}]})
    call(server, "r")
    remote.reset()
    assert [s["name"] for s in server.state.global_scope().scenarios()] == ["max_tokens"]
    assert remote.journal() == []
    session.clear_journal()
    session.clear_scenarios()


def test_errors_and_check(
    server: MockVertexServer, remote: RemoteMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mockvertex.server.app

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("remote boom")

    with monkeypatch.context() as patch:
        patch.setattr(mockvertex.server.app, "render", broken)
        assert call(server, "bug") == 500
    (text,) = remote.session("bug").errors()
    assert "RuntimeError: remote boom" in text
    with pytest.raises(AssertionError, match="remote boom"):
        remote.session("bug").check()
    with pytest.raises(AssertionError, match="scope 'global'"):
        remote.check()
    assert len(remote.errors()) == 1
    remote.session("fine").check()
    remote.session("bug").reset(scenarios=False, journal=False, quota=False)
    remote.check()
    server.check()


def test_unreachable_server() -> None:
    with RemoteMock(f"http://127.0.0.1:{free_port()}", timeout=2) as mock:
        with pytest.raises(Unreachable, match="not reachable"):
            mock.health()
        with pytest.raises(StatusError) as caught:
            mock.sessions()
        assert caught.value.http_status == 503
    assert repr(RemoteMock("http://h:1")) == "RemoteMock('http://h:1')"


def test_a_server_that_is_not_mockvertex() -> None:
    """Answers without an envelope still raise a typed error with the status."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Plain(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 404 if "sessions" in self.path else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"<html>hello</html>")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Plain)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with RemoteMock(f"http://127.0.0.1:{httpd.server_port}") as mock:
            with pytest.raises(Unreachable, match="is mockvertex running there"):
                mock.health()
            with pytest.raises(NotFound, match="without an error envelope"):
                mock.sessions()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
