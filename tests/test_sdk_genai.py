"""google-genai, unchanged, against the mock over a real localhost socket (sync and async).

Each test scripts the mock with a scenario, calls the SDK as a user would, and asserts what the
SDK returned (text, function calls, errors) and, where it matters, what the mock received.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import google.oauth2.credentials
import httpx
import pytest
from google import genai
from google.genai import errors, types
from scenario_builders import fail, say, scenario

from mockvertex.server.adc import write_adc_file
from mockvertex.server.runner import MockVertexServer

MODEL = "gemini-2.0-flash"
PROJECT = "p"
LOCATION = "us-central1"
TOKEN = "test-token"
TIMEOUT_MS = 5000
_ENV = (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
# The 404 Vertex sends for a model it does not know (googlecodelabs/feedback#1881).
UNKNOWN_MODEL_MESSAGE = (
    "Publisher Model `projects/p/locations/us-central1/publishers/google/models/gemini-9-pro` "
    "was not found or your project does not have access to it. Please ensure you are using a "
    "valid model version. For more information, see: "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
)
RESOURCE_EXHAUSTED = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)


# --------------------------------------------------------------------------------------------
# Helpers and fixtures


def _png() -> bytes:
    """A valid 1x1 red PNG, built here so no binary file is needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _credentials() -> google.oauth2.credentials.Credentials:
    return google.oauth2.credentials.Credentials(token=TOKEN)  # type: ignore[no-untyped-call]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def journal_secrets() -> tuple[str, ...]:
    return (TOKEN,)


def _client(
    mock: MockVertexServer,
    *,
    api_version: str | None = None,
    retry: types.HttpRetryOptions | None = None,
) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=_credentials(),
        http_options=types.HttpOptions(
            base_url=mock.url, api_version=api_version, timeout=TIMEOUT_MS, retry_options=retry
        ),
    )


@pytest.fixture
def client(mock: MockVertexServer) -> Iterator[genai.Client]:
    sdk = _client(mock)
    yield sdk
    sdk.close()


@pytest.fixture
async def aclient(mock: MockVertexServer) -> AsyncIterator[genai.client.AsyncClient]:
    sdk = _client(mock)
    yield sdk.aio
    await sdk.aio.aclose()
    sdk.close()


def _path(rpc: str, version: str = "v1beta1", model: str = MODEL) -> str:
    return (
        f"/{version}/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{model}:{rpc}"
    )


# --------------------------------------------------------------------------------------------
# Text generation, sync and async


def test_generate_content_uses_v1beta1_by_default(
    mock: MockVertexServer, client: genai.Client, no_secrets: Callable[[MockVertexServer], None]
) -> None:
    mock.add_scenario(say("hello", "Hello from the mock, word for word."))

    response = client.models.generate_content(model=MODEL, contents="Say hello")

    assert response.text == "Hello from the mock, word for word."
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    (exchange,) = mock.journal()
    assert exchange.path == _path("generateContent")
    assert exchange.framing == "unary"
    assert exchange.scenario == "hello"
    assert exchange.request == {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
    no_secrets(mock)


def test_api_version_v1_switches_the_path(mock: MockVertexServer) -> None:
    mock.add_scenario(say("hello", "Served on v1."))
    sdk = _client(mock, api_version="v1")

    response = sdk.models.generate_content(model=MODEL, contents="Which version?")

    sdk.close()
    assert response.text == "Served on v1."
    assert [e.path for e in mock.journal()] == [_path("generateContent", "v1")]


def test_generate_content_stream_yields_every_sse_chunk(
    mock: MockVertexServer, client: genai.Client
) -> None:
    text = "One two three four five six seven eight nine ten eleven twelve."
    mock.add_scenario(say("count", text))

    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Count"))

    (exchange,) = mock.journal()
    assert exchange.path == _path("streamGenerateContent")
    assert exchange.query == {"alt": "sse"}
    assert exchange.framing == "sse"
    assert exchange.outcome == "ok"
    assert len(chunks) == exchange.chunks_sent >= 2
    assert "".join(c.text or "" for c in chunks) == text
    assert chunks[-1].candidates is not None
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])


