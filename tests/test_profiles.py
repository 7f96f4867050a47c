"""Model profiles: the cited built-in data, name resolution, NotFound, and user profile files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockvertex.contract import resources
from mockvertex.contract.errors import DataFileError, NotFound
from mockvertex.contract.profiles import ModelProfile, ProfileRegistry, Range

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "profiles"
MODELS_FILE = Path(__file__).resolve().parent.parent / "mockvertex" / "schemas" / "models.json"
SEED_MIME_TYPES = {
    "application/pdf",
    "audio/mpeg",
    "audio/mp3",
    "audio/wav",
    "image/png",
    "image/jpeg",
    "text/plain",
    "video/mov",
    "video/mpeg",
    "video/mp4",
    "video/mpg",
    "video/avi",
    "video/wmv",
    "video/mpegps",
    "video/flv",
}


@pytest.fixture(scope="module")
def registry() -> ProfileRegistry:
    return ProfileRegistry.builtin()


def raw_models() -> dict[str, Any]:
    models: dict[str, Any] = json.loads(MODELS_FILE.read_text(encoding="utf-8"))["models"]
    return models


# ------------------------------------------------------------------------------------ Range


def test_range_is_min_inclusive_max_exclusive() -> None:
    r = Range(min=1, max=41)
    assert r.contains(1)
    assert r.contains(40)
    assert r.contains(40.999)
    assert not r.contains(41)
    assert not r.contains(0.999)


@given(
    lo=st.floats(-1e6, 1e6, allow_nan=False),
    width=st.floats(1e-6, 1e6, allow_nan=False),
    x=st.floats(-3e6, 3e6, allow_nan=False),
)
def test_range_contains_matches_the_half_open_interval(lo: float, width: float, x: float) -> None:
    r = Range(min=lo, max=lo + width)
    assert r.contains(x) == (lo <= x < lo + width)


# ---------------------------------------------------------------------------- built-in data


def test_builtin_families(registry: ProfileRegistry) -> None:
    assert registry.families() == [
        "gemini-1.0-pro",
        "gemini-1.0-pro-vision",
        "gemini-1.5-flash",
        "gemini-1.5-pro",
        "gemini-2.0-flash",
        "gemini-2.0-flash-lite",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.5-pro",
    ]


def test_builtin_file_is_valid_against_its_schema() -> None:
    document = json.loads(MODELS_FILE.read_text(encoding="utf-8"))
    schema = resources.schema("model-profiles.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(document)) == []
    assert document["format"] == 1


@pytest.mark.parametrize("family", sorted(raw_models()))
def test_every_builtin_limit_cites_a_source(family: str) -> None:
    entry = raw_models()[family]
    sources = entry["sources"]
    assert set(entry["limits"]) | {"modelVersion"} == set(sources)
    assert all(isinstance(s, str) and len(s) > 20 for s in sources.values())
    for version, override in entry.get("versionOverrides", {}).items():
        assert set(override["limits"]) == set(override["sources"]), version


def test_profile_sources_follow_version_overrides(registry: ProfileRegistry) -> None:
    base = registry.resolve("gemini-1.0-pro")
    v002 = registry.resolve("gemini-1.0-pro-002")
    assert "gemini-1.0-pro-002" in v002.sources["systemInstruction"]
    assert base.sources["systemInstruction"] != v002.sources["systemInstruction"]
    assert v002.sources["inputTokenLimit"] == base.sources["inputTokenLimit"]


# ------------------------------------------------------------------ the seed doc's values


def test_seed_gemini_1_0_pro(registry: ProfileRegistry) -> None:
    p = registry.resolve("gemini-1.0-pro")
    assert p.input_token_limit == 32760
    assert p.max_output_tokens == Range(1, 8193)
    assert p.default_max_output_tokens == 8192
    assert p.text_only
    assert p.mime_types == frozenset()
    assert (p.max_images, p.max_videos, p.max_audio, p.max_pdfs) == (0, 0, 0, 0)
    assert p.temperature.contains(1.0)
    assert not p.temperature.contains(1.01)
    assert p.default_temperature == 0.9
    assert p.default_top_k is None
    assert not p.system_instruction
    assert p.response_mime_types == frozenset()
    assert p.function_calling


def test_seed_gemini_1_0_pro_002_differs(registry: ProfileRegistry) -> None:
    p = registry.resolve("gemini-1.0-pro-002")
    assert p.system_instruction
    assert p.temperature.contains(2.0)
    assert p.input_token_limit == 32760
    assert not registry.resolve("gemini-1.0-pro-001").system_instruction


def test_seed_gemini_1_0_pro_vision(registry: ProfileRegistry) -> None:
    p = registry.resolve("gemini-1.0-pro-vision")
    assert p.input_token_limit == 16384
    assert p.max_output_tokens.max == 2049
    assert p.max_output_tokens.contains(2048)
    assert not p.max_output_tokens.contains(2049)
    assert p.default_max_output_tokens == 2048
    assert p.max_images == 16
    assert p.max_videos == 1
    assert p.max_inline_images == 1
    assert p.media_exclusive
    assert p.mime_types == SEED_MIME_TYPES
    assert p.default_temperature == 0.4
    assert p.default_top_k == 32
    assert not p.system_instruction
    assert p.response_mime_types == frozenset()


def test_seed_gemini_1_5_pro(registry: ProfileRegistry) -> None:
    p = registry.resolve("gemini-1.5-pro")
    assert p.input_token_limit == 1_000_000
    assert p.max_output_tokens == Range(1, 8193)
    assert p.default_max_output_tokens == 8192
    assert p.system_instruction
    # The seed's two, and text/x.enum, which controlled generation lists for 1.5 Pro.
    assert p.response_mime_types == {"text/plain", "application/json", "text/x.enum"}
    assert p.mime_types >= SEED_MIME_TYPES
    assert p.model_version == "gemini-1.5-pro-002"


@pytest.mark.parametrize("family", ["gemini-1.0-pro", "gemini-1.0-pro-vision", "gemini-1.5-pro"])
def test_seed_limits_shared_by_all_three(registry: ProfileRegistry, family: str) -> None:
    p = registry.resolve(family)
    assert p.top_k == Range(1, 41)  # "範囲: 1-40"
    assert p.top_p.contains(0.0)
    assert p.top_p.contains(1.0)
    assert not p.top_p.contains(1.01)
    assert p.candidate_count.contains(1)
    assert not p.candidate_count.contains(2)  # "値は 1 にする必要があります"
    assert p.max_stop_sequences == 5
    assert p.inline_data_max_bytes == 20 * 1024 * 1024
    assert not p.thinking


# -------------------------------------------------------------------- the current models


@pytest.mark.parametrize("family", ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"])
def test_gemini_2_5_limits(registry: ProfileRegistry, family: str) -> None:
    p = registry.resolve(family)
    assert p.input_token_limit == 1_048_576
    assert p.max_output_tokens.contains(65536)
    assert not p.max_output_tokens.contains(65537)
    assert p.top_k is not None
    assert p.top_k.contains(64)
    assert not p.top_k.contains(65)
    assert p.candidate_count.contains(8)
    assert not p.candidate_count.contains(9)
    assert p.temperature.contains(2.0)
    assert not p.temperature.contains(2.0001)
    assert p.thinking
    assert p.function_calling
    assert p.response_schema
    assert (p.max_images, p.max_videos, p.max_audio, p.max_pdfs) == (3000, 10, 1, 3000)


@pytest.mark.parametrize("family", ["gemini-2.0-flash", "gemini-2.0-flash-lite"])
def test_gemini_2_0_limits(registry: ProfileRegistry, family: str) -> None:
    p = registry.resolve(family)
    assert p.max_output_tokens == Range(1, 8193)
    assert p.top_k == Range(1, 41)
    assert p.candidate_count == Range(1, 9)
    assert not p.thinking
    assert "image/webp" in p.mime_types


@pytest.mark.parametrize("family", ["gemini-1.5-pro", "gemini-1.5-flash"])
def test_gemini_1_5_limits(registry: ProfileRegistry, family: str) -> None:
    p = registry.resolve(family)
    assert p.temperature == Range(0, 2.0001)
    assert p.top_k == Range(1, 41)
    assert (p.max_images, p.max_videos, p.max_audio) == (3000, 10, 1)


# ---------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("model", "family", "model_version"),
    [
        ("gemini-1.5-pro", "gemini-1.5-pro", "gemini-1.5-pro-002"),
        ("gemini-1.5-pro-002", "gemini-1.5-pro", "gemini-1.5-pro-002"),
        ("gemini-1.5-pro-001", "gemini-1.5-pro", "gemini-1.5-pro-001"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash", "gemini-2.0-flash-001"),
        ("gemini-2.0-flash-lite", "gemini-2.0-flash-lite", "gemini-2.0-flash-lite-001"),
        ("gemini-2.0-flash-lite-001", "gemini-2.0-flash-lite", "gemini-2.0-flash-lite-001"),
        ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini-2.5-pro-preview-06-05", "gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini-2.5-pro-exp-03-25", "gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        ("gemini-1.0-pro-vision-001", "gemini-1.0-pro-vision", "gemini-1.0-pro-vision-001"),
        ("gemini-1.0-pro-002", "gemini-1.0-pro", "gemini-1.0-pro-002"),
        ("gemini-1.5-flash-latest", "gemini-1.5-flash", "gemini-1.5-flash-002"),
        ("gemini-2.5-flash", "gemini-2.5-flash", "gemini-2.5-flash"),
    ],
)
def test_resolves(registry: ProfileRegistry, model: str, family: str, model_version: str) -> None:
    profile = registry.resolve(model)
    assert isinstance(profile, ModelProfile)
    assert profile.family == family
    assert profile.model_version == model_version


def test_longest_family_wins(registry: ProfileRegistry) -> None:
    lite = registry.resolve("gemini-2.0-flash-lite-preview-02-05")
    assert lite.family == "gemini-2.0-flash-lite"
    assert registry.resolve("gemini-1.0-pro-vision").family == "gemini-1.0-pro-vision"


@pytest.mark.parametrize(
    "model",
    [
        "gemini-1.5-pro-vision",  # made up
        "gemini-9",
        "models/gemini-1.5-pro",  # Vertex 404s on the Developer-API prefix in the path
        "publishers/google/models/gemini-1.5-pro",
        "gemini-1.5-pro-003",  # not a listed stable version
        "gemini-2.5-pro-001",  # 2.5 has no three-digit versions
        "gemini-1.5-pro-02",
        "gemini-1.5-pro-0002",
        "gemini-1.5-pro-",
        "gemini-1.5",
        "Gemini-1.5-pro",
        "gemini-2.0-flash-lite-vision",
        "",
    ],
)
def test_unknown_models_are_not_found(registry: ProfileRegistry, model: str) -> None:
    with pytest.raises(NotFound):
        registry.resolve(model)


def test_not_found_quotes_the_resource_like_vertex(registry: ProfileRegistry) -> None:
    resource = "projects/p/locations/us-central1/publishers/google/models/gemini-9"
    with pytest.raises(NotFound) as caught:
        registry.resolve("gemini-9", resource=resource)
    err = caught.value
    assert err.http_status == 404
    assert err.status == "NOT_FOUND"
    assert err.message == (
        "Publisher Model `projects/p/locations/us-central1/publishers/google/models/gemini-9` "
        "was not found or your project does not have access to it. Please ensure you are using a "
        "valid model version. For more information, see: "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
    )
    assert err.to_envelope() == {
        "error": {"code": 404, "message": err.message, "status": "NOT_FOUND"}
    }


def test_not_found_default_resource(registry: ProfileRegistry) -> None:
    with pytest.raises(NotFound) as caught:
        registry.resolve("gemini-7-ultra")
    assert caught.value.message.startswith(
        "Publisher Model `projects/PROJECT/locations/LOCATION/publishers/google/models/"
        "gemini-7-ultra` was not found"
    )


@given(version=st.from_regex(r"\A[0-9]{3}\Z"))
def test_stable_suffix_resolves_only_when_listed(version: str) -> None:
    registry = ProfileRegistry.builtin()
    model = f"gemini-1.5-pro-{version}"
    if version in ("001", "002"):
        assert registry.resolve(model).model_version == model
    else:
        with pytest.raises(NotFound):
            registry.resolve(model)


@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-/", max_size=30))
def test_names_not_starting_with_a_family_are_not_found(name: str) -> None:
    registry = ProfileRegistry.builtin()
    if any(name == f or name.startswith(f + "-") for f in registry.families()):
        return
    with pytest.raises(NotFound):
        registry.resolve(name)


# ---------------------------------------------------------------------------- user files


def test_user_file_replaces_a_family(registry: ProfileRegistry) -> None:
    merged = registry.with_files(FIXTURES / "replace-gemini-1.5-pro.json")
    p = merged.resolve("gemini-1.5-pro-002")
    assert p.input_token_limit == 2_097_152
    assert p.sources["inputTokenLimit"].startswith("Team measurement")
    # the replacement lists only version 002 and drops the built-in override table
    with pytest.raises(NotFound):
        merged.resolve("gemini-1.5-pro-001")
    # other families and the original registry are untouched
    assert merged.resolve("gemini-2.5-pro") == registry.resolve("gemini-2.5-pro")
    assert registry.resolve("gemini-1.5-pro").input_token_limit == 1_000_000
    assert merged.families() == registry.families()


def test_user_file_extends(registry: ProfileRegistry) -> None:
    path = FIXTURES / "extend.json"
    merged = registry.with_files(str(path))
    assert "my-tuned-flash" in merged.families()
    p = merged.resolve("my-tuned-flash")
    base = registry.resolve("gemini-2.5-flash")
    assert p.family == "my-tuned-flash"
    assert p.model_version == "my-tuned-flash"
    assert p.input_token_limit == 32768
    assert p.max_images == 2
    assert p.thinking == base.thinking
    assert p.top_k == base.top_k
    assert p.mime_types == base.mime_types
    assert p.sources["maxImages"] == f"user profile file {path}"
    assert p.sources["inputTokenLimit"] == "Our tuned endpoint's contract"
    assert p.sources["thinking"] == base.sources["thinking"]
    assert merged.resolve("my-tuned-flash-001").model_version == "my-tuned-flash-001"
    # extending a family in place keeps its versions and modelVersion
    flash = merged.resolve("gemini-2.0-flash-001")
    assert flash.top_k == Range(1, 65)
    assert flash.input_token_limit == registry.resolve("gemini-2.0-flash").input_token_limit
    assert merged.resolve("gemini-2.0-flash").model_version == "gemini-2.0-flash-001"


def test_later_files_may_extend_families_from_earlier_files(
    registry: ProfileRegistry, tmp_path: Path
) -> None:
    second = tmp_path / "second.json"
    second.write_text(
        json.dumps(
            {
                "format": 1,
                "models": {
                    "my-smaller-flash": {
                        "family": "my-smaller-flash",
                        "extends": "my-tuned-flash",
                        "limits": {"inputTokenLimit": 1000},
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    merged = registry.with_files(FIXTURES / "extend.json", second)
    p = merged.resolve("my-smaller-flash")
    assert p.input_token_limit == 1000
    assert p.max_images == 2
    with pytest.raises(DataFileError) as caught:
        registry.with_files(second)
    assert caught.value.field == "models.my-smaller-flash.extends"


@pytest.mark.parametrize(
    ("name", "field", "rule"),
    [
        ("bad-type.json", "models.my-model.limits.inputTokenLimit", "must be an integer >= 1"),
        ("bad-unknown-field.json", "models.my-model.limits.maxTokens", "is not an allowed field"),
        ("bad-missing-limit.json", "models.my-model.limits.inputTokenLimit", "is required"),
        (
            "bad-extends.json",
            "models.my-model.extends",
            "names an unknown family 'gemini-9-ultra'",
        ),
        ("bad-format.json", "format", "must be 1"),
        (
            "bad-range.json",
            "models.my-model.limits.topK",
            "min must be below max (max is exclusive)",
        ),
        ("bad-family.json", "models.my-model.family", "must equal the model's key 'my-model'"),
        (
            "bad-default.json",
            "models.my-model.limits.defaultMaxOutputTokens",
            "must lie within maxOutputTokens",
        ),
    ],
)
def test_bad_user_files(registry: ProfileRegistry, name: str, field: str, rule: str) -> None:
    path = FIXTURES / name
    with pytest.raises(DataFileError) as caught:
        registry.with_files(path)
    err = caught.value
    assert isinstance(err, ValueError)
    assert err.file == str(path)
    assert err.field == field
    assert err.rule == rule
    assert str(err) == f"{path}: {field}: {rule}"


def test_invalid_json_names_line_and_column(registry: ProfileRegistry) -> None:
    path = FIXTURES / "bad-json.json"
    with pytest.raises(DataFileError) as caught:
        registry.with_files(path)
    err = caught.value
    assert err.file == str(path)
    assert err.field == ""
    assert err.rule.startswith("invalid JSON at line 4, column 39: ")


@pytest.mark.parametrize("kind", ["missing", "directory", "binary"])
def test_unreadable_files(registry: ProfileRegistry, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "profiles.json"
    if kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00not utf-8")
    with pytest.raises(DataFileError) as caught:
        registry.with_files(path)
    assert caught.value.file == str(path)
    assert caught.value.field == ""
    assert caught.value.rule.startswith("cannot read the file: ")


@pytest.mark.parametrize(
    ("limits", "field", "rule"),
    [
        ({"maxImages": -1}, "models.x.limits.maxImages", "must be an integer >= 0 or null"),
        ({"topK": 40}, "models.x.limits.topK", "must be a range {min, max} or null"),
        ({"maxOutputTokens": {"min": 1}}, "models.x.limits.maxOutputTokens.max", "is required"),
        (
            {"mimeTypes": ["image/png", "image/png"]},
            "models.x.limits.mimeTypes",
            "must not repeat items",
        ),
        (
            {"mimeTypes": ["PNG"]},
            "models.x.limits.mimeTypes[0]",
            "must be a string matching ^[a-z]+/[a-z0-9.+-]+$",
        ),
        ({"thinking": "yes"}, "models.x.limits.thinking", "must be a boolean"),
    ],
)
def test_schema_rules_are_worded(
    registry: ProfileRegistry, tmp_path: Path, limits: dict[str, Any], field: str, rule: str
) -> None:
    path = tmp_path / "x.json"
    document = {
        "format": 1,
        "models": {"x": {"family": "x", "extends": "gemini-1.5-pro", "limits": limits}},
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        registry.with_files(path)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_bad_model_key_is_named(registry: ProfileRegistry, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(
        json.dumps({"format": 1, "models": {"My Model": {"family": "x", "limits": {}}}}),
        encoding="utf-8",
    )
    with pytest.raises(DataFileError) as caught:
        registry.with_files(path)
    assert caught.value.field == "models.My Model"
    assert caught.value.rule.startswith("is not an allowed name: must be a string matching")


def test_version_override_must_name_a_listed_version(
    registry: ProfileRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "x.json"
    document = {
        "format": 1,
        "models": {
            "x": {
                "family": "x",
                "extends": "gemini-2.5-pro",
                "versions": ["001"],
                "versionOverrides": {"007": {"limits": {"thinking": False}}},
                "limits": {},
            }
        },
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        registry.with_files(path)
    assert caught.value.field == "models.x.versionOverrides.007"


def test_with_no_files_is_the_same_registry_content(registry: ProfileRegistry) -> None:
    same = registry.with_files()
    assert same.families() == registry.families()
    assert same.resolve("gemini-1.5-pro") == registry.resolve("gemini-1.5-pro")


# ------------------------------------------------------------------------ thinking limits


@pytest.mark.parametrize(
    ("family", "budget", "off"),
    [
        ("gemini-2.5-pro", Range(128, 32769), False),
        ("gemini-2.5-flash", Range(1, 24577), True),
        ("gemini-2.5-flash-lite", Range(512, 24577), True),
    ],
)
def test_thinking_budget_limits_per_model(
    registry: ProfileRegistry, family: str, budget: Range, *, off: bool
) -> None:
    p = registry.resolve(family)
    assert (p.thinking_budget, p.thinking_off) == (budget, off)
    assert "thinking_budget is out of range" in p.sources["thinkingBudget"]


def test_models_without_thinking_limits_take_the_defaults(registry: ProfileRegistry) -> None:
    for family in ("gemini-2.0-flash", "gemini-1.5-pro"):
        p = registry.resolve(family)
        assert (p.thinking, p.thinking_budget, p.thinking_off) == (False, None, True)
    # a user file written before the thinking limits existed still loads, with the defaults
    p = registry.with_files(FIXTURES / "replace-gemini-1.5-pro.json").resolve("gemini-1.5-pro")
    assert (p.thinking_budget, p.thinking_off) == (None, True)


def test_a_family_extending_a_thinking_model_inherits_its_budget_limits(
    registry: ProfileRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "x.json"
    models = {
        "pro-clone": {"family": "pro-clone", "extends": "gemini-2.5-pro", "limits": {}},
        "pro-open": {
            "family": "pro-open",
            "extends": "gemini-2.5-pro",
            "limits": {"thinkingBudget": None, "thinkingOff": True},
        },
    }
    path.write_text(json.dumps({"format": 1, "models": models}), encoding="utf-8")
    merged = registry.with_files(path)
    assert merged.resolve("pro-clone").thinking_budget == Range(128, 32769)
    assert not merged.resolve("pro-clone").thinking_off
    assert (
        merged.resolve("pro-open").thinking_budget,
        merged.resolve("pro-open").thinking_off,
    ) == (
        None,
        True,
    )
    assert merged.resolve("pro-open").sources["thinkingOff"] == f"user profile file {path}"


@pytest.mark.parametrize(
    ("limits", "field", "rule"),
    [
        ({"thinkingOff": "no"}, "models.x.limits.thinkingOff", "must be a boolean"),
        (
            {"thinkingBudget": 1024},
            "models.x.limits.thinkingBudget",
            "must be a range {min, max} or null",
        ),
        (
            {"thinkingBudget": {"min": 512, "max": 512}},
            "models.x.limits.thinkingBudget",
            "min must be below max (max is exclusive)",
        ),
    ],
)
def test_bad_thinking_limits_are_named(
    registry: ProfileRegistry, tmp_path: Path, limits: dict[str, Any], field: str, rule: str
) -> None:
    path = tmp_path / "x.json"
    document = {
        "format": 1,
        "models": {"x": {"family": "x", "extends": "gemini-2.5-flash", "limits": limits}},
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        registry.with_files(path)
    assert (caught.value.field, caught.value.rule) == (field, rule)
