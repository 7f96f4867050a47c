"""The aiohttp application in-process: routes, framing bytes, answers, scenarios, auth, journal."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestClient

from mockvertex.config import ServerConfig
from mockvertex.contract import wire
from mockvertex.server.app import STATE, create_app

MakeClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
Client = TestClient[web.Request, web.Application]

MODEL = "gemini-2.0-flash"
JSON_TYPE = "application/json; charset=UTF-8"
TOKEN = "ya29.test-token-4b1d"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "Tell me about rivers"}]}]}
SSE_BODY = re.compile(rb"\A(?:data: [^\r\n]+\r\n\r\n)+\Z")
NOT_FOUND_TAIL = (
    " was not found or your project does not have access to it. Please ensure you are using a "
    "valid model version. For more information, see: "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
)


def path(
    method: str,
    *,
    model: str = MODEL,
    version: str = "v1",
    located: bool = True,
    query: str = "",
) -> str:
    where = "projects/p/locations/us-central1/" if located else ""
    return f"/{version}/{where}publishers/google/models/{model}:{method}{query}"


@pytest.fixture
def make_client(aiohttp_client: Any) -> MakeClient:
    async def make(config: ServerConfig | None = None) -> Client:
        client: Client = await aiohttp_client(create_app(config or ServerConfig()))
        return client

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()


async def add_scenario(client: Client, document: Mapping[str, Any]) -> None:
    resp = await client.post("/_mockvertex/scenarios", json={"format": 1, **document})
    assert resp.status == 200, await resp.text()


def scenario(name: str, *steps: Mapping[str, Any], **match: Any) -> dict[str, Any]:
    return {"name": name, "match": match, "steps": list(steps)}


async def error_body(resp: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    """The pretty Google envelope of an error response (asserting its framing)."""
    assert resp.status == status
    assert resp.headers["Content-Type"] == JSON_TYPE
    raw = await resp.read()
    assert raw.startswith(b'{\n  "error": {\n    "code": ')
    assert raw.endswith(b"\n  }\n}")
    error: dict[str, Any] = json.loads(raw)["error"]
    assert error["code"] == status
    assert error["status"] == code
    return error


def split_array(raw: bytes) -> list[dict[str, Any]]:
    """Objects of an array-mode body, asserting Google's exact layout."""
    assert raw[:1] == b"["
    assert raw.endswith(b"\n]")
    pieces = raw[1:-2].split(b"\n,\r\n")
    for piece in pieces:
        assert piece.startswith(b"{\n  ")
        assert piece.endswith(b"\n}")
    decoder = wire.ArrayDecoder()
    items = decoder.feed(raw) + decoder.close()
    assert decoder.bytes_after_close == 0
    assert items == [json.loads(p) for p in pieces]
    return items


def split_sse(raw: bytes) -> list[dict[str, Any]]:
    assert SSE_BODY.match(raw), raw[:200]
    decoder = wire.SSEDecoder()
    events = decoder.feed(raw) + decoder.close()
    assert decoder.separators_seen == {b"\r\n\r\n"}
    assert decoder.comments == 0
    assert decoder.events_with_fields == []
    return events


async def stream(
    client: Client,
    *,
    sse: bool = True,
    body: Mapping[str, Any] = BODY,
    model: str = MODEL,
    headers: Mapping[str, str] = AUTH,
) -> list[dict[str, Any]]:
    query = "?alt=sse" if sse else ""
    resp = await client.post(
        path("streamGenerateContent", model=model, query=query), json=body, headers=headers
    )
    assert resp.status == 200, await resp.text()
    raw = await resp.read()
    return split_sse(raw) if sse else split_array(raw)


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        part.get("text", "")
        for chunk in chunks
        for candidate in chunk.get("candidates", [])
        for part in candidate.get("content", {}).get("parts", [])
    )


