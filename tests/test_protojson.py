"""Proto3 JSON parsing as Google's front end does it: names, lists, enums, scalars, syntax.

Each rule has a valid and an invalid case. Invalid cases go through ``validate_request``, so they
assert the whole error: its class, HTTP status, status name, exact message and field paths.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockvertex.contract import resources
from mockvertex.contract.errors import FieldViolation, InvalidArgument
from mockvertex.contract.protojson import (
    MessageType,
    compile_schema,
    decode_json,
    encode_int_enums,
    message_type,
    parse_message,
)
from mockvertex.contract.validation import validate_request

MODEL = "gemini-2.0-flash"
PAYLOAD = "Invalid JSON payload received."
THRESHOLD_TYPE = "type.googleapis.com/google.cloud.aiplatform.v1.SafetySetting.HarmBlockThreshold"
CONTENTS: list[dict[str, Any]] = [{"role": "user", "parts": [{"text": "Hi"}]}]


def request(**fields: Any) -> dict[str, Any]:
    """A valid generateContent body plus ``fields``."""
    return {"contents": CONTENTS, **fields}


def accept(body: Any, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("model", MODEL)
    return validate_request(body, **kwargs)


def reject(body: Any, **kwargs: Any) -> InvalidArgument:
    """The InvalidArgument ``body`` raises, after checking its class and status."""
    kwargs.setdefault("model", MODEL)
    with pytest.raises(InvalidArgument) as info:
        validate_request(body, **kwargs)
    exc = info.value
    assert type(exc) is InvalidArgument
    assert exc.http_status == 400
    assert exc.status == "INVALID_ARGUMENT"
    return exc


def fields(exc: InvalidArgument) -> list[str]:
    return [v.field for v in exc.violations]


def single(exc: InvalidArgument) -> tuple[str, str]:
    """(message, field path) of an error that must carry exactly one violation."""
    assert len(exc.violations) == 1
    assert exc.violations[0].description == exc.message
    return exc.message, exc.violations[0].field


def gcr() -> MessageType:
    return message_type("v1/GenerateContentRequest")


# ------------------------------------------------------------------------------ field names


def test_camel_and_snake_case_names_are_both_accepted_and_the_output_is_camel_case() -> None:
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inline_data": {"mime_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"text": "What is this?"},
                ],
            }
        ],
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "safety_settings": [
            {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}
        ],
        "generation_config": {"max_output_tokens": 100, "top_p": 0.5, "stop_sequences": ["x"]},
        "tools": [
            {
                "function_declarations": [
                    {"name": "f", "parameters": {"type": "OBJECT", "property_ordering": ["a"]}}
                ]
            }
        ],
        "tool_config": {"function_calling_config": {"mode": "ANY"}},
    }
    assert accept(body) == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                    {"text": "What is this?"},
                ],
            }
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "safetySettings": [
            {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}
        ],
        "generationConfig": {"maxOutputTokens": 100, "topP": 0.5, "stopSequences": ["x"]},
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "f", "parameters": {"type": "OBJECT", "propertyOrdering": ["a"]}}
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
    }


def test_a_misspelt_case_variant_is_an_unknown_name() -> None:
    message, path = single(reject(request(generation_config={"maxOutput_tokens": 5})))
    assert message == (
        f"{PAYLOAD} Unknown name \"maxOutput_tokens\" at 'generation_config': Cannot find field."
    )
    assert path == "generation_config"


def test_map_keys_and_struct_contents_keep_their_spelling() -> None:
    body = request(
        labels={"team_name": "ml"},
        tools=[
            {
                "function_declarations": [
                    {
                        "name": "f",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"city_name": {"type": "STRING"}},
                        },
                    }
                ]
            }
        ],
    )
    body["contents"] = [
        *CONTENTS,
        {
            "role": "model",
            "parts": [{"function_call": {"name": "f", "args": {"city_name": "Oslo"}}}],
        },
    ]
    out = accept(body)
    assert out["labels"] == {"team_name": "ml"}
    assert out["tools"][0]["functionDeclarations"][0]["parameters"]["properties"] == {
        "city_name": {"type": "STRING"}
    }
    assert out["contents"][1]["parts"][0] == {
        "functionCall": {"name": "f", "args": {"city_name": "Oslo"}}
    }


# ---------------------------------------------------------------- single values for lists


def test_a_single_object_or_scalar_where_a_list_is_expected_becomes_a_list() -> None:
    body = {
        "contents": {"role": "user", "parts": {"text": "Hi"}},
        "safety_settings": {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"},
        "generationConfig": {"stopSequences": "x", "responseModalities": "TEXT"},
    }
    assert accept(body) == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"}],
        "generationConfig": {"stopSequences": ["x"], "responseModalities": ["TEXT"]},
    }


def test_a_list_for_a_non_repeated_field_is_rejected() -> None:
    message, path = single(reject(request(generation_config={"temperature": [0.5]})))
    assert message == (
        f"{PAYLOAD} Unknown name \"temperature\" at 'generation_config': "
        "Proto field is not repeating, cannot start list."
    )
    assert path == "generation_config"


def test_a_list_for_a_non_repeated_top_level_field_has_no_path() -> None:
    message, path = single(reject(request(generationConfig=[{"temperature": 0.5}])))
    assert message == (
        f'{PAYLOAD} Unknown name "generationConfig": '
        "Proto field is not repeating, cannot start list."
    )
    assert path == ""


@pytest.mark.parametrize(
    ("contents", "path", "shown"),
    [
        (["Hi"], "contents[0]", '"Hi"'),
        ([CONTENTS[0], None], "contents[1]", "null"),
        ([CONTENTS[0], [CONTENTS[0]]], "contents[1]", '[{"role":"user","parts":[{"text":"Hi"}]}]'),
    ],
)
def test_a_repeated_message_item_that_is_not_an_object_is_an_invalid_value(
    contents: list[Any], path: str, shown: str
) -> None:
    message, got = single(reject({"contents": contents}))
    content_type = "type.googleapis.com/google.cloud.aiplatform.v1.Content"
    assert message == f"Invalid value at '{path}' ({content_type}), {shown}"
    assert got == path


def test_null_means_not_set() -> None:
    assert accept(request(generationConfig=None, tools=None)) == {"contents": CONTENTS}
    assert accept(request(generationConfig={"temperature": None})) == request(generationConfig={})


# ------------------------------------------------------------------------------------ enums


@pytest.mark.parametrize(
    "value", ["BLOCK_ONLY_HIGH", "block_only_high", "Block_Only_High", 3], ids=repr
)
def test_an_enum_is_accepted_by_name_in_any_case_or_by_number(value: Any) -> None:
    out = accept(request(safetySettings=[{"category": 1, "threshold": value}]))
    # The gapic REST transport was observed sending HATE_SPEECH as 1 and BLOCK_ONLY_HIGH as 3.
    assert out["safetySettings"] == [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}
    ]


def test_every_enum_number_in_the_schema_parses_to_its_name() -> None:
    spec = resources.schema("v1/GenerateContentRequest.schema.json")["$defs"]["HarmBlockThreshold"]
    numbers = spec["x-enum-numbers"]
    assert set(numbers) == set(spec["enum"])
    for name, number in numbers.items():
        out = accept(request(safetySettings=[{"threshold": number}]))
        assert out["safetySettings"] == [{"threshold": name}]


def test_the_lower_case_schema_type_the_seed_sample_sends_is_normalized() -> None:
    tool = {"function_declarations": [{"name": "find_movies", "parameters": {"type": "object"}}]}
    out = accept(request(tools=[tool]))
    assert out["tools"] == [
        {"functionDeclarations": [{"name": "find_movies", "parameters": {"type": "OBJECT"}}]}
    ]


def test_an_unknown_enum_name_is_an_invalid_value() -> None:
    exc = reject(
        request(safety_settings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFFF"}])
    )
    message, path = single(exc)
    assert (
        message == f"Invalid value at 'safety_settings[0].threshold' ({THRESHOLD_TYPE}), \"OFFF\""
    )
    assert path == "safety_settings[0].threshold"


def test_an_unknown_enum_number_is_an_invalid_value_quoting_the_number() -> None:
    message, path = single(reject(request(safetySettings=[{"threshold": 99}])))
    assert message == f"Invalid value at 'safety_settings[0].threshold' ({THRESHOLD_TYPE}), 99"
    assert path == "safety_settings[0].threshold"


@pytest.mark.parametrize(("value", "shown"), [(True, "true"), (1.5, "1.5"), ({}, "{}")])
def test_an_enum_of_the_wrong_json_type_is_an_invalid_value(value: Any, shown: str) -> None:
    message, _ = single(reject(request(safetySettings=[{"threshold": value}])))
    assert message == f"Invalid value at 'safety_settings[0].threshold' ({THRESHOLD_TYPE}), {shown}"


def test_a_bad_value_in_a_repeated_enum_is_reported_at_its_index() -> None:
    exc = reject(request(generationConfig={"responseModalities": ["TEXT", "SMELL"]}))
    message, path = single(exc)
    assert message == (
        "Invalid value at 'generation_config.response_modalities[1]' "
        '(type.googleapis.com/google.cloud.aiplatform.v1.GenerationConfig.Modality), "SMELL"'
    )
    assert path == "generation_config.response_modalities[1]"


# ----------------------------------------------------------------------------- unknown names


def test_an_unknown_top_level_field_has_no_path() -> None:
    exc = reject(request(foo=1))
    message, path = single(exc)
    assert message == f'{PAYLOAD} Unknown name "foo": Cannot find field.'
    assert path == ""
    assert exc.to_envelope()["error"]["details"][0]["fieldViolations"] == [{"description": message}]


def test_an_unknown_nested_field_names_its_parent() -> None:
    message, path = single(reject(request(generation_config={"foo": 1})))
    assert message == f"{PAYLOAD} Unknown name \"foo\" at 'generation_config': Cannot find field."
    assert path == "generation_config"


def test_an_unknown_name_is_quoted_as_sent() -> None:
    message, _ = single(reject(request(generation_config={"max_tokens": 5})))
    assert message == (
        f"{PAYLOAD} Unknown name \"max_tokens\" at 'generation_config': Cannot find field."
    )


def test_an_unknown_field_inside_a_map_value_is_reported_at_the_entry_index() -> None:
    properties = {"a": {"type": "STRING"}, "b": {"type": "STRING", "foo": 1}}
    tool = {
        "function_declarations": [
            {"name": "f", "parameters": {"type": "OBJECT", "properties": properties}}
        ]
    }
    message, path = single(reject(request(tools=[tool])))
    where = "tools[0].function_declarations[0].parameters.properties[1].value"
    assert message == f"{PAYLOAD} Unknown name \"foo\" at '{where}': Cannot find field."
    assert path == where


@pytest.mark.parametrize(
    ("body", "message", "where"),
    [
        (
            request(extra_body={"thinking": True}),
            f'{PAYLOAD} Unknown name "extra_body": Cannot find field.',
            "",
        ),
        (
            # As the front end answered {"thinkingConfig": {...}} before it knew the field
            # (googleapis/go-genai#83): at the parent, not at 'generation_config.thinking'.
            request(generation_config={"thinking": {"budget": 1024}}),
            f"{PAYLOAD} Unknown name \"thinking\" at 'generation_config': Cannot find field.",
            "generation_config",
        ),
    ],
)
def test_an_unknown_field_holding_an_object_is_reported_at_its_parents_path(
    body: dict[str, Any], message: str, where: str
) -> None:
    assert single(reject(body, api_version="v1")) == (message, where)


def test_an_object_for_a_scalar_field_names_the_field_as_sent() -> None:
    message, path = single(reject(request(generation_config={"max_output_tokens": {"v": 5}})))
    assert message == (
        f"{PAYLOAD} Unknown name \"max_output_tokens\" at 'generation_config': "
        "Starting an object on a scalar field"
    )
    assert path == "generation_config"


def test_an_unknown_object_inside_a_map_value_is_reported_at_the_entrys_value() -> None:
    # The front end's form for map entries: 'parameters.properties[2].value'
    # (python-aiplatform#4333), and an object-valued unknown field stops at its parent there.
    properties = {"a": {"type": "STRING"}, "b": {"type": "OBJECT", "extra": {"x": 1}}}
    tool = {
        "functionDeclarations": {
            "name": "f",
            "parameters": {"type": "OBJECT", "properties": properties},
        }
    }
    where = "tools[0].function_declarations[0].parameters.properties[1].value"
    assert single(reject(request(tools=tool))) == (
        f"{PAYLOAD} Unknown name \"extra\" at '{where}': Cannot find field.",
        where,
    )


def test_an_unknown_field_in_a_single_object_given_for_a_list_is_at_index_0() -> None:
    # The front end reads the single object as the list's only element, so it is quoted
    # as element [0] (inferred: no real message about such a body seen).
    body = {"contents": {"role": "user", "parts": {"text": "Hi", "extra": {"x": 1}}}}
    assert single(reject(body)) == (
        f"{PAYLOAD} Unknown name \"extra\" at 'contents[0].parts[0]': Cannot find field.",
        "contents[0].parts[0]",
    )


def test_an_object_for_a_maps_scalar_value_is_reported_at_the_entry() -> None:
    # A map entry is a message {key, value} at '<map>[i]'; its scalar value field is quoted
    # there (inferred from the '[i].value' form above).
    message, path = single(reject(request(labels={"team": "a", "cost": {"x": 1}})))
    assert message == (
        f"{PAYLOAD} Unknown name \"value\" at 'labels[1]': Starting an object on a scalar field"
    )
    assert path == "labels[1]"


def test_a_v1beta1_only_field_is_unknown_in_v1() -> None:
    # generationConfig.modelConfig exists only in the v1beta1 GenerationConfig schema.
    v1 = resources.schema("v1/GenerateContentRequest.schema.json")["$defs"]["GenerationConfig"]
    beta = resources.schema("v1beta1/GenerateContentRequest.schema.json")["$defs"][
        "GenerationConfig"
    ]
    assert "modelConfig" in beta["properties"]
    assert "modelConfig" not in v1["properties"]
    body = request(generationConfig={"modelConfig": {"featureSelectionPreference": "BALANCED"}})
    out = accept(body, api_version="v1beta1")
    assert out["generationConfig"] == {"modelConfig": {"featureSelectionPreference": "BALANCED"}}
    message, path = single(reject(body, api_version="v1"))
    assert message == (
        f"{PAYLOAD} Unknown name \"modelConfig\" at 'generation_config': Cannot find field."
    )
    assert path == "generation_config"


# ------------------------------------------------------------------------------- scalar types


@pytest.mark.parametrize(("value", "parsed"), [(0.5, 0.5), ("0.5", 0.5), (1, 1), ("1", 1)])
def test_a_float_accepts_numbers_and_numeric_strings(value: Any, parsed: float) -> None:
    out = accept(request(generationConfig={"temperature": value}))
    assert out["generationConfig"]["temperature"] == parsed


@pytest.mark.parametrize(("value", "shown"), [("hot", '"hot"'), (True, "true"), ({}, None)])
def test_a_float_rejects_other_values(value: Any, shown: str | None) -> None:
    message, path = single(reject(request(generation_config={"temperature": value})))
    if shown is None:  # an object: the front end cannot start an object on a scalar
        assert message == (
            f"{PAYLOAD} Unknown name \"temperature\" at 'generation_config': "
            "Starting an object on a scalar field"
        )
        assert path == "generation_config"
    else:
        assert message == f"Invalid value at 'generation_config.temperature' (TYPE_FLOAT), {shown}"
        assert path == "generation_config.temperature"


@pytest.mark.parametrize(("value", "parsed"), [(3, 3), (3.0, 3), ("3", 3), ("-2", -2)])
def test_an_int32_accepts_integral_numbers_and_strings(value: Any, parsed: int) -> None:
    out = validate_request(request(generationConfig={"seed": value}), model=MODEL)
    assert out["generationConfig"]["seed"] == parsed


@pytest.mark.parametrize(
    ("value", "shown"), [(1.5, "1.5"), ("1.5", '"1.5"'), (2**31, "2147483648"), ("x", '"x"')]
)
def test_an_int32_rejects_fractions_out_of_range_and_words(value: Any, shown: str) -> None:
    message, path = single(reject(request(generationConfig={"candidateCount": value})))
    assert message == f"Invalid value at 'generation_config.candidate_count' (TYPE_INT32), {shown}"
    assert path == "generation_config.candidate_count"


def _with_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return request(
        generationConfig={"responseMimeType": "application/json", "responseSchema": schema}
    )


def test_an_int64_accepts_a_string_or_a_number() -> None:
    out = accept(_with_schema({"type": "ARRAY", "minItems": "1", "maxItems": 9007199254740993}))
    assert out["generationConfig"]["responseSchema"] == {
        "type": "ARRAY",
        "minItems": 1,
        "maxItems": 9007199254740993,
    }


def test_an_int64_rejects_a_word() -> None:
    message, path = single(reject(_with_schema({"type": "ARRAY", "maxItems": "many"})))
    where = "generation_config.response_schema.max_items"
    assert message == f"Invalid value at '{where}' (TYPE_INT64), \"many\""
    assert path == where


def test_a_string_field_rejects_a_number() -> None:
    message, path = single(reject({"contents": [{"parts": [{"text": 5}]}]}))
    assert message == "Invalid value at 'contents[0].parts[0].text' (TYPE_STRING), 5"
    assert path == "contents[0].parts[0].text"


@pytest.mark.parametrize(("value", "parsed"), [(True, True), ("false", False)])
def test_a_bool_accepts_true_false_and_their_strings(value: Any, parsed: object) -> None:
    out = accept(request(generationConfig={"responseLogprobs": value}))
    assert out["generationConfig"]["responseLogprobs"] is parsed


def test_a_bool_rejects_a_number() -> None:
    message, _ = single(reject(request(generationConfig={"responseLogprobs": 1})))
    assert message == "Invalid value at 'generation_config.response_logprobs' (TYPE_BOOL), 1"


# --------------------------------------------------------------------------------- durations


def _video(metadata: dict[str, Any]) -> dict[str, Any]:
    part = {
        "file_data": {"mime_type": "video/mp4", "file_uri": "gs://b/v.mp4"},
        "video_metadata": metadata,
    }
    return {"contents": [{"role": "user", "parts": [part, {"text": "Describe"}]}]}


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("10s", "10s"),
        ("1.5s", "1.5s"),
        ({"seconds": 60}, "60s"),
        ({"seconds": "1", "nanos": 500000000}, "1.5s"),
    ],
    ids=repr,
)
def test_a_duration_accepts_the_string_and_the_object_form(value: Any, parsed: str) -> None:
    out = accept(_video({"start_offset": value}))
    assert out["contents"][0]["parts"][0]["videoMetadata"] == {"startOffset": parsed}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("10", "Illegal duration format; duration must end with 's'"),
        ("tens", "Invalid duration format, failed to parse seconds: tens"),
        (10, "10"),
    ],
)
def test_a_duration_rejects_other_forms(value: Any, reason: str) -> None:
    message, path = single(reject(_video({"start_offset": value})))
    where = "contents[0].parts[0].video_metadata.start_offset"
    assert (
        message
        == f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.Duration), {reason}"
    )
    assert path == where


# ------------------------------------------------------------------------------------- bytes


def _inline(data: str) -> dict[str, Any]:
    part = {"inline_data": {"mime_type": "image/png", "data": data}}
    return {"contents": [{"role": "user", "parts": [part, {"text": "What is it?"}]}]}


RAW = b"\xfb\xff\xfe-mock"


@pytest.mark.parametrize(
    "data",
    [
        base64.b64encode(RAW).decode(),
        base64.urlsafe_b64encode(RAW).decode(),
        base64.urlsafe_b64encode(RAW).decode().rstrip("="),
    ],
)
def test_bytes_accept_standard_url_safe_and_unpadded_base64_unchanged(data: str) -> None:
    assert "=" in base64.b64encode(RAW).decode()  # so the unpadded case is a real one
    out = accept(_inline(data))
    assert out["contents"][0]["parts"][0]["inlineData"]["data"] == data


@pytest.mark.parametrize("data", ["not base64!", "aGVsb"])
def test_bytes_reject_what_is_not_base64(data: str) -> None:
    message, path = single(reject(_inline(data)))
    where = "contents[0].parts[0].inline_data.data"
    assert (
        message == f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed for \"{data}\""
    )
    assert path == where


# ------------------------------------------------------------------------------ JSON syntax


def _caret(exc: InvalidArgument) -> tuple[str, int]:
    """The snippet line and the caret's column from an 'Unexpected token.' message."""
    head, snippet, caret = exc.message.split("\n")
    assert head == f"{PAYLOAD} Unexpected token."
    assert caret.strip() == "^"
    return snippet, caret.index("^")


