"""The shipped JSON Schemas: valid draft 2020-12, self-consistent, accepting the seed samples."""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from jsonschema import Draft202012Validator

from mockvertex.contract import resources

REPO = Path(__file__).resolve().parent.parent
SCHEMA_DIR = REPO / "mockvertex" / "schemas"
SEED_DIR = REPO / "fixtures" / "seed"
VERSIONS = ("v1", "v1beta1")
STEMS = (
    "GenerateContentRequest",
    "GenerateContentResponse",
    "GenerateContentStreamChunk",
    "CountTokensRequest",
    "CountTokensResponse",
)
CONTRACT = [f"{v}/{s}.schema.json" for v in VERSIONS for s in STEMS]
ALL_SCHEMAS = [*CONTRACT, "Status.schema.json"]
PROTO_TYPES = {
    "v1": "google.cloud.aiplatform_v1.types",
    "v1beta1": "google.cloud.aiplatform_v1beta1.types",
}


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        resources.schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _seed_fixtures() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SEED_DIR.glob("*.json"))]


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            out |= _refs(value)
        return out
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_schema_loads_and_is_valid_draft_2020_12(name: str) -> None:
    schema = resources.schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://mockvertex.invalid/schemas/{name}"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_every_ref_resolves_inside_the_file(name: str) -> None:
    schema = resources.schema(name)
    refs = _refs(schema)
    assert refs, "a contract schema without $ref is not the derived shape"
    for ref in refs:
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref


@pytest.mark.parametrize("name", CONTRACT)
def test_defs_hold_only_what_the_root_reaches(name: str) -> None:
    schema = resources.schema(name)
    reached: set[str] = set()
    todo = [schema["$ref"].removeprefix("#/$defs/")]
    while todo:
        key = todo.pop()
        if key not in reached:
            reached.add(key)
            todo.extend(r.removeprefix("#/$defs/") for r in _refs(schema["$defs"][key]))
    assert reached == set(schema["$defs"])


@pytest.mark.parametrize("name", CONTRACT)
def test_messages_are_closed_and_named_after_their_proto(name: str) -> None:
    version = name.split("/")[0]
    for key, body in resources.schema(name)["$defs"].items():
        if "enum" in body:
            assert body["type"] == "string"
            assert body["x-proto-enum"].rsplit(".", 1)[1] == key.rsplit(".", 1)[-1]
            continue
        assert body["type"] == "object", key
        assert body["additionalProperties"] is False, key
        full = body["x-proto-message"]
        if key.startswith("GoogleType"):  # GoogleTypeDate keeps its discovery id
            assert full == "google.type." + key.removeprefix("GoogleType"), (key, full)
        else:
            package = f"google.cloud.aiplatform.{version}."
            assert full.startswith(package), (key, full)
            # the key is the discovery id sans prefix: the proto path with its dots removed
            assert full.removeprefix(package).replace(".", "") == key, (key, full)


def test_response_and_stream_chunk_share_their_defs() -> None:
    for version in VERSIONS:
        unary = resources.schema(f"{version}/GenerateContentResponse.schema.json")
        chunk = resources.schema(f"{version}/GenerateContentStreamChunk.schema.json")
        assert unary["$defs"] == chunk["$defs"]
        assert unary["$ref"] == chunk["$ref"] == "#/$defs/GenerateContentResponse"
        assert unary["$comment"] != chunk["$comment"]
        assert "one chunk" in chunk["$comment"]


def test_required_only_where_an_override_says_so() -> None:
    for version in VERSIONS:
        request = resources.schema(f"{version}/GenerateContentRequest.schema.json")
        assert request["$defs"]["GenerateContentRequest"]["required"] == ["contents"]
        required = {
            key
            for stem in STEMS
            for key, body in resources.schema(f"{version}/{stem}.schema.json")["$defs"].items()
            if "required" in body
        }
        assert required == {"GenerateContentRequest"}


def test_request_without_contents_is_rejected() -> None:
    validator = _validator("v1/GenerateContentRequest.schema.json")
    assert not validator.is_valid({"generationConfig": {"temperature": 0.2}})
    assert validator.is_valid({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})


def test_unknown_fields_are_rejected_at_every_depth() -> None:
    validator = _validator("v1/GenerateContentRequest.schema.json")
    assert not validator.is_valid({"contents": [], "bogus": 1})
    assert not validator.is_valid({"contents": [{"parts": [{"txt": "hi"}]}]})
    chunk = _validator("v1/GenerateContentStreamChunk.schema.json")
    # the Gemini Developer API's name for the field; Vertex calls it "citations"
    bad: dict[str, Any] = {"candidates": [{"citationMetadata": {"citationSources": []}}]}
    assert not chunk.is_valid(bad)


