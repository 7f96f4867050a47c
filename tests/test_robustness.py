"""The mock under abuse: hang-ups, arbitrary bodies, oversized bodies, bursts of bad requests."""

from __future__ import annotations

import asyncio
import gc
import http.client
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockvertex.config import ServerConfig
from mockvertex.server.app import STATE, create_app
from mockvertex.server.runner import MockVertexServer

MODEL = "gemini-2.0-flash"
AUTH = {"Authorization": "Bearer robust-token"}
BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about rivers"}]}]}
METHODS = ("generateContent", "streamGenerateContent", "countTokens")
ALLOWED = {200, 400, 401, 404}
PACED = {
    "format": 1,
    "name": "paced",
    "steps": [
        {
            "times": "forever",
            "delay": {"betweenChunks": 0.2},
            "respond": {"chunks": ["one", "two", "three", "four"]},
        }
    ],
}


def path(method: str, query: str = "") -> str:
    return f"/v1/projects/p/locations/us-central1/publishers/google/models/{MODEL}:{method}{query}"


def _wait_for_outcome(server: MockVertexServer, deadline: float = 10.0) -> str:
    """The last exchange's outcome once the handler has finished with it."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        outcome = server.journal()[-1].outcome
        if outcome != "pending":
            return outcome
        time.sleep(0.05)
    return server.journal()[-1].outcome


def _assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == []
    assert "Traceback" not in caplog.text


# ---------------------------------------------------------------------------------------------
# A client that hangs up mid-stream


def test_raw_socket_hang_up_mid_stream(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with MockVertexServer(auth="none", scenarios=(PACED,)) as server:
        payload = json.dumps(BODY).encode()
        head = (
            f"POST {path('streamGenerateContent', '?alt=sse')} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(head + payload)
            received = b""
            while b"data: " not in received:
                received += sock.recv(65536)
        assert received.startswith(b"HTTP/1.1 200 OK\r\n")
        assert _wait_for_outcome(server) == "client_disconnected"
        exchange = server.journal()[-1]
        assert 1 <= exchange.chunks_sent < 4
        server.check()
        # still serving
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", path("countTokens"), body=payload)
        assert conn.getresponse().status == 200
        conn.close()
    _assert_quiet(caplog)


@pytest.mark.parametrize("mode", ["sse", "array"])
async def test_aiohttp_hang_up_in_process(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    # aiohttp's TestServer cancels the handler when the client goes (handler_cancellation)
    caplog.set_level(logging.DEBUG)
    app = create_app(ServerConfig(auth="none"))
    client: TestClient[Any, Any] = await aiohttp_client(app)
    added = await client.post("/_mockvertex/scenarios", json=PACED)
    assert added.status == 200
    query = "?alt=sse" if mode == "sse" else ""
    resp = await client.post(path("streamGenerateContent", query), json=BODY)
    assert resp.status == 200
    await resp.content.readany()
    resp.close()
    state = app[STATE]
    for _ in range(200):
        if state.journal.entries()[-1].outcome != "pending":
            break
        await asyncio.sleep(0.02)
    assert state.journal.entries()[-1].outcome == "client_disconnected"
    assert state.errors == []
    again = await client.post(path("countTokens"), json=BODY)
    assert again.status == 200
    _assert_quiet(caplog)


# ---------------------------------------------------------------------------------------------
# Arbitrary input never gives a 500


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[MockVertexServer]:
    with MockVertexServer() as server:
        yield server


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_KEYS = st.sampled_from(
    [
        "contents",
        "parts",
        "role",
        "text",
        "generationConfig",
        "tools",
        "systemInstruction",
        "safetySettings",
        "toolConfig",
        "instances",
        "generation_config",
        "inlineData",
        "functionCall",
    ]
)
dict_bodies = st.dictionaries(_KEYS | st.text(max_size=15), json_values, max_size=5)
content_bodies = st.fixed_dictionaries(
    {
        "contents": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "model", "USER", "x"]) | json_values},
                optional={"parts": st.lists(st.dictionaries(_KEYS, json_values, max_size=3))},
            ),
            max_size=3,
        )
        | json_values
    },
    optional={"generationConfig": st.dictionaries(st.text(max_size=20), json_values, max_size=3)},
)
bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | dict_bodies.map(lambda v: json.dumps(v).encode())
    | content_bodies.map(lambda v: json.dumps(v).encode())
)
queries = st.sampled_from(["", "?alt=sse", "?alt=json", "?%24alt=json%3Benum-encoding%3Dint"])


def _post(server: MockVertexServer, url: str, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", url, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(METHODS),
    query=queries,
    body=bodies,
    auth=st.sampled_from(["bearer", "anonymous"]),
)
def test_arbitrary_bodies_never_500(
    fuzz_server: MockVertexServer, method: str, query: str, body: bytes, auth: str
) -> None:
    headers = {"Content-Type": "application/json", **(AUTH if auth == "bearer" else {})}
    if method != "streamGenerateContent" and "sse" in query:
        query = ""
    status = _post(fuzz_server, path(method, query), body, headers)
    assert status in ALLOWED
    if auth == "anonymous":
        assert status in {400, 401}  # a bad alt is refused before the credentials are read
    assert fuzz_server.state.errors == []


@settings(max_examples=100, deadline=None)
@given(tail=st.text(min_size=0, max_size=40), body=bodies)
def test_arbitrary_paths_never_500(fuzz_server: MockVertexServer, tail: str, body: bytes) -> None:
    from urllib.parse import quote

    url = "/v1/projects/p/locations/l/publishers/google/models/" + quote(tail, safe=":/")
    status = _post(fuzz_server, url, body, AUTH)
    assert status in ALLOWED
    assert fuzz_server.state.errors == []


# ---------------------------------------------------------------------------------------------
# Body size limit


SMALL = ServerConfig(max_body_bytes=1000)


def _big_body() -> bytes:
    return json.dumps({"contents": [{"role": "user", "parts": [{"text": "x" * 2000}]}]}).encode()


async def _assert_too_large(resp: aiohttp.ClientResponse) -> None:
    assert resp.status == 400
    assert resp.headers["Content-Type"] == "application/json; charset=UTF-8"
    error = (await resp.json())["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("Request payload size exceeds the limit")


async def test_body_over_limit_with_content_length(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(SMALL))
    resp = await client.post(path("generateContent"), data=_big_body(), headers=AUTH)
    await _assert_too_large(resp)
    ok = await client.post(path("generateContent"), json=BODY, headers=AUTH)
    assert ok.status == 200


async def test_body_over_limit_chunked(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(SMALL))

    async def pieces() -> Any:
        body = _big_body()
        for i in range(0, len(body), 100):
            yield body[i : i + 100]

    resp = await client.post(path("streamGenerateContent"), data=pieces(), headers=AUTH)
    assert resp.status == 400
    error = json.loads(await resp.read())
    assert error[0]["error"]["message"].startswith("Request payload size exceeds the limit")


async def test_body_at_limit_is_read(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(SMALL))
    text = "y" * 500
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": text}]}]}).encode()
    assert len(body) <= 1000
    resp = await client.post(path("countTokens"), data=body, headers=AUTH)
    assert resp.status == 200


async def test_scenario_body_over_limit(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(SMALL))
    big = {"format": 1, "name": "big", "description": "z" * 5000, "steps": [{}]}
    resp = await client.post("/_mockvertex/scenarios", json=big)
    await _assert_too_large(resp)


# ---------------------------------------------------------------------------------------------
# A burst of bad requests


def _bad_requests() -> list[tuple[str, str, bytes, dict[str, str]]]:
    out = []
    for i in range(300):
        kind = i % 6
        if kind == 0:
            out.append(("POST", path("generateContent"), b"{not json", AUTH))
        elif kind == 1:
            out.append(("POST", path("streamGenerateContent"), json.dumps(BODY).encode(), {}))
        elif kind == 2:
            out.append(("POST", f"/v1/nowhere/{i}", b"", AUTH))
        elif kind == 3:
            out.append(("GET", path("countTokens"), b"", AUTH))
        elif kind == 4:
            bad = {"contents": [{"role": "pirate", "parts": [{"text": "arr"}]}]}
            out.append(
                ("POST", path("streamGenerateContent", "?alt=sse"), json.dumps(bad).encode(), AUTH)
            )
        else:
            out.append(("POST", path("generateContent", "?alt=bogus"), b"\x00\xff" * 50, AUTH))
    return out


async def test_burst_of_bad_requests_leaves_the_server_correct() -> None:
    with MockVertexServer() as server:
        connector = aiohttp.TCPConnector(limit=20)
        async with aiohttp.ClientSession(server.url, connector=connector) as session:

            async def send(method: str, url: str, body: bytes, headers: dict[str, str]) -> int:
                async with session.request(method, url, data=body, headers=headers) as resp:
                    await resp.read()
                    return resp.status

            statuses = await asyncio.gather(*(send(*r) for r in _bad_requests()))
            assert set(statuses) <= {400, 401, 404, 405}
            assert statuses.count(400) == 150
            assert statuses.count(401) == 50

            async with session.post(
                path("streamGenerateContent", "?alt=sse"), json=BODY, headers=AUTH
            ) as resp:
                assert resp.status == 200
                raw = await resp.read()
        assert raw.startswith(b"data: {")
        assert raw.endswith(b"\r\n\r\n")
        assert len(server.journal()) == 301 - 50  # unknown paths are not model calls
        server.check()


# ---------------------------------------------------------------------------------------------
# Bodies the front end's JSON parser refuses: deep nesting and lone surrogates

PAYLOAD = "Invalid JSON payload received."
_BODY = json.dumps(BODY).encode()


def _post_envelope(server: MockVertexServer, body: bytes) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", path("generateContent"), body=body, headers=AUTH)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"contents": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}", "a"),  # the 101st object
        ('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}", ""),  # past any parser's recursion
        ('{"x": [' + '{"k": ' * 99 + "{}" + "}" * 99 + "]}", "k"),
        ('{"x": ' + "[" * 300 + "]" * 300 + ', "y": nope}', ""),  # before the syntax error
    ],
)
def test_deep_nesting_is_refused_with_the_parsers_words(
    fuzz_server: MockVertexServer, caplog: pytest.LogCaptureFixture, body: str, key: str
) -> None:
    caplog.set_level(logging.DEBUG)
    status, envelope = _post_envelope(fuzz_server, body.encode())
    assert status == 400
    assert envelope["error"]["status"] == "INVALID_ARGUMENT"
    assert envelope["error"]["message"] == (
        f"{PAYLOAD} Message too deep. Max recursion depth reached for key '{key}'"
    )
    assert fuzz_server.state.errors == []
    _assert_quiet(caplog)


def test_a_hundred_nested_objects_are_read(fuzz_server: MockVertexServer) -> None:
    # the root, a content, a part, functionResponse and 96 more objects in its response
    response = '{"a": ' * 95 + "{}" + "}" * 95
    body = (
        '{"contents": [{"role": "user", "parts": [{"text": "go"}]},'
        ' {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},'
        ' {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": '
        + response
        + "}}]}]}"
    )
    assert body.count("{") - body.count("}") == 0
    status, reply = _post_envelope(fuzz_server, body.encode())
    assert status == 200
    assert reply["candidates"][0]["content"]["role"] == "model"


def _text_body(text_json: str) -> bytes:
    return ('{"contents": [{"role": "user", "parts": [{"text": "' + text_json + '"}]}]}').encode()


@pytest.mark.parametrize(
    ("escape", "reason"),
    [
        (r"\ud800", "Missing low surrogate."),
        (r"\ud800x", "Missing low surrogate."),
        (r"\ud800\u0041", "Invalid low surrogate."),
        (r"\ud800\ud800", "Invalid low surrogate."),
        (r"\udc00", "Invalid unicode code point."),
        (r"\udfff\ud800", "Invalid unicode code point."),
    ],
)
def test_a_lone_surrogate_is_refused_at_parsing(
    fuzz_server: MockVertexServer, caplog: pytest.LogCaptureFixture, escape: str, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    status, envelope = _post_envelope(fuzz_server, _text_body(escape))
    assert status == 400
    message = envelope["error"]["message"]
    snippet = '{"contents": [{"role": "user", "parts": [{"text": "' + escape
    assert message.startswith(f"{PAYLOAD} {reason}\n{snippet}")
    caret = message.split("\n")[2]
    assert caret == " " * len(snippet.rsplit(escape, 1)[0]) + "^"  # at the escape
    assert fuzz_server.state.errors == []
    _assert_quiet(caplog)


@pytest.mark.parametrize("escape", [r"\ud83d\ude00", r"\\ud800", r"\u00e9"])
def test_paired_and_escaped_surrogates_are_text(fuzz_server: MockVertexServer, escape: str) -> None:
    status, _ = _post_envelope(fuzz_server, _text_body(escape))
    assert status == 200
    sent = fuzz_server.journal()[-1].request
    assert sent is not None
    assert sent["contents"][0]["parts"][0]["text"] == json.loads(f'"{escape}"')


LONE = {
    "format": 1,
    "name": "lone_surrogate",
    "steps": [{"times": "forever", "respond": {"chunks": ["half of a pair: \ud83d", " alone"]}}],
}


@pytest.mark.parametrize("query", ["", "?alt=sse"])
def test_a_scenario_given_a_lone_surrogate_is_sent_as_its_escape(
    caplog: pytest.LogCaptureFixture, query: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with MockVertexServer(auth="none", scenarios=(LONE,)) as server:
        for method in ("generateContent", "streamGenerateContent"):
            url = path(method, query if method != "generateContent" else "")
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            try:
                conn.request("POST", url, _BODY)
                resp = conn.getresponse()
                raw = resp.read()
            finally:
                conn.close()
            assert resp.status == 200
            assert b"\\ud83d" in raw  # the JSON escape, not bytes UTF-8 has no form for
            raw.decode("utf-8")
        server.check()
    _assert_quiet(caplog)


# ---------------------------------------------------------------------------------------------
# HTTP aiohttp cannot parse or read: a plain 400 (or the envelope), one log line, no secret

SECRET = "ya29.robustness-SECRET-token"
KEY = "AIzaSy-robustness-SECRET-key"


def _raw(server: MockVertexServer, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def _head(
    extra: bytes = b"", *, target: bytes | None = None, version: bytes = b"HTTP/1.1"
) -> bytes:
    target = target or path("generateContent").encode()
    return (
        b"POST " + target + b" " + version + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Authorization: Bearer " + SECRET.encode() + b"\r\n" + extra
    )


_UNPARSABLE = {
    "line too long": _head(b"X-Big: " + b"x" * 9000 + b"\r\n\r\n"),
    "credential line too long": _head(b"Authorization: Bearer " + SECRET.encode() * 400 + b"\r\n"),
    "credential with a NUL": _head(b"x-goog-api-key: " + KEY.encode() + b"\x00\r\n\r\n"),
    "key in a bad request line": _head(
        b"\r\n", target=path("countTokens", f"?key={KEY}").encode(), version=b"HTTP/9.9"
    ),
    "Content-Length with Transfer-Encoding": _head(
        b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(_BODY)
    )
    + b"%x\r\n%s\r\n0\r\n\r\n" % (len(_BODY), _BODY),
    "chunk size not hex": _head(b"Transfer-Encoding: chunked\r\n\r\nzz\r\n") + _BODY,
}


@pytest.mark.parametrize("data", _UNPARSABLE.values(), ids=_UNPARSABLE.keys())
def test_http_the_parser_refuses_is_a_plain_400_in_one_log_line(
    caplog: pytest.LogCaptureFixture, data: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    with MockVertexServer() as server:
        answer = _raw(server, data)
        assert answer.split(b"\r\n", 1)[0] in {
            b"HTTP/1.0 400 Bad Request",
            b"HTTP/1.1 400 Bad Request",
        }
        assert b"text/plain" in answer.split(b"\r\n\r\n", 1)[0]
        ok = _post(server, path("countTokens"), _BODY, AUTH)  # still serving
    assert ok == 200
    lines = [r for r in caplog.records if r.name.startswith(("mockvertex", "aiohttp"))]
    assert len(lines) == 1
    (line,) = lines
    assert line.name == "mockvertex.http"
    assert line.levelno == logging.INFO
    assert line.getMessage().startswith("Error handling request from 127.0.0.1: ")
    for secret in (SECRET, KEY):
        assert secret not in caplog.text
    _assert_quiet(caplog)


@pytest.mark.parametrize(
    ("encoding", "body"),
    [(b"gzip", b"not gzip at all"), (b"deflate", b"\x00\x01\x02 nor deflate")],
)
def test_a_body_that_does_not_decode_is_invalid_argument(
    caplog: pytest.LogCaptureFixture, encoding: bytes, body: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    data = _head(b"Content-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (encoding, len(body)))
    with MockVertexServer() as server:
        answer = _raw(server, data + body)
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        error = json.loads(payload)["error"]
        assert error["status"] == "INVALID_ARGUMENT"
        assert error["message"] == (
            f"{PAYLOAD} Unable to read the request body: Can not decode content-encoding."
        )
        exchange = server.journal()[-1]
        assert (exchange.status, exchange.outcome) == (400, "error")
        server.check()
    assert len([r for r in caplog.records if r.name.startswith(("mockvertex", "aiohttp"))]) <= 1
    assert SECRET not in caplog.text
    _assert_quiet(caplog)


def test_a_client_that_hangs_up_mid_body_leaves_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with MockVertexServer() as server:
        data = _head(b"Content-Length: %d\r\n\r\n" % len(_BODY)) + _BODY[: len(_BODY) // 2]
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(data)
            time.sleep(0.1)
        assert _wait_for_outcome(server) == "client_disconnected"
        assert _post(server, path("countTokens"), _BODY, AUTH) == 200
        server.check()
    _assert_quiet(caplog)


def test_stopping_under_a_lingering_connection_destroys_no_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Answered (401) before its body is read, then gone: aiohttp keeps reading the body that
    # never comes for its lingering time; stopping the server must cancel that read.
    caplog.set_level(logging.DEBUG)
    server = MockVertexServer().start()
    head = f"POST {path('generateContent')} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"{")
        assert sock.recv(65536).startswith(b"HTTP/1.1 401")
    server.stop()
    gc.collect()
    assert "Task was destroyed" not in caplog.text
    _assert_quiet(caplog)


def test_chunked_framing_broken_after_the_handler_started_is_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The chunk size arrives in two pieces, the handler already reading the body when the
    # second shows it is not hex: aiohttp's C parser drops the body without ending it, and
    # without the mock's check the connection hung until the client gave up.
    head = (
        f"POST {path('generateContent')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0"
    ).encode()
    with (
        MockVertexServer(auth="none") as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(head)
        time.sleep(0.3)  # the handler starts and waits for the body
        sock.sendall(b'x5\r\n{"contents": []}')
        began = time.monotonic()
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read())
        waited = time.monotonic() - began
        sock.settimeout(1.0)
        try:
            after = sock.recv(65536)  # nothing more: aiohttp's own queued 400 must not follow
        except TimeoutError:
            after = b""
    assert response.status == 400
    assert response.getheader("Connection") == "close"
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert body["error"]["message"].startswith(
        "Invalid JSON payload received. Unable to read the request body: "
    )
    assert b"HTTP/1." not in after
    assert waited < 5
    _assert_quiet(caplog)
