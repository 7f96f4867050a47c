"""The request strategies: valid bodies pass ``validate_request`` for their model in every form
(casing, single objects, integer enums); each mutation is refused with exactly the status,
field path and message it announces; bodies shrink small; runs are reproducible."""

from __future__ import annotations

import dataclasses
import doctest
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import mockvertex.strategies
from mockvertex.conformance import bodies, mutations
from mockvertex.conformance import strategies as impl
from mockvertex.contract import protojson
from mockvertex.contract.errors import InvalidArgument, NotFound
from mockvertex.contract.profiles import ProfileRegistry
from mockvertex.contract.validation import validate_request
from mockvertex.strategies import (
    MUTATION_KINDS,
    Casing,
    Mutation,
    count_tokens_requests,
    generate_content_requests,
    invalid_requests,
    mutation_kinds,
)

FAMILIES = ProfileRegistry.builtin().families()
METHODS = ("generateContent", "countTokens")
# (casing, single_objects, int_enums)
FORMS: dict[str, tuple[Casing, bool, bool]] = {
    "camel": ("camel", False, False),
    "snake-single-int": ("snake", True, True),
    "mixed-single": ("mixed", True, False),
}
# Enough examples per case for every branch to turn up across the parametrized cases, few
# enough that the file runs in seconds on two cores.
FEW = settings(max_examples=30, database=None, suppress_health_check=[HealthCheck.too_slow])
# find() treats what it finds as a failure: skip the explain phase, which would cost more than
# the shrinking under test. Derandomized, since a shrinker may stop in a local minimum from
# some starting points: the shrinking tests assert what it reaches from a fixed one.
QUIET = settings(
    database=None,
    derandomize=True,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)


def strategy_for(method: str) -> Any:
    return count_tokens_requests if method == "countTokens" else generate_content_requests


def root(method: str, api_version: str = "v1") -> protojson.MessageType:
    name = "CountTokensRequest" if method == "countTokens" else "GenerateContentRequest"
    return protojson.message_type(f"{api_version}/{name}")


def keys_and_values(
    obj: Any, msg: protojson.MessageType
) -> Iterator[tuple[str, Any, Any]]:  # (key as sent, its field, the value)
    """Every field of a body as sent, walked with the compiled types (not into Structs)."""
    if not isinstance(obj, Mapping):
        return
    for key, value in obj.items():
        f = msg.lookup[key]
        yield key, f, value
        items = value if f.repeated and isinstance(value, list) else [value]
        for item in items:
            if f.kind == "message" and f.message is not None:
                yield from keys_and_values(item, f.message)
            elif f.kind == "map" and f.map_value is not None and f.map_value.message is not None:
                for v in item.values():
                    yield from keys_and_values(v, f.map_value.message)


# ------------------------------------------------------------------------------- validity


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", FAMILIES)
@FEW
@given(data=st.data())
def test_every_body_is_valid_for_its_model(model: str, method: str, data: st.DataObject) -> None:
    body = data.draw(strategy_for(method)(model, casing="mixed", single_objects=True))
    validate_request(body, model=model, method=method)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("api_version", ["v1", "v1beta1"])
@pytest.mark.parametrize("model", ["gemini-1.0-pro-vision", "gemini-2.0-flash", "gemini-2.5-pro"])
@FEW
@given(data=st.data())
def test_each_form_decodes_to_the_canonical_request(
    model: str, api_version: str, form: str, data: st.DataObject
) -> None:
    """What the validator makes of a body in any form is exactly the request that was drawn."""
    casing, single, ints = FORMS[form]
    ctx = bodies.context(model, api_version, "generateContent", None, 2, 3)
    shape = bodies.form_of(casing, single_objects=single, int_enums=ints)
    canonical, sent = data.draw(bodies.drawn_requests(ctx, shape, canonical=True))
    assert validate_request(sent, model=model, api_version=api_version) == canonical


