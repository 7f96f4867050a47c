"""The model-side checks of validate_request: every rule with a valid and an invalid case, in
Vertex's words, at the paths Vertex reports; NotFound for unknown models."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from mockvertex.contract import tokens
from mockvertex.contract.errors import FieldViolation, InvalidArgument, NotFound
from mockvertex.contract.profiles import ProfileRegistry
from mockvertex.contract.validation import METHODS, validate_request

REQUESTS = Path(__file__).resolve().parent.parent / "fixtures" / "requests"
LEARN_MORE = (
    "Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"
)
MODEL = "gemini-2.0-flash"
HELLO: list[dict[str, Any]] = [{"role": "user", "parts": [{"text": "Hello"}]}]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()


def request(**fields: Any) -> dict[str, Any]:
    return {"contents": HELLO, **fields}


def config(**generation_config: Any) -> dict[str, Any]:
    return request(generationConfig=generation_config)


def accept(body: Any, model: str = MODEL, **kwargs: Any) -> dict[str, Any]:
    return validate_request(body, model=model, **kwargs)


def reject(body: Any, model: str = MODEL, **kwargs: Any) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        validate_request(body, model=model, **kwargs)
    exc = info.value
    assert type(exc) is InvalidArgument
    assert exc.http_status == 400
    assert exc.status == "INVALID_ARGUMENT"
    return exc


def single(exc: InvalidArgument) -> FieldViolation:
    assert len(exc.violations) == 1
    assert exc.message == exc.violations[0].description
    return exc.violations[0]


def empty_parameter(name: str) -> str:
    return (
        f"Unable to submit request because it has an empty {name} parameter. Add a value to the "
        f"parameter and try again. {LEARN_MORE}"
    )


def unsupported(value: str, what: str = "mimeType") -> str:
    return (
        f"Unable to submit request because it has a {what} parameter with value {value}, which "
        f"is not supported. Update the {what} and try again. {LEARN_MORE}"
    )


def range_message(name: str, value: str, low: str, high: str) -> str:
    return (
        f"Unable to submit request because it has a {name} value of {value} but the supported "
        f"range is from {low} (inclusive) to {high} (exclusive). Update the value and try again."
    )


def fixture(name: str) -> Any:
    return json.loads((REQUESTS / f"{name}.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- arguments


def test_unknown_method_or_api_version_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        validate_request(request(), model=MODEL, method="predict")
    with pytest.raises(ValueError, match="api_version must be one of"):
        validate_request(request(), model=MODEL, api_version="v2")
    assert METHODS == ("generateContent", "streamGenerateContent", "countTokens")


@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent"])
def test_raw_text_bytes_and_mappings_are_all_accepted(method: str) -> None:
    body = request()
    expected = {"contents": HELLO}
    assert accept(body, method=method) == expected
    assert accept(json.dumps(body), method=method) == expected
    assert accept(json.dumps(body).encode(), method=method) == expected


@pytest.mark.parametrize(
    ("name", "model", "method"),
    [
        ("seed_banana_bread", "gemini-1.0-pro", "streamGenerateContent"),
        ("seed_pirate_chat", "gemini-1.0-pro", "streamGenerateContent"),
        ("seed_daisy_image", "gemini-1.0-pro-vision", "streamGenerateContent"),
        ("seed_find_theaters", "gemini-1.0-pro", "generateContent"),
        ("snake_case_litellm", "gemini-2.0-flash", "generateContent"),
        ("gapic_int_enums", "gemini-2.0-flash", "streamGenerateContent"),
        ("count_tokens_sdk", "gemini-2.0-flash", "countTokens"),
        ("replayed_model_turn", "gemini-2.5-flash", "streamGenerateContent"),
    ],
)
def test_the_sample_requests_the_seed_and_real_clients_send_are_valid(
    name: str, model: str, method: str
) -> None:
    out = accept(fixture(name), model=model, method=method)
    assert out["contents"]
    assert all(isinstance(c["parts"], list) for c in out["contents"])


# ----------------------------------------------------------------------------- contents


@pytest.mark.parametrize("body", [{}, {"contents": []}, {"contents": None}], ids=repr)
def test_contents_are_required(body: dict[str, Any]) -> None:
    violation = single(reject(body))
    assert violation == FieldViolation(
        "contents",
        "Unable to submit request because at least one contents field is required. " + LEARN_MORE,
    )


def test_count_tokens_accepts_instances_instead_of_contents() -> None:
    body = {"instances": [{"prompt": "How many tokens?"}]}
    assert accept(body, method="countTokens") == body
    assert single(reject({}, method="countTokens")).field == "contents"
    violation = single(reject(body))  # generateContent has no instances field
    assert violation.description == (
        'Invalid JSON payload received. Unknown name "instances": Cannot find field.'
    )


def test_count_tokens_ignores_an_empty_system_instruction_sdks_send() -> None:
    body = fixture("count_tokens_sdk")
    assert body["systemInstruction"] == {}
    # gemini-1.0-pro has no systemInstruction, but an empty one with countTokens is ignored.
    assert accept(body, model="gemini-1.0-pro", method="countTokens")["model"] == body["model"]
    violation = single(reject(request(systemInstruction={}), model="gemini-1.0-pro"))
    assert violation.field == "system_instruction"


def test_count_tokens_skips_the_input_token_limit() -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "x" * 140_000}]}]}
    assert accept(body, model="gemini-1.0-pro", method="countTokens") == body


@pytest.mark.parametrize("content", [{"role": "user"}, {"role": "user", "parts": []}], ids=repr)
def test_each_content_needs_a_part(content: dict[str, Any]) -> None:
    violation = single(reject({"contents": [*HELLO, content]}))
    assert violation == FieldViolation(
        "contents[1].parts",
        "Unable to submit request because it must include at least one parts field, which "
        "describes the prompt input. " + LEARN_MORE,
    )


@pytest.mark.parametrize("role", ["user", "model", "USER", "Model", "", None])
def test_valid_roles_are_user_and_model_in_any_case_or_none(role: str | None) -> None:
    content: dict[str, Any] = {"parts": [{"text": "Hi"}]}
    if role is not None:
        content["role"] = role
    assert accept({"contents": [content]})["contents"][0]["parts"] == [{"text": "Hi"}]


@pytest.mark.parametrize("role", ["assistant", "function", "users"])
def test_any_other_role_is_rejected(role: str) -> None:
    body = {"contents": [*HELLO, {"role": role, "parts": [{"text": "Hi"}]}]}
    violation = single(reject(body))
    assert violation == FieldViolation("contents[1].role", "Please use a valid role: user, model.")


@pytest.mark.parametrize("role", ["system", "SYSTEM"])
def test_a_system_role_in_contents_has_its_own_message(role: str) -> None:
    # "system" used to get the generic role message; Vertex words it apart (instructor#1291,
    # CLIProxyAPI#3678).
    body = {"contents": [{"role": role, "parts": [{"text": "Be brief."}]}, *HELLO]}
    violation = single(reject(body))
    assert violation == FieldViolation(
        "contents[0].role", "Content with system role is not supported."
    )
    assert accept(request(systemInstruction={"role": role, "parts": [{"text": "Be brief."}]}))


def test_the_system_instruction_role_is_not_checked() -> None:
    # LangChain sends systemInstruction with role "system".
    body = request(systemInstruction={"role": "system", "parts": [{"text": "Be brief."}]})
    assert accept(body)["systemInstruction"]["role"] == "system"


# ---------------------------------------------------------------------------------- parts


@pytest.mark.parametrize(
    "part",
    [{}, {"thought": True}, {"videoMetadata": {"startOffset": "1s"}}],
    ids=["empty", "thought-only", "video-metadata-only"],
)
def test_a_part_without_a_data_field_is_rejected(part: dict[str, Any]) -> None:
    violation = single(reject({"contents": [{"role": "user", "parts": [part]}]}))
    assert violation == FieldViolation(
        "contents[0].parts[0]",
        "Unable to submit request because it must have a text parameter. Add a text parameter "
        "and try again. " + LEARN_MORE,
    )


@pytest.mark.parametrize(
    ("part", "second"),
    [
        ({"text": "x", "inline_data": {"mime_type": "image/png", "data": PNG}}, "inline_data"),
        ({"inlineData": {"mimeType": "image/png", "data": PNG}, "text": "x"}, "text"),
        (
            {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/i.png"}, "functionCall": {}},
            "function_call",
        ),
    ],
    ids=["text-then-inline", "inline-then-text", "file-then-call"],
)
def test_two_data_fields_in_one_part_name_the_second(part: dict[str, Any], second: str) -> None:
    violation = single(
        reject({"contents": [{"role": "user", "parts": [HELLO[0]["parts"][0], part]}]})
    )
    assert violation == FieldViolation(
        "contents[0].parts[1]",
        "Invalid value at 'contents[0].parts[1]' (oneof), oneof field 'data' is already set. "
        f"Cannot set '{second}'",
    )


def test_one_data_field_with_its_companions_is_valid() -> None:
    part = {
        "fileData": {"mimeType": "video/mp4", "fileUri": "gs://b/v.mp4"},
        "videoMetadata": {"startOffset": "1s", "endOffset": "5s"},
    }
    out = accept(
        {"contents": [{"role": "user", "parts": [part, {"text": "Describe", "thought": False}]}]}
    )
    assert out["contents"][0]["parts"][0] == part


def test_an_empty_text_is_rejected() -> None:
    violation = single(reject({"contents": [{"role": "user", "parts": [{"text": ""}]}]}))
    assert violation == FieldViolation("contents[0].parts[0].text", empty_parameter("text"))


def test_function_calls_and_responses_need_a_name() -> None:
    turns = [
        *HELLO,
        {"role": "model", "parts": [{"functionCall": {"args": {"city": "Oslo"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"response": {"temp": 3}}}]},
    ]
    exc = reject({"contents": turns})
    assert list(exc.violations) == [
        FieldViolation("contents[1].parts[0].function_call.name", empty_parameter("name")),
        FieldViolation("contents[2].parts[0].function_response.name", empty_parameter("name")),
    ]
    turns[1]["parts"][0]["functionCall"]["name"] = "get_weather"
    turns[2]["parts"][0]["functionResponse"]["name"] = "get_weather"
    assert accept({"contents": turns})["contents"] == turns


# ---------------------------------------------------------------------------------- turns

CALL_AFTER_USER = (
    "Please ensure that function call turn comes immediately after a user turn or after a "
    "function response turn."
)
RESPONSE_AFTER_CALL = (
    "Please ensure that function response turn comes immediately after a function call turn."
)
RESPONSE_COUNT = (
    "Please ensure that the number of function response parts is equal to the number of "
    "function call parts of the function call turn."
)


def _user(text: str = "Weather in Oslo and Bergen?") -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def _calls(*names: str) -> dict[str, Any]:
    return {"role": "model", "parts": [{"functionCall": {"name": n, "args": {}}} for n in names]}


def _responses(*names: str, role: str = "user") -> dict[str, Any]:
    parts = [{"functionResponse": {"name": n, "response": {"temp": 3}}} for n in names]
    return {"role": role, "parts": parts}


def _model(text: str = "Cold in both.") -> dict[str, Any]:
    return {"role": "model", "parts": [{"text": text}]}


@pytest.mark.parametrize(
    "turns",
    [
        [_user(), _calls("w", "w"), _responses("w", "w"), _model(), _user("Thanks")],
        [_user(), _calls("a"), _responses("a"), _calls("b"), _responses("b"), _model()],
        [{"parts": [{"text": "No role is user."}]}, _calls("a")],
        [_user(), _calls("a"), _responses("a", role="")],
        [_user(), {"role": "model", "parts": [{"text": "Let me look."}, *_calls("a")["parts"]]}],
    ],
    ids=["two-calls-two-answers", "chained-calls", "after-roleless", "roleless-answer", "mixed"],
)
def test_function_turns_in_order_are_valid(turns: list[dict[str, Any]]) -> None:
    assert accept({"contents": turns})["contents"] == turns


@pytest.mark.parametrize(
    ("turns", "index"),
    [
        ([_calls("a"), _responses("a")], 0),
        ([_user(), _model("Checking."), _calls("a")], 2),
        ([_user(), _calls("a"), _calls("b")], 2),
    ],
    ids=["first-turn", "after-model-text", "after-a-call"],
)
def test_a_function_call_turn_must_follow_a_user_or_response_turn(
    turns: list[dict[str, Any]], index: int
) -> None:
    violation = single(reject({"contents": turns}))
    assert violation == FieldViolation(f"contents[{index}]", CALL_AFTER_USER)


@pytest.mark.parametrize(
    ("turns", "index"),
    [
        ([_responses("a")], 0),
        ([_user(), _responses("a")], 1),
        ([_user(), _calls("a"), _model(), _responses("a")], 3),
    ],
    ids=["first-turn", "after-user-text", "after-model-text"],
)
def test_a_function_response_turn_must_follow_a_function_call_turn(
    turns: list[dict[str, Any]], index: int
) -> None:
    violation = single(reject({"contents": turns}))
    assert violation == FieldViolation(f"contents[{index}]", RESPONSE_AFTER_CALL)


@pytest.mark.parametrize(
    ("asked", "answered"), [(("a", "b"), ("a",)), (("a",), ("a", "a")), (("a", "b", "c"), ("a",))]
)
def test_as_many_function_responses_as_calls(
    asked: tuple[str, ...], answered: tuple[str, ...]
) -> None:
    exc = reject({"contents": [_user(), _calls(*asked), _responses(*answered)]})
    assert single(exc) == FieldViolation("contents[2]", RESPONSE_COUNT)
    assert exc.to_envelope() == {
        "error": {
            "code": 400,
            "message": RESPONSE_COUNT,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "contents[2]", "description": RESPONSE_COUNT}],
                }
            ],
        }
    }


def test_an_empty_text_beside_a_function_call_is_what_the_model_sends_and_is_valid() -> None:
    # Gemini answers with parts like these; replaying the turn verbatim must pass.
    call = {"role": "model", "parts": [{"text": ""}, *_calls("a")["parts"]]}
    signed = {"role": "model", "parts": [{"text": "", "thoughtSignature": "c2ln"}]}
    turns = [_user(), call, _responses("a"), signed, _user("More?")]
    assert accept({"contents": turns})["contents"] == turns
    alone = {"contents": [_user(), {"role": "model", "parts": [{"text": ""}]}]}
    assert single(reject(alone)) == FieldViolation(
        "contents[1].parts[0].text", empty_parameter("text")
    )


# ------------------------------------------------------------------------------ media


def _blob_request(blob: dict[str, Any]) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"inlineData": blob}, {"text": "What?"}]}]}


def test_inline_data_needs_a_mime_type_and_data() -> None:
    exc = reject(_blob_request({}))
    assert list(exc.violations) == [
        FieldViolation("contents[0].parts[0].inline_data.mime_type", empty_parameter("mimeType")),
        FieldViolation("contents[0].parts[0].inline_data.data", empty_parameter("data")),
    ]
    assert exc.message == "\n".join(v.description for v in exc.violations)
    assert accept(_blob_request({"mimeType": "image/png", "data": PNG}))


def test_file_data_needs_a_uri_and_a_mime_type() -> None:
    body = {"contents": [{"role": "user", "parts": [{"fileData": {}}]}]}
    assert list(reject(body).violations) == [
        FieldViolation("contents[0].parts[0].file_data.file_uri", empty_parameter("fileUri")),
        FieldViolation("contents[0].parts[0].file_data.mime_type", empty_parameter("mimeType")),
    ]


@pytest.fixture
def tiny_inline(tmp_path: Path) -> ProfileRegistry:
    """The built-ins plus a user family allowing 16 bytes of inline data."""
    path = tmp_path / "tiny.json"
    family = {"family": "tiny-inline", "extends": MODEL, "limits": {"inlineDataMaxBytes": 16}}
    path.write_text(json.dumps({"format": 1, "models": {"tiny-inline": family}}), encoding="utf-8")
    return ProfileRegistry.builtin().with_files(path)


def test_inline_data_within_the_models_size_limit_is_valid(tiny_inline: ProfileRegistry) -> None:
    body = _blob_request({"mimeType": "image/png", "data": base64.b64encode(b"x" * 16).decode()})
    assert accept(body, model="tiny-inline", profiles=tiny_inline) == body


def test_inline_data_over_the_models_size_limit_is_rejected(tiny_inline: ProfileRegistry) -> None:
    body = _blob_request({"mimeType": "image/png", "data": base64.b64encode(b"x" * 17).decode()})
    violation = single(reject(body, model="tiny-inline", profiles=tiny_inline))
    assert violation == FieldViolation(
        "contents[0].parts[0].inline_data.data",
        "Unable to submit request because the inline data is 17 bytes but the maximum size is "
        "16 bytes. Use fileData with a Cloud Storage URI for larger files. " + LEARN_MORE,
    )


def test_a_real_21_mb_image_is_over_the_20_mb_limit_of_gemini_1_5_pro() -> None:
    size = 21 * 1024 * 1024
    body = _blob_request({"mimeType": "image/png", "data": base64.b64encode(bytes(size)).decode()})
    violation = single(reject(body, model="gemini-1.5-pro"))
    assert violation.description.startswith(
        f"Unable to submit request because the inline data is {size} bytes but the maximum size "
        "is 20 MB. "
    )
    accept(body, model="gemini-2.0-flash")  # 500 MB inline on the 2.x models


def test_a_text_only_model_rejects_an_image() -> None:
    body = _blob_request({"mimeType": "image/png", "data": PNG})
    violation = single(reject(body, model="gemini-1.0-pro"))
    assert violation == FieldViolation(
        "contents[0].parts[0].inline_data.mime_type", unsupported("image/png")
    )
    assert accept(body, model="gemini-1.0-pro-vision") == body


def test_a_mime_type_the_model_does_not_list_is_rejected() -> None:
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [{"fileData": {"mimeType": "image/heic", "fileUri": "gs://b/i"}}],
            }
        ]
    }
    violation = single(reject(body, model="gemini-2.0-flash"))
    assert violation == FieldViolation(
        "contents[0].parts[0].file_data.mime_type", unsupported("image/heic")
    )
    assert accept(body, model="gemini-2.0-flash-lite") == body


def _files(mime: str, count: int) -> list[dict[str, Any]]:
    return [{"fileData": {"mimeType": mime, "fileUri": f"gs://b/{i}"}} for i in range(count)]


def _vision(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [*parts, {"text": "Compare them."}]}]}


def test_gemini_1_0_pro_vision_takes_up_to_16_images() -> None:
    assert accept(_vision(*_files("image/png", 16)), model="gemini-1.0-pro-vision")
    violation = single(reject(_vision(*_files("image/jpeg", 17)), model="gemini-1.0-pro-vision"))
    assert violation == FieldViolation(
        "contents[0].parts[0].file_data.mime_type",
        "Unable to submit request because it has 17 images but the model gemini-1.0-pro-vision "
        "supports at most 16. Remove some and try again. " + LEARN_MORE,
    )


def test_gemini_1_0_pro_vision_takes_one_video() -> None:
    assert accept(_vision(*_files("video/mp4", 1)), model="gemini-1.0-pro-vision")
    violation = single(reject(_vision(*_files("video/mp4", 2)), model="gemini-1.0-pro-vision"))
    assert violation == FieldViolation(
        "contents[0].parts[0].file_data.mime_type",
        "Unable to submit request because it has 2 video files but the model "
        "gemini-1.0-pro-vision supports at most 1. Remove some and try again. " + LEARN_MORE,
    )
    assert accept(_vision(*_files("video/mp4", 2)), model="gemini-1.5-pro")


def test_media_counts_span_every_content() -> None:
    images = _files("image/png", 17)
    body: dict[str, Any] = {
        "contents": [
            {"role": "user", "parts": images[:9]},
            {"role": "model", "parts": [{"text": "Nice."}]},
            {"role": "user", "parts": images[9:]},
        ]
    }
    violation = single(reject(body, model="gemini-1.0-pro-vision"))
    assert violation.field == "contents[0].parts[0].file_data.mime_type"
    assert "it has 17 images" in violation.description
    body["contents"][2]["parts"].pop()
    assert accept(body, model="gemini-1.0-pro-vision")


# ---------------------------------------------------------------------------------- tools


def _declaration(name: str = "get_weather", **fields: Any) -> dict[str, Any]:
    return request(tools=[{"functionDeclarations": [{"name": name, **fields}]}])


BAD_NAME = (
    "Invalid function name. Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, "
    "or contain underscores, dots, colons and dashes, with a maximum length of 128."
)


def _bad_name(field: str, root: str = "GenerateContentRequest") -> str:
    """Vertex's frame (cloudflare/agents#406): the path, not the name, and FIELD_INVALID."""
    return f"The {root} proto is invalid:\n  * {field}: [FIELD_INVALID] {BAD_NAME}"