# ---------------------------------------------------------------------------------------------
# Routes


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
@pytest.mark.parametrize("where", ["projects", "locationless"])
@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent", "countTokens"])
async def test_every_route_answers(client: Client, version: str, where: str, method: str) -> None:
    resp = await client.post(
        path(method, version=version, located=where == "projects"), json=BODY, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == JSON_TYPE
    await resp.read()
    exchange = client.app[STATE].journal.entries()[-1]
    assert (exchange.api_version, exchange.model, exchange.rpc) == (version, MODEL, method)
    assert exchange.outcome == "ok"


@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent", "countTokens"])
async def test_colon_sent_percent_encoded(client: Client, method: str) -> None:
    url = yarl.URL(path(method).replace(":", "%3A"), encoded=True)
    assert "%3A" in str(url)
    resp = await client.post(url, json=BODY, headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert client.app[STATE].journal.entries()[-1].rpc == method


@pytest.mark.parametrize(
    "url",
    [
        path("generateContent", version="v1beta"),
        path("generateContent", version="v2"),
        path("predict"),
        path("generateContent").replace(":generateContent", ""),
        path("generateContent").replace("/google/", "/anthropic/"),
        path("generateContent", located=False).replace("/google/", "/meta/"),
        "/v1/models/gemini-2.0-flash:generateContent",
        "/no/such/thing",
        "/",
    ],
)
async def test_unknown_paths_get_a_404_envelope(client: Client, url: str) -> None:
    resp = await client.post(url, json=BODY, headers=AUTH)
    error = await error_body(resp, 404, "NOT_FOUND")
    assert error["message"] == f"The requested URL {url} was not found on this server."


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE"])
async def test_other_verbs_on_a_model_method_get_405(client: Client, verb: str) -> None:
    resp = await client.request(verb, path("generateContent"), headers=AUTH)
    error = await error_body(resp, 405, "UNIMPLEMENTED")
    assert verb in error["message"]


@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent", "countTokens"])
async def test_unknown_model_is_vertex_404(client: Client, method: str) -> None:
    resp = await client.post(
        path(
            method, model="gemini-9", query="?alt=sse" if method == "streamGenerateContent" else ""
        ),
        json=BODY,
        headers=AUTH,
    )
    error = await error_body(resp, 404, "NOT_FOUND")
    assert error["message"] == (
        "Publisher Model `projects/p/locations/us-central1/publishers/google/models/gemini-9`"
        + NOT_FOUND_TAIL
    )


async def test_unknown_model_on_locationless_path_names_the_short_resource(
    client: Client,
) -> None:
    resp = await client.post(
        path("generateContent", model="gemini-9", located=False), json=BODY, headers=AUTH
    )
    error = await error_body(resp, 404, "NOT_FOUND")
    assert (
        error["message"] == "Publisher Model `publishers/google/models/gemini-9`" + NOT_FOUND_TAIL
    )


async def test_unknown_model_in_array_mode_is_array_wrapped(client: Client) -> None:
    resp = await client.post(
        path("streamGenerateContent", model="gemini-9"), json=BODY, headers=AUTH
    )
    assert resp.status == 404
    items = split_array(await resp.read())
    assert [item["error"]["status"] for item in items] == ["NOT_FOUND"]


# ---------------------------------------------------------------------------------------------
# Framing, byte for byte


async def test_sse_is_only_data_lines_with_crlf_crlf(client: Client) -> None:
    resp = await client.post(
        path("streamGenerateContent", query="?alt=sse"), json=BODY, headers=AUTH
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert resp.headers["Content-Disposition"] == "attachment"
    raw = await resp.read()
    events = split_sse(raw)
    assert len(events) >= 2
    assert raw.count(b"\r\n\r\n") == len(events)
    assert b"\n\n" not in raw.replace(b"\r\n\r\n", b"")
    assert all("candidates" in e for e in events)


@pytest.mark.parametrize(
    "query",
    ["", "?alt=json", "?%24alt=json%3Benum-encoding%3Dint", "?$alt=json"],
    ids=["no-alt", "alt-json", "gapic", "dollar-alt"],
)
async def test_array_mode_layout(client: Client, query: str) -> None:
    url = yarl.URL(path("streamGenerateContent", query=query), encoded=True)
    resp = await client.post(url, json=BODY, headers=AUTH)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == JSON_TYPE
    raw = await resp.read()
    items = split_array(raw)
    assert len(items) >= 2
    assert raw.count(b"\n,\r\n") == len(items) - 1


async def test_enum_encoding_int_in_array_mode(client: Client) -> None:
    url = yarl.URL(
        path("streamGenerateContent", query="?%24alt=json%3Benum-encoding%3Dint"), encoded=True
    )
    resp = await client.post(url, json=BODY, headers=AUTH)
    items = split_array(await resp.read())
    last = items[-1]["candidates"][0]
    assert last["finishReason"] == 1  # STOP
    categories = [r["category"] for r in last["safetyRatings"]]
    assert categories
    assert all(isinstance(c, int) for c in categories)
    assert 1 in categories  # HARM_CATEGORY_HATE_SPEECH
    assert all(isinstance(r["probability"], int) for r in last["safetyRatings"])
    # the same answer with names, for comparison
    named = (await stream(client, sse=False))[-1]["candidates"][0]
    assert named["finishReason"] == "STOP"
    assert "HARM_CATEGORY_HATE_SPEECH" in [r["category"] for r in named["safetyRatings"]]


async def test_enum_encoding_int_on_unary(client: Client) -> None:
    url = yarl.URL(
        path("generateContent", query="?%24alt=json%3Benum-encoding%3Dint"), encoded=True
    )
    resp = await client.post(url, json=BODY, headers=AUTH)
    assert resp.status == 200
    candidate = (await resp.json())["candidates"][0]
    assert candidate["finishReason"] == 1


async def test_accept_header_never_switches_to_sse(client: Client) -> None:
    resp = await client.post(
        path("streamGenerateContent"),
        json=BODY,
        headers={**AUTH, "Accept": "text/event-stream"},
    )
    assert resp.headers["Content-Type"] == JSON_TYPE
    split_array(await resp.read())


async def test_unary_is_one_pretty_object(client: Client) -> None:
    resp = await client.post(path("generateContent"), json=BODY, headers=AUTH)
    assert resp.headers["Content-Type"] == JSON_TYPE
    raw = await resp.read()
    assert raw.startswith(b'{\n  "candidates": [\n    {\n')
    assert raw.endswith(b"\n}")
    body = json.loads(raw)
    assert isinstance(body, dict)
    assert body["candidates"][0]["finishReason"] == "STOP"


async def test_errors_are_array_wrapped_in_array_streaming(client: Client) -> None:
    resp = await client.post(path("streamGenerateContent"), json=BODY)  # no credentials
    assert resp.status == 401
    assert resp.headers["Content-Type"] == JSON_TYPE
    raw = await resp.read()
    assert raw.startswith(b'[{\n  "error": {\n')
    assert raw.endswith(b"\n}\n]")
    assert [i["error"]["status"] for i in split_array(raw)] == ["UNAUTHENTICATED"]


async def test_errors_in_sse_mode_are_a_plain_envelope(client: Client) -> None:
    resp = await client.post(path("streamGenerateContent", query="?alt=sse"), json=BODY)
    await error_body(resp, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("alt", ["xml", "media", "proto", "json;enum-encoding=str"])
async def test_bad_alt_is_400(client: Client, alt: str) -> None:
    resp = await client.post(
        path("streamGenerateContent"), params={"alt": alt}, json=BODY, headers=AUTH
    )
    assert resp.status == 400
    (item,) = split_array(await resp.read())
    assert item["error"]["status"] == "INVALID_ARGUMENT"
    assert "alt" in item["error"]["message"]


async def test_alt_sse_on_unary_method_is_400(client: Client) -> None:
    resp = await client.post(path("generateContent", query="?alt=sse"), json=BODY, headers=AUTH)
    await error_body(resp, 400, "INVALID_ARGUMENT")


async def test_malformed_body_is_400_envelope(client: Client) -> None:
    resp = await client.post(path("generateContent"), data=b"{bad", headers=AUTH)
    error = await error_body(resp, 400, "INVALID_ARGUMENT")
    assert error["message"].startswith("Invalid JSON payload received.")


# ---------------------------------------------------------------------------------------------
# A real stream


def decoder_for(mode: str) -> wire.SSEDecoder | wire.ArrayDecoder:
    return wire.SSEDecoder() if mode == "sse" else wire.ArrayDecoder()


def query_for(mode: str) -> str:
    return "?alt=sse" if mode == "sse" else ""


async def _arrivals(resp: aiohttp.ClientResponse, mode: str) -> list[float]:
    decoder = decoder_for(mode)
    arrivals: list[float] = []
    async for data in resp.content.iter_any():
        arrivals.extend(time.monotonic() for _ in decoder.feed(data))
    assert decoder.close() == []
    return arrivals


@pytest.mark.parametrize("mode", ["sse", "array"])
async def test_chunks_are_flushed_as_produced(client: Client, mode: str) -> None:
    await add_scenario(
        client,
        scenario(
            "paced",
            {
                "times": "forever",
                "delay": {"betweenChunks": 0.3},
                "respond": {"chunks": ["a", "b", "c"]},
            },
        ),
    )
    resp = await client.post(
        path("streamGenerateContent", query=query_for(mode)), json=BODY, headers=AUTH
    )
    assert resp.status == 200
    arrivals = await _arrivals(resp, mode)
    assert len(arrivals) == 3
    # chunk 1 was in our hands well before chunk 3 was even produced: a stream, not a buffer
    assert arrivals[2] - arrivals[0] >= 0.2


# ---------------------------------------------------------------------------------------------
# Answers of the default responder


@pytest.mark.parametrize("mode", ["sse", "array"])
async def test_same_request_same_text(client: Client, mode: str) -> None:
    sse = mode == "sse"
    first = text_of(await stream(client, sse=sse))
    second = text_of(await stream(client, sse=sse))
    assert first
    assert first == second
    other = text_of(
        await stream(
            client, sse=sse, body={"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
        )
    )
    assert other != first


async def test_unary_text_equals_streamed_text(client: Client) -> None:
    resp = await client.post(path("generateContent"), json=BODY, headers=AUTH)
    unary = await resp.json()
    assert text_of([unary]) == text_of(await stream(client))


async def test_finish_reason_and_usage_only_on_last_chunk(client: Client) -> None:
    chunks = await stream(client)
    assert len(chunks) >= 2
    for chunk in chunks[:-1]:
        assert "finishReason" not in chunk["candidates"][0]
        assert "promptTokenCount" not in chunk["usageMetadata"]
        assert "totalTokenCount" not in chunk["usageMetadata"]
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    usage = last["usageMetadata"]
    assert usage["promptTokenCount"] + usage["candidatesTokenCount"] == usage["totalTokenCount"]
    assert usage["candidatesTokenCount"] > 0

    resp = await client.post(path("countTokens"), json=BODY, headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["totalTokens"] == usage["promptTokenCount"]


async def test_small_max_output_tokens_gives_max_tokens(client: Client) -> None:
    body = {**BODY, "generationConfig": {"maxOutputTokens": 3}}
    chunks = await stream(client, body=body)
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert last["usageMetadata"]["candidatesTokenCount"] <= 3


async def test_json_mime_type_with_schema_gives_json_text(client: Client) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}, "population": {"type": "INTEGER"}},
        "required": ["city", "population"],
    }
    body = {
        **BODY,
        "generationConfig": {"responseMimeType": "application/json", "responseSchema": schema},
    }
    value = json.loads(text_of(await stream(client, body=body)))
    assert isinstance(value["city"], str)
    assert isinstance(value["population"], int)


TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}},
                    "required": ["city"],
                },
            }
        ]
    }
]