def test_bodies_use_every_part_kind_and_feature() -> None:
    """Across a modest run, every part kind and every top-level feature turns up."""
    seen: set[str] = set()

    @settings(QUIET, max_examples=300, derandomize=True)
    @given(generate_content_requests("gemini-2.5-flash", max_turns=3))
    def collect(body: dict[str, Any]) -> None:
        seen.update(body)
        seen.update(k for c in body["contents"] for p in c["parts"] for k in p)
        seen.update(body.get("generationConfig", {}))
        seen.update(k for t in body.get("tools", ()) for k in t)

    collect()
    parts = {"text", "inlineData", "fileData", "functionCall", "functionResponse"}
    parts |= {"executableCode", "codeExecutionResult", "videoMetadata"}
    features = {"systemInstruction", "tools", "toolConfig", "safetySettings", "labels"}
    features |= {"functionDeclarations", "codeExecution", "thinkingConfig", "responseSchema"}
    features |= {"temperature", "topP", "topK", "candidateCount", "maxOutputTokens"}
    features |= {"stopSequences", "responseMimeType", "seed"}
    assert parts | features <= seen


@FEW
@given(count_tokens_requests("gemini-2.0-flash"))
def test_count_tokens_bodies_hold_only_count_tokens_fields(body: dict[str, Any]) -> None:
    assert set(body) <= set(root("countTokens").fields)


def test_no_code_execution_or_media_where_the_model_lacks_it() -> None:
    @settings(QUIET, max_examples=150)
    @given(generate_content_requests("gemini-1.0-pro"))
    def text_only(body: dict[str, Any]) -> None:
        kinds = {k for c in body["contents"] for p in c["parts"] for k in p}
        assert kinds <= {"text", "functionCall", "functionResponse"}
        assert "systemInstruction" not in body  # gemini-1.0-pro has none before -002

    text_only()


def test_generation_configs_stay_within_the_profile() -> None:
    profile = ProfileRegistry.builtin().resolve("gemini-1.0-pro")

    @settings(QUIET, max_examples=150)
    @given(generate_content_requests("gemini-1.0-pro"))
    def within(body: dict[str, Any]) -> None:
        gc = body.get("generationConfig", {})
        assert gc.get("temperature", 0) <= 1.0
        assert gc.get("candidateCount", 1) == 1
        assert len(gc.get("stopSequences", ())) <= profile.max_stop_sequences
        assert "thinkingConfig" not in gc
        assert "responseMimeType" not in gc  # 1.0 takes none

    within()


# --------------------------------------------------------------------------------- forms


@FEW
@given(generate_content_requests("gemini-2.5-flash", casing="snake"))
def test_snake_case_names_every_field_by_its_proto_name(body: dict[str, Any]) -> None:
    for key, f, _ in keys_and_values(body, root("generateContent")):
        assert key == f.proto_name


@FEW
@given(generate_content_requests("gemini-2.5-flash"))
def test_camel_case_names_every_field_by_its_json_name(body: dict[str, Any]) -> None:
    for key, f, _ in keys_and_values(body, root("generateContent")):
        assert key == f.json_name


def test_mixed_casing_uses_both_names_in_one_body() -> None:
    msg = root("generateContent")

    def both(body: dict[str, Any]) -> bool:
        keys = [(k, f) for k, f, _ in keys_and_values(body, msg) if f.json_name != f.proto_name]
        return {k == f.json_name for k, f in keys} == {True, False}

    body = find(generate_content_requests(casing="mixed"), both, settings=QUIET)
    assert both(body)


def test_single_objects_send_a_lone_item_bare() -> None:
    def bare(body: dict[str, Any]) -> bool:
        return isinstance(body["contents"], dict)

    body = find(generate_content_requests(single_objects=True), bare, settings=QUIET)
    assert validate_request(body, model="gemini-2.0-flash")["contents"] == [body["contents"]]


@FEW
@given(generate_content_requests("gemini-2.0-flash", int_enums=True))
def test_int_enums_are_the_gapic_transport_form(body: dict[str, Any]) -> None:
    """Every enum with a number goes as that number: what protojson's own int-enum encoder
    (the mock's answer to ``$alt=json;enum-encoding=int``) makes of the same request."""
    msg = root("generateContent")
    for _, f, value in keys_and_values(body, msg):
        if f.kind == "enum":
            values = value if isinstance(value, list) else [value]
            assert all(isinstance(v, int) for v in values)
    normalized = validate_request(body, model="gemini-2.0-flash")
    assert protojson.encode_int_enums(normalized, msg) == body


def test_int_enums_reach_safety_settings() -> None:
    body = find(
        generate_content_requests(int_enums=True), lambda b: "safetySettings" in b, settings=QUIET
    )
    setting = body["safetySettings"][0]
    assert isinstance(setting["category"], int)
    assert isinstance(setting["threshold"], int)