@pytest.mark.parametrize("name", ["my.func:v1-2", "_private", "f", "a" * 128])
def test_valid_function_names(name: str) -> None:
    assert accept(_declaration(name))["tools"][0]["functionDeclarations"][0]["name"] == name


@pytest.mark.parametrize("name", ["1bad", "a" * 129, "has space", "-dash", "é", ""])
def test_invalid_function_names(name: str) -> None:
    field = "tools[0].function_declarations[0].name"
    violation = single(reject(_declaration(name)))
    assert violation == FieldViolation(field, _bad_name(field))


def test_several_bad_function_names_share_one_proto_invalid_header() -> None:
    names = [{"name": "ok"}, {"name": "1st"}, {"name": "2 nd"}]
    body = {
        "contents": [{"role": "user", "parts": [{"text": ""}]}],
        "tools": [{"functionDeclarations": names}],
    }
    exc = reject(body)
    fields = [f"tools[0].function_declarations[{d}].name" for d in (1, 2)]
    assert [v.field for v in exc.violations] == ["contents[0].parts[0].text", *fields]
    assert exc.violations[1].description == _bad_name(fields[0])
    assert exc.message == (
        f"{empty_parameter('text')}\n"
        "The GenerateContentRequest proto is invalid:"
        + "".join(f"\n  * {f}: [FIELD_INVALID] {BAD_NAME}" for f in fields)
    )