async def test_tools_give_a_function_call_then_text_after_the_response(client: Client) -> None:
    ask: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": "Weather in Oslo?"}]}],
        "tools": TOOLS,
    }
    resp = await client.post(path("generateContent"), json=ask, headers=AUTH)
    parts = (await resp.json())["candidates"][0]["content"]["parts"]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert len(calls) == 1
    call = calls[0]
    assert call["name"] == "get_weather"
    assert isinstance(call["args"]["city"], str)
    assert isinstance(call["id"], str)
    assert call["id"]

    follow_up = {
        "contents": [
            *ask["contents"],
            {"role": "model", "parts": [{"functionCall": call}]},
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "id": call["id"],
                            "response": {"temperature": 12},
                        }
                    }
                ],
            },
        ],
        "tools": TOOLS,
    }
    resp = await client.post(path("generateContent"), json=follow_up, headers=AUTH)
    assert resp.status == 200, await resp.text()
    parts = (await resp.json())["candidates"][0]["content"]["parts"]
    assert not any("functionCall" in p for p in parts)
    assert text_of([{"candidates": [{"content": {"parts": parts}}]}])


# ---------------------------------------------------------------------------------------------
# Scenarios through HTTP


async def test_ordered_steps_with_times_and_retry_after(client: Client) -> None:
    await add_scenario(
        client,
        scenario(
            "limited",
            {"times": 2, "error": {"code": 429, "retryAfter": 7}},
            {"times": "forever"},
        ),
    )
    for _ in range(2):
        resp = await client.post(path("generateContent"), json=BODY, headers=AUTH)
        error = await error_body(resp, 429, "RESOURCE_EXHAUSTED")
        assert resp.headers["Retry-After"] == "7"
        assert error["message"].startswith("Resource exhausted.")
    for _ in range(3):
        resp = await client.post(path("generateContent"), json=BODY, headers=AUTH)
        assert resp.status == 200
        assert "Retry-After" not in resp.headers
        await resp.read()
    journal = client.app[STATE].journal.entries()
    assert [e.status for e in journal] == [429, 429, 200, 200, 200]
    assert {e.scenario for e in journal} == {"limited"}