# ----------------------------------------------------------------------------- mutations


def check(mutation: Mutation) -> InvalidArgument:
    """The mutation is refused exactly as it says: 400, INVALID_ARGUMENT, one field path
    (none for a syntax error) and the message, if one is announced."""
    assert mutation.expected_http == 400
    assert mutation.expected_status == "INVALID_ARGUMENT"
    with pytest.raises(InvalidArgument) as info:
        validate_request(
            mutation.body,
            model=mutation.model,
            method=mutation.method,
            api_version=mutation.api_version,
        )
    error = info.value
    assert (error.http_status, error.status) == (400, "INVALID_ARGUMENT")
    fields = [v.field for v in error.violations]
    assert fields == ([] if mutation.expected_field is None else [mutation.expected_field])
    assert mutation.message_matches(error.message), (mutation.expected_message, error.message)
    return error


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", FAMILIES)
@settings(FEW, max_examples=40)
@given(data=st.data())
def test_every_mutation_is_refused_as_it_says(
    model: str, method: str, form: str, data: st.DataObject
) -> None:
    casing, single, ints = FORMS[form]
    strategy = invalid_requests(
        model, method=method, casing=casing, single_objects=single, int_enums=ints
    )
    check(data.draw(strategy))


def test_v1beta1_mutations_are_refused_as_they_say() -> None:
    @settings(QUIET, max_examples=100)
    @given(invalid_requests("gemini-2.5-flash", "v1beta1", casing="mixed"))
    def refused(mutation: Mutation) -> None:
        assert mutation.api_version == "v1beta1"
        check(mutation)

    refused()


# Per kind: a model it applies to, the field path it must name, and whether Vertex's wording
# is known (an announced message) for it: always, never, or for some sites (None).
_INDEX = r"\[\d+\]"
_PART = rf"(contents{_INDEX}|system_instruction)\.parts{_INDEX}"
_DECL = rf"tools{_INDEX}\.function_declarations{_INDEX}"
_SCHEMA = rf"{_DECL}\.parameters(\.(properties{_INDEX}\.value|items))*"
EXPECTATIONS: dict[str, tuple[str, str | None, bool | None]] = {
    "unknown_field": ("gemini-2.0-flash", r".*", True),
    "wrong_type": ("gemini-2.0-flash", r".+", True),
    "object_for_scalar": ("gemini-2.0-flash", r".+", True),
    "not_repeating": ("gemini-2.0-flash", r".*", True),
    "bad_enum": ("gemini-2.0-flash", r".+", True),
    "bad_base64": ("gemini-2.0-flash", r".+\.(thought_signature|inline_data\.data)", True),
    "bad_duration": ("gemini-2.0-flash", rf"{_PART}\.video_metadata\.start_offset", True),
    "malformed_json": ("gemini-2.0-flash", None, True),
    "root_not_object": ("gemini-2.0-flash", "", True),
    "missing_required": (
        "gemini-2.0-flash",
        rf"contents|contents{_INDEX}\.parts|system_instruction\.parts|{_PART}\.\w+\.\w+",
        None,
    ),
    "out_of_range": (
        "gemini-2.0-flash",
        r"generation_config\.(temperature|top_p|top_k|candidate_count|max_output_tokens)",
        True,
    ),
    "too_many_stop_sequences": ("gemini-2.0-flash", r"generation_config\.stop_sequences", False),
    "bad_role": ("gemini-2.0-flash", rf"contents{_INDEX}\.role", True),
    "system_role": ("gemini-2.0-flash", rf"contents{_INDEX}\.role", True),
    "two_data_fields": ("gemini-2.0-flash", _PART, False),
    "no_data_field": ("gemini-2.0-flash", _PART, False),
    "empty_text": ("gemini-2.0-flash", rf"{_PART}\.text", True),
    "bad_function_name": ("gemini-2.0-flash", rf"{_DECL}\.name", True),
    "bad_parameter_name": (
        "gemini-2.0-flash",
        rf"{_DECL}\.parameters\.properties{_INDEX}\.key",
        False,
    ),
    "parameters_not_object": ("gemini-2.0-flash", rf"{_DECL}\.parameters", False),
    "schema_type_missing": ("gemini-2.0-flash", _SCHEMA, True),
    "enum_on_object": ("gemini-2.0-flash", _SCHEMA, True),
    "bad_mime_type": ("gemini-2.0-flash", rf"{_PART}\.(inline|file)_data\.mime_type", False),
    "bad_response_mime_type": (
        "gemini-2.0-flash",
        r"generation_config\.response_mime_type",
        False,
    ),
    "response_without_call": ("gemini-2.0-flash", r"contents\[0\]", True),
    "response_count_mismatch": ("gemini-2.0-flash", rf"contents{_INDEX}", True),
    "call_without_user_turn": ("gemini-2.0-flash", r"contents\[0\]", True),
    "unsupported_system_instruction": ("gemini-1.0-pro", r"system_instruction", False),
    "unsupported_function_calling": (
        "gemini-1.0-pro-vision",
        rf"tools{_INDEX}\.function_declarations",
        False,
    ),
    "unsupported_response_schema": (
        "gemini-1.0-pro",
        r"generation_config\.response_schema",
        False,
    ),
    "unsupported_thinking": ("gemini-2.0-flash", r"generation_config\.thinking_config", True),
    "thinking_budget_out_of_range": (
        "gemini-2.5-flash-lite",
        r"generation_config\.thinking_config\.thinking_budget",
        True,
    ),
    "thinking_off_unsupported": (
        "gemini-2.5-pro",
        r"generation_config\.thinking_config\.thinking_budget",
        True,
    ),
    "include_thoughts_without_thinking": (
        "gemini-2.5-flash",
        r"generation_config\.thinking_config\.include_thoughts",
        True,
    ),
}