def test_count_tokens_names_its_own_request_type_in_the_function_name_rule() -> None:
    field = "tools[0].function_declarations[0].name"
    violation = single(reject(_declaration("9"), method="countTokens"))
    assert violation == FieldViolation(field, _bad_name(field, root="CountTokensRequest"))


def _parameters(*names: str) -> dict[str, Any]:
    return {"type": "OBJECT", "properties": {n: {"type": "STRING"} for n in names}}


def test_valid_parameter_names() -> None:
    body = _declaration(parameters=_parameters("city", "_x", "Z9", "p" * 64))
    assert accept(body)


@pytest.mark.parametrize("name", ["bad-name", "p" * 65, "9lives", "a.b"])
def test_invalid_parameter_names(name: str) -> None:
    violation = single(reject(_declaration(parameters=_parameters("city", name))))
    assert violation == FieldViolation(
        "tools[0].function_declarations[0].parameters.properties[1].key",
        f"Invalid function parameter name {name!r}. Must start with a letter or an underscore. "
        "Must be a-z, A-Z, 0-9, or underscores with a maximum length of 64.",
    )


@pytest.mark.parametrize("type_", ["STRING", "array", None])
def test_function_parameters_must_be_an_object(type_: str | None) -> None:
    parameters: dict[str, Any] = {"description": "The arguments"}
    if type_ is not None:
        parameters["type"] = type_
    violation = single(reject(_declaration(parameters=parameters)))
    assert violation == FieldViolation(
        "tools[0].function_declarations[0].parameters",
        "Unable to submit request because function parameters schema should be of type OBJECT. "
        + LEARN_MORE,
    )
    assert accept(_declaration(parameters={**parameters, "type": "object"}))