async def test_429_in_array_mode_is_wrapped_and_keeps_retry_after(client: Client) -> None:
    await add_scenario(client, scenario("l", {"error": {"code": 429, "retryAfter": 2}}))
    resp = await client.post(path("streamGenerateContent"), json=BODY, headers=AUTH)
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "2"
    (item,) = split_array(await resp.read())
    assert item["error"]["code"] == 429


@pytest.mark.parametrize("mode", ["sse", "array"])
async def test_blocked_prompt(make_client: MakeClient, mode: str) -> None:
    client = await make_client(ServerConfig(builtin_scenarios=("safety_block_prompt",)))
    chunks = await stream(client, sse=mode == "sse")
    assert len(chunks) == 1
    (chunk,) = chunks
    assert "candidates" not in chunk
    assert chunk["promptFeedback"]["blockReason"] == "SAFETY"
    blocked = [r for r in chunk["promptFeedback"]["safetyRatings"] if r.get("blocked")]
    assert [r["category"] for r in blocked] == ["HARM_CATEGORY_DANGEROUS_CONTENT"]


async def test_blocked_response(make_client: MakeClient) -> None:
    client = await make_client(ServerConfig(builtin_scenarios=("safety_block_response",)))
    chunks = await stream(client)
    assert text_of(chunks[:-1])
    last = chunks[-1]["candidates"][0]
    assert last["finishReason"] == "SAFETY"
    assert "parts" not in last.get("content", {})
    blocked = [r["category"] for r in last["safetyRatings"] if r.get("blocked")]
    assert blocked == ["HARM_CATEGORY_HARASSMENT"]


