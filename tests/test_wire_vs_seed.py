"""Where the seed API reference's prose disagrees with the wire, the schemas follow the wire.

The seed (an older Japanese reference page) is what users read; the discovery document and
recorded traffic are what the server speaks. Each test pins one such difference, so nobody
"fixes" a schema back to the seed's prose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import googleapiclient  # type: ignore[import-untyped]
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from mockvertex.contract import resources

REQUEST = "v1/GenerateContentRequest.schema.json"
CHUNK = "v1/GenerateContentStreamChunk.schema.json"


def _defs(name: str) -> dict[str, Any]:
    defs: dict[str, Any] = resources.schema(name)["$defs"]
    return defs


def _valid(name: str, instance: Any) -> bool:
    return bool(Draft202012Validator(resources.schema(name)).is_valid(instance))


def _discovery_v1() -> dict[str, Any]:
    path = Path(googleapiclient.__file__).parent / "discovery_cache/documents/aiplatform.v1.json"
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _chunk_with_finish_reason(reason: str) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "done"}]}, "finishReason": reason}
        ]
    }


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_finish_reason_is_stop_not_finish_reason_stop(version: str) -> None:
    """The seed's finishReason table says FINISH_REASON_STOP; the wire sends STOP.

    Only the zero value keeps the prefix (FINISH_REASON_UNSPECIFIED). Recorded responses
    and the discovery enum both use the bare names.
    """
    finish = _defs(f"{version}/GenerateContentResponse.schema.json")["FinishReason"]
    assert "STOP" in finish["enum"]
    assert "FINISH_REASON_UNSPECIFIED" in finish["enum"]
    for seed_name in ("STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "OTHER"):
        assert f"FINISH_REASON_{seed_name}" not in finish["enum"]
        assert seed_name in finish["enum"]
    chunk = f"{version}/GenerateContentStreamChunk.schema.json"
    assert _valid(chunk, _chunk_with_finish_reason("STOP"))
    assert not _valid(chunk, _chunk_with_finish_reason("FINISH_REASON_STOP"))


def test_video_metadata_sits_beside_file_data_not_inside_it() -> None:
    """videoMetadata is a property of Part, a sibling of fileData/inlineData.

    The seed's request table nests it under the media field; the proto (and so the JSON)
    puts it on the Part.
    """
    defs = _defs(REQUEST)
    assert defs["Part"]["properties"]["videoMetadata"] == {"$ref": "#/$defs/VideoMetadata"}
    assert "videoMetadata" not in defs["FileData"]["properties"]
    assert "videoMetadata" not in defs["Blob"]["properties"]
    file_data = {"mimeType": "video/mp4", "fileUri": "gs://b/v.mp4"}
    beside = {"contents": [{"parts": [{"fileData": file_data, "videoMetadata": {}}]}]}
    inside = {"contents": [{"parts": [{"fileData": {**file_data, "videoMetadata": {}}}]}]}
    assert _valid(REQUEST, beside)
    assert not _valid(REQUEST, inside)


@pytest.mark.parametrize("offset", ["10s", "1.5s", "0s", "3.000000001s", "-2s"])
def test_video_offsets_are_duration_strings(offset: str) -> None:
    """startOffset/endOffset are google-duration strings on the wire, e.g. "10s" or "1.5s".

    The seed documents the proto shape {seconds, nanos}; proto3 JSON encodes a Duration as a
    decimal number of seconds with an "s" suffix.
    """
    part = {"fileData": {"mimeType": "video/mp4", "fileUri": "gs://b/v.mp4"}}
    body = {"contents": [{"parts": [{**part, "videoMetadata": {"startOffset": offset}}]}]}
    assert _valid(REQUEST, body)


@pytest.mark.parametrize(
    "offset", [{"seconds": 10, "nanos": 0}, {"seconds": 10}, "10", "1.5 s", "10ms", 10]
)
def test_video_offsets_reject_the_seed_object_form_and_other_spellings(offset: Any) -> None:
    """The seed's {seconds, nanos} object, bare numbers and other units are not the JSON form."""
    part = {"fileData": {"mimeType": "video/mp4", "fileUri": "gs://b/v.mp4"}}
    body = {"contents": [{"parts": [{**part, "videoMetadata": {"endOffset": offset}}]}]}
    assert not _valid(REQUEST, body)
    schema = _defs(REQUEST)["VideoMetadata"]["properties"]["endOffset"]
    assert schema["x-proto-type"] == "google.protobuf.Duration"