async def test_async_generate_content(
    mock: MockVertexServer,
    aclient: genai.client.AsyncClient,
    no_secrets: Callable[[MockVertexServer], None],
) -> None:
    mock.add_scenario(say("hello", "Hello, asynchronously."))

    response = await aclient.models.generate_content(model=MODEL, contents="Say hello")

    assert response.text == "Hello, asynchronously."
    assert [e.path for e in mock.journal()] == [_path("generateContent")]
    no_secrets(mock)


async def test_async_generate_content_stream(
    mock: MockVertexServer, aclient: genai.client.AsyncClient
) -> None:
    text = "Streaming without threads is still streaming, one delta at a time."
    mock.add_scenario(say("stream", text))

    stream = await aclient.models.generate_content_stream(model=MODEL, contents="Stream it")
    chunks = [chunk async for chunk in stream]

    (exchange,) = mock.journal()
    assert exchange.query == {"alt": "sse"}
    assert len(chunks) == exchange.chunks_sent >= 2
    assert "".join(c.text or "" for c in chunks) == text


async def test_async_client_against_a_mock_in_the_same_loop() -> None:
    async with MockVertexServer() as mock:
        mock.add_scenario(say("same-loop", "Served from this very event loop."))
        sdk = _client(mock)
        response = await sdk.aio.models.generate_content(model=MODEL, contents="Where?")
        await sdk.aio.aclose()
        sdk.close()
        mock.check()

    assert response.text == "Served from this very event loop."
    assert [e.status for e in mock.journal()] == [200]


# --------------------------------------------------------------------------------------------
# Chat, system instruction, inline data, countTokens


def test_chat_sends_the_history_on_the_second_turn(
    mock: MockVertexServer, client: genai.Client
) -> None:
    mock.add_scenario(say("first", "Nice to meet you, Ada.", turn=1))
    mock.add_scenario(say("second", "Your name is Ada.", turn=2))
    chat = client.chats.create(model=MODEL)

    first = chat.send_message("My name is Ada.")
    second = chat.send_message("What is my name?")

    assert first.text == "Nice to meet you, Ada."
    assert second.text == "Your name is Ada."
    assert [e.scenario for e in mock.journal()] == ["first", "second"]
    history = mock.journal()[1].request
    assert history is not None
    assert history["contents"] == [
        {"role": "user", "parts": [{"text": "My name is Ada."}]},
        {"role": "model", "parts": [{"text": "Nice to meet you, Ada."}]},
        {"role": "user", "parts": [{"text": "What is my name?"}]},
    ]


async def test_async_chat_stream(mock: MockVertexServer, aclient: genai.client.AsyncClient) -> None:
    mock.add_scenario(say("first", "First answer arrives in several small pieces.", turn=1))
    mock.add_scenario(say("second", "Second answer.", turn=2))
    chat = aclient.chats.create(model=MODEL)

    first = "".join([c.text or "" async for c in await chat.send_message_stream("One")])
    second = "".join([c.text or "" async for c in await chat.send_message_stream("Two")])

    assert first == "First answer arrives in several small pieces."
    assert second == "Second answer."
    request = mock.journal()[1].request
    assert request is not None
    # The SDK keeps one model content per streamed chunk in the history, and sends them all.
    first_turn, *answer, second_turn = request["contents"]
    assert first_turn == {"role": "user", "parts": [{"text": "One"}]}
    assert second_turn == {"role": "user", "parts": [{"text": "Two"}]}
    assert len(answer) == mock.journal()[0].chunks_sent
    assert {c["role"] for c in answer} == {"model"}
    model_text = "".join(p["text"] for c in answer for p in c["parts"])
    assert model_text == "First answer arrives in several small pieces."


def test_system_instruction_reaches_the_mock(mock: MockVertexServer, client: genai.Client) -> None:
    mock.add_scenario(say("pirate", "Arr, hello."))

    response = client.models.generate_content(
        model=MODEL,
        contents="Greet me",
        config=types.GenerateContentConfig(system_instruction="Talk like a pirate."),
    )

    assert response.text == "Arr, hello."
    request = mock.journal()[0].request
    assert request is not None
    assert request["systemInstruction"]["parts"] == [{"text": "Talk like a pirate."}]


