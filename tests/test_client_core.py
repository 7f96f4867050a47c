"""Tests for mockvertex.client.core: requests built and bytes read, without a socket."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from mockvertex.client.core import (
    AttemptFailed,
    ChunkReader,
    Endpoint,
    check_locally,
    error_from_status,
    prepare,
    text_request,
    unary_value,
)
from mockvertex.client.retry import FailureKind
from mockvertex.contract import wire
from mockvertex.contract.errors import (
    Internal,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from mockvertex.contract.wire import Framing

MODEL = "gemini-2.0-flash"
MOCK = Endpoint.vertex(project="p", base_url="http://127.0.0.1:9/")


def _chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate]}


CHUNKS = [_chunk("Hello "), _chunk("world", "STOP")]


# --------------------------------------------------------------------------------------------
# Importing the client


def test_importing_the_client_pulls_in_no_server_and_no_transport() -> None:
    code = (
        "import sys, mockvertex.client as c\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aiohttp', 'requests', "
        "'mockvertex.server', 'mockvertex.engine'))))\n"
        "c.VertexClient, c.AsyncVertexClient, c.RetryPolicy\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aiohttp.web', "
        "'mockvertex.server', 'mockvertex.engine'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "[]"]


def test_the_package_lists_what_it_exports() -> None:
    import mockvertex.client as client

    assert [name for name in client.__all__ if not hasattr(client, name)] == []
    with pytest.raises(AttributeError):
        _ = client.MockVertexServer


# --------------------------------------------------------------------------------------------
# Where a call goes


@pytest.mark.parametrize(
    ("location", "base"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
    ],
)
def test_vertex_endpoints(location: str, base: str) -> None:
    endpoint = Endpoint.vertex(project="my-project", location=location)

    assert endpoint.url(MODEL, "generateContent") == (
        f"{base}/v1/projects/my-project/locations/{location}/publishers/google/models/"
        f"{MODEL}:generateContent"
    )


def test_any_base_url_and_api_version() -> None:
    endpoint = Endpoint.vertex(
        project=None, api_version="v1beta1", base_url="http://127.0.0.1:8080/"
    )

    assert endpoint.url(MODEL, "countTokens") == (
        f"http://127.0.0.1:8080/v1beta1/publishers/google/models/{MODEL}:countTokens"
    )


def test_a_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        Endpoint.vertex(project="p", base_url="ftp://example.com")


def test_streams_ask_for_sse_by_default_and_the_array_on_request() -> None:
    sse = prepare(MOCK, MODEL, "streamGenerateContent", "hi", framing=Framing.SSE)
    array = prepare(MOCK, MODEL, "streamGenerateContent", "hi", framing=Framing.ARRAY)

    assert sse.url.endswith(f"/models/{MODEL}:streamGenerateContent?alt=sse")
    assert array.url.endswith(f"/models/{MODEL}:streamGenerateContent")
    with pytest.raises(ValueError, match="cannot be framed"):
        prepare(MOCK, MODEL, "generateContent", "hi", framing=Framing.SSE)
    with pytest.raises(ValueError, match="cannot be framed"):
        prepare(MOCK, MODEL, "streamGenerateContent", "hi", framing=Framing.UNARY)


def test_a_prompt_string_becomes_one_user_turn() -> None:
    prepared = prepare(MOCK, MODEL, "generateContent", "Tell me about machine learning.")

    assert json.loads(prepared.body) == {
        "contents": [{"role": "user", "parts": [{"text": "Tell me about machine learning."}]}]
    }
    assert prepared.headers["Content-Type"] == "application/json"
    assert "Authorization" not in prepared.headers


def test_text_request_with_system_and_config() -> None:
    body = text_request("Hi", system_instruction="Be brief.", generation_config={"topK": 3})

    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"] == {"topK": 3}


def test_a_mapping_is_sent_as_given() -> None:
    request = {
        "contents": {"role": "user", "parts": {"text": "snake and single objects"}},
        "generation_config": {"max_output_tokens": 5},
    }

    prepared = prepare(MOCK, MODEL, "generateContent", request)

    assert json.loads(prepared.body) == request


def test_a_request_that_is_neither_text_nor_a_mapping_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="prompt string or a mapping"):
        prepare(MOCK, MODEL, "generateContent", ["hi"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Validation before sending


def test_a_bad_body_gets_vertexs_invalid_argument_locally() -> None:
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "bogus": 1}

    with pytest.raises(InvalidArgument) as caught:
        prepare(MOCK, MODEL, "generateContent", request)

    assert caught.value.message == (
        'Invalid JSON payload received. Unknown name "bogus": Cannot find field.'
    )
    assert caught.value.attempts == 0


def test_model_rules_are_checked_too() -> None:
    request = {**text_request("hi"), "generationConfig": {"topK": 50}}

    with pytest.raises(InvalidArgument) as caught:
        prepare(MOCK, "gemini-1.0-pro", "generateContent", request)

    assert caught.value.violations[0].field == "generation_config.top_k"


def test_nan_gets_the_front_ends_answer() -> None:
    request = {**text_request("hi"), "generationConfig": {"temperature": float("nan")}}

    with pytest.raises(InvalidArgument, match="Invalid JSON payload received"):
        prepare(MOCK, MODEL, "generateContent", request)


def test_a_model_mockvertex_does_not_know_is_vertexs_to_judge() -> None:
    prepared = prepare(MOCK, "gemini-9-ultra", "generateContent", "hi")
    with pytest.raises(InvalidArgument, match="Unknown name"):
        check_locally(
            b'{"contents": [], "bogus": 1}',
            model="gemini-9-ultra",
            rpc="generateContent",
            api_version="v1",
        )

    assert prepared.model == "gemini-9-ultra"


def test_validation_can_be_turned_off() -> None:
    prepared = prepare(MOCK, MODEL, "generateContent", {"bogus": 1}, validate=False)

    assert json.loads(prepared.body) == {"bogus": 1}


def test_count_tokens_bodies_are_validated_as_count_tokens_requests() -> None:
    prepare(MOCK, MODEL, "countTokens", {"contents": [], "model": "x", "instances": ["a"]})
    with pytest.raises(InvalidArgument):
        prepare(MOCK, MODEL, "countTokens", {"safetySettings": []})


def test_a_full_resource_name_is_validated_for_its_model_id() -> None:
    prepared = prepare(
        MOCK, "publishers/google/models/gemini-2.0-flash-001", "generateContent", "hi"
    )

    assert prepared.model == "gemini-2.0-flash-001"
    assert "/v1/publishers/google/models/gemini-2.0-flash-001:generateContent" in prepared.url


# --------------------------------------------------------------------------------------------
# Error replies


def test_an_error_envelope_becomes_its_typed_error() -> None:
    error = ResourceExhausted(details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo"}])
    body = wire.encode_error(error, Framing.UNARY)

    failed = error_from_status(429, {"Retry-After": "3", "X-Other": "x"}, body)

    assert isinstance(failed.error, ResourceExhausted)
    assert failed.error.message == ResourceExhausted.default_message
    assert failed.error.headers["Retry-After"] == "3"
    assert failed.failure.kind is FailureKind.STATUS
    assert failed.failure.http_status == 429
    assert failed.failure.retry_after == "3"
    assert failed.failure.details == tuple(error.details())


def test_an_array_wrapped_envelope_is_unwrapped() -> None:
    body = wire.encode_error(NotFound("no such model"), Framing.ARRAY)

    failed = error_from_status(404, {}, body)

    assert isinstance(failed.error, NotFound)
    assert failed.error.message == "no such model"


def test_a_reply_without_an_envelope_still_gets_a_typed_error() -> None:
    failed = error_from_status(502, {"retry-after": "1"}, b"<html>Bad Gateway</html>")

    assert failed.error.http_status == 502
    assert isinstance(failed.error, Internal)
    assert "<html>Bad Gateway</html>" in failed.error.message
    assert failed.failure.retry_after == "1"


def test_an_empty_error_body_gets_the_status_default_message() -> None:
    failed = error_from_status(503, {}, b"")

    assert isinstance(failed.error, Unavailable)
    assert failed.error.message == Unavailable.default_message


# --------------------------------------------------------------------------------------------
# Unary bodies


def test_unary_value() -> None:
    assert unary_value(wire.encode_unary({"totalTokens": 3})) == {"totalTokens": 3}


def test_an_error_envelope_in_a_200_body_raises() -> None:
    with pytest.raises(AttemptFailed) as caught:
        unary_value(wire.encode_unary(ResourceExhausted().to_envelope()))

    assert isinstance(caught.value.error, ResourceExhausted)
    assert caught.value.failure.http_status == 429


@pytest.mark.parametrize("body", [b'{"candidates": [{"content"', b"[1, 2]", b"\xff"])
def test_a_body_that_is_not_one_object_is_malformed(body: bytes) -> None:
    with pytest.raises(AttemptFailed) as caught:
        unary_value(body)

    assert isinstance(caught.value.error, Internal)
    assert caught.value.failure.kind is FailureKind.MALFORMED


# --------------------------------------------------------------------------------------------
# Streams


def _encoded(framing: Framing, chunks: list[dict[str, Any]]) -> bytes:
    if framing is Framing.SSE:
        return b"".join(wire.encode_sse_event(c) for c in chunks)
    return wire.encode_array(chunks)


@pytest.mark.parametrize("framing", [Framing.SSE, Framing.ARRAY])
def test_a_stream_fed_byte_by_byte_gives_every_chunk(framing: Framing) -> None:
    reader = ChunkReader(framing)
    body = _encoded(framing, CHUNKS)

    got = [chunk for i in range(len(body)) for chunk in reader.feed(body[i : i + 1])]
    got += reader.close()

    assert got == CHUNKS
    assert reader.finished
    assert reader.chunks == 2


@pytest.mark.parametrize("framing", [Framing.SSE, Framing.ARRAY])
def test_an_in_stream_error_raises_with_the_chunks_before_it(framing: Framing) -> None:
    error = ResourceExhausted().to_envelope()
    reader = ChunkReader(framing)

    with pytest.raises(AttemptFailed) as caught:
        reader.feed(_encoded(framing, [CHUNKS[0], error]))

    assert isinstance(caught.value.error, ResourceExhausted)
    assert caught.value.failure.kind is FailureKind.STATUS
    assert caught.value.failure.http_status == 429
    assert caught.value.chunks == [CHUNKS[0]]


def test_an_in_stream_error_without_a_usable_code_is_internal() -> None:
    with pytest.raises(AttemptFailed) as caught:
        ChunkReader(Framing.SSE).feed(wire.encode_sse_event({"error": {"message": "?"}}))

    assert caught.value.error.http_status == 500


def test_a_malformed_frame_raises_with_the_chunks_before_it() -> None:
    reader = ChunkReader(Framing.SSE)
    body = wire.encode_sse_event(CHUNKS[0]) + b'data: {"candidates": [{\r\n\r\n'

    with pytest.raises(AttemptFailed) as caught:
        reader.feed(body)

    assert isinstance(caught.value.error, Internal)
    assert caught.value.error.message.startswith("Malformed response: SSE event 1")
    assert caught.value.failure.kind is FailureKind.MALFORMED
    assert caught.value.chunks == [CHUNKS[0]]


def test_a_chunk_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(AttemptFailed) as caught:
        ChunkReader(Framing.SSE).feed(b"data: [1]\r\n\r\n")

    assert caught.value.failure.kind is FailureKind.MALFORMED


def test_an_array_without_its_closing_bracket_ended_early() -> None:
    writer = wire.ArrayWriter()
    reader = ChunkReader(Framing.ARRAY)
    assert reader.feed(writer.item(CHUNKS[0]) + writer.item(CHUNKS[1])) == CHUNKS

    with pytest.raises(AttemptFailed) as caught:
        reader.close()

    assert isinstance(caught.value.error, Unavailable)
    assert caught.value.failure.kind is FailureKind.CONNECTION
    assert "ended early" in caught.value.error.message


@pytest.mark.parametrize("framing", [Framing.SSE, Framing.ARRAY])
def test_a_clean_end_without_a_finish_reason_is_incomplete(framing: Framing) -> None:
    reader = ChunkReader(framing)
    assert reader.feed(_encoded(framing, [CHUNKS[0]])) == [CHUNKS[0]]

    with pytest.raises(AttemptFailed) as caught:
        reader.close()

    assert caught.value.failure.kind is FailureKind.CONNECTION
    assert caught.value.error.message == (
        "The stream ended after 1 chunks without a finishReason: the answer is incomplete."
    )


def test_an_empty_stream_is_incomplete() -> None:
    with pytest.raises(AttemptFailed, match="before any chunk"):
        ChunkReader(Framing.SSE).close()


def test_a_blocked_prompt_is_a_complete_stream() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}}
    reader = ChunkReader(Framing.SSE)

    assert reader.feed(wire.encode_sse_event(blocked)) == [blocked]
    assert reader.close() == []


def test_a_reader_is_for_streams_only() -> None:
    with pytest.raises(ValueError, match="SSE or array"):
        ChunkReader(Framing.UNARY)


def test_a_generate_content_reply_must_finish_the_answer() -> None:
    blocked = {"promptFeedback": {"blockReason": "OTHER"}}

    with pytest.raises(AttemptFailed) as caught:
        unary_value(b"{}", answer=True)

    assert isinstance(caught.value.error, Unavailable)
    assert caught.value.failure.kind is FailureKind.CONNECTION
    assert unary_value(wire.encode_unary(CHUNKS[1]), answer=True) == CHUNKS[1]
    assert unary_value(wire.encode_unary(blocked), answer=True) == blocked
    assert unary_value(b"{}") == {}  # countTokens bodies have no answer to finish
