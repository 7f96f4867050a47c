"""Plain HTTP clients against the mock: requests (the seed client's style) and curl.

No SDK in between: these tests look at the bytes. Only ``alt=sse`` switches a stream to SSE
(never the Accept header); SSE events are ``data: `` + one JSON line + CRLF CRLF; the seed
reference's four sample requests reproduce its sample responses chunk for chunk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from scenario_builders import say

from mockvertex.contract import wire
from mockvertex.server.runner import MockVertexServer

MODEL = "gemini-2.0-flash"
AUTH = {"Authorization": "Bearer seed-client-token", "Content-Type": "application/json"}
SEED_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "seed"
# Each seed fixture and the built-in scenario that replays it.
SEED_SCENARIOS = {
    "banana_bread_sse": "seed_banana_bread",
    "daisy_multimodal_array": "seed_daisy_image",
    "find_theaters_function_array": "seed_find_theaters",
    "pirate_chat_sse": "seed_pirate_chat",
}
ANSWER = "Plain HTTP gets the same answer as every SDK, chunk by chunk."
QUESTION = {"contents": [{"role": "user", "parts": [{"text": "Answer plainly"}]}]}
TIMEOUT = 5


@pytest.fixture
def journal_secrets() -> tuple[str, ...]:
    return ("seed-client-token",)


@pytest.fixture
def mock(mock: MockVertexServer) -> MockVertexServer:
    """The shared mock, answering every plainly asked question with ``ANSWER``."""
    mock.add_scenario(say("plain", ANSWER, lastUserText={"contains": "Answer plainly"}))
    return mock


def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        url, data=json.dumps(body), headers={**AUTH, **(headers or {})}, timeout=TIMEOUT
    )


def _text(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        part.get("text", "")
        for chunk in chunks
        for candidate in chunk.get("candidates", ())
        for part in candidate.get("content", {}).get("parts", ())
    )


def _split_events(body: bytes) -> list[bytes]:
    """The SSE events of ``body``, each with its CRLF CRLF terminator; asserts nothing is left."""
    events = [event + b"\r\n\r\n" for event in body.split(b"\r\n\r\n")[:-1]]
    assert b"".join(events) == body, "the body does not end with a complete event"
    return events


# --------------------------------------------------------------------------------------------
# Framing chosen by alt, never by Accept


def test_accept_event_stream_without_alt_still_gets_the_json_array(
    mock: MockVertexServer,
) -> None:
    response = _post(
        mock.url_for(MODEL, "streamGenerateContent"),
        QUESTION,
        headers={"Accept": "text/event-stream"},
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.content.startswith(b"[{")
    assert response.content.endswith(b"\n]")
    chunks = wire.decode_array(response.content)
    assert len(chunks) >= 2
    assert _text(chunks) == ANSWER
    assert response.content == wire.encode_array(chunks)
    (exchange,) = mock.journal()
    assert exchange.framing == "array"
    assert exchange.headers["Accept"] == "text/event-stream"


def test_alt_sse_gets_crlf_separated_data_events(mock: MockVertexServer) -> None:
    response = _post(mock.url_for(MODEL, "streamGenerateContent") + "?alt=sse", QUESTION)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    events = _split_events(response.content)
    assert len(events) >= 2
    for event in events:
        assert event.startswith(b"data: {")
        assert event.count(b"\n") == 2  # only the ones in the final CRLF CRLF
        payload = json.loads(event[len(b"data: ") : -4])
        assert event == wire.encode_sse_event(payload)
    chunks = wire.decode_sse(response.content)
    assert _text(chunks) == ANSWER
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])


def test_streamed_response_arrives_incrementally_through_iter_content(
    mock: MockVertexServer,
) -> None:
    decoder = wire.SSEDecoder()
    chunks: list[Any] = []
    with requests.post(
        mock.url_for(MODEL, "streamGenerateContent") + "?alt=sse",
        data=json.dumps(QUESTION),
        headers=AUTH,
        stream=True,
        timeout=TIMEOUT,
    ) as response:
        for piece in response.iter_content(chunk_size=7):
            chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())

    assert _text(chunks) == ANSWER


def test_percent_encoded_colon_in_the_path(mock: MockVertexServer) -> None:
    url = mock.url_for(MODEL, "generateContent").replace(":generateContent", "%3AgenerateContent")
    assert "%3A" in url

    response = _post(url, QUESTION)

    assert response.status_code == 200
    body = response.json()
    assert body["candidates"][0]["content"]["parts"][0]["text"] == ANSWER
    (exchange,) = mock.journal()
    assert (exchange.rpc, exchange.model) == ("generateContent", MODEL)


def test_unary_body_is_pretty_printed_json(mock: MockVertexServer) -> None:
    response = _post(mock.url_for(MODEL, "generateContent"), QUESTION)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.content == wire.encode_unary(response.json())
    assert response.content.startswith(b'{\n  "candidates": [')


# --------------------------------------------------------------------------------------------
# Authentication


def test_missing_authorization_gets_401_unauthenticated(mock: MockVertexServer) -> None:
    response = requests.post(
        mock.url_for(MODEL, "generateContent"),
        data=json.dumps(QUESTION),
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="https://accounts.google.com/"'
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    error = response.json()["error"]
    assert error["code"] == 401
    assert error["status"] == "UNAUTHENTICATED"
    assert error["message"].startswith("Request is missing required authentication credential.")


def test_bearer_token_is_not_journaled(mock: MockVertexServer) -> None:
    _post(mock.url_for(MODEL, "generateContent"), QUESTION)

    (exchange,) = mock.journal()
    assert "seed-client-token" not in json.dumps(exchange.to_json())


# --------------------------------------------------------------------------------------------
# The seed reference's samples, replayed


def _seed(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SEED_DIR / f"{name}.json").read_text("utf-8"))
    return document


@pytest.mark.parametrize("name", sorted(SEED_SCENARIOS))
def test_seed_sample_requests_reproduce_the_seed_chunks(mock: MockVertexServer, name: str) -> None:
    seed = _seed(name)
    mock.add_scenario(SEED_SCENARIOS[name])
    url = mock.url_for(seed["model"], "streamGenerateContent")
    if seed["framing"] == "sse":
        url += "?alt=sse"

    # The seed client's headers: it asks for an event stream whatever alt says.
    response = _post(url, seed["request"], headers={"Accept": "text/event-stream"})

    assert response.status_code == 200, response.text
    if seed["framing"] == "sse":
        assert wire.decode_sse(response.content) == seed["chunks"]
        expected = b"".join(wire.encode_sse_event(c) for c in seed["chunks"])
        assert response.content == expected
    else:
        assert wire.decode_array(response.content) == seed["chunks"]
        assert response.content == wire.encode_array(seed["chunks"])
    (exchange,) = mock.journal()
    assert exchange.scenario == SEED_SCENARIOS[name]
    assert exchange.framing == seed["framing"]


# --------------------------------------------------------------------------------------------
# curl


def _curl() -> str:
    path = shutil.which("curl")
    assert path is not None, "curl is not on PATH; these tests need the curl command-line tool"
    return path


def _run_curl(*args: str, body: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [_curl(), "--silent", "--show-error", "--no-buffer", "--max-time", str(TIMEOUT), *args],
        input=json.dumps(body).encode("utf-8"),
        capture_output=True,
        timeout=TIMEOUT * 2,
        check=True,
    )


def test_curl_streams_sse(mock: MockVertexServer) -> None:
    url = mock.url_for(MODEL, "streamGenerateContent") + "?alt=sse"

    done = _run_curl(
        "-X",
        "POST",
        "-H",
        "Authorization: Bearer curl-token",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "@-",
        url,
        body=QUESTION,
    )

    events = _split_events(done.stdout)
    assert all(e == wire.encode_sse_event(json.loads(e[6:-4])) for e in events)
    assert _text(wire.decode_sse(done.stdout)) == ANSWER
    (exchange,) = mock.journal()
    assert exchange.headers["User-Agent"].startswith("curl/")
    assert exchange.request == QUESTION


def test_curl_without_token_sees_401_and_www_authenticate(mock: MockVertexServer) -> None:
    done = _run_curl(
        "--include",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "@-",
        mock.url_for(MODEL, "generateContent"),
        body=QUESTION,
    )

    head, _, body = done.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401")
    assert b'\r\nWWW-Authenticate: Bearer realm="https://accounts.google.com/"' in head
    assert json.loads(body)["error"]["status"] == "UNAUTHENTICATED"