def test_inline_image_arrives_as_valid_base64(mock: MockVertexServer, client: genai.Client) -> None:
    png = _png()
    mock.add_scenario(say("image", "A single red pixel."))

    response = client.models.generate_content(
        model=MODEL,
        contents=[types.Part.from_bytes(data=png, mime_type="image/png"), "What is this?"],
    )

    assert response.text == "A single red pixel."
    request = mock.journal()[0].request
    assert request is not None
    image, question = request["contents"][0]["parts"]
    assert image["inlineData"]["mimeType"] == "image/png"
    # The SDK sends URL-safe base64, which proto3 JSON accepts as well as the standard alphabet.
    data = image["inlineData"]["data"]
    assert set(data) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    assert base64.urlsafe_b64decode(data) == png
    assert question == {"text": "What is this?"}
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_tokens_details is not None
    assert types.MediaModality.IMAGE in {d.modality for d in usage.prompt_tokens_details}


def test_count_tokens_agrees_with_prompt_token_count(
    mock: MockVertexServer, client: genai.Client
) -> None:
    contents = "Why is the sky blue? Answer in the style of a physics textbook, please."

    counted = client.models.count_tokens(model=MODEL, contents=contents)
    generated = client.models.generate_content(model=MODEL, contents=contents)

    assert counted.total_tokens is not None
    assert counted.total_tokens > 0
    assert generated.usage_metadata is not None
    assert counted.total_tokens == generated.usage_metadata.prompt_token_count
    assert [e.path for e in mock.journal()] == [_path("countTokens"), _path("generateContent")]


# --------------------------------------------------------------------------------------------
# Function calling


_WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather for a city.",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


def test_manual_function_calling_round_trips_the_call_id(
    mock: MockVertexServer, client: genai.Client
) -> None:
    mock.add_scenario(
        scenario(
            "weather",
            {
                "respond": {
                    "functionCall": {
                        "name": "get_weather",
                        "args": {"city": "Paris"},
                        "id": "call-42",
                    }
                }
            },
            {"respond": {"text": "It is sunny in Paris."}},
        )
    )
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[_WEATHER])])
    question = types.UserContent(parts=[types.Part.from_text(text="Weather in Paris?")])

    first = client.models.generate_content(model=MODEL, contents=question, config=config)

    assert first.function_calls is not None
    (call,) = first.function_calls
    assert (call.name, call.args, call.id) == ("get_weather", {"city": "Paris"}, "call-42")
    assert first.candidates is not None
    assert first.candidates[0].content is not None
    answer = types.Part(
        function_response=types.FunctionResponse(
            id=call.id, name=call.name, response={"forecast": "sunny"}
        )
    )
    second = client.models.generate_content(
        model=MODEL,
        contents=[question, first.candidates[0].content, types.UserContent(parts=[answer])],
        config=config,
    )

    assert second.text == "It is sunny in Paris."
    request = mock.journal()[1].request
    assert request is not None
    assert request["contents"][1]["parts"][0]["functionCall"]["id"] == "call-42"
    assert request["contents"][2]["parts"][0]["functionResponse"] == {
        "id": "call-42",
        "name": "get_weather",
        "response": {"forecast": "sunny"},
    }


def test_automatic_function_calling_runs_the_python_function(
    mock: MockVertexServer, client: genai.Client
) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> dict[str, str]:
        """Current weather for a city."""
        calls.append(city)
        return {"forecast": "sunny"}

    mock.add_scenario(
        scenario(
            "weather",
            {"respond": {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}},
            {"respond": {"text": "It is sunny in Paris."}},
            hasTools=True,
        )
    )

    response = client.models.generate_content(
        model=MODEL,
        contents="Weather in Paris?",
        config=types.GenerateContentConfig(tools=[get_weather]),
    )

    assert response.text == "It is sunny in Paris."
    assert calls == ["Paris"]
    first, second = mock.journal()
    assert first.request is not None
    assert second.request is not None
    (declaration,) = first.request["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "get_weather"
    assert declaration["description"] == "Current weather for a city."
    sent = second.request["contents"][2]
    assert sent["role"] == "user"
    assert sent["parts"][0]["functionResponse"]["name"] == "get_weather"
    assert sent["parts"][0]["functionResponse"]["response"] == {"result": {"forecast": "sunny"}}


# --------------------------------------------------------------------------------------------
# Errors, safety blocks and retries


def test_429_raises_client_error(mock: MockVertexServer, client: genai.Client) -> None:
    mock.add_scenario(fail(429, RESOURCE_EXHAUSTED))

    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="Hi")

    assert caught.value.code == 429
    assert caught.value.status == "RESOURCE_EXHAUSTED"
    assert caught.value.message == RESOURCE_EXHAUSTED
    assert [e.status for e in mock.journal()] == [429]