@pytest.mark.parametrize(
    ("instance", "valid"),
    [
        ({"contents": [], "labels": {"team": "a"}}, True),
        ({"contents": [], "labels": {"team": 1}}, False),
        ({"contents": [], "generationConfig": {"candidateCount": 2**31}}, False),
        ({"contents": [], "generationConfig": {"candidateCount": 1}}, True),
        ({"contents": [], "generationConfig": {"temperature": "hot"}}, False),
        ({"contents": [], "generationConfig": {"responseSchema": {"minItems": "3"}}}, True),
        ({"contents": [], "generationConfig": {"responseSchema": {"minItems": "x"}}}, False),
        ({"contents": [], "generationConfig": {"responseSchema": {"minItems": 3}}}, True),
        ({"contents": [{"parts": [{"functionCall": {"name": "f", "args": {"a": [1]}}}]}]}, True),
        ({"contents": [{"parts": [{"functionCall": {"name": "f", "args": [1]}}]}]}, False),
        ({"contents": [{"parts": [{"inlineData": {"mimeType": "a/b", "data": "AA=="}}]}]}, True),
        ({"contents": [], "safetySettings": [{"category": "HARM_CATEGORY_NOPE"}]}, False),
    ],
)
def test_field_shapes_follow_the_proto_json_mapping(instance: Any, *, valid: bool) -> None:
    assert _validator("v1/GenerateContentRequest.schema.json").is_valid(instance) is valid


def test_field_schema_annotations_for_the_request_parser() -> None:
    defs = resources.schema("v1/GenerateContentRequest.schema.json")["$defs"]
    assert defs["GenerateContentRequest"]["properties"]["labels"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "x-proto-map": True,
    }
    assert defs["FunctionCall"]["properties"]["args"] == {
        "type": "object",
        "x-proto-type": "google.protobuf.Struct",
    }
    assert defs["Blob"]["properties"]["data"]["x-proto-type"] == "TYPE_BYTES"
    assert defs["Blob"]["properties"]["data"]["contentEncoding"] == "base64"
    assert defs["GenerationConfig"]["properties"]["temperature"]["x-proto-type"] == "TYPE_FLOAT"
    assert defs["FunctionDeclaration"]["properties"]["parametersJsonSchema"] == {
        "x-proto-type": "google.protobuf.Value"
    }
    assert defs["Schema"]["properties"]["maxItems"]["x-proto-type"] == "TYPE_INT64"
    assert defs["Schema"]["properties"]["properties"]["additionalProperties"] == {
        "$ref": "#/$defs/Schema"
    }
    assert defs["GenerationConfig"]["properties"]["responseModalities"]["items"] == {
        "$ref": "#/$defs/GenerationConfig.Modality"
    }
    response = resources.schema("v1/GenerateContentResponse.schema.json")["$defs"]
    assert response["GenerateContentResponse"]["properties"]["candidates"]["readOnly"] is True
    assert response["GenerateContentResponse"]["properties"]["createTime"]["x-proto-type"] == (
        "google.protobuf.Timestamp"
    )


def test_colliding_enum_names_are_qualified_with_their_parent() -> None:
    defs = resources.schema("v1/GenerateContentRequest.schema.json")["$defs"]
    assert "Mode" not in defs
    assert defs["FunctionCallingConfig.Mode"]["x-proto-enum"] == (
        "google.cloud.aiplatform.v1.FunctionCallingConfig.Mode"
    )
    assert defs["DynamicRetrievalConfig.Mode"]["x-proto-enum"] == (
        "google.cloud.aiplatform.v1.DynamicRetrievalConfig.Mode"
    )
    config = defs["FunctionCallingConfig"]["properties"]["mode"]
    assert config == {"$ref": "#/$defs/FunctionCallingConfig.Mode"}


def test_enum_numbers_come_from_the_proto_not_the_discovery_order() -> None:
    category = resources.schema("v1/GenerateContentRequest.schema.json")["$defs"]["HarmCategory"]
    assert category["enum"].index("HARM_CATEGORY_JAILBREAK") == 10
    assert category["x-enum-numbers"]["HARM_CATEGORY_JAILBREAK"] == 6
    assert category["x-enum-numbers"]["HARM_CATEGORY_HATE_SPEECH"] == 1
    threshold = resources.schema("v1/GenerateContentRequest.schema.json")["$defs"][
        "HarmBlockThreshold"
    ]
    assert threshold["x-enum-numbers"]["BLOCK_ONLY_HIGH"] == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_enum_numbers_match_the_installed_proto_plus_enums(version: str) -> None:
    """Every number we ship equals the installed proto-plus enum member of that name.

    An enum the installed proto-plus types lack must be declared in the MANIFEST.
    """
    types = importlib.import_module(PROTO_TYPES[version])
    package = f"google.cloud.aiplatform.{version}."
    undeclared = resources.schema("MANIFEST.json")["protoNamesNotInInstalledProto"]
    checked = 0
    for stem in STEMS:
        for key, body in resources.schema(f"{version}/{stem}.schema.json")["$defs"].items():
            if "enum" not in body or not body["x-proto-enum"].startswith(package):
                continue
            obj: Any = types
            for part in body["x-proto-enum"].removeprefix(package).split("."):
                obj = getattr(obj, part, None)
            if obj is None:
                assert f"{version}/{key}" in undeclared, body["x-proto-enum"]
                continue
            for name in body["enum"]:
                if name in body["x-enum-numbers"]:
                    assert obj[name].value == body["x-enum-numbers"][name], (key, name)
                    checked += 1
                else:
                    assert name not in obj.__members__, (key, name)
    assert checked > 50