@pytest.mark.parametrize(
    ("text", "offending"),
    [
        ('{"contents": [,]}', 14),
        ('{"contents": [1 2]}', 16),
        ('{"a": 1} x', 9),
        ('{"contents": [{"parts": {"text": "NaN"}}], "b": NaN}', 48),
        ('{"t": -Infinity}', 6),
        ('{"a": [1,], "b": }', 17),
        ("[1,,]", 3),
        ("{,}", 1),
    ],
)
def test_malformed_json_puts_the_caret_under_the_offending_character(
    text: str, offending: int
) -> None:
    exc = reject(text)
    assert exc.violations == ()
    snippet, column = _caret(exc)
    assert snippet == text
    assert column == offending
    assert text[offending] not in " \n"


def test_the_caret_is_on_the_offending_line_of_a_multi_line_body() -> None:
    text = '{\n  "contents": [\n    {"parts": {"text": "x"}} x\n  ]\n}'
    snippet, column = _caret(reject(text))
    assert snippet == '    {"parts": {"text": "x"}} x'
    assert snippet[column] == "x"
    assert column == 29


@given(st.text(max_size=200), st.sampled_from(["#", "}", "'", "NaN"]))
def test_the_caret_marks_the_bad_token_whatever_precedes_it(prefix: str, bad: str) -> None:
    text = '{"contents": {"parts": {"text": ' + json.dumps(prefix) + "}}, " + '"x": ' + bad + "}"
    snippet, column = _caret(reject(text))
    assert snippet[column:].startswith(bad)
    assert len(snippet) <= 64 + 16


