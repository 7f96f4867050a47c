"""Tests for mockvertex.contract.wire: exact bytes, round trips, strictness, real SDK parsers."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import yarl
from google.api_core import rest_streaming
from google.genai._api_client import HttpResponse
from google.protobuf import json_format, struct_pb2  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from mockvertex.contract.api import StreamMode, stream_mode, unary_int_enums
from mockvertex.contract.errors import InvalidArgument, ResourceExhausted
from mockvertex.contract.wire import (
    ArrayDecoder,
    ArrayWriter,
    Framing,
    FramingError,
    SSEDecoder,
    decode_array,
    decode_sse,
    decode_unary,
    encode_array,
    encode_error,
    encode_pretty,
    encode_sse_event,
    encode_unary,
    is_error_chunk,
)

# Two chunk lines of the seed doc's banana-bread SSE sample, verbatim after "data: ".
SEED_FIRST = (
    '{"candidates": [{"content": {"role": "model","parts": [{"text": "Ingredients:\\n\\n'
    '- 3 ripe bananas, mashed\\n- 1 cup sugar"}]},"safetyRatings": [{"category": '
    '"HARM_CATEGORY_HARASSMENT","probability": "NEGLIGIBLE"},{"category": '
    '"HARM_CATEGORY_HATE_SPEECH","probability": "NEGLIGIBLE"},{"category": '
    '"HARM_CATEGORY_SEXUALLY_EXPLICIT","probability": "NEGLIGIBLE"},{"category": '
    '"HARM_CATEGORY_DANGEROUS_CONTENT","probability": "NEGLIGIBLE"}]}]}'
)
SEED_LAST = (
    '{"candidates": [{"content": {"role": "model","parts": [{"text": " prepared loaf pan and '
    "bake for 50-60 minutes, or until a toothpick inserted into the center comes out clean.\\n5."
    " Let the bread cool in the pan for 10 minutes before turning it out onto a wire rack to "
    'cool completely."}]},"finishReason": "STOP","safetyRatings": [{"category": '
    '"HARM_CATEGORY_HARASSMENT","probability": "NEGLIGIBLE"},{"category": '
    '"HARM_CATEGORY_HATE_SPEECH","probability": "NEGLIGIBLE"},{"category": '
    '"HARM_CATEGORY_SEXUALLY_EXPLICIT","probability": "NEGLIGIBLE"},{"category": '
    '"HARM_CATEGORY_DANGEROUS_CONTENT","probability": "NEGLIGIBLE"}],"citationMetadata": '
    '{"citations": [{"startIndex": 666,"endIndex": 796,"uri": '
    '"https://dessertdonelight.com/healthy-hawaiian-banana-bread/"},{"startIndex": 728,'
    '"endIndex": 851,"uri": "https://earlsgrocery.com/gluten-free-bread/gluten-free-yeast-'
    'free-bread-healthy-and-nutition"}]}}],"usageMetadata": {"promptTokenCount": 8,'
    '"candidatesTokenCount": 245,"totalTokenCount": 253}}'
)
SEED_CHUNKS = [json.loads(SEED_FIRST), json.loads(SEED_LAST)]


# ------------------------------------------------------------------------------- strategies

_NASTY = [
    "{",
    "}",
    "[",
    "]",
    '"',
    "\\",
    "\\n",
    "\n",
    "\r",
    "\r\n\r\n",
    "data: ",
    "data:",
    ":",
    ",",
    "\n,\r\n",
    "é",
    "日本語",
    "😀",
    "\u2028",
    "\u2029",
    "\x85",
    "\x00",
    "\t",
    "\ufeff",
]
_text = st.one_of(
    st.text(),
    st.lists(st.sampled_from(_NASTY) | st.text(max_size=3), max_size=8).map("".join),
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A named function, not a lambda: Hypothesis checks that ``extend`` uses its argument by
    # reading its source, and two identical lambdas in one file made that check misfire.
    return st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4)


def _small_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3)


_json = st.recursive(_scalars, _containers, max_leaves=12)
json_objects = st.dictionaries(_text, _json, max_size=5)
chunk_lists = st.lists(json_objects, max_size=5)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


cut_lists = st.lists(st.integers(min_value=0, max_value=10**6), max_size=12)


def _feed_all(decoder: SSEDecoder | ArrayDecoder, pieces: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for piece in pieces:
        out += decoder.feed(piece)
    return out + decoder.close()


def _sse(objs: list[Any]) -> bytes:
    return b"".join(encode_sse_event(o) for o in objs)


# ------------------------------------------------------------------------------- exact bytes


@pytest.mark.parametrize("line", [SEED_FIRST, SEED_LAST])
def test_sse_event_reproduces_seed_bytes(line: str) -> None:
    assert encode_sse_event(json.loads(line)) == b"data: " + line.encode() + b"\r\n\r\n"


def test_sse_event_uses_google_spacing_on_one_line() -> None:
    event = encode_sse_event(SEED_CHUNKS[0])
    assert event.startswith(b'data: {"candidates": [{"content": {"role": "model","parts": ')
    assert event.endswith(b"}\r\n\r\n")
    assert event.count(b"\n") == 2
    assert event.count(b"\r") == 2


# Text made of the characters that decide where a key's colon is: quotes, colons, backslashes
# and the structural characters before an opening quote.
_KEYISH = st.text(st.sampled_from(['"', ":", "\\", ",", "[", "{", "}", "a", " ", "é"]), max_size=8)
_KEYISH_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _KEYISH,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYISH, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300)
@given(_KEYISH_JSON)
def test_sse_event_is_the_json_modules_google_spacing(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ": "))
    assert encode_sse_event(value) == b"data: " + expected.encode() + b"\r\n\r\n"


@pytest.mark.parametrize(
    "value",
    [":", {"a": ":"}, {":": ":"}, [":x", {"": ":"}], {"k": 'say ":" twice'}, {"a\\": 1}],
)
def test_sse_event_spacing_with_colons_inside_strings(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ": "))
    assert encode_sse_event(value) == b"data: " + expected.encode() + b"\r\n\r\n"


def test_sse_event_keeps_non_ascii_raw_utf8() -> None:
    assert encode_sse_event({"text": "é😀"}) == 'data: {"text": "é😀"}\r\n\r\n'.encode()


def test_line_separator_characters_are_escaped() -> None:
    obj = {"text": "a\u2028b\u2029c\x85d"}
    event = encode_sse_event(obj)
    assert event == b'data: {"text": "a\\u2028b\\u2029c\\u0085d"}\r\n\r\n'
    assert b"\xe2\x80\xa8" not in encode_pretty(obj)
    assert decode_sse(event) == [obj]


def test_pretty_and_unary_bodies() -> None:
    body = {"totalTokens": 3, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}]}
    expected = (
        b'{\n  "totalTokens": 3,\n  "promptTokensDetails": [\n    {\n'
        b'      "modality": "TEXT",\n      "tokenCount": 3\n    }\n  ]\n}'
    )
    assert encode_pretty(body) == expected
    assert encode_unary(body) == expected
    assert encode_unary({"a": "ü"}) == '{\n  "a": "ü"\n}'.encode()


def test_array_encoding_exact() -> None:
    assert encode_array([{"a": 1}, {"b": [2]}]) == (
        b'[{\n  "a": 1\n}\n,\r\n{\n  "b": [\n    2\n  ]\n}\n]'
    )


def test_array_encoding_of_seed_chunks() -> None:
    body = encode_array(SEED_CHUNKS)
    assert body.startswith(b'[{\n  "candidates": [\n    {\n      "content": {\n')
    assert body.count(b"\n,\r\n") == 1
    assert body.endswith(b"}\n]")
    assert decode_array(body) == SEED_CHUNKS


def test_array_error_envelope_exact() -> None:
    body = encode_error(ResourceExhausted(), Framing.ARRAY)
    assert body == (
        b'[{\n  "error": {\n    "code": 429,\n    "message": "Resource exhausted. Please try '
        b"again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/"
        b'error-code-429 for more details.",\n    "status": "RESOURCE_EXHAUSTED"\n  }\n}\n]'
    )
    assert decode_array(body) == [ResourceExhausted().to_envelope()]


@pytest.mark.parametrize("framing", [Framing.UNARY, Framing.SSE])
def test_error_body_outside_array_mode_is_the_plain_envelope(framing: Framing) -> None:
    err = InvalidArgument("bad")
    assert encode_error(err, framing) == err.to_json().encode()


def test_array_writer_pieces() -> None:
    writer = ArrayWriter()
    assert writer.item({"a": 1}) == b'[{\n  "a": 1\n}'
    assert writer.item({"b": 2}) == b'\n,\r\n{\n  "b": 2\n}'
    assert writer.count == 2
    assert writer.close() == b"\n]"
    with pytest.raises(ValueError, match="closed"):
        writer.item({})


def test_array_writer_misuse() -> None:
    writer = ArrayWriter()
    with pytest.raises(ValueError, match="before first"):
        writer.next({})
    assert writer.first({}) == b"[{}"
    with pytest.raises(ValueError, match="after an object"):
        writer.first({})


def test_empty_array() -> None:
    assert ArrayWriter().close() == b"[]"
    assert encode_array([]) == b"[]"
    assert decode_array(b"[]") == []


def test_content_types() -> None:
    assert Framing.SSE.content_type == "text/event-stream"
    assert Framing.ARRAY.content_type == "application/json; charset=UTF-8"
    assert Framing.UNARY.content_type == "application/json; charset=UTF-8"


def test_nan_is_not_encoded() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        encode_sse_event({"x": float("nan")})


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"error": {"code": 500}}, True),
        ({"candidates": [], "error": None}, True),
        ({"candidates": []}, False),
        ([{"error": {}}], False),
        ("error", False),
    ],
)
def test_is_error_chunk(obj: Any, *, expected: bool) -> None:
    assert is_error_chunk(obj) is expected


# ------------------------------------------------------------------------------- round trips


@given(chunk_lists)
def test_sse_round_trip(objs: list[dict[str, Any]]) -> None:
    assert decode_sse(_sse(objs)) == objs


@given(chunk_lists)
def test_array_round_trip(objs: list[dict[str, Any]]) -> None:
    assert decode_array(encode_array(objs)) == objs


@given(chunk_lists, cut_lists)
def test_sse_incremental_any_split(objs: list[dict[str, Any]], cuts: list[int]) -> None:
    decoder = SSEDecoder()
    assert _feed_all(decoder, _split(_sse(objs), cuts)) == objs
    assert decoder.separators_seen == ({b"\r\n\r\n"} if objs else set())
    assert decoder.events == len(objs)


@given(chunk_lists, cut_lists)
def test_array_incremental_any_split(objs: list[dict[str, Any]], cuts: list[int]) -> None:
    decoder = ArrayDecoder()
    assert _feed_all(decoder, _split(encode_array(objs), cuts)) == objs
    assert decoder.items == len(objs)
    assert decoder.bytes_after_close == 0


@given(chunk_lists, cut_lists, st.sampled_from([b"\n", b"\r"]))
def test_sse_other_line_endings(objs: list[dict[str, Any]], cuts: list[int], eol: bytes) -> None:
    # Encoded JSON holds no raw CR or LF, so this rewrites only the framing.
    body = _sse(objs).replace(b"\r\n", eol)
    decoder = SSEDecoder()
    assert _feed_all(decoder, _split(body, cuts)) == objs
    assert decoder.separators_seen == ({eol + eol} if objs else set())


def test_array_decoder_byte_by_byte_through_multibyte_and_escapes() -> None:
    objs = [{"t": 'é😀 \\"}{ \u2028'}, {"u": ["]", "[", "\\\\"]}]
    body = encode_array(objs)
    decoder = ArrayDecoder()
    assert _feed_all(decoder, [body[i : i + 1] for i in range(len(body))]) == objs


# ------------------------------------------------------------------------------- SSE decoding


def test_sse_lf_lf() -> None:
    assert decode_sse(b'data: {"a": 1}\n\ndata: {"b": 2}\n\n') == [{"a": 1}, {"b": 2}]


def test_sse_crlf_split_across_feeds() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\r\n\r") == []
    assert decoder.feed(b"\ndata: 2\r\n\r\n") == [1, 2]
    assert decoder.separators_seen == {b"\r\n\r\n"}


def test_sse_cr_cr_split_across_feeds() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\r") == []
    assert decoder.feed(b"\rdata: 2\r\r") == [1]  # the last CR may still pair with an LF
    assert decoder.close() == [2]
    assert decoder.separators_seen == {b"\r\r"}


def test_sse_final_event_without_blank_line_is_flushed_on_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\r\n\r\ndata: 2\r\n") == [1]
    assert decoder.close() == [2]


def test_sse_final_lone_cr_ends_the_line() -> None:
    assert decode_sse(b"data: 7\r") == [7]


def test_sse_half_line_at_close_fails() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: 1\r\n\r\ndata: {"a"') == [1]
    with pytest.raises(FramingError, match="inside a line"):
        decoder.close()


def test_sse_multiple_data_lines_join_with_newline() -> None:
    assert decode_sse(b'data: {"a":\r\ndata: [1,\r\ndata:2]}\r\n\r\n') == [{"a": [1, 2]}]


def test_sse_data_without_space_and_only_one_space_stripped() -> None:
    assert decode_sse(b'data:{"a": 1}\n\n') == [{"a": 1}]
    assert decode_sse(b'data:  "x"\n\n') == ["x"]


def test_sse_comments_and_fields_are_recorded_not_decoded() -> None:
    decoder = SSEDecoder()
    body = b": keepalive\r\n\r\nevent: message\r\nid: 7\r\ndata: 1\r\n\r\nretry: 10\r\n\r\n"
    assert _feed_all(decoder, [body]) == [1]
    assert decoder.comments == 1
    assert decoder.events_with_fields == [
        (0, {"event": "message", "id": "7"}),
        (1, {"retry": "10"}),
    ]


def test_sse_unknown_field_line_fails() -> None:
    with pytest.raises(FramingError, match="not an SSE field"):
        decode_sse(b'{\n  "error": {}\n}')


def test_sse_malformed_json_names_event_and_text() -> None:
    body = b'data: {"a": 1}\r\n\r\ndata: {"b": oops}\r\n\r\n'
    with pytest.raises(FramingError, match=r"SSE event 1: invalid JSON.*oops"):
        decode_sse(body)


def test_sse_long_bad_text_is_truncated_in_message() -> None:
    with pytest.raises(FramingError) as info:
        decode_sse(b"data: " + b"x" * 5000 + b"\n\n")
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_sse_non_json_constants_fail(constant: bytes) -> None:
    with pytest.raises(FramingError, match="invalid JSON"):
        decode_sse(b'data: {"x": ' + constant + b"}\n\n")


def test_sse_invalid_utf8_fails() -> None:
    with pytest.raises(FramingError, match="UTF-8"):
        decode_sse(b'data: "\xff"\n\n')


def test_sse_leading_bom_is_stripped() -> None:
    assert decode_sse(b"\xef\xbb\xbfdata: 1\n\n") == [1]


def test_sse_feed_after_close_fails() -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(FramingError, match="after close"):
        decoder.feed(b"data: 1\n\n")


def test_sse_empty_body_is_no_events() -> None:
    assert decode_sse(b"") == []


# ------------------------------------------------------------------------------- array strictness


@pytest.mark.parametrize("body", [b" []", b"\n[{}]", b"\r\n[]", b"{}", b"data: {}"])
def test_array_first_byte_must_be_bracket(body: bytes) -> None:
    with pytest.raises(FramingError, match="must start with"):
        decode_array(body)


@pytest.mark.parametrize("body", [b"[]x", b'[{"a": 1}\n],', b"[{}]]", b"[{}] {}"])
def test_array_bytes_after_close_fail(body: bytes) -> None:
    with pytest.raises(FramingError, match="after ']'"):
        decode_array(body)


def test_array_whitespace_after_close_is_counted() -> None:
    decoder = ArrayDecoder()
    assert _feed_all(decoder, [b"[{}]", b"\r\n"]) == [{}]
    assert decoder.bytes_after_close == 2


@pytest.mark.parametrize("body", [b"", b"[", b'[{"a": 1}', b'[{"a": 1}\n,\r\n', b'[{"a": "}'])
def test_array_missing_close_fails_on_close(body: bytes) -> None:
    decoder = ArrayDecoder()
    decoder.feed(body)
    with pytest.raises(FramingError, match=r"^Unfinished stream: "):
        decoder.close()


@pytest.mark.parametrize("body", [b"[{},]", b"[1]", b"[{}{}]", b'["x"]', b"[,{}]", b"[[{}]]"])
def test_array_grammar_violations(body: bytes) -> None:
    with pytest.raises(FramingError, match="unexpected byte"):
        decode_array(body)


def test_array_malformed_object_names_item() -> None:
    with pytest.raises(FramingError, match=r"array item 1: invalid JSON.*nope"):
        decode_array(b'[{"a": 1}\n,\r\n{"b": nope}\n]')


def test_array_invalid_utf8_fails() -> None:
    with pytest.raises(FramingError, match="UTF-8"):
        decode_array(b'[{"a": "\xc3"}]')


def test_array_whitespace_between_tokens_is_free() -> None:
    assert decode_array(b'[ \r\n{ } ,\t{"a" : [ ]} \n]') == [{}, {"a": []}]


# ------------------------------------------------------------------------------- alt parameter


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, StreamMode(Framing.ARRAY, int_enums=False)),
        ({"alt": "json"}, StreamMode(Framing.ARRAY, int_enums=False)),
        ({"$alt": "json"}, StreamMode(Framing.ARRAY, int_enums=False)),
        ({"alt": "sse"}, StreamMode(Framing.SSE, int_enums=False)),
        ({"$alt": "json;enum-encoding=int"}, StreamMode(Framing.ARRAY, int_enums=True)),
        ({"alt": "json;enum-encoding=int"}, StreamMode(Framing.ARRAY, int_enums=True)),
        ({"alt": "sse;enum-encoding=int"}, StreamMode(Framing.SSE, int_enums=True)),
        ({"alt": "sse", "$alt": "sse", "key": "k"}, StreamMode(Framing.SSE, int_enums=False)),
    ],
)
def test_stream_mode(query: dict[str, str], expected: StreamMode) -> None:
    assert stream_mode(query) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("proto", "Invalid value \"proto\" for query parameter 'alt'"),
        ("garbage", "Invalid value \"garbage\" for query parameter 'alt'"),
        ("", "Invalid value \"\" for query parameter 'alt'"),
        ("SSE", "Invalid value \"SSE\" for query parameter 'alt'"),
        ("json;enum-encoding=str", 'Invalid value "json;enum-encoding=str" for query'),
        ("media", 'Unsupported alt type "media" for non byte stream request.'),
    ],
)
def test_stream_mode_rejects_other_alt_values(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        stream_mode({"alt": value})
    assert info.value.message.startswith(message)
    assert info.value.http_status == 400


def test_conflicting_alt_and_dollar_alt_fail() -> None:
    with pytest.raises(InvalidArgument, match="Conflicting"):
        stream_mode({"alt": "sse", "$alt": "json"})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, False),
        ({"alt": "json"}, False),
        ({"$alt": "json;enum-encoding=int"}, True),
        ({"alt": "json;enum-encoding=int"}, True),
    ],
)
def test_unary_int_enums(query: dict[str, str], *, expected: bool) -> None:
    assert unary_int_enums(query) is expected


@pytest.mark.parametrize("value", ["sse", "proto", "media", "x"])
def test_unary_rejects_non_json_alt(value: str) -> None:
    with pytest.raises(InvalidArgument):
        unary_int_enums({"alt": value})


# ------------------------------------------------------------------------------- real SDKs


class _FakeAdapter(requests.adapters.BaseAdapter):
    """A requests transport that answers every request with one canned body, offline."""

    def __init__(self, body: bytes, content_type: str) -> None:
        super().__init__()
        self.body = body
        self.content_type = content_type
        self.urls: list[str] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        assert request.url is not None
        self.urls.append(request.url)
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = self.content_type
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.raw = io.BytesIO(self.body)
        response.request = request
        response.url = request.url
        return response

    def close(self) -> None:
        pass


def _gapic_stream(body: bytes) -> tuple[list[Any], str]:
    """Run the real aiplatform gapic REST client's streamGenerateContent against ``body``."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    client = aiplatform_v1.PredictionServiceClient(
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        transport="rest",
        client_options={"api_endpoint": "http://mock.invalid"},
    )
    adapter = _FakeAdapter(body, Framing.ARRAY.content_type)
    client._transport._session.mount("http://", adapter)  # type: ignore[attr-defined]
    chunks = list(
        client.stream_generate_content(
            model="projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash",
            contents=[aiplatform_v1.Content(role="user", parts=[aiplatform_v1.Part(text="hi")])],
        )
    )
    return chunks, adapter.urls[0]