def test_the_expectation_table_covers_every_kind() -> None:
    assert set(EXPECTATIONS) == set(MUTATION_KINDS)


@pytest.mark.parametrize("kind", MUTATION_KINDS)
@settings(FEW, max_examples=25)
@given(data=st.data())
def test_each_kind_names_its_field_and_wording(kind: str, data: st.DataObject) -> None:
    model, field, worded = EXPECTATIONS[kind]
    mutation = data.draw(invalid_requests(model, kinds=[kind], casing="mixed", int_enums=True))
    assert mutation.kind == kind
    if field is None:
        assert mutation.expected_field is None
    else:
        assert mutation.expected_field is not None
        assert re.fullmatch(field, mutation.expected_field)
    if worded is not None:
        assert (mutation.expected_message is not None) == worded
    check(mutation)


def test_out_of_range_quotes_the_range_as_vertex_does() -> None:
    mutation = find(
        invalid_requests(kinds=["out_of_range"]),
        lambda m: m.expected_field == "generation_config.top_k",
        settings=QUIET,
    )
    error = check(mutation)
    assert re.fullmatch(
        r"Unable to submit request because it has a topK value of \S+ but the supported range "
        r"is from 1 \(inclusive\) to 41 \(exclusive\)\. Update the value and try again\.",
        error.message,
    )


@FEW
@given(invalid_requests(kinds=["bad_enum"], int_enums=True))
def test_bad_enums_in_int_enum_bodies_are_numbers(mutation: Mutation) -> None:
    """The gapic transport's form gets a number no enum value has, quoted as sent."""
    error = check(mutation)
    assert re.search(r"\), [0-9]{3}$", error.message)


def test_kinds_follow_the_model() -> None:
    assert "thinking_off_unsupported" in mutation_kinds("gemini-2.5-pro")
    assert "thinking_off_unsupported" not in mutation_kinds("gemini-2.5-flash")
    assert "unsupported_thinking" in mutation_kinds("gemini-2.0-flash")
    assert "unsupported_system_instruction" in mutation_kinds("gemini-1.0-pro")
    assert "unsupported_system_instruction" not in mutation_kinds("gemini-1.0-pro-002")
    assert "bad_mime_type" not in mutation_kinds("gemini-1.0-pro")
    assert "bad_function_name" not in mutation_kinds("gemini-1.0-pro-vision")
    assert set(mutation_kinds("gemini-2.5-flash", method="countTokens")) <= set(MUTATION_KINDS)


# ------------------------------------------------------------------------------ shrinking


@pytest.mark.parametrize("kind", MUTATION_KINDS)
def test_mutations_shrink_to_small_bodies(kind: str) -> None:
    model = EXPECTATIONS[kind][0]
    mutation = find(invalid_requests(model, kinds=[kind]), lambda m: True, settings=QUIET)
    check(mutation)
    assert len(mutation.body_bytes()) < 400, mutation.body_bytes()