def test_the_seed_pirate_sample_with_its_trailing_comma_is_accepted() -> None:
    text = """{
  "contents": [
    {"role": "USER", "parts": { "text": "Hello!" }},
    {"role": "MODEL", "parts": { "text": "Argh! What brings ye to my ship?" }},
    {"role": "USER", "parts": { "text": "Wow! You are a real-life priate!" }}
  ],
  "safety_settings": {
    "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "threshold": "BLOCK_LOW_AND_ABOVE"
  },
  "generation_config": {
    "temperature": 0.2,
    "topP": 0.8,
    "topK": 40,
    "maxOutputTokens": 200,
  }
}"""
    out = accept(text, model="gemini-1.0-pro")
    assert out["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.8,
        "topK": 40,
        "maxOutputTokens": 200,
    }
    assert [c["role"] for c in out["contents"]] == ["USER", "MODEL", "USER"]


def test_trailing_commas_inside_strings_are_left_alone() -> None:
    assert decode_json('{"a": ",]", "b": [1,],}') == {"a": ",]", "b": [1]}


@pytest.mark.parametrize("text", ["[]", '"x"', "1", "null", "true"])
def test_a_root_that_is_not_an_object_is_rejected(text: str) -> None:
    message, path = single(reject(text))
    assert message == f"{PAYLOAD} Root element must be a message."
    assert path == ""


