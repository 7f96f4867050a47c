"""LiteLLM's Vertex provider, unchanged, against the mock over a real localhost socket.

LiteLLM takes ``api_base`` (a bare ``http://host:port`` gets the Vertex path grafted on) and
``vertex_credentials`` (a service-account JSON). Its token request goes to the key's
``token_uri``, here the mock's own ``/token``; the key is generated for each test session and
never written to disk. LiteLLM sends ``/v1/``, ``?alt=sse`` for streams, and bodies that mix
snake_case (``system_instruction``, ``max_output_tokens``) into camelCase.
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from scenario_builders import fail, say

from mockvertex.server.runner import MockVertexServer

PROJECT = "p"
LOCATION = "us-central1"
MODEL = "gemini-2.0-flash"
# LiteLLM's bundled model map marks gemini-2.5-flash (not gemini-2.0-flash) as supporting
# system messages; for the others it folds the system text into the first user turn.
SYSTEM_MODEL = "gemini-2.5-flash"
# LiteLLM builds a pydantic model from a TypedDict with ReadOnly items the first time it parses
# a stream chunk, and pydantic warns (a UserWarning) that it will not enforce ReadOnly. Not
# ours to fix; the filter applies only to the streaming tests.
_PYDANTIC_READONLY = pytest.mark.filterwarnings(
    "ignore:Item .* is using the `ReadOnly` qualifier:UserWarning"
)
_ENV = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "VERTEXAI_PROJECT",
    "VERTEXAI_LOCATION",
    "VERTEX_PROJECT",
    "VERTEX_LOCATION",
    "VERTEXAI_CREDENTIALS",
    "VERTEX_AI_CREDENTIALS",
)


def _path(rpc: str, model: str = MODEL) -> str:
    return f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{model}:{rpc}"


@pytest.fixture(scope="session")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


@pytest.fixture
def litellm(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # LiteLLM reads this at import time; with it, the model cost map comes from the package
    # instead of the network.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    module = importlib.import_module("litellm")
    monkeypatch.setattr(module, "suppress_debug_info", True)
    return module


@pytest.fixture
def vertex(mock: MockVertexServer, private_key_pem: str) -> dict[str, Any]:
    """The keyword arguments every call takes: where the mock is and how to authenticate."""
    service_account = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "mockvertex-test-key",
        "private_key": private_key_pem,
        "client_email": "tester@p.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{mock.url}/token",
    }
    return {
        "api_base": mock.url,
        "vertex_project": PROJECT,
        "vertex_location": LOCATION,
        "vertex_credentials": json.dumps(service_account),
        "num_retries": 0,
        "timeout": 5,
    }


def test_completion(litellm: ModuleType, mock: MockVertexServer, vertex: dict[str, Any]) -> None:
    mock.add_scenario(say("hello", "Hello from the mock to LiteLLM."))

    response = litellm.completion(
        model=f"vertex_ai/{MODEL}",
        messages=[{"role": "user", "content": "Say hello"}],
        max_tokens=50,
        **vertex,
    )

    assert response.choices[0].message.content == "Hello from the mock to LiteLLM."
    assert response.choices[0].finish_reason == "stop"
    (exchange,) = mock.journal()
    assert exchange.path == _path("generateContent")
    assert exchange.framing == "unary"
    raw = json.loads(exchange.body)
    assert raw["generationConfig"] == {"max_output_tokens": 50}
    assert exchange.request == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
        "generationConfig": {"maxOutputTokens": 50},
    }
    assert exchange.status == 200
    assert response.usage.prompt_tokens > 0


def test_snake_case_system_instruction_and_sampling(
    litellm: ModuleType, mock: MockVertexServer, vertex: dict[str, Any]
) -> None:
    mock.add_scenario(say("pirate", "Arr, fair winds."))

    response = litellm.completion(
        model=f"vertex_ai/{SYSTEM_MODEL}",
        messages=[
            {"role": "system", "content": "Talk like a pirate."},
            {"role": "user", "content": "Wish me luck."},
        ],
        temperature=0.3,
        top_p=0.9,
        **vertex,
    )

    assert response.choices[0].message.content == "Arr, fair winds."
    (exchange,) = mock.journal()
    assert exchange.path == _path("generateContent", SYSTEM_MODEL)
    raw = json.loads(exchange.body)
    assert raw["system_instruction"] == {"parts": [{"text": "Talk like a pirate."}]}
    assert raw["generationConfig"] == {"temperature": 0.3, "top_p": 0.9}
    assert exchange.request == {
        "contents": [{"role": "user", "parts": [{"text": "Wish me luck."}]}],
        "systemInstruction": {"parts": [{"text": "Talk like a pirate."}]},
        "generationConfig": {"temperature": 0.3, "topP": 0.9},
    }


@_PYDANTIC_READONLY
def test_streaming_uses_sse(
    litellm: ModuleType, mock: MockVertexServer, vertex: dict[str, Any]
) -> None:
    text = "LiteLLM reads this answer from server-sent events, one delta per event."
    mock.add_scenario(say("stream", text))

    stream = litellm.completion(
        model=f"vertex_ai/{MODEL}",
        messages=[{"role": "user", "content": "Stream it"}],
        stream=True,
        **vertex,
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream]

    assert "".join(pieces) == text
    (exchange,) = mock.journal()
    assert exchange.path == _path("streamGenerateContent")
    assert exchange.query == {"alt": "sse"}
    assert (exchange.framing, exchange.outcome) == ("sse", "ok")
    assert exchange.chunks_sent >= 2


def test_429_is_a_rate_limit_error(
    litellm: ModuleType, mock: MockVertexServer, vertex: dict[str, Any]
) -> None:
    mock.add_scenario(fail(429, "Quota used up for the test.", name="quota"))

    with pytest.raises(litellm.RateLimitError) as caught:
        litellm.completion(
            model=f"vertex_ai/{MODEL}", messages=[{"role": "user", "content": "Hi"}], **vertex
        )

    assert caught.value.status_code == 429
    assert "Quota used up for the test." in str(caught.value)
    assert [e.status for e in mock.journal()] == [429]


@_PYDANTIC_READONLY
def test_429_when_streaming_arrives_wrapped(
    litellm: ModuleType, mock: MockVertexServer, vertex: dict[str, Any]
) -> None:
    mock.add_scenario(fail(429, "Quota used up for the test.", name="quota"))
    stream = litellm.completion(
        model=f"vertex_ai/{MODEL}",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        **vertex,
    )

    # LiteLLM wraps errors met while streaming in MidStreamFallbackError and keeps the
    # RateLimitError it mapped the 429 to as original_exception.
    with pytest.raises(litellm.exceptions.MidStreamFallbackError) as caught:
        list(stream)

    original = caught.value.original_exception
    assert isinstance(original, litellm.RateLimitError)
    assert original.status_code == 429
    assert "Quota used up for the test." in str(original)
    (exchange,) = mock.journal()
    assert (exchange.status, exchange.query) == (429, {"alt": "sse"})