def test_gapic_rest_client_parses_our_array_and_sends_dollar_alt() -> None:
    chunks, url = _gapic_stream(encode_array(SEED_CHUNKS))
    assert url.endswith(":streamGenerateContent?%24alt=json%3Benum-encoding%3Dint")
    assert len(chunks) == 2
    assert chunks[0].candidates[0].content.parts[0].text.startswith("Ingredients:\n\n- 3 ripe")
    assert chunks[1].candidates[0].finish_reason.name == "STOP"
    assert chunks[1].usage_metadata.total_token_count == 253
    # The exact query, decoded the way aiohttp (yarl) decodes it, selects array + int enums.
    query = dict(yarl.URL(url).query)
    assert query == {"$alt": "json;enum-encoding=int"}
    assert stream_mode(query) == StreamMode(Framing.ARRAY, int_enums=True)


def test_gapic_rest_client_rejects_bytes_after_close_as_we_do() -> None:
    body = encode_array(SEED_CHUNKS) + b"\n"
    with pytest.raises(FramingError):
        decode_array(body + b"x")
    # api_core fails on any byte after "]" (it arrives as a chunk of its own), so the mock
    # must never write one; decode_array only tolerates whitespace and counts it.
    with pytest.raises(ValueError, match="Can only parse array"):
        _gapic_stream(body)