@pytest.mark.parametrize("body", ["", b"", "  \n "])
def test_an_empty_body_is_rejected(body: str | bytes) -> None:
    exc = reject(body)
    assert exc.message == f"{PAYLOAD} Unexpected end of string. Expected a value."
    assert exc.violations == ()


def test_bytes_bodies_are_utf8_and_may_start_with_a_bom() -> None:
    text = json.dumps(request(), ensure_ascii=False).replace("Hi", "Grüß dich")
    assert accept(("\ufeff" + text).encode())["contents"][0]["parts"][0]["text"] == "Grüß dich"
    exc = reject(b'{"contents": "\xff"}')
    assert exc.message == f"{PAYLOAD} Unexpected token.\nInvalid UTF-8 at byte 14."


# --------------------------------------------------------------------- several violations


def test_every_violation_is_reported_in_one_error() -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Hi", "colour": "red"}]}],
        "generation_config": {"temperature": "hot", "candidate_count": 1.5},
        "safety_settings": [{"threshold": "OFFF"}],
        "foo": True,
    }
    exc = reject(body)
    expected = [
        FieldViolation(
            "contents[0].parts[0]",
            f"{PAYLOAD} Unknown name \"colour\" at 'contents[0].parts[0]': Cannot find field.",
        ),
        FieldViolation(
            "generation_config.temperature",
            "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\"",
        ),
        FieldViolation(
            "generation_config.candidate_count",
            "Invalid value at 'generation_config.candidate_count' (TYPE_INT32), 1.5",
        ),
        FieldViolation(
            "safety_settings[0].threshold",
            f"Invalid value at 'safety_settings[0].threshold' ({THRESHOLD_TYPE}), \"OFFF\"",
        ),
        FieldViolation("", f'{PAYLOAD} Unknown name "foo": Cannot find field.'),
    ]
    assert list(exc.violations) == expected
    assert exc.message == "\n".join(v.description for v in expected)
    assert exc.to_envelope() == {
        "error": {
            "code": 400,
            "message": exc.message,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        *({"field": v.field, "description": v.description} for v in expected[:-1]),
                        {"description": expected[-1].description},
                    ],
                }
            ],
        }
    }
    assert json.loads(exc.to_json()) == exc.to_envelope()