MID_STREAM = scenario(
    "mid",
    {
        "times": "forever",
        "respond": {"chunks": ["one", "two", "three"]},
        "fault": {"after": 2, "kind": "error", "error": {"code": 503}},
    },
)


async def test_mid_stream_error_in_sse(client: Client) -> None:
    await add_scenario(client, MID_STREAM)
    resp = await client.post(
        path("streamGenerateContent", query="?alt=sse"), json=BODY, headers=AUTH
    )
    assert resp.status == 200
    raw = await resp.read()
    events = split_sse(raw)
    assert len(events) == 3
    assert text_of(events[:2]) == "onetwo"
    assert raw.split(b"\r\n\r\n")[2].startswith(b'data: {"error": {')
    assert events[2]["error"]["status"] == "UNAVAILABLE"
    assert client.app[STATE].journal.entries()[-1].outcome == "mid_stream_error"


async def test_mid_stream_error_in_array(client: Client) -> None:
    await add_scenario(client, MID_STREAM)
    resp = await client.post(path("streamGenerateContent"), json=BODY, headers=AUTH)
    assert resp.status == 200
    raw = await resp.read()
    items = split_array(raw)
    assert len(items) == 3
    assert text_of(items[:2]) == "onetwo"
    assert items[2] == {"error": items[2]["error"]}
    assert items[2]["error"]["code"] == 503
    assert raw.endswith(b"\n  }\n}\n]")


@pytest.mark.parametrize("mode", ["sse", "array"])
async def test_disconnect_after_n_chunks(client: Client, mode: str) -> None:
    await add_scenario(
        client,
        scenario(
            "cut",
            {
                "times": "forever",
                "respond": {"chunks": ["a", "b", "c", "d"]},
                "fault": {"after": 2, "kind": "disconnect"},
            },
        ),
    )
    resp = await client.post(
        path("streamGenerateContent", query=query_for(mode)), json=BODY, headers=AUTH
    )
    assert resp.status == 200
    decoder = decoder_for(mode)
    received: list[Any] = []

    async def read_all() -> None:
        async for data in resp.content.iter_any():
            received.extend(decoder.feed(data))

    with pytest.raises(aiohttp.ClientPayloadError):
        await read_all()
    assert text_of(received) == "ab"
    if mode == "array":  # no closing "]" was ever sent
        with pytest.raises(wire.FramingError, match="Unfinished stream"):
            decoder.close()
    exchange = client.app[STATE].journal.entries()[-1]
    assert exchange.outcome == "disconnected"
    assert exchange.chunks_sent == 2