class _StrChunks:
    """A stand-in for requests.Response: iter_content yields the given text pieces."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces

    def iter_content(self, *, decode_unicode: bool) -> Iterator[str]:
        assert decode_unicode
        return iter(self.pieces)

    def close(self) -> None:
        pass


@settings(max_examples=60)
@given(
    st.lists(
        st.dictionaries(
            _text,
            st.recursive(
                st.none() | st.booleans() | st.integers(-1000, 1000) | _text,
                _small_containers,
                max_leaves=8,
            ),
            max_size=4,
        ),
        max_size=4,
    ),
    cut_lists,
)
def test_api_core_parser_agrees_with_ours(objs: list[dict[str, Any]], cuts: list[int]) -> None:
    text = encode_array(objs).decode("utf-8")
    points = sorted({c % len(text) for c in cuts} - {0})
    pieces = [text[a:b] for a, b in itertools.pairwise([0, *points, len(text)])]
    iterator = rest_streaming.ResponseIterator(_StrChunks(pieces), struct_pb2.Struct)  # type: ignore[arg-type]
    parsed = [json_format.MessageToDict(m) for m in iterator]
    assert parsed == objs == decode_array(text.encode("utf-8"))


def _genai_segments(pieces: list[bytes]) -> list[Any]:
    class _Pieces(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            return iter(pieces)

    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Pieces())
    return list(HttpResponse({}, response).segments())


@settings(max_examples=60)
@given(chunk_lists, cut_lists)
def test_genai_parser_agrees_with_ours(objs: list[dict[str, Any]], cuts: list[int]) -> None:
    pieces = [p for p in _split(_sse(objs), cuts) if p]
    assert _genai_segments(pieces) == objs == decode_sse(b"".join(pieces))


def test_genai_parser_needs_the_line_separator_escape() -> None:
    raw = b'data: {"t": "a' + "\u2028".encode() + b'b"}\r\n\r\n'
    assert decode_sse(raw) == [{"t": "a\u2028b"}]  # the SSE spec splits only on CR/LF
    with pytest.raises(ValueError, match="Failed to parse"):
        _genai_segments([raw])
    assert _genai_segments([encode_sse_event({"t": "a\u2028b"})]) == [{"t": "a\u2028b"}]


def test_genai_client_streams_our_sse_end_to_end() -> None:
    from google import genai
    from google.genai import types

    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(
            200,
            headers={"content-type": Framing.SSE.content_type},
            stream=httpx.ByteStream(_sse(SEED_CHUNKS)),
        )

    client = genai.Client(
        vertexai=True,
        api_key="test-key",
        http_options=types.HttpOptions(
            base_url="http://mock.invalid",
            httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
        ),
    )
    out = list(client.models.generate_content_stream(model="gemini-2.0-flash", contents="hi"))
    assert [o.text for o in out] == [
        c["candidates"][0]["content"]["parts"][0]["text"] for c in SEED_CHUNKS
    ]
    assert out[1].usage_metadata is not None
    assert out[1].usage_metadata.total_token_count == 253
    query = dict(yarl.URL(urls[0]).query)
    assert stream_mode(query) == StreamMode(Framing.SSE, int_enums=False)


def test_genai_client_raises_on_our_mid_stream_error_event() -> None:
    from google import genai
    from google.genai import errors, types

    body = _sse([SEED_CHUNKS[0], ResourceExhausted().to_envelope()])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(body))

    client = genai.Client(
        vertexai=True,
        api_key="test-key",
        http_options=types.HttpOptions(
            base_url="http://mock.invalid",
            httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
        ),
    )
    stream = client.models.generate_content_stream(model="gemini-2.0-flash", contents="hi")
    assert next(stream).text is not None
    with pytest.raises(errors.ClientError) as info:
        next(stream)
    assert info.value.code == 429
    assert is_error_chunk(decode_sse(body)[1])


# --------------------------------------------------------------------------------------------
# The fast pretty printer writes what the standard library's indent=2 writes


_no_floats = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | _text,
    _containers,
    max_leaves=12,
)


@settings(max_examples=300)
@given(st.dictionaries(_text, _no_floats, max_size=5))
def test_pretty_bytes_equal_the_standard_librarys(obj: dict[str, Any]) -> None:
    expected = (
        json.dumps(obj, indent=2, ensure_ascii=False)
        .replace("\x85", "\\u0085")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
        .encode("utf-8")
    )
    assert encode_pretty(obj) == expected


@settings(max_examples=300)
@given(json_objects)
def test_pretty_output_decodes_to_the_same_value(obj: dict[str, Any]) -> None:
    assert json.loads(encode_pretty(obj)) == obj


# --------------------------------------------------------------------------------------------
# What a decoder had completed before a broken frame, and unary bodies


def test_sse_decoder_keeps_the_events_completed_before_a_broken_one() -> None:
    good = encode_sse_event({"n": 1}) + encode_sse_event({"n": 2})

    with pytest.raises(FramingError) as info:
        SSEDecoder().feed(good + b'data: {"candidates": [{\r\n\r\n')

    assert info.value.decoded == [{"n": 1}, {"n": 2}]


def test_array_decoder_keeps_the_items_completed_before_a_broken_one() -> None:
    writer = ArrayWriter()
    good = writer.item({"n": 1}) + writer.item({"n": 2})

    with pytest.raises(FramingError) as info:
        ArrayDecoder().feed(good + b"\n,\r\n{oops}")

    assert info.value.decoded == [{"n": 1}, {"n": 2}]


def test_decode_unary() -> None:
    assert decode_unary(encode_unary({"totalTokens": 3})) == {"totalTokens": 3}
    assert decode_unary(encode_error(ResourceExhausted(), Framing.UNARY))["error"]["code"] == 429


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"candidates": [{"content": {"role": "model", "parts": [{"text": "', "invalid JSON"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b"\xff{}", "UTF-8"),
        (b"<html>502 Bad Gateway</html>", "invalid JSON"),
    ],
)
def test_decode_unary_refuses_what_is_not_one_json_value(body: bytes, message: str) -> None:
    with pytest.raises(FramingError, match=message):
        decode_unary(body)