def test_citations_field_is_citations() -> None:
    """Vertex's CitationMetadata field is `citations`, and each citation has `uri`.

    The Gemini Developer API and the old Node SDK say `citationSources`, which Vertex does
    not send; the seed's field table spells the link `url`, while its own sample responses
    (and the discovery document) use `uri`.
    """
    citation_metadata = _defs(CHUNK)["CitationMetadata"]["properties"]
    assert set(citation_metadata) == {"citations"}
    citation = _defs(CHUNK)["Citation"]["properties"]
    assert {"startIndex", "endIndex", "uri", "title", "license", "publicationDate"} <= set(citation)
    assert "url" not in citation
    assert citation["publicationDate"] == {"$ref": "#/$defs/GoogleTypeDate", "readOnly": True}
    good = {"candidates": [{"citationMetadata": {"citations": [{"startIndex": 1}]}}]}
    bad = {"candidates": [{"citationMetadata": {"citationSources": [{"startIndex": 1}]}}]}
    assert _valid(CHUNK, good)
    assert not _valid(CHUNK, bad)


def test_function_name_limit_is_128_and_parameter_names_64() -> None:
    """The seed says function names max out at 64 characters; discovery says 128.

    64 is now the limit for *parameter* names. JSON Schema cannot state a limit on
    `properties` keys of the nested Schema message, so the facts live in the discovery
    descriptions; this pins them so a validator built on them reads the right numbers.
    """
    declaration = _discovery_v1()["schemas"]["GoogleCloudAiplatformV1FunctionDeclaration"]
    name = declaration["properties"]["name"]["description"]
    parameters = declaration["properties"]["parameters"]["description"]
    assert "maximum length of 128" in name
    assert "maximum length of 64" not in name
    assert "maximum length of 64" in parameters
    assert "FunctionDeclaration" in _defs(REQUEST)
    assert _defs(REQUEST)["FunctionDeclaration"]["properties"]["name"]["type"] == "string"


def test_seed_categories_and_thresholds_are_a_subset_of_the_wire() -> None:
    """The seed lists 4 harm categories and 4 thresholds; the wire has more (OFF, JAILBREAK...)."""
    defs = _defs(REQUEST)
    seed_categories = {
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    }
    seed_thresholds = {
        "BLOCK_LOW_AND_ABOVE",
        "BLOCK_MEDIUM_AND_ABOVE",
        "BLOCK_ONLY_HIGH",
        "BLOCK_NONE",
    }
    assert seed_categories < set(defs["HarmCategory"]["enum"])
    assert seed_thresholds < set(defs["HarmBlockThreshold"]["enum"])
    assert "OFF" in defs["HarmBlockThreshold"]["enum"]
    assert "method" in defs["SafetySetting"]["properties"]


def test_topk_is_a_float_and_temperature_has_no_schema_range() -> None:
    """The seed gives topK 1-40 and temperature 0-1; the wire types topK as float, no ranges.

    The ranges the server enforces are model-dependent and belong to the model profiles.
    """
    config = _defs(REQUEST)["GenerationConfig"]["properties"]
    assert config["topK"] == {"type": "number", "x-proto-type": "TYPE_FLOAT"}
    assert "maximum" not in config["temperature"]
    assert config["candidateCount"]["x-proto-type"] == "TYPE_INT32"