async def test_async_429_raises_client_error(
    mock: MockVertexServer, aclient: genai.client.AsyncClient
) -> None:
    mock.add_scenario(fail(429, RESOURCE_EXHAUSTED))

    with pytest.raises(errors.ClientError) as caught:
        await aclient.models.generate_content(model=MODEL, contents="Hi")

    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")


def test_503_raises_server_error(mock: MockVertexServer, client: genai.Client) -> None:
    mock.add_scenario(fail(503, "The model is overloaded. Please try again later."))

    with pytest.raises(errors.ServerError) as caught:
        list(client.models.generate_content_stream(model=MODEL, contents="Hi"))

    assert caught.value.code == 503
    assert caught.value.status == "UNAVAILABLE"
    assert caught.value.message == "The model is overloaded. Please try again later."


def _drain(stream: Iterator[types.GenerateContentResponse], received: list[str]) -> None:
    """Read ``stream`` to its end, keeping each chunk's text in ``received`` as it arrives."""
    for chunk in stream:
        received.append(chunk.text or "")


def test_mid_stream_error_event_raises_during_iteration(
    mock: MockVertexServer, client: genai.Client
) -> None:
    mock.add_scenario("mid_stream_error")
    received: list[str] = []

    stream = client.models.generate_content_stream(model=MODEL, contents="Hi")

    with pytest.raises(errors.ServerError) as caught:
        _drain(stream, received)

    assert caught.value.code == 503
    assert caught.value.status == "UNAVAILABLE"
    assert len(received) == 2
    full = (
        "This answer is cut short by a server error after the first two chunks have been sent "
        "to the client"
    )
    assert "".join(received)
    assert full.startswith("".join(received))
    (exchange,) = mock.journal()
    assert (exchange.outcome, exchange.chunks_sent) == ("mid_stream_error", 2)


def test_dropped_connection_raises_after_the_chunks_sent(
    mock: MockVertexServer, client: genai.Client
) -> None:
    mock.add_scenario("disconnect_mid_stream")
    received: list[str] = []
    stream = client.models.generate_content_stream(model=MODEL, contents="Hi")

    # The sync client runs on httpx; the mock resets the connection (RST), which httpx reports
    # as a read error (a FIN mid-body would be a RemoteProtocolError instead).
    with pytest.raises(httpx.ReadError, match="Connection reset by peer"):
        _drain(stream, received)

    assert len(received) == 2
    assert "".join(received).startswith("This answer is cut short")
    (exchange,) = mock.journal()
    assert (exchange.outcome, exchange.chunks_sent) == ("disconnected", 2)


def test_blocked_prompt_has_block_reason_and_no_text(
    mock: MockVertexServer, client: genai.Client
) -> None:
    mock.add_scenario("safety_block_prompt")

    response = client.models.generate_content(model=MODEL, contents="Something dangerous")

    assert response.prompt_feedback is not None
    assert response.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert response.text is None
    assert not response.candidates
    ratings = response.prompt_feedback.safety_ratings or []
    blocked = [r.category for r in ratings if r.blocked]
    assert blocked == [types.HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT]
    assert [e.status for e in mock.journal()] == [200]


def test_blocked_response_finishes_with_safety(
    mock: MockVertexServer, client: genai.Client
) -> None:
    mock.add_scenario("safety_block_response")

    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Go on"))

    last = chunks[-1]
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == types.FinishReason.SAFETY
    assert last.candidates[0].content is None or not last.candidates[0].content.parts
    assert last.text is None
    ratings = last.candidates[0].safety_ratings or []
    assert [r.category for r in ratings if r.blocked] == [
        types.HarmCategory.HARM_CATEGORY_HARASSMENT
    ]
    assert "".join(c.text or "" for c in chunks[:-1]).startswith("Here is the start")


