"""Reply synthesis: every respond shape's chunks, the default responder's properties, merging."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_instance import vertex_schemas, vertex_to_json_schema  # tests/ is on sys.path

from mockvertex.contract.errors import Internal, ResourceExhausted, Unavailable
from mockvertex.contract.responses import BLOCKING_FINISH_REASONS, HARM_CATEGORIES, merge_chunks
from mockvertex.contract.tokens import part_tokens, request_tokens, text_tokens
from mockvertex.engine.faults import Delay, Disconnect, ErrorAfter, Fault, Malformed, Pacing
from mockvertex.engine.scenario import RequestContext, load_builtin, parse_step
from mockvertex.engine.synthesis import Reply, count_tokens_response, render, split_text

NOW = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
PROFILE: Any = SimpleNamespace(
    family="gemini-2.0-flash",
    model_version="gemini-2.0-flash-001",
    default_max_output_tokens=8192,
    max_output_tokens=SimpleNamespace(min=1, max=8193),
)
WEATHER_TOOL = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "OBJECT",
                "properties": {
                    "city": {"type": "STRING"},
                    "days": {"type": "INTEGER", "minimum": 1, "maximum": 7},
                },
                "required": ["city"],
            },
        },
        {
            "name": "get_time",
            "parametersJsonSchema": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    ]
}


def ctx(
    text: str = "Tell me about lighthouses.",
    *,
    method: str = "streamGenerateContent",
    **extra: Any,
) -> RequestContext:
    request = {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}
    return RequestContext("gemini-2.0-flash", method, "v1", request)


def go(step: dict[str, Any] | None, c: RequestContext | None = None) -> Reply:
    return render(None if step is None else parse_step(step), c or ctx(), PROFILE, now=NOW)


def candidate(chunk: dict[str, Any]) -> dict[str, Any]:
    cand: dict[str, Any] = chunk["candidates"][0]
    return cand


def texts(reply: Reply) -> list[str]:
    return [
        p["text"]
        for chunk in reply.chunks
        for p in candidate(chunk).get("content", {}).get("parts", [])
        if "text" in p
    ]


def assert_vertex_shape(reply: Reply, request: dict[str, Any]) -> None:
    """The invariants every synthesized candidate stream keeps."""
    chunks = reply.chunks
    assert chunks
    ids = {(c["modelVersion"], c["createTime"], c["responseId"]) for c in chunks}
    assert ids == {("gemini-2.0-flash-001", "2025-01-02T03:04:05.678901Z", chunks[0]["responseId"])}
    for chunk in chunks[:-1]:
        assert list(chunk) == [
            "candidates",
            "usageMetadata",
            "modelVersion",
            "createTime",
            "responseId",
        ]
        assert chunk["usageMetadata"] == {"trafficType": "ON_DEMAND"}
        assert set(candidate(chunk)) == {"content"}
        assert candidate(chunk)["content"]["role"] == "model"
    last = candidate(chunks[-1])
    assert "finishReason" in last
    assert [r["category"] for r in last["safetyRatings"]][:4] == list(HARM_CATEGORIES)
    usage = chunks[-1]["usageMetadata"]
    generated = [p for c in chunks for p in candidate(c).get("content", {}).get("parts", [])]
    text = "".join(p["text"] for p in generated if "text" in p)
    expected = text_tokens(text) + sum(part_tokens(p) for p in generated if "text" not in p)
    assert usage["promptTokenCount"] == request_tokens(request)
    assert usage["candidatesTokenCount"] == expected
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert usage["trafficType"] == "ON_DEMAND"
    assert sum(d["tokenCount"] for d in usage["promptTokensDetails"]) == usage["promptTokenCount"]
    assert usage["candidatesTokensDetails"] == [{"modality": "TEXT", "tokenCount": expected}]


# --------------------------------------------------------------------------------------------
# split_text


@given(st.text(alphabet=st.sampled_from("ab \n\t."), max_size=120))
def test_split_text_rejoins_and_has_two_chunks_from_two_words(text: str) -> None:
    pieces = split_text(text)
    assert "".join(pieces) == text
    words = len(text.split())
    if words >= 2:
        assert len(pieces) >= 2
    assert all(len(p.split()) <= 5 for p in pieces)
    assert all(p.strip() for p in pieces) or words == 0


def test_split_text_edges() -> None:
    assert split_text("") == []
    assert split_text("   ") == ["   "]
    assert split_text("one") == ["one"]
    assert split_text("  two words") == ["  two ", "words"]


# --------------------------------------------------------------------------------------------
# respond shapes


def test_text_is_split_into_deltas_with_finish_only_on_last() -> None:
    text = "one two three four five six seven eight nine ten eleven twelve"
    c = ctx()
    reply = go({"respond": {"text": text}}, c)
    assert "".join(texts(reply)) == text
    assert len(reply.chunks) == 3
    assert candidate(reply.chunks[-1])["finishReason"] == "STOP"
    assert_vertex_shape(reply, dict(c.request))
    assert all(
        r["probability"] == "NEGLIGIBLE" for r in candidate(reply.chunks[-1])["safetyRatings"]
    )
    assert reply.error is None
    assert reply.fault is None


def test_explicit_chunks_are_sent_one_per_chunk() -> None:
    reply = go({"respond": {"chunks": ["Hel", "lo", ""]}})
    assert texts(reply) == ["Hel", "lo", ""]
    assert_vertex_shape(reply, dict(ctx().request))


def test_empty_text_gives_one_chunk_without_parts() -> None:
    reply = go({"respond": {"text": ""}})
    assert len(reply.chunks) == 1
    assert candidate(reply.chunks[0])["content"] == {"role": "model"}
    assert reply.chunks[0]["usageMetadata"]["candidatesTokenCount"] == 0


def test_function_call_with_and_without_id() -> None:
    step = {"respond": {"functionCall": {"name": "f", "args": {"a": 1}, "id": "given"}}}
    reply = go(step)
    assert len(reply.chunks) == 1
    parts = candidate(reply.chunks[0])["content"]["parts"]
    assert parts == [{"functionCall": {"name": "f", "args": {"a": 1}, "id": "given"}}]
    assert_vertex_shape(reply, dict(ctx().request))
    generated = go({"respond": {"functionCall": {"name": "f"}}})
    call = candidate(generated.chunks[0])["content"]["parts"][0]["functionCall"]
    assert call["args"] == {}
    assert isinstance(call["id"], str)
    assert call["id"]
    assert go({"respond": {"functionCall": {"name": "f"}}}).chunks == generated.chunks


def test_function_calls_are_parts_of_one_candidate_with_distinct_ids() -> None:
    calls = [{"name": "a", "args": {"x": 1}}, {"name": "b", "args": {}}]
    reply = go({"respond": {"functionCalls": calls}})
    assert len(reply.chunks) == 1
    parts = candidate(reply.chunks[0])["content"]["parts"]
    assert [p["functionCall"]["name"] for p in parts] == ["a", "b"]
    assert len({p["functionCall"]["id"] for p in parts}) == 2
    assert_vertex_shape(reply, dict(ctx().request))


def test_text_then_function_call() -> None:
    reply = go({"respond": {"text": "Let me check that for you", "functionCall": {"name": "f"}}})
    assert "functionCall" in candidate(reply.chunks[-1])["content"]["parts"][0]
    assert "".join(texts(reply)) == "Let me check that for you"
    assert_vertex_shape(reply, dict(ctx().request))


@pytest.mark.parametrize("reason", ["MAX_TOKENS", "OTHER", "STOP", "MALFORMED_FUNCTION_CALL"])
def test_non_blocking_finish_reason_rides_on_the_last_text_chunk(reason: str) -> None:
    reply = go({"respond": {"text": "a b c d e f g", "finishReason": reason}})
    assert candidate(reply.chunks[-1])["finishReason"] == reason
    assert candidate(reply.chunks[-1])["content"]["parts"][0]["text"]


def test_recitation_block_has_an_empty_last_chunk_with_citations() -> None:
    cites = [{"startIndex": 0, "endIndex": 10, "uri": "https://example.com"}]
    reply = go(
        {"respond": {"text": "a b c d e f", "finishReason": "RECITATION", "citations": cites}}
    )
    last = candidate(reply.chunks[-1])
    assert "content" not in last
    assert last["finishReason"] == "RECITATION"
    assert last["citationMetadata"] == {"citations": cites}
    assert "".join(texts(reply)) == "a b c d e f"
    assert_vertex_shape(reply, dict(ctx().request))


def test_citations_without_block_ride_on_the_last_text_chunk() -> None:
    cites = [{"startIndex": 0, "endIndex": 3, "title": "T"}]
    reply = go({"respond": {"text": "a b", "citations": cites}})
    assert candidate(reply.chunks[-1])["citationMetadata"] == {"citations": cites}
    assert all("citationMetadata" not in candidate(c) for c in reply.chunks[:-1])


def test_block_prompt_is_one_chunk_without_candidates() -> None:
    c = ctx("something dangerous")
    reply = go({"respond": {"blockPrompt": {"reason": "SAFETY"}}}, c)
    assert len(reply.chunks) == 1
    chunk = reply.chunks[0]
    assert list(chunk) == [
        "promptFeedback",
        "usageMetadata",
        "modelVersion",
        "createTime",
        "responseId",
    ]
    n = request_tokens(c.request)
    assert chunk["usageMetadata"] == {"promptTokenCount": n, "totalTokenCount": n}
    feedback = chunk["promptFeedback"]
    assert feedback["blockReason"] == "SAFETY"
    assert "blockReasonMessage" not in feedback
    blocked = [r for r in feedback["safetyRatings"] if r.get("blocked")]
    assert blocked == [
        {
            "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
            "probability": "HIGH",
            "probabilityScore": blocked[0]["probabilityScore"],
            "severity": "HARM_SEVERITY_HIGH",
            "severityScore": blocked[0]["severityScore"],
            "blocked": True,
        }
    ]
    assert 0.7 <= blocked[0]["probabilityScore"] <= 1.0


def test_block_prompt_options() -> None:
    reply = go(
        {
            "respond": {
                "blockPrompt": {
                    "reason": "SAFETY",
                    "message": "Blocked.",
                    "category": "HARM_CATEGORY_CIVIC_INTEGRITY",
                    "probability": "MEDIUM",
                },
                "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
            }
        }
    )
    feedback = reply.chunks[0]["promptFeedback"]
    assert feedback["blockReasonMessage"] == "Blocked."
    assert feedback["safetyRatings"][-1]["category"] == "HARM_CATEGORY_CIVIC_INTEGRITY"
    assert feedback["safetyRatings"][-1]["severity"] == "HARM_SEVERITY_MEDIUM"
    assert sum(bool(r.get("blocked")) for r in feedback["safetyRatings"]) == 1
    assert reply.chunks[0]["usageMetadata"] == {"promptTokenCount": 7, "totalTokenCount": 7}
    other = go({"respond": {"blockPrompt": {"reason": "BLOCKLIST"}}}).chunks[0]["promptFeedback"]
    assert other == {"blockReason": "BLOCKLIST"}  # only a SAFETY block carries ratings
    given_ratings = [
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "LOW", "blocked": True}
    ]
    custom = go({"respond": {"blockPrompt": {"reason": "SAFETY", "safetyRatings": given_ratings}}})
    assert custom.chunks[0]["promptFeedback"]["safetyRatings"] == given_ratings


def test_block_response_delivers_text_then_an_empty_safety_chunk() -> None:
    step = {
        "respond": {
            "text": "the start of a longer answer here",
            "blockResponse": {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "MEDIUM"},
        }
    }
    reply = go(step)
    last = candidate(reply.chunks[-1])
    assert "content" not in last
    assert last["finishReason"] == "SAFETY"
    hate = last["safetyRatings"][0]
    assert (hate["category"], hate["probability"], hate["blocked"]) == (
        "HARM_CATEGORY_HATE_SPEECH",
        "MEDIUM",
        True,
    )
    assert "".join(texts(reply)) == "the start of a longer answer here"
    assert_vertex_shape(reply, dict(ctx().request))
    alone = go({"respond": {"blockResponse": {"category": "HARM_CATEGORY_HARASSMENT"}}})
    assert len(alone.chunks) == 1
    assert "content" not in candidate(alone.chunks[0])
    assert alone.chunks[0]["usageMetadata"]["candidatesTokenCount"] == 0


def test_safety_ratings_and_usage_overrides() -> None:
    ratings = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "LOW"}]
    reply = go(
        {
            "respond": {
                "text": "x y",
                "safetyRatings": ratings,
                "usageMetadata": {"candidatesTokenCount": 100, "thoughtsTokenCount": 5},
            }
        }
    )
    last = reply.chunks[-1]
    assert candidate(last)["safetyRatings"] == ratings
    usage = last["usageMetadata"]
    assert usage["candidatesTokenCount"] == 100
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 105
    pinned = go({"respond": {"text": "x", "usageMetadata": {"totalTokenCount": 1}}})
    assert pinned.chunks[-1]["usageMetadata"]["totalTokenCount"] == 1


def test_respond_without_content_keys_uses_the_default_text() -> None:
    plain = go(None)
    overridden = go({"respond": {"finishReason": "OTHER"}})
    assert texts(overridden) == texts(plain)
    assert candidate(overridden.chunks[-1])["finishReason"] == "OTHER"


def test_raw_chunks_are_sent_verbatim_and_copied() -> None:
    raw = [{"zeta": 1, "candidates": [{"content": {"parts": [{"text": "x"}]}}]}, {"alpha": [1, 2]}]
    step = {"respond": {"raw": raw}}
    original = copy.deepcopy(step)
    reply = go(step)
    assert list(reply.chunks) == raw
    assert [list(c) for c in reply.chunks] == [["zeta", "candidates"], ["alpha"]]
    reply.chunks[1]["alpha"].append(3)
    assert step == original


def test_seed_sample_is_reproduced_exactly() -> None:
    scenario = load_builtin("seed_banana_bread")
    reply = go(dict(scenario.steps[0].raw))
    raw = scenario.steps[0].raw["respond"]["raw"]
    assert json.dumps(list(reply.chunks)) == json.dumps(raw)
    assert len(reply.chunks) == 7


# --------------------------------------------------------------------------------------------
# errors, faults, delays


def test_error_step_defaults_and_retry_after() -> None:
    reply = go({"error": {"code": 429, "retryAfter": 2}, "delay": {"firstByte": 0.5}})
    assert reply.chunks == ()
    assert isinstance(reply.error, ResourceExhausted)
    assert reply.error.message == ResourceExhausted.default_message
    assert reply.fault is None
    assert reply.headers == {"Retry-After": "2"}
    assert reply.error.headers == {"Retry-After": "2"}
    assert reply.pacing == Pacing(first_byte=Delay("fixed", 0.5))
    envelope = reply.error.to_envelope()["error"]
    assert (envelope["code"], envelope["status"]) == (429, "RESOURCE_EXHAUSTED")


def test_error_step_custom_message_status_and_details() -> None:
    details = [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"}
    ]
    reply = go({"error": {"code": 429, "message": "base model: {model}.", "details": details}})
    assert reply.error is not None
    assert reply.error.message == "base model: gemini-2.0-flash."
    assert reply.error.to_envelope()["error"]["details"] == details
    assert reply.headers == {}
    odd = go({"error": {"code": 502, "status": "UNAVAILABLE"}}).error
    assert odd is not None
    assert (odd.http_status, odd.status) == (502, "UNAVAILABLE")
    assert isinstance(go({"error": {"code": 503}}).error, Unavailable)


def test_quota_builtin_names_the_model() -> None:
    step = load_builtin("quota_exhausted").steps[0].raw
    reply = go(dict(step))
    assert reply.error is not None
    assert "with base model: gemini-2.0-flash. Please submit" in reply.error.message


@pytest.mark.parametrize(
    ("kind", "fault_class"),
    [("disconnect", Disconnect), ("malformed", Malformed), ("error", ErrorAfter)],
)
def test_faults_and_delays(kind: str, fault_class: type[Fault]) -> None:
    step = {
        "respond": {"text": "a b c d e f g h i j k"},
        "fault": {"after": 2, "kind": kind},
        "delay": {"firstByte": 0.25, "betweenChunks": 0.125},
    }
    reply = go(step)
    assert isinstance(reply.fault, fault_class)
    assert reply.fault.after == 2  # type: ignore[attr-defined]
    assert reply.pacing == Pacing(
        first_byte=Delay("fixed", 0.25), between_chunks=Delay("fixed", 0.125)
    )
    assert len(reply.chunks) == 3
    assert reply.error is None
    if isinstance(reply.fault, ErrorAfter):
        assert isinstance(reply.fault.error.build("m"), Internal)


def test_mid_stream_error_uses_the_fault_error() -> None:
    reply = go({"fault": {"after": 1, "kind": "error", "error": {"code": 503, "message": "busy"}}})
    assert isinstance(reply.fault, ErrorAfter)
    error = reply.fault.error.build("gemini-2.0-flash")
    assert isinstance(error, Unavailable)
    assert error.message == "busy"
    assert reply.fault.after == 1
    assert len(reply.chunks) >= 2


# --------------------------------------------------------------------------------------------
# countTokens


def test_count_tokens_computed_overridden_and_consistent() -> None:
    c = ctx("How many tokens is this?", method="countTokens", tools=[WEATHER_TOOL])
    computed = go(None, c)
    assert computed.chunks == (count_tokens_response(c),)
    assert computed.chunks[0]["totalTokens"] == request_tokens(c.request)
    assert computed.chunks[0]["totalBillableCharacters"] == len("Howmanytokensisthis?")
    fixed = go({"respond": {"totalTokens": 42}}, c)
    assert fixed.chunks[0] == {"totalTokens": 42, "totalBillableCharacters": 20}
    generated = go(None, ctx("How many tokens is this?", tools=[WEATHER_TOOL]))
    assert (
        generated.chunks[-1]["usageMetadata"]["promptTokenCount"]
        == computed.chunks[0]["totalTokens"]
    )


def test_count_tokens_with_instances() -> None:
    c = RequestContext("m", "countTokens", "v1", {"instances": ["abcd efgh", {"k": 1}]})
    assert count_tokens_response(c) == {
        "totalTokens": text_tokens("abcd efgh") + text_tokens('{"k":1}'),
        "totalBillableCharacters": 8 + 7,
    }


# --------------------------------------------------------------------------------------------
# default responder

prompts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=400
)


@settings(max_examples=60)
@given(prompts)
def test_default_is_deterministic_and_well_formed(prompt: str) -> None:
    c = ctx(prompt)
    first, second = go(None, c), go(None, c)
    assert first == second
    assert_vertex_shape(first, dict(c.request))
    assert candidate(first.chunks[-1])["finishReason"] == "STOP"
    wanted = max(8, min(200, 2 * request_tokens(c.request)))
    produced = first.chunks[-1]["usageMetadata"]["candidatesTokenCount"]
    assert wanted <= produced <= wanted + 30
    words = "".join(texts(first)).split()
    assert len(first.chunks) >= max(2, len(words) // 5)
    later = render(None, c, PROFILE, now=datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert texts(later) == texts(first)
    assert later.chunks[0]["responseId"] == first.chunks[0]["responseId"]


@settings(max_examples=60)
@given(prompts, st.integers(min_value=1, max_value=120))
def test_default_respects_max_output_tokens(prompt: str, limit: int) -> None:
    free = go(None, ctx(prompt))
    full = "".join(texts(free))
    capped = go(None, ctx(prompt, generationConfig={"maxOutputTokens": limit}))
    text = "".join(texts(capped))
    usage = capped.chunks[-1]["usageMetadata"]
    assert usage["candidatesTokenCount"] <= limit
    assert full.startswith(text)
    if text_tokens(full) > limit:
        assert candidate(capped.chunks[-1])["finishReason"] == "MAX_TOKENS"
        assert text_tokens(text) == limit
    else:
        assert candidate(capped.chunks[-1])["finishReason"] == "STOP"
        assert text == full


def test_works_with_a_real_profile() -> None:
    from mockvertex.contract.profiles import ProfileRegistry

    profile = ProfileRegistry.builtin().resolve("gemini-1.0-pro")
    reply = render(None, ctx(generationConfig={"maxOutputTokens": 5}), profile, now=NOW)
    assert reply.chunks[0]["modelVersion"] == profile.model_version
    assert reply.chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 5
    assert candidate(reply.chunks[-1])["finishReason"] == "MAX_TOKENS"


def test_default_max_output_tokens_comes_from_the_profile() -> None:
    small: Any = SimpleNamespace(**{**vars(PROFILE), "default_max_output_tokens": 3})
    reply = render(None, ctx(), small, now=NOW)
    assert reply.chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 3
    assert candidate(reply.chunks[-1])["finishReason"] == "MAX_TOKENS"
    ceiling: Any = SimpleNamespace(**{**vars(PROFILE), "max_output_tokens": SimpleNamespace(max=5)})
    capped = render(None, ctx(generationConfig={"maxOutputTokens": 100}), ceiling, now=NOW)
    assert capped.chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 4


@settings(max_examples=60)
@given(prompt=prompts, index=st.integers(min_value=0, max_value=30), decoy=st.booleans())
def test_default_cuts_at_the_first_stop_sequence(prompt: str, index: int, *, decoy: bool) -> None:
    full = "".join(texts(go(None, ctx(prompt))))
    words = full.split()
    stop = words[index % len(words)]
    stops = [stop, "zz-not-there"] if decoy else [stop]
    reply = go(None, ctx(prompt, generationConfig={"stopSequences": stops}))
    text = "".join(texts(reply))
    assert text == full[: full.index(stop)]
    assert stop not in text
    assert candidate(reply.chunks[-1])["finishReason"] == "STOP"
    assert reply.chunks[-1]["usageMetadata"]["candidatesTokenCount"] == text_tokens(text)


@settings(max_examples=80)
@given(vertex_schemas, prompts)
def test_default_json_mode_is_valid_against_response_schema(
    schema: dict[str, Any], prompt: str
) -> None:
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    reply = go(None, ctx(prompt, generationConfig=config))
    assume(candidate(reply.chunks[-1])["finishReason"] == "STOP")
    text = "".join(texts(reply))
    jsonschema.validate(json.loads(text), vertex_to_json_schema(schema))
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    if len(text) >= 2:
        assert len(reply.chunks) >= 2


def test_default_json_mode_with_json_schema_and_without_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
        "required": ["tags"],
        "additionalProperties": False,
    }
    config = {"responseMimeType": "application/json", "responseJsonSchema": schema}
    value = json.loads("".join(texts(go(None, ctx(generationConfig=config)))))
    jsonschema.validate(value, schema)
    bare = json.loads(
        "".join(texts(go(None, ctx(generationConfig={"responseMimeType": "application/json"}))))
    )
    assert isinstance(bare, dict)
    assert bare


def test_default_enum_mode_answers_one_value() -> None:
    config = {
        "responseMimeType": "text/x.enum",
        "responseSchema": {"type": "STRING", "enum": ["yes", "no"]},
    }
    reply = go(None, ctx(generationConfig=config))
    assert "".join(texts(reply)) in ("yes", "no")


@settings(max_examples=80)
@given(vertex_schemas.filter(lambda s: str(s.get("type", "")).upper() == "OBJECT"), prompts)
def test_default_function_call_args_are_valid(parameters: dict[str, Any], prompt: str) -> None:
    tools = [{"functionDeclarations": [{"name": "do_it", "parameters": parameters}]}]
    c = ctx(prompt, tools=tools)
    reply = go(None, c)
    assert len(reply.chunks) == 1
    call = candidate(reply.chunks[0])["content"]["parts"][0]["functionCall"]
    assert call["name"] == "do_it"
    jsonschema.validate(call["args"], vertex_to_json_schema(parameters))
    assert candidate(reply.chunks[0])["finishReason"] == "STOP"
    assert_vertex_shape(reply, dict(c.request))


def _after_response(**extra: Any) -> RequestContext:
    request = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
            },
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 18}}}],
            },
        ],
        "tools": [WEATHER_TOOL],
        **extra,
    }
    return RequestContext("gemini-2.0-flash", "generateContent", "v1", request)


def _call(reply: Reply) -> dict[str, Any] | None:
    part = candidate(reply.chunks[-1])["content"]["parts"][0]
    found: dict[str, Any] | None = part.get("functionCall")
    return found


def test_tool_choice_rules() -> None:
    first = _call(go(None, ctx("Weather in Paris?", tools=[WEATHER_TOOL])))
    assert first is not None
    assert first["name"] == "get_weather"
    assert set(first["args"]) >= {"city"}
    assert 1 <= first["args"].get("days", 1) <= 7
    assert _call(go(None, _after_response())) is None
    forced = {"functionCallingConfig": {"mode": "ANY"}}
    assert _call(go(None, _after_response(toolConfig=forced))) is not None
    none = {"functionCallingConfig": {"mode": "NONE"}}
    assert _call(go(None, ctx("Weather?", tools=[WEATHER_TOOL], toolConfig=none))) is None
    allowed = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}
    chosen = _call(go(None, ctx("Time?", tools=[WEATHER_TOOL], toolConfig=allowed)))
    assert chosen is not None
    assert chosen["name"] == "get_time"
    assert set(chosen["args"]) <= {"tz"}


def test_prompt_details_split_media_from_text() -> None:
    request = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://b/x.jpg"}},
                    {"text": "Describe this picture."},
                ],
            }
        ]
    }
    reply = go(None, RequestContext("m", "generateContent", "v1", request))
    details = reply.chunks[-1]["usageMetadata"]["promptTokensDetails"]
    assert details == [
        {"modality": "TEXT", "tokenCount": text_tokens("Describe this picture.")},
        {"modality": "IMAGE", "tokenCount": 258},
    ]


# --------------------------------------------------------------------------------------------
# merge_chunks


def test_merge_concatenates_text_and_keeps_last_fields() -> None:
    c = ctx()
    stream = go(None, c).chunks
    merged = merge_chunks(stream)
    assert list(merged) == [
        "candidates",
        "usageMetadata",
        "modelVersion",
        "createTime",
        "responseId",
    ]
    cand = merged["candidates"][0]
    assert cand["content"] == {"role": "model", "parts": [{"text": "".join(texts(go(None, c)))}]}
    assert cand["finishReason"] == "STOP"
    assert cand["safetyRatings"] == candidate(stream[-1])["safetyRatings"]
    assert merged["usageMetadata"] == stream[-1]["usageMetadata"]
    assert merged["responseId"] == stream[0]["responseId"]


def test_merge_keeps_function_calls_and_thoughts_apart() -> None:
    chunks: list[dict[str, Any]] = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "a", "thought": True}]}}]},
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"text": "b", "thought": True}, {"text": "c"}],
                    }
                }
            ]
        },
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"text": "d"}, {"functionCall": {"name": "f"}}],
                    }
                }
            ]
        },
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "e"}]}, "finishReason": "STOP"}
            ]
        },
    ]
    merged = merge_chunks(chunks)
    assert merged["candidates"][0]["content"]["parts"] == [
        {"text": "ab", "thought": True},
        {"text": "cd"},
        {"functionCall": {"name": "f"}},
        {"text": "e"},
    ]
    assert "usageMetadata" not in merged


def test_merge_combines_citations_of_the_seed_sample() -> None:
    raw = load_builtin("seed_banana_bread").steps[0].raw["respond"]["raw"]
    merged = merge_chunks(raw)
    cand = merged["candidates"][0]
    assert cand["content"]["parts"][0]["text"].startswith("Ingredients:\n\n- 3 ripe bananas")
    assert [c["startIndex"] for c in cand["citationMetadata"]["citations"]] == [322, 472, 666, 728]
    assert cand["finishReason"] == "STOP"
    assert merged["usageMetadata"] == {
        "promptTokenCount": 8,
        "candidatesTokenCount": 245,
        "totalTokenCount": 253,
    }
    assert list(cand) == ["content", "safetyRatings", "finishReason", "citationMetadata"]


def test_merge_of_blocks() -> None:
    prompt_block = go({"respond": {"blockPrompt": {"reason": "SAFETY"}}}).chunks
    merged = merge_chunks(prompt_block)
    assert "candidates" not in merged
    assert merged["promptFeedback"] == prompt_block[0]["promptFeedback"]
    response_block = go(
        {"respond": {"text": "a b c", "blockResponse": {"category": "HARM_CATEGORY_HARASSMENT"}}}
    )
    cand = merge_chunks(response_block.chunks)["candidates"][0]
    assert "content" not in cand
    assert cand["finishReason"] == "SAFETY"
    assert cand["finishReason"] in BLOCKING_FINISH_REASONS


def test_merge_keeps_first_prompt_feedback_and_candidate_indexes() -> None:
    chunks = [
        {
            "promptFeedback": {"blockReason": "OTHER"},
            "candidates": [{"index": 1, "content": {"parts": [{"text": "x"}]}}],
        },
        {
            "promptFeedback": {"blockReason": "SAFETY"},
            "candidates": [{"index": 0, "content": {"parts": [{"text": "y"}]}}],
        },
    ]
    merged = merge_chunks(chunks)
    assert merged["promptFeedback"] == {"blockReason": "OTHER"}
    assert [c["index"] for c in merged["candidates"]] == [0, 1]
    assert [c["content"]["parts"][0]["text"] for c in merged["candidates"]] == ["y", "x"]


# ------------------------------------------------------------------ thought summaries


def _thinking_reply(model: str, *, include: bool) -> Reply:
    from mockvertex.contract.profiles import ProfileRegistry

    profile = ProfileRegistry.builtin().resolve(model)
    config = {"thinkingConfig": {"includeThoughts": include, "thinkingBudget": 512}}
    request = {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}
    c = RequestContext(
        model, "streamGenerateContent", "v1", {**request, "generationConfig": config}
    )
    return render(None, c, profile, now=NOW)


def test_include_thoughts_on_a_thinking_model_sends_a_thought_part_first() -> None:
    reply = _thinking_reply("gemini-2.5-flash", include=True)
    first = candidate(reply.chunks[0])["content"]["parts"]
    assert first[0]["thought"] is True
    assert first[0]["text"]
    later = [
        p
        for chunk in reply.chunks[1:]
        for p in candidate(chunk).get("content", {}).get("parts", [])
    ]
    assert later
    assert not any(p.get("thought") for p in later)
    usage = reply.chunks[-1]["usageMetadata"]
    answer = "".join(p["text"] for p in later)
    assert usage["thoughtsTokenCount"] == text_tokens(first[0]["text"])
    assert usage["candidatesTokenCount"] == text_tokens(answer)
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    merged = merge_chunks(reply.chunks)
    parts = merged["candidates"][0]["content"]["parts"]
    assert [bool(p.get("thought")) for p in parts] == [True, False]


@pytest.mark.parametrize(
    ("model", "include"), [("gemini-2.5-flash", False), ("gemini-2.0-flash", True)]
)
def test_no_thought_part_unless_asked_of_a_thinking_model(model: str, *, include: bool) -> None:
    reply = _thinking_reply(model, include=include)
    parts = [
        p for chunk in reply.chunks for p in candidate(chunk).get("content", {}).get("parts", [])
    ]
    assert parts
    assert not any(p.get("thought") for p in parts)
    assert "thoughtsTokenCount" not in reply.chunks[-1]["usageMetadata"]