async def test_disconnect_on_unary_drops_the_connection(client: Client) -> None:
    await add_scenario(
        client,
        scenario("cut", {"respond": {"text": "x y"}, "fault": {"after": 0, "kind": "disconnect"}}),
    )
    with pytest.raises(aiohttp.ClientError):
        await client.post(path("generateContent"), json=BODY, headers=AUTH)
    assert client.app[STATE].journal.entries()[-1].outcome == "disconnected"


@pytest.mark.parametrize("mode", ["sse", "array"])
async def test_malformed_frame(client: Client, mode: str) -> None:
    await add_scenario(
        client,
        scenario(
            "bad",
            {
                "times": "forever",
                "respond": {"chunks": ["a", "b", "c"]},
                "fault": {"after": 1, "kind": "malformed"},
            },
        ),
    )
    resp = await client.post(
        path("streamGenerateContent", query=query_for(mode)), json=BODY, headers=AUTH
    )
    assert resp.status == 200
    raw = await resp.read()
    if mode == "sse":
        good, bad, tail = raw.split(b"\r\n\r\n")
        assert tail == b""
        assert text_of(wire.decode_sse(good + b"\r\n\r\n")) == "a"
        with pytest.raises(wire.FramingError):
            wire.decode_sse(bad + b"\r\n\r\n")
    else:
        # The broken element is a whole frame (its brackets balance) that does not parse; the
        # array around it is closed. The chunk before it still decodes.
        with pytest.raises(wire.FramingError, match="array item 1: invalid JSON") as caught:
            wire.ArrayDecoder().feed(raw)
        assert text_of(caught.value.decoded) == "a"
        assert raw.endswith(b"\n]")
    assert client.app[STATE].journal.entries()[-1].outcome == "malformed"


async def test_faults_on_unary(client: Client) -> None:
    await add_scenario(
        client,
        scenario(
            "unary-faults",
            {"respond": {"text": "a b"}, "fault": {"after": 1, "kind": "malformed"}},
            {"respond": {"text": "a b"}, "fault": {"after": 1, "kind": "error"}},
        ),
    )
    resp = await client.post(path("generateContent"), json=BODY, headers=AUTH)
    assert resp.status == 200
    raw = await resp.read()
    assert raw.startswith(b'{"candidates": ')
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    assert client.app[STATE].journal.entries()[-1].outcome == "malformed"
    # a mid-stream error has no stream to live in: a unary call gets the error status
    resp = await client.post(path("generateContent"), json=BODY, headers=AUTH)
    await error_body(resp, 500, "INTERNAL")


async def test_slow_first_byte(client: Client) -> None:
    await add_scenario(client, scenario("slow", {"delay": {"firstByte": 0.3}}))
    started = time.monotonic()
    resp = await client.post(path("generateContent"), json=BODY, headers=AUTH)
    assert resp.status == 200
    assert time.monotonic() - started >= 0.25
    assert text_of([await resp.json()])


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


MATCH_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "model": ({"model": "gemini-1.5-*"}, {"model": "gemini-1.5-pro-002"}, {"model": MODEL}),
    "method": ({"method": "generateContent"}, {}, {"method": "countTokens"}),
    "contains": (
        {"lastUserText": {"contains": "weather"}},
        {"body": {"contents": [_user("the weather today")]}},
        {"body": {"contents": [_user("The Weather today")]}},
    ),
    "regex": (
        {"lastUserText": {"regex": "(?i)^hello\\b"}},
        {"body": {"contents": [_user("HELLO there")]}},
        {"body": {"contents": [_user("say hello")]}},
    ),
    "turn": (
        {"turn": 2},
        {
            "body": {
                "contents": [_user("a"), {"role": "model", "parts": [{"text": "b"}]}, _user("c")]
            }
        },
        {"body": {"contents": [_user("a")]}},
    ),
    "hasTools": (
        {"hasTools": False},
        {},
        {"body": {"contents": [_user("x")], "tools": TOOLS}},
    ),
}


