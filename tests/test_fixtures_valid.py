"""Every scenario file (the repository's fixtures and the shipped built-ins) is valid, loadable,
canonically formatted, and the seed samples match the seed fixtures byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mockvertex.contract import resources
from mockvertex.engine.scenario import RequestContext, ScenarioBook, load_builtin, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_FILES = sorted(
    [
        *(ROOT / "fixtures" / "scenarios").glob("*.json"),
        *(ROOT / "mockvertex" / "scenarios").glob("*.json"),
    ]
)
BUILTINS_REQUIRED = {
    "seed_banana_bread",
    "seed_pirate_chat",
    "seed_daisy_image",
    "seed_find_theaters",
    "rate_limited_then_ok",
    "server_errors_then_ok",
    "safety_block_prompt",
    "safety_block_response",
    "mid_stream_error",
    "disconnect_mid_stream",
    "slow_first_byte",
    "slow_chunks",
    "recitation",
    "max_tokens",
    "quota_exhausted",
}
# built-in scenario -> the seed fixture holding the same sample
SEED_FIXTURES = {
    "seed_banana_bread": "banana_bread_sse",
    "seed_pirate_chat": "pirate_chat_sse",
    "seed_daisy_image": "daisy_multimodal_array",
    "seed_find_theaters": "find_theaters_function_array",
}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_there_are_files_to_check() -> None:
    assert len(SCENARIO_FILES) >= len(BUILTINS_REQUIRED) + 5
    assert set(resources.builtin_scenario_names()) >= BUILTINS_REQUIRED


def test_the_scenario_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = resources.schema("scenario.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["format"] == {
        "const": 1,
        "description": schema["properties"]["format"]["description"],
    }


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=_rel)
def test_scenario_file_is_valid_and_canonical(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    jsonschema.Draft202012Validator(resources.schema("scenario.schema.json")).validate(document)
    assert text == json.dumps(document, indent=2, ensure_ascii=False) + "\n", "not canonical JSON"
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.description


def _normalized(request: dict[str, Any]) -> dict[str, Any]:
    """The little normalization the seed requests need: single objects become lists."""
    contents = request["contents"]
    contents = contents if isinstance(contents, list) else [contents]
    return {
        "contents": [
            {**c, "parts": c["parts"] if isinstance(c["parts"], list) else [c["parts"]]}
            for c in contents
        ],
        **({"tools": request["tools"]} if "tools" in request else {}),
    }


@pytest.mark.parametrize(("builtin", "fixture"), sorted(SEED_FIXTURES.items()))
def test_seed_builtin_matches_the_seed_fixture(builtin: str, fixture: str) -> None:
    seed = json.loads((ROOT / "fixtures" / "seed" / f"{fixture}.json").read_text(encoding="utf-8"))
    scenario = load_builtin(builtin)
    raw = scenario.steps[0].raw["respond"]["raw"]
    assert json.dumps(raw) == json.dumps(seed["chunks"])  # same objects, same key order
    assert scenario.steps[0].times is None
    ctx = RequestContext(seed["model"], "streamGenerateContent", "v1", _normalized(seed["request"]))
    book = ScenarioBook([load_builtin(name) for name in sorted(SEED_FIXTURES)])
    hit = book.select(ctx)
    assert hit is not None
    assert hit[0].name == builtin