# ------------------------------------------------------------------- parse_message directly


def test_parse_message_returns_the_normalized_message_and_no_violations() -> None:
    out, violations = parse_message({"contents": {"parts": {"text": "x"}}}, gcr())
    assert out == {"contents": [{"parts": [{"text": "x"}]}]}
    assert violations == []


def test_parse_message_collects_violations_instead_of_raising() -> None:
    out, violations = parse_message({"contents": [], "foo": 1, "bar": {}}, gcr())
    assert out == {"contents": []}
    assert violations == [
        FieldViolation("", f'{PAYLOAD} Unknown name "foo": Cannot find field.'),
        FieldViolation("", f'{PAYLOAD} Unknown name "bar": Cannot find field.'),
    ]


def test_parse_message_rejects_a_non_object_root() -> None:
    assert parse_message([], gcr()) == (
        {},
        [FieldViolation("", f"{PAYLOAD} Root element must be a message.")],
    )


def test_message_type_is_compiled_once_per_schema() -> None:
    assert message_type("v1/GenerateContentRequest") is gcr()
    assert message_type("v1beta1/GenerateContentRequest") is not gcr()
    assert gcr().full_name == "google.cloud.aiplatform.v1.GenerateContentRequest"
    assert gcr().type_url == "type.googleapis.com/google.cloud.aiplatform.v1.GenerateContentRequest"