def test_function_declarations_need_a_model_with_function_calling() -> None:
    body = _declaration(parameters=_parameters("city"))
    violation = single(reject(body, model="gemini-1.0-pro-vision"))
    assert violation == FieldViolation(
        "tools[0].function_declarations",
        "Unable to submit request because the model gemini-1.0-pro-vision does not support "
        "function calling. Remove functionDeclarations and try again. " + LEARN_MORE,
    )
    assert accept(body, model="gemini-1.0-pro")


# ------------------------------------------------------------- function declaration schemas


def _schema_message(function: str, where: str, rule: str) -> str:
    return (
        f"Unable to submit request because `{function}` functionDeclaration `{where}` schema "
        f"{rule} Learn more: "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/function-calling"
    )


NO_TYPE = "didn't specify the schema type field."
ENUM_TYPE = (
    "specified incorrect schema type field. For schema with enum values, schema type should "
    "not be OBJECT or ARRAY."
)


def test_parameter_schemas_with_types_are_valid() -> None:
    parameters = {
        "type": "OBJECT",
        "properties": {
            "unit": {"type": "STRING", "enum": ["C", "F"]},
            "days": {"type": "ARRAY", "items": {"type": "INTEGER"}},
            "where": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
            "either": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
        },
    }
    assert accept(_declaration(parameters=parameters))


