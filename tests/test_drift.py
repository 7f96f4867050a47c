"""Offline drift check: our shipped schemas against the installed aiplatform discovery documents.

Two independent walkers flatten each side into the same vocabulary of lines,
``GenerateContentRequest.contents[].parts[].videoMetadata.startOffset <google-duration>`` for a
field and ``GenerateContentResponse.candidates[].finishReason = STOP`` for an enum value, cutting
recursion when a type is already on the current path. A difference prints as a sorted diff.
When it fails after a google-api-python-client upgrade, run ``python schemas/derive.py``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import googleapiclient  # type: ignore[import-untyped]
import pytest

from mockvertex.contract import resources

VERSIONS = {"v1": "GoogleCloudAiplatformV1", "v1beta1": "GoogleCloudAiplatformV1beta1"}
ROOTS = {
    "GenerateContentRequest": "GenerateContentRequest",
    "GenerateContentResponse": "GenerateContentResponse",
    "GenerateContentStreamChunk": "GenerateContentResponse",
    "CountTokensRequest": "CountTokensRequest",
    "CountTokensResponse": "CountTokensResponse",
}
REGENERATE = "run `python schemas/derive.py` and commit mockvertex/schemas/"

# our x-proto-type -> the discovery type/format it came from
_KIND_OF_PROTO_TYPE = {
    "TYPE_BOOL": "boolean",
    "TYPE_INT32": "int32",
    "TYPE_UINT32": "uint32",
    "TYPE_INT64": "int64",
    "TYPE_UINT64": "uint64",
    "TYPE_FLOAT": "float",
    "TYPE_DOUBLE": "double",
    "TYPE_BYTES": "byte",
    "google.protobuf.Duration": "google-duration",
    "google.protobuf.Timestamp": "google-datetime",
    "google.protobuf.FieldMask": "google-fieldmask",
    "google.protobuf.Value": "any",
    "google.protobuf.Struct": "struct",
}


@cache
def _discovery(version: str) -> dict[str, Any]:
    path = (
        Path(googleapiclient.__file__).parent
        / "discovery_cache"
        / "documents"
        / f"aiplatform.{version}.json"
    )
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _discovery_lines(version: str, root: str) -> set[str]:
    schemas = _discovery(version)["schemas"]
    out: set[str] = set()

    def walk(sid: str, path: str, on_path: frozenset[str]) -> None:
        for name, prop in schemas[sid].get("properties", {}).items():
            here, node = f"{path}.{name}", prop
            if node.get("type") == "array":
                here, node = here + "[]", node["items"]
            value = node.get("additionalProperties")
            if node.get("type") == "object" and isinstance(value, dict):
                if value.get("type") == "any":
                    out.add(f"{here} <struct>")
                    continue
                here, node = here + "{}", value
            if "$ref" in node:
                out.add(f"{here} <message>")
                if node["$ref"] not in on_path:
                    walk(node["$ref"], here, on_path | {node["$ref"]})
            elif "enum" in node:
                out.add(f"{here} <enum>")
                out.update(f"{here} = {v}" for v in node["enum"])
            else:
                out.add(f"{here} <{node.get('format') or node['type']}>")

    sid = VERSIONS[version] + root
    walk(sid, root, frozenset({sid}))
    return out


def _our_lines(schema: dict[str, Any]) -> set[str]:
    defs = schema["$defs"]
    out: set[str] = set()

    def field(node: dict[str, Any], here: str, on_path: frozenset[str]) -> None:
        if node.get("type") == "array":
            here, node = here + "[]", node["items"]
        if node.get("x-proto-map"):
            here, node = here + "{}", node["additionalProperties"]
        if "$ref" in node:
            key = node["$ref"].removeprefix("#/$defs/")
            body = defs[key]
            if "enum" in body:
                out.add(f"{here} <enum>")
                out.update(f"{here} = {v}" for v in body["enum"])
            else:
                out.add(f"{here} <message>")
                if key not in on_path:
                    message(key, here, on_path | {key})
        elif "x-proto-type" in node:
            out.add(f"{here} <{_KIND_OF_PROTO_TYPE[node['x-proto-type']]}>")
        else:
            out.add(f"{here} <{node['type']}>")

    def message(key: str, path: str, on_path: frozenset[str]) -> None:
        for name, node in defs[key]["properties"].items():
            field(node, f"{path}.{name}", on_path)

    root = schema["$ref"].removeprefix("#/$defs/")
    message(root, root, frozenset({root}))
    return out


def _diff(ours: set[str], theirs: set[str], what: str) -> str:
    missing, extra = sorted(theirs - ours), sorted(ours - theirs)
    lines = [f"{what}: our schema differs from the installed discovery document; {REGENERATE}"]
    lines += [f"  missing (in discovery, not ours): {x}" for x in missing]
    lines += [f"  extra (ours, not in discovery):   {x}" for x in extra]
    return "\n".join(lines)


@pytest.mark.parametrize("version", sorted(VERSIONS))
@pytest.mark.parametrize("stem", sorted(ROOTS))
def test_field_paths_and_enum_values_match_discovery(version: str, stem: str) -> None:
    ours = _our_lines(resources.schema(f"{version}/{stem}.schema.json"))
    theirs = _discovery_lines(version, ROOTS[stem])
    assert ours == theirs, _diff(ours, theirs, f"{version}/{stem}")


def test_walkers_see_the_known_wire_facts() -> None:
    """Guards the walkers themselves: a walker that saw nothing would compare equal too."""
    lines = _our_lines(resources.schema("v1/GenerateContentRequest.schema.json"))
    assert len(lines) > 500
    duration = "GenerateContentRequest.contents[].parts[].videoMetadata.startOffset"
    assert f"{duration} <google-duration>" in lines
    assert "GenerateContentRequest.safetySettings[].threshold = OFF" in lines
    assert "GenerateContentRequest.labels{} <string>" in lines
    assert "GenerateContentRequest.contents[].parts[].functionCall.args <struct>" in lines
    response = _our_lines(resources.schema("v1/GenerateContentResponse.schema.json"))
    assert "GenerateContentResponse.candidates[].finishReason = STOP" in response


def test_the_diff_names_missing_and_extra_paths() -> None:
    ours = _our_lines(resources.schema("v1/CountTokensResponse.schema.json"))
    theirs = set(ours)
    theirs.add("CountTokensResponse.brandNew <string>")
    ours_plus = ours | {"CountTokensResponse.gone <int32>"}
    message = _diff(ours_plus, theirs, "v1/CountTokensResponse")
    assert "missing (in discovery, not ours): CountTokensResponse.brandNew <string>" in message
    assert "extra (ours, not in discovery):   CountTokensResponse.gone <int32>" in message
    assert REGENERATE in message


# discovery schema (without prefix), property -> our enum must list every discovery value
SAFETY_ENUMS = [
    ("Candidate", "finishReason"),
    ("SafetySetting", "category"),
    ("SafetySetting", "threshold"),
    ("SafetyRating", "probability"),
    ("GenerateContentResponsePromptFeedback", "blockReason"),
]


@pytest.mark.parametrize("version", sorted(VERSIONS))
@pytest.mark.parametrize(("message", "prop"), SAFETY_ENUMS)
def test_safety_and_finish_enums_are_complete(version: str, message: str, prop: str) -> None:
    discovery = _discovery(version)["schemas"][VERSIONS[version] + message]["properties"][prop]
    stem = "GenerateContentRequest" if message == "SafetySetting" else "GenerateContentResponse"
    defs = resources.schema(f"{version}/{stem}.schema.json")["$defs"]
    ref = defs[message]["properties"][prop]["$ref"].removeprefix("#/$defs/")
    missing = sorted(set(discovery["enum"]) - set(defs[ref]["enum"]))
    assert not missing, f"{version} {message}.{prop} lacks {missing}; {REGENERATE}"
    assert defs[ref]["enum"] == discovery["enum"]


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_manifest_revision_is_the_installed_discovery_revision(version: str) -> None:
    installed = _discovery(version)["revision"]
    shipped = resources.schema("MANIFEST.json")["source"]["revision"]
    assert shipped == installed, (
        f"mockvertex/schemas were derived from discovery revision {shipped}, but the installed "
        f"google-api-python-client ships aiplatform.{version}.json revision {installed}: "
        f"{REGENERATE}"
    )
