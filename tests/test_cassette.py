"""Cassettes, pure: record modes, redaction, matching, validation and the replay scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mockvertex.contract.errors import DataFileError
from mockvertex.engine.cassette import (
    PROJECT_PLACEHOLDER,
    Cassette,
    CassetteEntry,
    RecordMode,
    Redactor,
    load_cassette,
    parse_rules,
    to_scenario,
)
from mockvertex.engine.scenario import load_scenario


def request(text: str, framing: str = "sse", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "model": "gemini-2.0-flash",
        "rpc": "generateContent" if framing == "unary" else "streamGenerateContent",
        "framing": framing,
        "path": "/v1/projects/redacted-project/locations/us-central1/publishers/google/models/x",
        "body": {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra},
    }


def chunk(text: str) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]}


def entry(text: str, *, status: int = 200, **extra: Any) -> CassetteEntry:
    return CassetteEntry(
        request=request(text, **extra),
        status=status,
        framing="sse",
        chunks=(chunk("a"), chunk("b"), chunk("c")),
        offsets=(0.2, 0.3, 0.6),
    )


def test_record_modes_parse_and_refuse_with_the_choices() -> None:
    assert RecordMode.parse("new") is RecordMode.NEW_EPISODES
    assert [str(m) for m in RecordMode] == ["none", "once", "new", "all"]
    with pytest.raises(ValueError, match="none, once, new, all, not 'sometimes'"):
        RecordMode.parse("sometimes")


def test_builtin_redaction_of_tokens_keys_and_projects() -> None:
    redactor = Redactor()
    path = redactor.path("/v1/projects/my-proj-7/locations/us/publishers/google/models/m:x")
    assert path == f"/v1/projects/{PROJECT_PLACEHOLDER}/locations/us/publishers/google/models/m:x"
    text = redactor.text(
        "my-proj-7 ya29.a0AfH6SM-x Bearer sk-123 AIza" + "B" * 35 + " projects/123456789",
        "request",
    )
    assert text == (
        f"{PROJECT_PLACEHOLDER} redacted-token Bearer redacted-token redacted-api-key "
        f"projects/{PROJECT_PLACEHOLDER}"
    )
    assert redactor.headers(
        {"Authorization": "Bearer x", "Content-Type": "a/b", "Cookie": "c"}
    ) == {"Content-Type": "a/b"}
    assert redactor.query({"key": "k", "alt": "sse", "access_token": "t"}) == {"alt": "sse"}


def test_learned_credentials_are_replaced_anywhere() -> None:
    redactor = Redactor()
    redactor.learn_credentials({"Cookie": "SID=cookie-value-1; x=1"}, {"key": "plain-key-99"})
    assert redactor.text("a cookie-value-1 b plain-key-99 x=1", "response") == (
        "a redacted-secret b redacted-secret x=1"
    )


def test_user_rules_by_regex_and_json_path() -> None:
    rules = parse_rules(
        [
            {"regex": r"\d{3}-\d{4}", "replace": "NNN-NNNN"},
            {"path": "contents[*].parts[0].text", "on": "request"},
            {"path": "candidates[0].content", "on": "response", "replace": "gone"},
        ]
    )
    redactor = Redactor(rules)
    req = redactor.json(
        {"contents": [{"parts": [{"text": "call 555-1234"}, {"text": "555-9876"}]}]}, "request"
    )
    assert req == {"contents": [{"parts": [{"text": "[redacted]"}, {"text": "NNN-NNNN"}]}]}
    assert redactor.json(chunk("x"), "response") == {"candidates": [{"content": "gone"}]}
    assert redactor.json(chunk("555-1234"), "request") == chunk("NNN-NNNN")


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"regex": "("}, "[0].regex"),
        ({"path": "a..b["}, "path"),
        ({"regex": "a", "path": "b"}, "[0]"),
        ({"regex": "a", "on": "sideways"}, "[0].on"),
        ({"regex": "a", "extra": 1}, "[0]"),
    ],
)
def test_bad_rules_name_the_field(rule: dict[str, Any], field: str) -> None:
    with pytest.raises(DataFileError) as info:
        parse_rules([rule])
    assert info.value.field == field


def test_find_plays_each_match_once_in_order_then_repeats_the_last() -> None:
    first, second = entry("hello"), entry("hello")
    cassette = Cassette("c", [first, entry("other"), second])
    assert cassette.find(request("hello")) is first
    assert cassette.find(request("hello")) is second
    assert cassette.find(request("hello")) is second
    assert cassette.find(request("hello", framing="array")) is None


def test_volatile_paths_are_left_out_of_matching() -> None:
    recorded = entry("hello", generationConfig={"seed": 1})
    strict = Cassette("c", [recorded])
    assert strict.find(request("hello", generationConfig={"seed": 2})) is None
    loose = load_cassette(strict.to_json(), volatile=["generationConfig.seed"])
    assert loose.find(request("hello", generationConfig={"seed": 2})) is not None


def test_a_miss_names_the_closest_entries() -> None:
    cassette = Cassette("checkout", [entry("the weather in Paris"), entry("a poem")])
    miss = cassette.miss(request("the weather in Rome"))
    assert miss.status == "FAILED_PRECONDITION"
    assert "cassette 'checkout'" in miss.message
    assert miss.message.index("entry 0") < miss.message.index("entry 1")
    assert "'the weather in Paris'" in miss.message
    assert "has no entries" in Cassette("empty").miss(request("x")).message


def test_a_cassette_round_trips_through_its_file(tmp_path: Path) -> None:
    cassette = Cassette("rt", [entry("hello")])
    cassette.save(tmp_path / "rt.cassette.json")
    again = load_cassette(tmp_path / "rt.cassette.json")
    assert again.to_json() == cassette.to_json()


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"format": 2, "name": "x", "entries": []}, "format"),
        ({"format": 1, "name": "bad name!", "entries": []}, "name"),
        (
            {
                "format": 1,
                "name": "x",
                "entries": [{**entry("a").to_json(), "offsets": [0.1]}],
            },
            "entries[0].offsets",
        ),
        (
            {"format": 1, "name": "x", "entries": [{**entry("a").to_json(), "framing": "grpc"}]},
            "entries.0.framing".replace(".0.", "[0]."),
        ),
    ],
)
def test_a_bad_cassette_is_refused_with_its_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(DataFileError) as info:
        load_cassette(document)
    assert info.value.field == field


def test_an_unreadable_cassette_file_is_a_data_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(DataFileError, match="invalid JSON"):
        load_cassette(bad)


@pytest.mark.parametrize(
    ("timing", "delay"),
    [
        (1.0, {"firstChunk": 0.2, "betweenChunks": 0.2}),
        (0.5, {"firstChunk": 0.1, "betweenChunks": 0.1}),
        (None, None),
        (0, None),
    ],
)
def test_to_scenario_paces_as_recorded_scaled_or_not(
    timing: float | None, delay: dict[str, float] | None
) -> None:
    error = CassetteEntry(
        request=request("e"),
        status=429,
        framing="sse",
        headers={"Retry-After": "3"},
        error={"error": {"code": 429, "message": "Slow down", "status": "RESOURCE_EXHAUSTED"}},
    )
    document = to_scenario(Cassette("paced", [entry("hello"), error]), timing=timing)
    scenario = load_scenario(document)  # the scenario loader validates it as any scenario
    assert scenario.name == "paced"
    ok, failed = document["steps"]
    assert ok["respond"] == {"raw": [chunk("a"), chunk("b"), chunk("c")]}
    assert ok.get("delay") == (None if delay is None else pytest.approx(delay))
    assert failed["error"] == {
        "code": 429,
        "status": "RESOURCE_EXHAUSTED",
        "message": "Slow down",
        "retryAfter": 3,
    }


def test_an_empty_cassette_has_no_scenario() -> None:
    with pytest.raises(ValueError, match="no entries"):
        to_scenario(Cassette("empty"))