@pytest.mark.parametrize(
    ("parameters", "where", "path"),
    [
        (
            {"type": "OBJECT", "properties": {"city": {"description": "A city"}}},
            "parameters.city",
            "properties[0].value",
        ),
        (
            {
                "type": "OBJECT",
                "properties": {
                    "id": {"type": "STRING"},
                    "data": {"type": "OBJECT", "properties": {"width": {"nullable": True}}},
                },
            },
            "parameters.data.width",
            "properties[1].value.properties[0].value",
        ),
        (
            {"type": "OBJECT", "properties": {"tags": {"type": "ARRAY", "items": {}}}},
            "parameters.tags.items",
            "properties[0].value.items",
        ),
        (
            {"type": "OBJECT", "properties": {"unit": {"type": "TYPE_UNSPECIFIED"}}},
            "parameters.unit",
            "properties[0].value",
        ),
    ],
    ids=["property", "nested", "items", "unspecified"],
)
def test_a_parameter_schema_without_a_type_names_the_function_and_parameter(
    parameters: dict[str, Any], where: str, path: str
) -> None:
    violation = single(reject(_declaration("get_weather", parameters=parameters)))
    assert violation == FieldViolation(
        f"tools[0].function_declarations[0].parameters.{path}",
        _schema_message("get_weather", where, NO_TYPE),
    )