def test_unary_blocked_response_finishes_with_safety(
    mock: MockVertexServer, client: genai.Client
) -> None:
    mock.add_scenario("safety_block_response")

    response = client.models.generate_content(model=MODEL, contents="Go on")

    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.SAFETY


def test_bad_safety_threshold_gets_the_mocks_400(
    mock: MockVertexServer, client: genai.Client
) -> None:
    # A raw dict lets an unknown enum value through the SDK (it only warns), as a typo would.
    config: Any = {
        "safety_settings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_EVERYTHING"}
        ]
    }

    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="Hi", config=config)

    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message == (
        "Invalid value at 'safety_settings[0].threshold' (type.googleapis.com/"
        'google.cloud.aiplatform.v1beta1.SafetySetting.HarmBlockThreshold), "BLOCK_EVERYTHING"'
    )


def test_unknown_model_gets_the_mocks_404(mock: MockVertexServer, client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-9-pro", contents="Hi")

    assert caught.value.code == 404
    assert caught.value.status == "NOT_FOUND"
    assert caught.value.message == UNKNOWN_MODEL_MESSAGE


def test_retry_options_retry_429_until_success(mock: MockVertexServer) -> None:
    mock.add_scenario("rate_limited_then_ok")
    retry = types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.02)
    sdk = _client(mock, retry=retry)

    response = sdk.models.generate_content(model=MODEL, contents="Eventually")

    sdk.close()
    assert response.text
    assert [e.status for e in mock.journal()] == [429, 429, 200]
    assert {e.scenario for e in mock.journal()} == {"rate_limited_then_ok"}


def test_without_retry_options_there_is_one_attempt(
    mock: MockVertexServer, client: genai.Client
) -> None:
    mock.add_scenario("rate_limited_then_ok")

    with pytest.raises(errors.ClientError):
        client.models.generate_content(model=MODEL, contents="Once")

    assert [e.status for e in mock.journal()] == [429]


# --------------------------------------------------------------------------------------------
# Finding the mock through the environment and ADC


def test_found_through_google_vertex_base_url(
    mock: MockVertexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", mock.url)
    mock.add_scenario(say("env", "Found through the environment."))
    sdk = genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=_credentials(),
    )

    response = sdk.models.generate_content(model=MODEL, contents="Where are you?")

    sdk.close()
    assert response.text == "Found through the environment."
    assert [e.path for e in mock.journal()] == [_path("generateContent")]


def test_express_mode_from_the_environment_only(
    mock: MockVertexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_API_KEY", "x")
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", mock.url)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", mock.url)
    mock.add_scenario(say("express", "Express mode works."))
    sdk = genai.Client()

    response = sdk.models.generate_content(model=MODEL, contents="Express?")

    sdk.close()
    assert response.text == "Express mode works."
    (exchange,) = mock.journal()
    assert exchange.path == f"/v1beta1/publishers/google/models/{MODEL}:generateContent"
    assert "x-goog-api-key" not in {k.lower() for k in exchange.headers}


def test_adc_file_gets_its_token_from_the_mock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With auth "token=...", the mock's token endpoint hands out exactly that token and the
    # API accepts nothing else: a 200 proves the SDK fetched its token from the mock.
    with MockVertexServer(auth="token=adc-issued-token") as mock:
        adc = write_adc_file(mock.url, tmp_path / "c.json")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        mock.add_scenario(say("adc", "Authenticated by ADC."))
        sdk = genai.Client(
            vertexai=True,
            project=PROJECT,
            location=LOCATION,
            http_options=types.HttpOptions(base_url=mock.url, timeout=TIMEOUT_MS),
        )

        response = sdk.models.generate_content(model=MODEL, contents="Who am I?")

        sdk.close()
        mock.check()
    assert response.text == "Authenticated by ADC."
    assert [e.status for e in mock.journal()] == [200]
    assert "adc-issued-token" not in str([e.headers for e in mock.journal()])


def test_wrong_token_is_rejected_with_401() -> None:
    with MockVertexServer(auth="token=the-right-one") as mock:
        sdk = _client(mock)
        with pytest.raises(errors.ClientError) as caught:
            sdk.models.generate_content(model=MODEL, contents="Let me in")
        sdk.close()

    assert caught.value.code == 401
    assert caught.value.status == "UNAUTHENTICATED"
