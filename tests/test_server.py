"""MockVertexServer: the threaded runner, ``async with`` in a running loop, addresses, state."""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import mockvertex.server.app
from mockvertex.config import ServerConfig
from mockvertex.engine.scenario import load_builtin
from mockvertex.server.runner import MockVertexServer

BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about rivers"}]}]}
AUTH = {"Authorization": "Bearer server-test", "Content-Type": "application/json"}


def post(server: MockVertexServer, url: str, body: Any = BODY) -> tuple[int, Any]:
    """POST with the stdlib client (no event loop); returns status and parsed body."""
    assert url.startswith(server.url)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", url[len(server.url) :], body=json.dumps(body), headers=AUTH)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_start_stop_in_a_thread() -> None:
    server = MockVertexServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    assert server.start() is server
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert server.url == f"http://127.0.0.1:{server.port}"
        status, body = post(server, server.url_for("gemini-2.0-flash"))
        assert status == 200
        assert body["candidates"][0]["finishReason"] == "STOP"
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
    finally:
        port = server.port
        server.stop()
    assert refused(port)
    with pytest.raises(RuntimeError):
        _ = server.port
    server.stop()  # a second stop is harmless


def test_context_manager() -> None:
    with MockVertexServer() as server:
        port = server.port
        status, _ = post(server, server.url_for("gemini-2.0-flash", "countTokens"))
        assert status == 200
        assert [e.rpc for e in server.journal()] == ["countTokens"]
    assert refused(port)


def test_restart_after_stop() -> None:
    server = MockVertexServer()
    with server:
        first = server.port
    with server:
        status, _ = post(server, server.url_for("gemini-2.0-flash"))
        assert status == 200
    assert refused(first)


async def test_async_with_inside_a_running_loop() -> None:
    async with MockVertexServer() as server, aiohttp.ClientSession() as session:
        async with session.post(
            server.url_for("gemini-2.0-flash", "streamGenerateContent") + "?alt=sse",
            json=BODY,
            headers=AUTH,
        ) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "text/event-stream"
            raw = await resp.read()
        assert raw.startswith(b"data: ")
        port = server.port
    assert refused(port)


def test_port_zero_gives_distinct_free_ports() -> None:
    assert ServerConfig().port == 0
    with MockVertexServer() as one, MockVertexServer() as two:
        assert one.port != 0
        assert two.port != 0
        assert one.port != two.port


def test_binds_loopback_by_default() -> None:
    assert ServerConfig().host == "127.0.0.1"
    with MockVertexServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        # the bound socket is the loopback one
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
            assert sock.getpeername()[0] == "127.0.0.1"


def test_explicit_port_in_use_fails_to_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MockVertexServer(port=port)
        with pytest.raises(OSError, match=r"(?i)address already in use"):
            server.start()
        with pytest.raises(RuntimeError):
            _ = server.url
    # the failed start left nothing behind: the same object starts once the port is free
    with server:
        assert server.port == port


def test_url_for() -> None:
    with MockVertexServer(project="proj-1", location="europe-west4") as server:
        base = server.url
        assert server.url_for("gemini-1.5-pro") == (
            f"{base}/v1/projects/proj-1/locations/europe-west4"
            "/publishers/google/models/gemini-1.5-pro:generateContent"
        )
        assert server.url_for(
            "gemini-2.0-flash",
            "streamGenerateContent",
            api_version="v1beta1",
            project="p",
            location="us-east1",
        ) == (
            f"{base}/v1beta1/projects/p/locations/us-east1"
            "/publishers/google/models/gemini-2.0-flash:streamGenerateContent"
        )
        for method in ("generateContent", "countTokens"):
            status, _ = post(server, server.url_for("gemini-2.0-flash", method))
            assert status == 200


def test_overrides_and_auth_text() -> None:
    server = MockVertexServer(auth="token=abc", max_body_bytes=5000)
    assert server.config.auth == "token"
    assert server.config.token == "abc"
    assert server.config.max_body_bytes == 5000
    base = ServerConfig(project="x")
    assert MockVertexServer(base, location="asia-east1").config == ServerConfig(
        project="x", location="asia-east1"
    )
    with pytest.raises(ValueError, match="--auth"):
        MockVertexServer(auth="bearer")


def test_token_mode_over_the_socket() -> None:
    with MockVertexServer(auth="token=abc") as server:
        status, body = post(server, server.url_for("gemini-2.0-flash"))
        assert status == 401
        assert body["error"]["status"] == "UNAUTHENTICATED"


def test_scenarios_from_every_kind_of_source(tmp_path: Path) -> None:
    document = {
        "format": 1,
        "name": "from_file",
        "match": {"method": "countTokens"},
        "steps": [{"times": "forever", "respond": {"totalTokens": 42}}],
    }
    file = tmp_path / "s.json"
    file.write_text(json.dumps(document), encoding="utf-8")
    mapping = {**document, "name": "from_mapping", "match": {"model": "gemini-1.5-*"}}
    mapping["steps"] = [{"times": "forever", "error": {"code": 503}}]
    server = MockVertexServer(
        scenarios=("max_tokens", str(file), mapping, load_builtin("recitation"))
    )
    assert server.state.book.names() == ["max_tokens", "from_file", "from_mapping", "recitation"]
    with server:
        status, body = post(server, server.url_for("gemini-2.0-flash", "countTokens"))
        assert (status, body["totalTokens"]) == (200, 42)
        status, body = post(server, server.url_for("gemini-2.0-flash"))
        assert body["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_reset_restores_construction_scenarios_and_clears_journal() -> None:
    limited = {
        "format": 1,
        "name": "limited",
        "steps": [{"times": 1, "error": {"code": 429}}],
    }
    with MockVertexServer(builtin_scenarios=("max_tokens",), scenarios=(limited,)) as server:
        url = server.url_for("gemini-2.0-flash", "countTokens")
        assert post(server, url)[0] == 429
        assert post(server, url)[0] == 200  # used up
        server.add_scenario(
            {"format": 1, "name": "later", "steps": [{"times": "forever", "error": {"code": 500}}]}
        )
        assert post(server, url)[0] == 500
        assert len(server.journal()) == 3

        server.reset()
        assert server.journal() == []
        assert server.state.book.names() == ["max_tokens", "limited"]
        assert server.state.book.remaining("limited") == 1
        assert post(server, url)[0] == 429
        assert post(server, url)[0] == 200


def test_journal_entries_have_no_secrets() -> None:
    with MockVertexServer() as server:
        post(server, server.url_for("gemini-2.0-flash"))
        (exchange,) = server.journal()
        assert "Authorization" not in exchange.headers
        assert "server-test" not in json.dumps(exchange.to_json())
        assert exchange.request == BODY


def test_check_reraises_a_handler_bug(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Boom(RuntimeError):
        pass

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise Boom("synthesis exploded")

    caplog.set_level(logging.ERROR, logger="mockvertex")
    with MockVertexServer() as server:
        server.check()  # nothing yet
        monkeypatch.setattr(mockvertex.server.app, "render", broken)
        status, body = post(server, server.url_for("gemini-2.0-flash"))
        assert status == 500
        assert body == {
            "error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}
        }
        with pytest.raises(Boom, match="synthesis exploded"):
            server.check()
        assert any(r.exc_info for r in caplog.records)  # logged with its traceback


def test_check_reraises_the_first_recorded_error() -> None:
    server = MockVertexServer()
    first, second = ValueError("first"), KeyError("second")
    server.state.errors.extend([first, second])
    with pytest.raises(ValueError, match="first") as info:
        server.check()
    assert info.value is first