@pytest.mark.parametrize("type_", ["OBJECT", "ARRAY", "array"])
def test_enum_values_on_an_object_or_array_parameter_are_refused(type_: str) -> None:
    modes: dict[str, Any] = {"type": type_, "enum": ["a", "b"]}
    if type_.upper() == "ARRAY":
        modes["items"] = {"type": "STRING"}
    parameters = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}, "modes": modes}}
    violation = single(reject(_declaration("run_auto_analysis", parameters=parameters)))
    assert violation == FieldViolation(
        "tools[0].function_declarations[0].parameters.properties[1].value",
        _schema_message("run_auto_analysis", "parameters.modes", ENUM_TYPE),
    )
    assert accept(
        _declaration(
            parameters={**parameters, "properties": {"modes": {**modes, "type": "STRING"}}}
        )
    )


# ---------------------------------------------------------------------- generation config


def test_at_most_five_stop_sequences() -> None:
    assert accept(config(stopSequences=list("abcde")))
    violation = single(reject(config(stopSequences=list("abcdef"))))
    assert violation == FieldViolation(
        "generation_config.stop_sequences",
        "Unable to submit request because it has 6 stopSequences but the maximum is 5. Update "
        "the value and try again.",
    )


def test_top_k_outside_1_to_40_is_rejected_in_vertexs_words() -> None:
    assert accept(config(topK=40), model="gemini-1.0-pro")
    violation = single(reject(config(topK=50), model="gemini-1.0-pro"))
    assert violation == FieldViolation(
        "generation_config.top_k",
        "Unable to submit request because it has a topK value of 50 but the supported range is "
        "from 1 (inclusive) to 41 (exclusive). Update the value and try again.",
    )
    assert accept(config(topK=64), model="gemini-2.5-pro")


@pytest.mark.parametrize(
    ("model", "field", "good", "bad", "message"),
    [
        (
            "gemini-1.0-pro",
            "temperature",
            1.0,
            1.5,
            range_message("temperature", "1.5", "0", "1.0001"),
        ),
        (
            "gemini-1.5-pro",
            "temperature",
            2.0,
            2.1,
            range_message("temperature", "2.1", "0", "2.0001"),
        ),
        (
            "gemini-1.5-pro",
            "temperature",
            0,
            -0.1,
            range_message("temperature", "-0.1", "0", "2.0001"),
        ),
        ("gemini-2.0-flash", "topP", 1.0, 1.1, range_message("topP", "1.1", "0", "1.0001")),
        (
            "gemini-1.0-pro-vision",
            "maxOutputTokens",
            2048,
            2049,
            range_message("maxOutputTokens", "2049", "1", "2049"),
        ),
        (
            "gemini-1.0-pro-vision",
            "maxOutputTokens",
            1,
            0,
            range_message("maxOutputTokens", "0", "1", "2049"),
        ),
    ],
)
def test_numeric_ranges_per_model(
    model: str, field: str, good: float, bad: float, message: str
) -> None:
    assert accept(config(**{field: good}), model=model)["generationConfig"] == {field: good}
    proto = "".join(f"_{c.lower()}" if c.isupper() else c for c in field)
    violation = single(reject(config(**{field: bad}), model=model))
    assert violation == FieldViolation(f"generation_config.{proto}", message)


def test_a_versions_own_range_overrides_its_familys() -> None:
    assert accept(config(temperature=1.5), model="gemini-1.0-pro-002")
    assert single(reject(config(temperature=1.5), model="gemini-1.0-pro-001")).field == (
        "generation_config.temperature"
    )


@pytest.mark.parametrize("count", [0, 2, 3])
def test_candidate_count_must_be_1_where_only_1_is_allowed(count: int) -> None:
    assert accept(config(candidateCount=1), model="gemini-1.0-pro")
    violation = single(reject(config(candidateCount=count), model="gemini-1.0-pro"))
    assert violation == FieldViolation(
        "generation_config.candidate_count",
        f"Unable to submit request because candidateCount must be 1 but the entered value was "
        f"{count}. Update the candidateCount value and try again.",
    )


def test_candidate_count_outside_1_to_8_gets_the_range_message() -> None:
    assert accept(config(candidateCount=8), model="gemini-2.0-flash")
    violation = single(reject(config(candidateCount=9), model="gemini-2.0-flash"))
    assert violation == FieldViolation(
        "generation_config.candidate_count", range_message("candidateCount", "9", "1", "9")
    )


SYSTEM = {"parts": [{"text": "You are a pirate."}]}


@pytest.mark.parametrize("model", ["gemini-1.0-pro-002", "gemini-1.5-pro", "gemini-2.0-flash"])
def test_system_instruction_where_the_model_has_it(model: str) -> None:
    assert accept(request(systemInstruction=SYSTEM), model=model)["systemInstruction"] == SYSTEM


@pytest.mark.parametrize("model", ["gemini-1.0-pro", "gemini-1.0-pro-001", "gemini-1.0-pro-vision"])
def test_system_instruction_where_the_model_lacks_it(model: str) -> None:
    family = model.removesuffix("-001")
    violation = single(reject(request(system_instruction=SYSTEM), model=model))
    assert violation == FieldViolation(
        "system_instruction",
        f"Unable to submit request because the model {family} does not support "
        "systemInstruction. Remove systemInstruction and try again. " + LEARN_MORE,
    )


def test_a_system_instruction_is_checked_like_a_content() -> None:
    violation = single(reject(request(systemInstruction={"parts": [{"text": ""}]})))
    assert violation == FieldViolation("system_instruction.parts[0].text", empty_parameter("text"))