@pytest.mark.parametrize("case", sorted(MATCH_CASES))
async def test_scenario_matching(client: Client, case: str) -> None:
    match, hit, miss = MATCH_CASES[case]
    await add_scenario(
        client,
        {
            "name": "m",
            "match": match,
            "steps": [{"times": "forever", "error": {"code": 409, "message": "MATCHED"}}],
        },
    )

    async def call(variant: Mapping[str, Any]) -> int:
        method = variant.get("method", "generateContent")
        resp = await client.post(
            path(method, model=variant.get("model", MODEL)),
            json=variant.get("body", BODY),
            headers=AUTH,
        )
        await resp.read()
        return resp.status

    assert await call(hit) == 409
    assert await call(miss) == 200


async def test_control_plane_add_list_reset(make_client: MakeClient) -> None:
    client = await make_client(ServerConfig(builtin_scenarios=("max_tokens",)))
    resp = await client.get("/_mockvertex/scenarios")
    assert [s["name"] for s in await resp.json()] == ["max_tokens"]

    await add_scenario(client, scenario("extra", {"times": 2, "error": {"code": 500}}))
    listed = await (await client.get("/_mockvertex/scenarios")).json()
    assert [s["name"] for s in listed] == ["max_tokens", "extra"]
    assert listed[1]["steps"] == [{"times": 2, "remaining": 2}]

    # max_tokens (first in the book) answers only generation methods; countTokens falls to "extra"
    resp = await client.post(path("countTokens"), json=BODY, headers=AUTH)
    await error_body(resp, 500, "INTERNAL")
    listed = await (await client.get("/_mockvertex/scenarios")).json()
    assert listed[1]["steps"] == [{"times": 2, "remaining": 1}]

    resp = await client.delete("/_mockvertex/scenarios")
    assert resp.status == 200
    listed = await (await client.get("/_mockvertex/scenarios")).json()
    assert [s["name"] for s in listed] == ["max_tokens"]
    chunks = await stream(client)
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"format": 1, "name": "x", "steps": [{"times": 0}]}, "steps[0].times"),
        ({"format": 1, "name": "x", "steps": [{"bogus": 1}]}, "steps[0].bogus"),
        ({"format": 1, "steps": [{}]}, "name"),
        ({"format": 2, "name": "x", "steps": [{}]}, "format"),
        (
            {"format": 1, "name": "x", "match": {"lastUserText": {"regex": "("}}, "steps": [{}]},
            "match.lastUserText.regex",
        ),
    ],
)
async def test_bad_scenario_is_400_naming_the_field(
    client: Client, document: dict[str, Any], field: str
) -> None:
    resp = await client.post("/_mockvertex/scenarios", json=document)
    error = await error_body(resp, 400, "INVALID_ARGUMENT")
    assert error["message"].startswith(f"{field}: ")
    assert (await (await client.get("/_mockvertex/scenarios")).json()) == []


async def test_scenario_post_that_is_not_json_is_400(client: Client) -> None:
    resp = await client.post("/_mockvertex/scenarios", data=b"{nope")
    await error_body(resp, 400, "INVALID_ARGUMENT")


async def test_journal_lists_and_clears(client: Client) -> None:
    await client.post(path("generateContent"), json=BODY, headers=AUTH)
    await client.post(path("countTokens", model="gemini-9"), json=BODY, headers=AUTH)
    resp = await client.get("/_mockvertex/journal")
    assert resp.status == 200
    entries = await resp.json()
    assert [(e["rpc"], e["status"], e["outcome"]) for e in entries] == [
        ("generateContent", 200, "ok"),
        ("countTokens", 404, "error"),
    ]
    assert entries[0]["request"]["contents"] == BODY["contents"]
    assert json.loads(entries[0]["body"]) == BODY
    assert entries[0]["framing"] == "unary"

    resp = await client.delete("/_mockvertex/journal")
    assert resp.status == 200
    assert await (await client.get("/_mockvertex/journal")).json() == []
    assert client.app[STATE].journal.entries() == []


# ---------------------------------------------------------------------------------------------
# Auth


async def test_missing_credentials_is_401_with_www_authenticate(client: Client) -> None:
    resp = await client.post(path("generateContent"), json=BODY)
    error = await error_body(resp, 401, "UNAUTHENTICATED")
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="https://accounts.google.com/"'
    assert error["message"].startswith("Request is missing required authentication credential.")