TINY_SCHEMA: dict[str, Any] = {
    "$ref": "#/$defs/Node",
    "$defs": {
        "Node": {
            "type": "object",
            "x-proto-message": "demo.Node",
            "properties": {
                "displayName": {"type": "string"},
                "colour": {"$ref": "#/$defs/Colour"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                "weight": {"type": "integer", "x-proto-type": "TYPE_INT64"},
            },
        },
        "Colour": {
            "type": "string",
            "enum": ["COLOUR_UNSPECIFIED", "RED", "BLUE"],
            "x-enum-numbers": {"COLOUR_UNSPECIFIED": 0, "RED": 1, "BLUE": 2},
            "x-proto-enum": "demo.Node.Colour",
        },
    },
}


def test_compile_schema_builds_a_recursive_message_from_any_schema_document() -> None:
    node = compile_schema(TINY_SCHEMA)
    assert node.full_name == "demo.Node"
    value = {"display_name": "root", "children": {"colour": 2, "weight": "7"}}
    assert parse_message(value, node) == (
        {"displayName": "root", "children": [{"colour": "BLUE", "weight": 7}]},
        [],
    )
    _, violations = parse_message({"children": [{"colour": "GREEN"}]}, node)
    assert violations == [
        FieldViolation(
            "children[0].colour",
            "Invalid value at 'children[0].colour' "
            '(type.googleapis.com/demo.Node.Colour), "GREEN"',
        )
    ]
    assert encode_int_enums({"colour": "RED", "children": [{"colour": "BLUE"}]}, node) == {
        "colour": 1,
        "children": [{"colour": 2}],
    }


# -------------------------------------------------------------------------- integer enums


def test_encode_int_enums_turns_response_enum_names_into_numbers() -> None:
    response: dict[str, Any] = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hi"}]},
                "finishReason": "STOP",
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}
                ],
            }
        ],
        "usageMetadata": {"promptTokenCount": 2, "promptTokensDetails": [{"modality": "TEXT"}]},
        "modelVersion": "gemini-2.0-flash-001",
    }
    msg = message_type("v1/GenerateContentResponse")
    assert encode_int_enums(response, msg) == {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hi"}]},
                "finishReason": 1,
                "safetyRatings": [{"category": 1, "probability": 1}],
            }
        ],
        "usageMetadata": {"promptTokenCount": 2, "promptTokensDetails": [{"modality": 1}]},
        "modelVersion": "gemini-2.0-flash-001",
    }
    assert response["candidates"][0]["finishReason"] == "STOP"  # the input is not modified