def test_a_failing_property_shrinks_to_the_minimal_body() -> None:
    """The smallest body holding a function call: one user turn, the call, its response."""
    body = find(
        generate_content_requests(),
        lambda b: any("functionCall" in p for c in b["contents"] for p in c["parts"]),
        settings=QUIET,
    )
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert [len(c["parts"]) for c in body["contents"]] == [1, 1, 1]
    assert set(body) == {"contents", "tools"}
    assert len(body["tools"]) == 1
    assert len(body["tools"][0]["functionDeclarations"]) == 1


def test_the_smallest_body_is_one_short_user_turn() -> None:
    body = find(generate_content_requests(), lambda b: True, settings=QUIET)
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": body["contents"][0]["parts"][0]["text"]}]}]
    }
    assert len(body["contents"][0]["parts"][0]["text"]) == 1


# ---------------------------------------------------------------------------- determinism


def _draw_twice(strategy: Any) -> tuple[list[str], list[str]]:
    """The bodies two derandomized runs draw, as canonical JSON text."""
    runs: list[list[str]] = [[], []]
    for seen in runs:

        @settings(QUIET, max_examples=30, derandomize=True)
        @given(strategy)
        def collect(value: Any) -> None:
            body = value.body_bytes().decode() if isinstance(value, Mutation) else value
            seen.append(json.dumps(body, sort_keys=True))  # noqa: B023 - run at once

        collect()
    return runs[0], runs[1]


def test_derandomized_runs_draw_the_same_bodies() -> None:
    first, second = _draw_twice(generate_content_requests("gemini-2.5-flash", casing="mixed"))
    assert first == second
    assert len(set(first)) > 10


def test_derandomized_runs_draw_the_same_mutations() -> None:
    first, second = _draw_twice(invalid_requests("gemini-2.0-flash", int_enums=True))
    assert first == second
    assert len(set(first)) > 10


# ------------------------------------------------------------------------------ the API


def test_arguments_are_checked_when_the_strategy_is_made() -> None:
    with pytest.raises(NotFound):
        generate_content_requests("gemini-0.1-nope")
    with pytest.raises(ValueError, match="casing"):
        generate_content_requests(casing="kebab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="api_version"):
        count_tokens_requests(api_version="v2")
    with pytest.raises(ValueError, match="method"):
        invalid_requests(method="streamGenerateContents")
    with pytest.raises(ValueError, match="unknown mutation kinds: nonsense"):
        invalid_requests(kinds=["nonsense"])
    with pytest.raises(ValueError, match=r"apply to gemini-2\.5-pro"):
        invalid_requests("gemini-2.5-pro", kinds=["unsupported_thinking"])


def test_a_mutation_is_a_frozen_value_that_sends_itself() -> None:
    mutation = Mutation(
        body={"contents": []},
        kind="missing_required",
        expected_field="contents",
        expected_message=r"Unable to submit request .*",
        model="gemini-2.0-flash",
        method="generateContent",
        api_version="v1",
    )
    assert mutation.body_bytes() == b'{"contents":[]}'
    assert mutation.message_matches("Unable to submit request because\nof this.")
    assert not mutation.message_matches("Something else")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mutation.kind = "other"  # type: ignore[misc]
    raw = dataclasses.replace(mutation, body=b"{", expected_message=None)
    assert raw.body_bytes() == b"{"
    assert raw.message_matches("anything")


def test_the_public_module_lists_exactly_the_strategies() -> None:
    assert mockvertex.strategies.__all__ == impl.__all__
    for name in impl.__all__:
        assert getattr(mockvertex.strategies, name) is getattr(impl, name)
    assert tuple(k.name for k in mutations.KINDS) == MUTATION_KINDS


def test_importing_mockvertex_loads_no_hypothesis() -> None:
    code = (
        "import sys, mockvertex\n"
        "mockvertex.validate_request, mockvertex.InvalidArgument\n"
        "print(sorted(m for m in sys.modules if m.startswith(('hypothesis', 'mockvertex.conf'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_without_hypothesis_the_import_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['hypothesis'] = None\n"
        "try:\n"
        "    import mockvertex.strategies\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == (
        "mockvertex.strategies needs Hypothesis: pip install 'mockvertex[conformance]'"
    )


@pytest.mark.parametrize("module", [impl, mockvertex.strategies])
def test_the_docstring_examples_run(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