def test_response_mime_type_where_the_model_has_it() -> None:
    body = config(responseMimeType="application/json")
    assert accept(body, model="gemini-1.5-pro")["generationConfig"] == body["generationConfig"]
    violation = single(reject(body, model="gemini-1.0-pro"))
    assert violation == FieldViolation(
        "generation_config.response_mime_type", unsupported("application/json", "responseMimeType")
    )
    violation = single(reject(config(responseMimeType="text/x-yaml"), model="gemini-1.5-pro"))
    assert violation.description == unsupported("text/x-yaml", "responseMimeType")


def test_response_schema_where_the_model_has_it() -> None:
    body = config(responseMimeType="application/json", responseSchema={"type": "OBJECT"})
    assert accept(body, model="gemini-1.5-pro")
    body = config(responseSchema={"type": "OBJECT"})
    violation = single(reject(body, model="gemini-1.0-pro"))
    assert violation == FieldViolation(
        "generation_config.response_schema",
        "Unable to submit request because the model gemini-1.0-pro does not support "
        "responseSchema. Remove responseSchema and try again. " + LEARN_MORE,
    )


def test_thinking_only_on_thinking_models_but_a_zero_budget_is_fine_anywhere() -> None:
    thoughts = config(thinkingConfig={"includeThoughts": True, "thinkingBudget": 1024})
    assert accept(thoughts, model="gemini-2.5-flash")
    assert accept(config(thinkingConfig={"thinkingBudget": 0}), model="gemini-2.0-flash")
    violation = single(reject(thoughts, model="gemini-2.0-flash"))
    # Vertex's words (js-genai#681), not the model-naming text this used to assert.
    assert violation == FieldViolation(
        "generation_config.thinking_config",
        "Unable to submit request because thinking is not supported by this model. " + LEARN_MORE,
    )


THINKING_OFF_LIMITS = "Unable to submit request because thinking is not supported by this model. "


def _thinking(**fields: Any) -> dict[str, Any]:
    return config(thinkingConfig=fields)


def _budget_range(low: int, high: int) -> str:
    return (
        "Unable to submit request because thinking_budget is out of range; supported values are "
        f"integers from {low} to {high}. " + LEARN_MORE
    )


@pytest.mark.parametrize(
    ("model", "budgets"),
    [
        ("gemini-2.5-pro", [-1, 128, 1024, 32768]),
        ("gemini-2.5-flash", [-1, 0, 1, 24576]),
        ("gemini-2.5-flash-lite", [-1, 0, 512, 24576]),
        ("gemini-2.5-flash-preview-05-20", [0, 24576]),
    ],
)
def test_thinking_budgets_each_model_accepts(model: str, budgets: list[int]) -> None:
    for budget in budgets:
        body = _thinking(thinkingBudget=budget, includeThoughts=budget != 0)
        assert accept(body, model=model)["generationConfig"] == body["generationConfig"]


@pytest.mark.parametrize(
    ("model", "budget", "low", "high"),
    [
        ("gemini-2.5-pro", 127, 128, 32768),
        ("gemini-2.5-pro", 32769, 128, 32768),
        ("gemini-2.5-pro", -2, 128, 32768),
        ("gemini-2.5-flash", 24577, 1, 24576),
        ("gemini-2.5-flash", 32768, 1, 24576),
        ("gemini-2.5-flash-lite", 256, 512, 24576),
    ],
)
def test_a_thinking_budget_outside_the_models_range(
    model: str, budget: int, low: int, high: int
) -> None:
    violation = single(reject(_thinking(thinkingBudget=budget), model=model))
    assert violation == FieldViolation(
        "generation_config.thinking_config.thinking_budget", _budget_range(low, high)
    )


@pytest.mark.parametrize("model", ["gemini-2.5-pro", "gemini-2.5-pro-preview-06-05"])
def test_a_zero_budget_where_the_model_cannot_stop_thinking(model: str) -> None:
    violation = single(reject(_thinking(thinkingBudget=0), model=model))
    assert violation == FieldViolation(
        "generation_config.thinking_config.thinking_budget",
        "Unable to submit request because The model does not support setting thinking_budget "
        "to 0.. " + LEARN_MORE,
    )
    assert accept(_thinking(thinkingBudget=0), model="gemini-2.5-flash")


INCLUDE_THOUGHTS = (
    "Unable to submit request because Thinking_config.include_thoughts is only enabled when "
    "thinking is enabled.. " + LEARN_MORE
)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        ("gemini-2.0-flash", {"includeThoughts": True}),
        ("gemini-2.0-flash", {"includeThoughts": True, "thinkingBudget": 0}),
        ("gemini-2.5-flash", {"includeThoughts": True, "thinkingBudget": 0}),
        ("gemini-2.5-flash-lite", {"includeThoughts": True, "thinkingBudget": 0}),
    ],
)
def test_include_thoughts_without_thinking(model: str, fields: dict[str, Any]) -> None:
    violation = single(reject(_thinking(**fields), model=model))
    assert violation == FieldViolation(
        "generation_config.thinking_config.include_thoughts", INCLUDE_THOUGHTS
    )
    assert accept(_thinking(**{**fields, "includeThoughts": False}), model=model)