def test_encode_int_enums_leaves_unknown_names_and_unknown_keys_alone() -> None:
    msg = message_type("v1/GenerateContentResponse")
    body = {"candidates": [{"finishReason": "NOT_A_REASON"}], "extra": "STOP"}
    assert encode_int_enums(body, msg) == body


def _gapic_request() -> Any:
    """A request built with the installed gapic types (what the vertexai SDK sends)."""
    from google.cloud.aiplatform_v1 import types

    return types.GenerateContentRequest(
        contents=[types.Content(role="user", parts=[types.Part(text="Why is the sky blue?")])],
        system_instruction=types.Content(parts=[types.Part(text="One sentence.")]),
        safety_settings=[
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT,
                threshold=types.SafetySetting.HarmBlockThreshold.BLOCK_ONLY_HIGH,
            )
        ],
        generation_config=types.GenerationConfig(
            temperature=0.5,
            max_output_tokens=256,
            response_modalities=[types.GenerationConfig.Modality.TEXT],
        ),
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="get_weather",
                        parameters=types.Schema(
                            type_=types.Type.OBJECT,
                            properties={"city": types.Schema(type_=types.Type.STRING)},
                            required=["city"],
                        ),
                    )
                ]
            )
        ],
    )


def test_gapic_integer_enums_parse_to_what_protobuf_prints_with_names() -> None:
    from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]

    pb = type(_gapic_request()).pb(_gapic_request())
    as_ints = json.loads(json_format.MessageToJson(pb, use_integers_for_enums=True))
    as_names = json.loads(json_format.MessageToJson(pb))
    assert as_ints["safetySettings"][0]["threshold"] == 3
    assert accept(as_ints) == as_names
    assert encode_int_enums(as_names, gcr()) == as_ints