async def test_bearer_token_is_enough_by_default(client: Client) -> None:
    resp = await client.post(
        path("generateContent"), json=BODY, headers={"Authorization": "Bearer anything"}
    )
    assert resp.status == 200


async def test_api_key_on_projects_path_is_refused(client: Client) -> None:
    resp = await client.post(path("generateContent"), json=BODY, headers={"x-goog-api-key": "k"})
    error = await error_body(resp, 401, "UNAUTHENTICATED")
    assert error["message"] == (
        "API keys are not supported by this API. Expected OAuth2 access token or other "
        "authentication credentials that assert a principal. See "
        "https://cloud.google.com/docs/authentication"
    )
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="https://accounts.google.com/"'


@pytest.mark.parametrize("how", ["header", "query"])
async def test_api_key_on_locationless_path_is_express_mode(client: Client, how: str) -> None:
    resp = await client.post(
        path("generateContent", located=False),
        json=BODY,
        headers={"x-goog-api-key": "k"} if how == "header" else {},
        params={"key": "k"} if how == "query" else {},
    )
    assert resp.status == 200, await resp.text()


async def test_auth_none_lets_anonymous_in(make_client: MakeClient) -> None:
    client = await make_client(ServerConfig().with_auth("none"))
    resp = await client.post(path("generateContent"), json=BODY)
    assert resp.status == 200


async def test_auth_token_accepts_only_that_token(make_client: MakeClient) -> None:
    client = await make_client(ServerConfig().with_auth("token=s3cret"))
    ok = await client.post(
        path("generateContent"), json=BODY, headers={"Authorization": "Bearer s3cret"}
    )
    assert ok.status == 200
    wrong = await client.post(
        path("generateContent"), json=BODY, headers={"Authorization": "Bearer other"}
    )
    error = await error_body(wrong, 401, "UNAUTHENTICATED")
    assert error["message"].startswith("Request had invalid authentication credentials.")
    missing = await client.post(path("generateContent"), json=BODY)
    error = await error_body(missing, 401, "UNAUTHENTICATED")
    assert error["message"].startswith("Request is missing required authentication credential.")
    # the token as an API key: only on the location-less path
    keyed = await client.post(
        path("generateContent", located=False), json=BODY, headers={"x-goog-api-key": "s3cret"}
    )
    assert keyed.status == 200
    refused = await client.post(
        path("generateContent"), json=BODY, headers={"x-goog-api-key": "s3cret"}
    )
    await error_body(refused, 401, "UNAUTHENTICATED")


async def test_auth_is_checked_before_the_body(client: Client) -> None:
    resp = await client.post(path("generateContent"), data=b"{not json")
    await error_body(resp, 401, "UNAUTHENTICATED")


async def test_secrets_reach_neither_journal_nor_logs(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mockvertex")
    caplog.set_level(logging.DEBUG, logger="aiohttp.access")
    bearer, api_key, query_key = "tok-AAAA1111", "key-BBBB2222", "key-CCCC3333"
    await client.post(
        path("generateContent"), json=BODY, headers={"Authorization": f"Bearer {bearer}"}
    )
    await client.post(
        path("streamGenerateContent", query="?alt=sse"),
        json=BODY,
        headers={"Authorization": f"Bearer {bearer}", "Cookie": f"SID={bearer}"},
    )
    await client.post(
        path("generateContent", located=False), json=BODY, headers={"x-goog-api-key": api_key}
    )
    await client.post(path("countTokens"), json=BODY, headers={"x-goog-api-key": api_key})
    await client.post(path("generateContent", located=False), json=BODY, params={"key": query_key})
    journal_text = await (await client.get("/_mockvertex/journal")).text()
    assert len(json.loads(journal_text)) == 5
    for secret in (bearer, api_key, query_key):
        assert secret not in journal_text
    for secret in (bearer, api_key):
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in str(record.args)
    assert any(r.name == "aiohttp.access" for r in caplog.records)  # the log was captured


async def test_token_endpoint(make_client: MakeClient) -> None:
    default = await make_client()
    resp = await default.post("/token", data={"grant_type": "refresh_token"})
    assert resp.status == 200
    body = await resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert isinstance(body["access_token"], str)
    assert body["access_token"]

    fixed = await make_client(ServerConfig().with_auth("token=only-this"))
    body = await (await fixed.post("/token")).json()
    assert body["access_token"] == "only-this"
    resp = await fixed.post(
        path("generateContent"),
        json=BODY,
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert resp.status == 200
