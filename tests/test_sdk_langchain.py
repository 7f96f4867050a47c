"""LangChain's ChatVertexAI, unchanged, against the mock over a real localhost socket.

``ChatVertexAI(base_url=mock.url, api_transport="rest", ...)`` rides the same gapic REST
transport as the vertexai SDK (integer enums, JSON-array streams), on ``/v1beta1/``.
"""

from __future__ import annotations

import google.oauth2.credentials
import pytest
from google.api_core import exceptions
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_google_vertexai import ChatVertexAI
from scenario_builders import fail, say, scenario

from mockvertex.server.runner import MockVertexServer

# ChatVertexAI announces its own deprecation (in favour of langchain-google-genai) with a
# stacklevel that blames the caller, i.e. this module; the class still works and is what
# users run, so the two notices are silenced here and only here.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Use \\[`ChatGoogleGenerativeAI`\\]:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The class `ChatVertexAI` was deprecated:DeprecationWarning"),
]

MODEL = "gemini-2.0-flash"
PROJECT = "p"
LOCATION = "us-central1"
PATH = f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{MODEL}"


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


@pytest.fixture
def llm(mock: MockVertexServer) -> ChatVertexAI:
    credentials = google.oauth2.credentials.Credentials(token="t-langchain")  # type: ignore[no-untyped-call]
    return ChatVertexAI(
        model=MODEL,
        project=PROJECT,
        location=LOCATION,
        base_url=mock.url,
        api_transport="rest",
        credentials=credentials,
        max_retries=0,
        timeout=5,
    )


def test_invoke_sends_the_system_message_as_system_instruction(
    mock: MockVertexServer, llm: ChatVertexAI
) -> None:
    mock.add_scenario(say("pirate", "Ahoy, matey!"))

    reply = llm.invoke([SystemMessage("Talk like a pirate."), HumanMessage("Greet me.")])

    assert isinstance(reply, AIMessage)
    assert reply.content == "Ahoy, matey!"
    assert reply.response_metadata["finish_reason"] == "STOP"
    (exchange,) = mock.journal()
    assert exchange.path == f"{PATH}:generateContent"
    assert exchange.query == {"$alt": "json;enum-encoding=int"}
    assert exchange.request is not None
    assert exchange.request["systemInstruction"]["parts"] == [{"text": "Talk like a pirate."}]
    assert exchange.request["contents"] == [{"role": "user", "parts": [{"text": "Greet me."}]}]


def test_usage_metadata_is_the_mocks(mock: MockVertexServer, llm: ChatVertexAI) -> None:
    mock.add_scenario(
        scenario(
            "usage",
            {
                "respond": {
                    "text": "Counted.",
                    "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 3},
                }
            },
        )
    )

    reply = llm.invoke("Count me")

    assert isinstance(reply, AIMessage)
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == 11
    assert reply.usage_metadata["output_tokens"] == 3
    assert reply.usage_metadata["total_tokens"] == 14


def test_stream_reads_the_json_array(mock: MockVertexServer, llm: ChatVertexAI) -> None:
    text = "LangChain streams this answer in pieces over the array framing of the REST transport."
    mock.add_scenario(say("stream", text))

    pieces = [chunk.content for chunk in llm.stream("Stream it")]

    assert "".join(str(p) for p in pieces) == text
    assert sum(1 for p in pieces if p) == mock.journal()[0].chunks_sent
    (exchange,) = mock.journal()
    assert exchange.path == f"{PATH}:streamGenerateContent"
    assert (exchange.framing, exchange.outcome) == ("array", "ok")


def test_bind_tools_surfaces_the_scripted_function_call(
    mock: MockVertexServer, llm: ChatVertexAI
) -> None:
    mock.add_scenario(
        scenario(
            "weather",
            {"respond": {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}},
            {"respond": {"text": "It is sunny in Paris."}},
            hasTools=True,
        )
    )
    with_tools = llm.bind_tools([get_weather])
    question = HumanMessage("What is the weather in Paris?")

    call = with_tools.invoke([question])

    assert isinstance(call, AIMessage)
    (tool_call,) = call.tool_calls
    assert tool_call["name"] == "get_weather"
    assert tool_call["args"] == {"city": "Paris"}
    # LangChain gives each tool call an id of its own (a uuid), whatever the response says.
    assert tool_call["id"]
    declared = mock.journal()[0].request
    assert declared is not None
    (declaration,) = declared["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "get_weather"
    assert declaration["parameters"]["properties"] == {"city": {"type": "STRING"}}

    result = ToolMessage(
        content=get_weather.invoke(tool_call["args"]), tool_call_id=tool_call["id"]
    )
    answer = with_tools.invoke([question, call, result])

    assert answer.content == "It is sunny in Paris."
    sent = mock.journal()[1].request
    assert sent is not None
    assert sent["contents"][1]["parts"][0]["functionCall"]["name"] == "get_weather"
    response = sent["contents"][2]["parts"][0]["functionResponse"]
    assert response["name"] == "get_weather"
    assert "sunny in Paris" in str(response["response"])


def test_429_raises_with_no_retries(mock: MockVertexServer, llm: ChatVertexAI) -> None:
    mock.add_scenario(fail(429, "Slow down.", name="quota"))

    with pytest.raises(exceptions.TooManyRequests) as caught:
        llm.invoke("Hi")

    assert caught.value.message.endswith(": Slow down.")
    assert [e.status for e in mock.journal()] == [429]