def test_manifest_hashes_match_the_files() -> None:
    manifest = resources.schema("MANIFEST.json")
    assert manifest["x-mockvertex-format"] == 1
    assert manifest["source"]["package"] == "google-api-python-client"
    assert set(manifest["files"]) == set(ALL_SCHEMAS)
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((SCHEMA_DIR / name).read_bytes()).hexdigest() == digest, name


def test_manifest_lists_enum_values_the_installed_proto_lacks() -> None:
    missing = resources.schema("MANIFEST.json")["enumValuesWithoutNumber"]
    assert "HARM_CATEGORY_IMAGE_HATE" in missing["v1/HarmCategory"]
    finish = resources.schema("v1/GenerateContentResponse.schema.json")["$defs"]["FinishReason"]
    for name in missing["v1/FinishReason"]:
        assert name in finish["enum"]
        assert name not in finish["x-enum-numbers"]


def test_derive_check_passes() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "schemas" / "derive.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_generated_files_are_canonically_formatted() -> None:
    for name in [*ALL_SCHEMAS, "MANIFEST.json"]:
        text = (SCHEMA_DIR / name).read_text(encoding="utf-8")
        assert text.endswith("}\n"), name
        assert json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n" == text, name


def test_seed_fixtures_are_the_four_sample_responses() -> None:
    fixtures = {fx["name"]: fx for fx in _seed_fixtures()}
    assert sorted(fixtures) == [
        "banana_bread_sse",
        "daisy_multimodal_array",
        "find_theaters_function_array",
        "pirate_chat_sse",
    ]
    assert [len(fixtures[n]["chunks"]) for n in sorted(fixtures)] == [7, 1, 1, 3]
    assert fixtures["daisy_multimodal_array"]["model"] == "gemini-1.0-pro-vision"
    assert fixtures["pirate_chat_sse"]["request"]["generation_config"]["maxOutputTokens"] == 200
    assert "trailing comma" in fixtures["pirate_chat_sse"]["note"]
    for fx in fixtures.values():
        assert fx["format"] == 1
        assert fx["framing"] in ("sse", "array")
        assert fx["source"].startswith("seed API reference, sample response '")
        assert "contents" in fx["request"]
        last = fx["chunks"][-1]["candidates"][0]
        assert last["finishReason"] == "STOP"
        # the seed's key order is kept: candidates come before usageMetadata
        assert next(iter(fx["chunks"][0])) == "candidates"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_seed_chunk_validates_as_a_stream_chunk(version: str) -> None:
    validator = _validator(f"{version}/GenerateContentStreamChunk.schema.json")
    count = 0
    for fx in _seed_fixtures():
        for chunk in fx["chunks"]:
            validator.validate(chunk)
            count += 1
    assert count == 12


@pytest.mark.parametrize("version", VERSIONS)
def test_array_samples_validate_as_unary_responses(version: str) -> None:
    validator = _validator(f"{version}/GenerateContentResponse.schema.json")
    arrays = [fx for fx in _seed_fixtures() if fx["framing"] == "array"]
    assert len(arrays) == 2
    for fx in arrays:
        for chunk in fx["chunks"]:
            validator.validate(chunk)


def test_a_broken_chunk_fails_validation() -> None:
    validator = _validator("v1/GenerateContentStreamChunk.schema.json")
    chunk = json.loads(json.dumps(_seed_fixtures()[0]["chunks"][-1]))
    chunk["candidates"][0]["finishReason"] = "FINISH_REASON_STOP"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(chunk)


def test_status_envelope_matches_the_error_family() -> None:
    from mockvertex.contract.errors import FieldViolation, InvalidArgument, NotFound

    validator = _validator("Status.schema.json")
    invalid = InvalidArgument(violations=[FieldViolation("contents", "required")])
    validator.validate(invalid.to_envelope())
    validator.validate(NotFound("no such model").to_envelope())
    ok = {"error": {"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED"}}
    validator.validate(ok)
    assert not validator.is_valid({"error": {**ok["error"], "extra": 1}})
    assert not validator.is_valid({"error": {**ok["error"], "status": "TOO_MANY"}})
    assert not validator.is_valid({"error": {"code": 429, "message": "m"}})
    assert not validator.is_valid({"error": {**ok["error"], "details": [{"reason": "x"}]}})