# ------------------------------------------------ property: any valid request normalizes


HARM_CATEGORIES = [
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
]
THRESHOLDS = ["BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE"]
# Keys that name fields; anything under these keys is user data (a Struct or a map) instead.
DATA_KEYS = frozenset({"args", "response", "labels", "properties"})

texts = st.text(min_size=1, max_size=40)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,20}", fullmatch=True)
blob = st.builds(
    lambda mime, raw: {"inlineData": {"mimeType": mime, "data": base64.b64encode(raw).decode()}},
    st.sampled_from(["image/png", "image/jpeg", "application/pdf", "text/plain"]),
    st.binary(min_size=1, max_size=24),
)
file_data = st.builds(
    lambda mime, path: {"fileData": {"mimeType": mime, "fileUri": f"gs://bucket/{path}"}},
    st.sampled_from(["image/png", "video/mp4", "application/pdf"]),
    st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
)
json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | texts
function_call = st.builds(
    lambda name, args: {"functionCall": {"name": name, "args": args}},
    names,
    st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), json_scalars, max_size=3),
)
parts = st.one_of(st.builds(lambda t: {"text": t}, texts), blob, file_data, function_call)


def _in_turn_order(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function calls kept only where Vertex takes them: in a turn right after a user turn
    (no role is user); elsewhere each becomes a text part."""
    out = []
    for i, turn in enumerate(turns):
        after_user = i > 0 and str(turns[i - 1].get("role", "user")).lower() == "user"
        if not after_user:
            plain = [{"text": "call"} if "functionCall" in p else p for p in turn["parts"]]
            turn = {**turn, "parts": plain}
        out.append(turn)
    return out


contents = st.lists(
    st.fixed_dictionaries(
        {"parts": st.lists(parts, min_size=1, max_size=3)},
        optional={"role": st.sampled_from(["user", "model", "USER", "Model"])},
    ),
    min_size=1,
    max_size=3,
).map(_in_turn_order)
generation_config = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "topP": st.floats(0, 1),
        "topK": st.integers(1, 40),
        "candidateCount": st.integers(1, 8),
        "maxOutputTokens": st.integers(1, 8192),
        "stopSequences": st.lists(texts, max_size=5),
        "responseMimeType": st.sampled_from(["text/plain", "application/json"]),
        "presencePenalty": st.floats(-2, 2),
        "seed": st.integers(-(2**31), 2**31 - 1),
        "responseModalities": st.just(["TEXT"]),
    },
)
safety_settings = st.lists(
    st.fixed_dictionaries(
        {"category": st.sampled_from(HARM_CATEGORIES), "threshold": st.sampled_from(THRESHOLDS)}
    ),
    max_size=4,
)
valid_requests = st.fixed_dictionaries(
    {"contents": contents},
    optional={
        "generationConfig": generation_config,
        "safetySettings": safety_settings,
        "systemInstruction": st.builds(lambda t: {"parts": [{"text": t}]}, texts),
        "labels": st.dictionaries(
            st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), texts, max_size=2
        ),
    },
)


def _snake_case(value: Any) -> Any:
    """Every field name renamed to its proto (snake_case) spelling; user data left as is."""
    if isinstance(value, list):
        return [_snake_case(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        proto = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        out[proto] = item if key in DATA_KEYS else _snake_case(item)
    return out


@pytest.fixture(scope="module")
def request_schema() -> Any:
    import jsonschema  # type: ignore[import-untyped, unused-ignore]

    schema = resources.schema("v1/GenerateContentRequest.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@given(body=valid_requests)
def test_a_valid_request_normalizes_to_a_schema_valid_fixed_point(
    request_schema: Any, body: dict[str, Any]
) -> None:
    out = validate_request(body, model=MODEL)
    errors = [e.message for e in request_schema.iter_errors(out)]
    assert errors == []
    assert validate_request(out, model=MODEL) == out
    assert validate_request(json.dumps(out), model=MODEL) == out


@given(body=valid_requests)
def test_snake_case_input_normalizes_to_the_same_request(body: dict[str, Any]) -> None:
    snake = _snake_case(body)
    assert validate_request(snake, model=MODEL) == validate_request(body, model=MODEL)


def test_integers_beyond_64_bits_keep_every_digit() -> None:
    """The fast parser reads those as floats; bodies holding them take the exact path."""
    for value in (-9_999_999_999_999_999_999, -(2**63) - 1, 2**64, 10**30):
        assert decode_json(json.dumps({"a": value}).encode()) == {"a": value}
        assert decode_json(json.dumps({"a": value})) == {"a": value}