@pytest.mark.parametrize("budget", [1, 500, 24576, -1])
def test_a_thinking_budget_on_a_model_without_thinking(budget: int) -> None:
    for model in ("gemini-2.0-flash", "gemini-1.5-pro"):
        violation = single(reject(_thinking(thinkingBudget=budget), model=model))
        assert violation == FieldViolation(
            "generation_config.thinking_config", THINKING_OFF_LIMITS + LEARN_MORE
        )


def test_a_user_profile_without_budget_limits_does_not_check_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "thinker.json"
    limits = {"thinking": True}
    family = {"family": "my-thinker", "extends": "gemini-2.0-flash", "limits": limits}
    path.write_text(json.dumps({"format": 1, "models": {"my-thinker": family}}), encoding="utf-8")
    registry = ProfileRegistry.builtin().with_files(path)
    for budget in (0, 7, 10**6):
        assert accept(_thinking(thinkingBudget=budget), model="my-thinker", profiles=registry)


@pytest.mark.parametrize(
    ("model", "good"),
    [
        ("gemini-1.5-pro", ["text/plain", "application/json", "text/x.enum"]),
        ("gemini-2.0-flash", ["text/x.enum"]),
        ("gemini-2.5-flash", ["text/x.enum"]),
    ],
)
def test_response_mime_types_each_model_accepts(model: str, good: list[str]) -> None:
    for mime in good:
        body = config(responseMimeType=mime, responseSchema={"type": "STRING", "enum": ["a"]})
        assert accept(body, model=model)["generationConfig"]["responseMimeType"] == mime
    violation = single(reject(config(responseMimeType="text/x.enum"), model="gemini-1.0-pro"))
    assert violation == FieldViolation(
        "generation_config.response_mime_type", unsupported("text/x.enum", "responseMimeType")
    )


# ---------------------------------------------------------------------------- token limit


def test_the_input_token_limit_of_gemini_1_0_pro() -> None:
    at_limit = {"contents": [{"role": "user", "parts": [{"text": "x" * (32_760 * 4)}]}]}
    assert tokens.request_tokens(at_limit) == 32_760
    assert accept(at_limit, model="gemini-1.0-pro")
    over = {"contents": [{"role": "user", "parts": [{"text": "x" * 140_000}]}]}
    assert tokens.request_tokens(over) == 35_000  # one token per 4 characters
    violation = single(reject(over, model="gemini-1.0-pro"))
    assert violation == FieldViolation(
        "contents",
        "The input token count (35000) exceeds the maximum number of tokens allowed (32760).",
    )
    assert accept(over, model="gemini-1.5-pro")


def test_system_instruction_and_tools_count_towards_the_token_limit() -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x" * 100_000}]}],
        "systemInstruction": {"parts": [{"text": "y" * 40_000}]},
    }
    expected = tokens.request_tokens(body)
    assert expected == 35_000
    violation = single(reject(body, model="gemini-1.0-pro-002"))
    assert violation.description.startswith(f"The input token count ({expected}) exceeds")


# ------------------------------------------------------------------------ several, 404


def test_semantic_violations_are_all_reported_together() -> None:
    exc = reject(fixture("several_violations"))
    assert [v.field for v in exc.violations] == [
        "contents[0].role",
        "contents[0].parts[0].text",
        "generation_config.temperature",
        "generation_config.candidate_count",
        "generation_config.stop_sequences",
    ]
    assert exc.message == "\n".join(v.description for v in exc.violations)
    details = exc.to_envelope()["error"]["details"]
    assert details == [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [
                {"field": v.field, "description": v.description} for v in exc.violations
            ],
        }
    ]


def test_parse_errors_come_alone_before_the_model_checks() -> None:
    body = {"contents": [{"role": "system", "parts": [{"text": ""}]}], "foo": 1}
    violation = single(reject(body))
    assert (
        violation.description
        == 'Invalid JSON payload received. Unknown name "foo": Cannot find field.'
    )


NOT_FOUND = (
    "Publisher Model `{}` was not found or your project does not have access to it. Please "
    "ensure you are using a valid model version. For more information, see: "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
)


@pytest.mark.parametrize("model", ["gemini-9", "gemini-1.5-pro-999", "gemini-2.0-flashy"])
def test_an_unknown_model_is_not_found_naming_the_resource(model: str) -> None:
    resource = f"projects/my-project/locations/us-central1/publishers/google/models/{model}"
    with pytest.raises(NotFound) as info:
        validate_request(request(), model=model, resource=resource)
    exc = info.value
    assert type(exc) is NotFound
    assert exc.http_status == 404
    assert exc.status == "NOT_FOUND"
    assert exc.message == NOT_FOUND.format(resource)
    assert exc.violations == ()
    assert exc.to_envelope() == {
        "error": {"code": 404, "message": exc.message, "status": "NOT_FOUND"}
    }


def test_without_a_resource_the_404_names_a_placeholder_project() -> None:
    with pytest.raises(NotFound) as info:
        validate_request(request(), model="gemini-9")
    assert info.value.message == NOT_FOUND.format(
        "projects/PROJECT/locations/LOCATION/publishers/google/models/gemini-9"
    )


def test_a_malformed_body_is_invalid_even_for_an_unknown_model() -> None:
    assert reject("{", model="gemini-9").message.startswith("Invalid JSON payload received.")


def test_a_user_profile_family_is_a_known_model(tiny_inline: ProfileRegistry) -> None:
    assert accept(request(), model="tiny-inline", profiles=tiny_inline) == request()
    with pytest.raises(NotFound):
        validate_request(request(), model="tiny-inline")
