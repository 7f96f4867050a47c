"""Scenario matching, step lifetimes, the book's ordering and thread safety, and loader errors."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mockvertex.contract import resources
from mockvertex.contract.errors import DataFileError
from mockvertex.engine.scenario import (
    RequestContext,
    Scenario,
    ScenarioBook,
    load_builtin,
    load_scenario,
)


def ctx(
    *texts: str | tuple[str, str],
    model: str = "gemini-2.0-flash",
    method: str = "streamGenerateContent",
    **extra: Any,
) -> RequestContext:
    """A context whose contents are the given texts; a (role, text) tuple sets the role."""
    contents = []
    for item in texts or ("hello",):
        role, text = item if isinstance(item, tuple) else ("user", item)
        contents.append({"role": role, "parts": [{"text": text}]})
    return RequestContext(model, method, "v1", {"contents": contents, **extra})


def scenario(
    match: dict[str, Any] | None = None, *steps: dict[str, Any], name: str = "s"
) -> Scenario:
    doc: dict[str, Any] = {"format": 1, "name": name, "steps": list(steps) or [{}]}
    if match is not None:
        doc["match"] = match
    return load_scenario(doc)


# --------------------------------------------------------------------------------------------
# RequestContext


def test_last_user_text_joins_text_parts_of_last_user_content() -> None:
    request = {
        "contents": [
            {"role": "user", "parts": [{"text": "first"}]},
            {"role": "model", "parts": [{"text": "reply"}]},
            {"role": "USER", "parts": [{"text": "a "}, {"inlineData": {}}, {"text": "b"}]},
            {"role": "model", "parts": [{"text": "prefill"}]},
        ]
    }
    c = RequestContext("m", "generateContent", "v1", request)
    assert c.last_user_text == "a b"
    assert c.turn == 2


def test_content_without_role_counts_as_user() -> None:
    c = RequestContext("m", "generateContent", "v1", {"contents": [{"parts": [{"text": "x"}]}]})
    assert (c.last_user_text, c.turn) == ("x", 1)


def test_context_without_contents() -> None:
    c = RequestContext("m", "countTokens", "v1", {"instances": [{"prompt": "x"}]})
    assert (c.last_user_text, c.turn, c.has_tools) == ("", 0, False)


# --------------------------------------------------------------------------------------------
# Match rules


@pytest.mark.parametrize(
    ("pattern", "model", "expected"),
    [
        ("gemini-2.0-flash", "gemini-2.0-flash", True),
        ("gemini-2.0-flash", "gemini-2.0-flash-001", True),
        ("gemini-2.0-flash", "gemini-2.0-flash-lite", False),
        ("gemini-2.0-flash", "gemini-2.0-flash-lite-001", False),
        ("gemini-2.0-flash-001", "gemini-2.0-flash", False),
        ("gemini-2.*", "gemini-2.5-pro", True),
        ("gemini-2.*", "gemini-1.5-pro-002", False),
        ("gemini-1.5-*", "gemini-1.5-flash-002", True),
        ("*-pro", "gemini-1.5-pro-002", True),
        ("Gemini-2.0-flash", "gemini-2.0-flash", False),
    ],
)
def test_model_glob_and_family(pattern: str, model: str, *, expected: bool) -> None:
    assert scenario({"model": pattern}).matches(ctx(model=model)) is expected


def test_method_string_and_list() -> None:
    one = scenario({"method": "countTokens"})
    both = scenario({"method": ["generateContent", "streamGenerateContent"]})
    assert one.matches(ctx(method="countTokens"))
    assert not one.matches(ctx(method="generateContent"))
    assert both.matches(ctx(method="generateContent"))
    assert both.matches(ctx(method="streamGenerateContent"))
    assert not both.matches(ctx(method="countTokens"))


def test_last_user_text_contains_is_case_sensitive_and_ignores_model_turns() -> None:
    s = scenario({"lastUserText": {"contains": "weather"}})
    assert s.matches(ctx("What is the weather?"))
    assert not s.matches(ctx("What is the Weather?"))
    assert not s.matches(ctx("weather", ("model", "sunny"), "thanks"))
    assert s.matches(ctx("hi", ("model", "hello"), "weather now"))


def test_last_user_text_regex_searches_anywhere() -> None:
    s = scenario({"lastUserText": {"regex": r"(?i)\bweather\b"}})
    assert s.matches(ctx("so, WEATHER today?"))
    assert not s.matches(ctx("weathervane"))


def test_turn_and_has_tools() -> None:
    tools = [{"functionDeclarations": [{"name": "f"}]}]
    s = scenario({"turn": 2, "hasTools": True})
    assert s.matches(ctx("a", ("model", "b"), "c", tools=tools))
    assert not s.matches(ctx("a", tools=tools))
    assert not s.matches(ctx("a", ("model", "b"), "c"))
    assert scenario({"hasTools": False}).matches(ctx("a"))
    assert not scenario({"hasTools": False}).matches(ctx("a", tools=tools))


def test_every_key_must_hold_and_empty_match_matches_all() -> None:
    s = scenario({"model": "gemini-2.0-flash", "method": "generateContent", "turn": 1})
    assert s.matches(ctx(method="generateContent"))
    assert not s.matches(ctx(method="generateContent", model="gemini-2.5-pro"))
    assert scenario(None).matches(ctx(model="anything", method="countTokens"))
    assert scenario({}).matches(ctx("x", ("model", "y"), "z"))


# --------------------------------------------------------------------------------------------
# Lifetimes and ordering


def test_times_then_next_step_then_forever() -> None:
    book = ScenarioBook(
        [
            scenario(
                None,
                {"times": 2, "error": {"code": 429}},
                {"error": {"code": 503}},
                {"times": "forever", "respond": {"text": "ok"}},
            )
        ]
    )
    picked = []
    for _ in range(6):
        hit = book.select(ctx())
        assert hit is not None
        picked.append(hit[1].raw.get("error", {}).get("code", "ok"))
    assert picked == [429, 429, 503, "ok", "ok", "ok"]
    assert book.remaining("s") is None


def test_used_up_scenario_falls_through_then_default() -> None:
    first = scenario(None, {"times": 2, "respond": {"text": "first"}}, name="first")
    second = scenario(None, {"respond": {"text": "second"}}, name="second")
    book = ScenarioBook([first, second])
    names = []
    for _ in range(4):
        hit = book.select(ctx())
        names.append(hit[0].name if hit else None)
    assert names == ["first", "first", "second", None]
    assert book.remaining("first") == 0
    assert book.snapshot()[0]["exhausted"] is True


def test_first_added_matching_scenario_wins_and_others_keep_their_uses() -> None:
    weather = scenario({"lastUserText": {"contains": "weather"}}, name="weather")
    anything = scenario(None, {"times": 3}, name="anything")
    book = ScenarioBook([weather, anything])
    hit = book.select(ctx("weather?"))
    assert hit is not None
    assert hit[0].name == "weather"
    hit = book.select(ctx("news?"))
    assert hit is not None
    assert hit[0].name == "anything"
    assert book.remaining("anything") == 2
    assert book.remaining("weather") == 0


def test_no_match_consumes_nothing() -> None:
    book = ScenarioBook([scenario({"method": "countTokens"}, {"times": 2})])
    assert book.select(ctx(method="generateContent")) is None
    assert book.remaining("s") == 2


def test_add_same_name_replaces_in_place_with_fresh_uses() -> None:
    a = scenario(None, {"respond": {"text": "a"}}, name="a")
    b = scenario(None, {"respond": {"text": "b"}}, name="b")
    book = ScenarioBook([a, b])
    book.select(ctx())
    assert book.remaining("a") == 0
    book.add(scenario(None, {"times": 2, "respond": {"text": "a2"}}, name="a"))
    assert book.names() == ["a", "b"]
    hit = book.select(ctx())
    assert hit is not None
    assert hit[1].raw["respond"]["text"] == "a2"


def test_remove_clear_and_unknown_names() -> None:
    book = ScenarioBook([scenario(name="a"), scenario(name="b")])
    book.remove("a")
    assert book.names() == ["b"]
    with pytest.raises(KeyError):
        book.remove("a")
    with pytest.raises(KeyError):
        book.remaining("a")
    book.clear()
    assert len(book) == 0
    assert book.select(ctx()) is None


def test_snapshot_is_json_ready() -> None:
    book = ScenarioBook([scenario(None, {"times": 2}, {"times": "forever"}, name="x")])
    book.select(ctx())
    snap = book.snapshot()
    assert json.loads(json.dumps(snap)) == [
        {
            "name": "x",
            "description": "",
            "exhausted": False,
            "steps": [
                {"times": 2, "remaining": 1},
                {"times": "forever", "remaining": "forever"},
            ],
        }
    ]


def test_concurrent_select_hands_out_each_use_exactly_once() -> None:
    limited = scenario(None, {"times": 100}, name="limited")
    book = ScenarioBook([limited, scenario(None, {"times": "forever"}, name="rest")])
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            hit = book.select(ctx())
            assert hit is not None
            with lock:
                counts[hit[0].name] += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == {"limited": 100, "rest": 300}
    assert book.remaining("limited") == 0


# --------------------------------------------------------------------------------------------
# Loading and its errors


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_from_path_and_mapping_agree(tmp_path: Path) -> None:
    doc = {
        "format": 1,
        "name": "n",
        "description": "d",
        "match": {"model": "gemini-*", "lastUserText": {"regex": "a+"}},
        "steps": [{"times": 3}, {"times": "forever", "respond": {"text": "x"}}],
    }
    path = _write(tmp_path, json.dumps(doc))
    from_file, from_str, from_map = (
        load_scenario(path),
        load_scenario(str(path)),
        load_scenario(doc),
    )
    assert from_file == from_str == from_map
    assert from_file.description == "d"
    assert [s.times for s in from_file.steps] == [3, None]
    assert from_file.steps[1].raw == {"times": "forever", "respond": {"text": "x"}}


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(DataFileError) as info:
        load_scenario(missing)
    assert info.value.file == str(missing)
    assert info.value.field == ""
    assert info.value.rule.startswith("cannot read the file")


def test_bad_json_reports_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  "format": 1,\n  "name": oops\n}\n')
    with pytest.raises(DataFileError) as info:
        load_scenario(path)
    assert info.value.file == str(path)
    assert info.value.rule.startswith("invalid JSON at line 3, column 11")


BASE: dict[str, Any] = {"format": 1, "name": "n", "steps": [{}]}


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"format": 2}, "format", "must be 1"),
        ({"name": None}, "name", "a required field is missing"),
        ({"name": "has space"}, "name", "must match the pattern ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
        ({"steps": []}, "steps", "must have at least 1 item"),
        ({"steps": [{"respnd": {}}]}, "steps[0].respnd", "unknown field"),
        ({"steps": [{"times": 0}]}, "steps[0].times", 'must be a positive integer or "forever"'),
        (
            {"steps": [{"times": "always"}]},
            "steps[0].times",
            'must be a positive integer or "forever"',
        ),
        ({"steps": [{"error": {}}]}, "steps[0].error.code", "a required field is missing"),
        ({"steps": [{"error": {"code": 200}}]}, "steps[0].error.code", "must be >= 400"),
        (
            {"steps": [{"error": {"code": 429}, "respond": {"text": "x"}}]},
            "steps[0]",
            "a step with error cannot also have respond or fault",
        ),
        (
            {"steps": [{"respond": {"raw": [{}], "text": "x"}}]},
            "steps[0].respond",
            "raw excludes every other key of respond",
        ),
        (
            {"steps": [{"respond": {"text": "x", "chunks": ["x"]}}]},
            "steps[0].respond",
            "text and chunks are exclusive",
        ),
        (
            {"steps": [{"respond": {"blockPrompt": {"reason": "SAFETY"}, "text": "x"}}]},
            "steps[0].respond",
            "blockPrompt allows only usageMetadata beside it",
        ),
        (
            {"steps": [{"respond": {"finishReason": "FINISH_REASON_STOP"}}]},
            "steps[0].respond.finishReason",
            "must be one of: FINISH_REASON_UNSPECIFIED, STOP, MAX_TOKENS, SAFETY, RECITATION, "
            "OTHER, BLOCKLIST, PROHIBITED_CONTENT, SPII, MALFORMED_FUNCTION_CALL, MODEL_ARMOR, "
            "IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION, IMAGE_OTHER, "
            "UNEXPECTED_TOOL_CALL, NO_IMAGE, MALFORMED_RESPONSE, CONTINUATION, TOO_MANY_TOOL_CALLS",
        ),
        (
            {"steps": [{"fault": {"after": 1, "kind": "disconnect", "error": {"code": 500}}}]},
            "steps[0].fault",
            'fault.error is allowed only with kind "error"',
        ),
        (
            {"steps": [{"delay": {"firstByte": "1s"}}]},
            "steps[0].delay.firstByte",
            'must be seconds (a number >= 0), {"uniform": [low, high]} or'
            ' {"lognormal": {"median": m, "sigma": s}}',
        ),
        (
            {"steps": [{"fault": {"kind": "garbage", "afterBytes": 3}}]},
            "steps[0].fault",
            'fault.afterBytes is allowed only with kind "disconnect"',
        ),
        (
            {"steps": [{"fault": {"kind": "stall", "bytes": 3}}]},
            "steps[0].fault",
            'fault.bytes is allowed only with kind "garbage"',
        ),
        (
            {"steps": [{"fault": {"kind": "disconnect", "after": 1, "afterBytes": 3}}]},
            "steps[0].fault",
            "after and afterBytes are exclusive",
        ),
        (
            {"steps": [{"fault": {"kind": "reset"}}]},
            "steps[0].fault.kind",
            "must be one of: disconnect, empty, error, garbage, malformed, stall, truncate",
        ),
        (
            {"steps": [{"error": {"code": 429, "retryAfter": "soon"}}]},
            "steps[0].error.retryAfter",
            "must be a whole number of seconds >= 0 or an HTTP-date (RFC 9110)",
        ),
        (
            {"steps": [{"error": {"code": 429, "retryDelay": "5"}}]},
            "steps[0].error.retryDelay",
            'must be a google.protobuf.Duration such as "5s" or "0.5s"',
        ),
        (
            {"steps": [{"fault": {"kind": "error"}, "delay": {"dribble": {"seconds": 1}}}]},
            "steps[0].delay",
            "a step with a fault cannot dribble",
        ),
        (
            {"steps": [{"delay": {"betweenChunks": {"uniform": [1]}}}]},
            "steps[0].delay.betweenChunks",
            'must be seconds (a number >= 0), {"uniform": [low, high]} or'
            ' {"lognormal": {"median": m, "sigma": s}}',
        ),
        (
            {"match": {"method": "predict"}},
            "match.method",
            "must be generateContent, streamGenerateContent or countTokens, "
            "or a non-empty list of them",
        ),
        (
            {"match": {"lastUserText": {"contains": "a", "regex": "b"}}},
            "match.lastUserText",
            "must be an object with exactly one key, contains or regex, whose value is a string",
        ),
        ({"match": {"turn": 0}}, "match.turn", "must be >= 1"),
        ({"match": {"hasTools": "yes"}}, "match.hasTools", "must be a boolean"),
        (
            {"steps": [{"times": "forever"}, {}]},
            "steps[0].times",
            '"forever" is allowed on the last step only, or with when.forSeconds',
        ),
        (
            {"match": {"lastUserText": {"regex": "(unclosed"}}},
            "match.lastUserText.regex",
            "not a valid regular expression: missing ), unterminated subpattern at position 0",
        ),
    ],
)
def test_schema_violations_name_field_and_rule(
    tmp_path: Path, change: dict[str, Any], field: str, rule: str
) -> None:
    doc = {**BASE, **change}
    doc = {k: v for k, v in doc.items() if v is not None}
    path = _write(tmp_path, json.dumps(doc))
    with pytest.raises(DataFileError) as info:
        load_scenario(path)
    assert (info.value.file, info.value.field, info.value.rule) == (str(path), field, rule)
    assert str(info.value) == f"{path}: {field}: {rule}"


def test_not_an_object_is_reported_at_the_root() -> None:
    with pytest.raises(DataFileError) as info:
        load_scenario({"format": 1, "name": "n", "steps": [{}], "extra": 1})
    assert (info.value.file, info.value.field, info.value.rule) == (
        "<mapping>",
        "extra",
        "unknown field",
    )


def test_builtins_load_and_unknown_builtin_is_named() -> None:
    names = resources.builtin_scenario_names()
    assert {"rate_limited_then_ok", "seed_banana_bread", "quota_exhausted"} <= set(names)
    for name in names:
        assert load_builtin(name).name == name
    with pytest.raises(DataFileError) as info:
        load_builtin("no_such_scenario")
    assert info.value.file == "no_such_scenario"
    assert info.value.field == ""
    assert info.value.rule.startswith("unknown built-in scenario; the built-ins are: ")
    assert "rate_limited_then_ok" in info.value.rule


def test_rate_limited_builtin_runs_its_course() -> None:
    book = ScenarioBook([load_builtin("rate_limited_then_ok")])
    steps = [book.select(ctx()) for _ in range(4)]
    codes = [s[1].raw.get("error", {}).get("code") if s else "default" for s in steps]
    assert codes == [429, 429, None, "default"]


# --------------------------------------------------------------------------------------------
# Match keys: API version, framing, session


def test_context_framing_and_session_default() -> None:
    assert ctx(method="streamGenerateContent").effective_framing == "array"
    assert ctx(method="generateContent").effective_framing == "unary"
    assert ctx(method="countTokens").effective_framing == "unary"
    given = RequestContext("m", "streamGenerateContent", "v1", {}, framing="sse")
    assert (given.effective_framing, given.session) == ("sse", "")


def test_api_version_string_and_list() -> None:
    one = scenario({"apiVersion": "v1beta1"})
    both = scenario({"apiVersion": ["v1", "v1beta1"]})
    beta = RequestContext("gemini-2.0-flash", "generateContent", "v1beta1", {})
    assert one.matches(beta)
    assert not one.matches(ctx())
    assert both.matches(beta)
    assert both.matches(ctx())


@pytest.mark.parametrize(
    ("framing", "method", "given", "expected"),
    [
        ("sse", "streamGenerateContent", "sse", True),
        ("sse", "streamGenerateContent", "array", False),
        ("array", "streamGenerateContent", "array", True),
        ("array", "streamGenerateContent", "", True),  # not given: implied by the method
        ("unary", "generateContent", "", True),
        ("unary", "countTokens", "unary", True),
        ("unary", "streamGenerateContent", "sse", False),
        (["sse", "array"], "streamGenerateContent", "sse", True),
        (["sse", "array"], "generateContent", "unary", False),
    ],
)
def test_framing_match(framing: Any, method: str, given: str, *, expected: bool) -> None:
    c = RequestContext("gemini-2.0-flash", method, "v1", {}, framing=given)
    assert scenario({"framing": framing}).matches(c) is expected


@pytest.mark.parametrize(
    ("pattern", "session", "expected"),
    [
        ("team-a", "team-a", True),
        ("team-a", "team-ab", False),
        ("team-*", "team-b", True),
        ("Team-*", "team-b", False),
        ("team-?", "team-10", False),
        ("*", "", True),
        ("team-*", "", False),  # no session known
    ],
)
def test_session_glob(pattern: str, session: str, *, expected: bool) -> None:
    c = RequestContext("gemini-2.0-flash", "generateContent", "v1", {}, session=session)
    assert scenario({"session": pattern}).matches(c) is expected


def test_new_keys_combine_with_the_old_ones() -> None:
    s = scenario({"model": "gemini-2.*", "apiVersion": "v1", "framing": "sse", "session": "p-*"})
    good = RequestContext("gemini-2.0-flash-001", "streamGenerateContent", "v1", {}, "sse", "p-1")
    assert s.matches(good)
    assert not s.matches(RequestContext(good.model, good.method, "v1beta1", {}, "sse", "p-1"))
    assert not s.matches(RequestContext(good.model, good.method, "v1", {}, "array", "p-1"))
    assert not s.matches(RequestContext(good.model, good.method, "v1", {}, "sse", "q-1"))
    assert not s.matches(RequestContext("gemini-1.5-pro", good.method, "v1", {}, "sse", "p-1"))


def test_model_glob_answers_the_same_from_its_cache() -> None:
    s = scenario({"model": "gemini-2.0-flash"})
    for _ in range(3):
        assert s.matches(ctx(model="gemini-2.0-flash-001"))
        assert not s.matches(ctx(model="gemini-2.0-flash-lite"))


# --------------------------------------------------------------------------------------------
# Schedules in the book


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def code(hit: Any) -> Any:
    """What answered: the error code, the respond text, "step" for a bare step, None default."""
    if hit is None:
        return None
    raw = hit[1].raw
    if "error" in raw:
        return raw["error"]["code"]
    return raw.get("respond", {}).get("text", "step")


def run(book: ScenarioBook, n: int, c: RequestContext | None = None) -> list[Any]:
    return [code(book.select(c or ctx())) for _ in range(n)]


def test_schedule_no_falls_through_to_the_next_scenario_then_default() -> None:
    flaky = scenario(None, {"times": "forever", "when": {"every": 2}, "error": {"code": 503}})
    backup = scenario(None, {"times": 2, "respond": {"text": "backup"}}, name="backup")
    book = ScenarioBook([flaky, backup])
    assert run(book, 6) == ["backup", 503, "backup", 503, None, 503]


def test_schedule_no_does_not_try_the_scenarios_next_step() -> None:
    s = scenario(
        None,
        {"when": {"every": 2}, "error": {"code": 503}},
        {"times": "forever", "respond": {"text": "later"}},
    )
    book = ScenarioBook([s])
    assert run(book, 4) == [None, 503, "later", "later"]


def test_times_counts_fires_not_passes() -> None:
    s = scenario(None, {"times": 2, "when": {"every": 3}, "error": {"code": 500}})
    book = ScenarioBook([s])
    assert book.remaining("s") == 2
    assert run(book, 3) == [None, None, 500]
    assert book.remaining("s") == 1
    assert run(book, 4) == [None, None, 500, None]
    assert book.remaining("s") == 0
    assert book.snapshot()[0]["exhausted"] is True


def test_selection_use_counts_the_requests_the_step_answered() -> None:
    book = ScenarioBook([scenario(None, {"times": "forever", "when": {"every": 2}})])
    uses = [hit.use if hit else None for hit in (book.select(ctx()) for _ in range(6))]
    assert uses == [None, 0, None, 1, None, 2]


def test_requests_the_match_rejects_are_not_seen_by_the_schedule() -> None:
    s = scenario({"method": "generateContent"}, {"times": "forever", "when": {"every": 2}})
    book = ScenarioBook([s])
    unary, stream = ctx(method="generateContent"), ctx(method="streamGenerateContent")
    picked = [code(book.select(c)) for c in (unary, stream, stream, unary, stream, unary, unary)]
    assert picked == [None, None, None, "step", None, None, "step"]
    assert book.snapshot()[0]["steps"][0]["schedule"] == {"seen": 4, "fired": 2, "passed": 2}


def test_requests_an_earlier_scenario_answers_are_not_seen_by_later_schedules() -> None:
    first = scenario(None, {"times": 2, "respond": {"text": "first"}}, name="first")
    later = scenario(None, {"times": "forever", "when": {"every": 2}}, name="later")
    book = ScenarioBook([first, later])
    assert run(book, 5) == ["first", "first", None, "step", None]


def test_after_successes_lets_the_first_m_through_to_later_scenarios() -> None:
    s = scenario(None, {"times": "forever", "when": {"afterSuccesses": 2}, "error": {"code": 429}})
    rest = scenario(None, {"times": 1, "respond": {"text": "rest"}}, name="rest")
    book = ScenarioBook([s, rest])
    # a success is a request the step let pass, whoever answered it next
    assert run(book, 4) == ["rest", None, 429, 429]


def test_for_seconds_counts_from_the_first_request_not_from_add() -> None:
    clock = FakeClock(0.0)
    s = scenario(
        None,
        {"times": "forever", "when": {"forSeconds": 5}, "error": {"code": 503}},
        {"times": "forever", "respond": {"text": "back"}},
    )
    book = ScenarioBook([s], clock=clock)
    clock.now = 100.0  # long after the scenario was added
    assert code(book.select(ctx())) == 503
    clock.now = 104.9
    assert code(book.select(ctx())) == 503
    clock.now = 105.0  # the window ends: the next step answers this same request
    assert code(book.select(ctx())) == "back"
    clock.now = 101.0  # an over step stays over
    assert code(book.select(ctx())) == "back"


def test_for_seconds_on_the_last_step_then_the_scenario_is_used_up() -> None:
    clock = FakeClock(10.0)
    book = ScenarioBook([load_builtin("outage_5_seconds")], clock=clock)
    assert run(book, 2) == [503, 503]
    assert book.remaining("outage_5_seconds") is None
    clock.now = 14.0
    assert book.snapshot()[0]["steps"][0]["schedule"]["secondsLeft"] == 1.0
    clock.now = 15.5
    snap = book.snapshot()[0]  # looking at the book notices the window's end
    assert snap["exhausted"] is True
    assert snap["steps"][0]["schedule"] == {"seen": 2, "fired": 2, "passed": 0, "secondsLeft": 0.0}
    assert book.remaining("outage_5_seconds") == 0
    assert run(book, 2) == [None, None]


def test_for_seconds_window_ending_unseen_is_noticed_by_remaining() -> None:
    clock = FakeClock()
    s = scenario(None, {"times": 3, "when": {"forSeconds": 1}}, {"times": 2})
    book = ScenarioBook([s], clock=clock)
    book.select(ctx())
    assert book.remaining("s") == 4
    clock.now = 2.0
    assert book.remaining("s") == 2


def test_the_clock_is_read_only_for_windows() -> None:
    reads: list[int] = []

    def clock() -> float:
        reads.append(1)
        return 0.0

    plain = scenario(None, {"times": "forever", "when": {"every": 2}}, name="plain")
    book = ScenarioBook([plain, scenario(None, {"times": "forever"}, name="rest")], clock=clock)
    run(book, 4)
    book.snapshot()
    assert reads == [1]  # the snapshot reads it once, select never


def test_combined_schedule_in_the_book() -> None:
    clock = FakeClock()
    step = {"times": "forever", "when": {"every": 2, "forSeconds": 3}, "error": {"code": 500}}
    book = ScenarioBook([scenario(None, step)], clock=clock)
    out = []
    for t in (0.0, 1.0, 2.0, 2.5, 3.0, 4.0):
        clock.now = t
        out.append(code(book.select(ctx())))
    assert out == [None, 500, None, 500, None, None]


def test_probability_schedule_is_reproducible_across_books() -> None:
    def pattern(seed: int) -> list[Any]:
        step = {
            "times": "forever",
            "when": {"probability": 0.3, "seed": seed},
            "error": {"code": 503},
        }
        book = ScenarioBook([scenario(None, step)])
        return run(book, 200)

    first, second, other = pattern(11), pattern(11), pattern(12)
    assert first == second
    assert first != other
    assert 30 <= first.count(503) <= 90  # fixed by the seed: 0.3 of 200, give or take


def test_chaos_builtin_is_the_same_in_two_books_and_fails_about_one_in_ten() -> None:
    runs = [run(ScenarioBook([load_builtin("chaos_10_percent")]), 300) for _ in range(2)]
    assert runs[0] == runs[1]
    assert set(runs[0]) == {503, None}
    assert 10 <= runs[0].count(503) <= 60


def test_flaky_builtin_fails_every_third_request() -> None:
    book = ScenarioBook([load_builtin("flaky_one_in_three")])
    assert run(book, 7) == [None, None, 503, None, None, 503, None]


def test_adding_again_gives_fresh_schedule_state() -> None:
    s = scenario(None, {"times": "forever", "when": {"every": 2}})
    book, other = ScenarioBook([s]), ScenarioBook([s])
    assert run(book, 1) == [None]
    assert run(other, 2) == [None, "step"]
    book.add(s)
    assert run(book, 2) == [None, "step"]


def test_snapshot_shows_schedule_and_state() -> None:
    clock = FakeClock(50.0)
    book = ScenarioBook(
        [
            scenario(
                None,
                {"times": 3, "when": {"every": 2, "offset": 1}, "error": {"code": 503}},
                {"times": "forever", "when": {"probability": 0.5, "seed": 4, "forSeconds": 60}},
                name="x",
            )
        ],
        clock=clock,
    )
    run(book, 4)
    assert json.loads(json.dumps(book.snapshot())) == [
        {
            "name": "x",
            "description": "",
            "exhausted": False,
            "steps": [
                {
                    "times": 3,
                    "remaining": 2,
                    "when": {"every": 2, "offset": 1},
                    "schedule": {"seen": 4, "fired": 1, "passed": 3},
                },
                {
                    "times": "forever",
                    "remaining": "forever",
                    "when": {"probability": 0.5, "seed": 4, "forSeconds": 60.0},
                    "schedule": {"seen": 0, "fired": 0, "passed": 0, "secondsLeft": None},
                },
            ],
        }
    ]


def test_concurrent_select_fires_a_scheduled_step_exactly_on_schedule() -> None:
    s = scenario(None, {"times": "forever", "when": {"every": 4}}, name="every4")
    book = ScenarioBook([s, scenario(None, {"times": "forever"}, name="rest")])
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            hit = book.select(ctx())
            assert hit is not None
            with lock:
                counts[hit[0].name] += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == {"every4": 100, "rest": 300}
    assert book.snapshot()[0]["steps"][0]["schedule"] == {"seen": 400, "fired": 100, "passed": 300}


def test_step_keeps_its_typed_schedule() -> None:
    s = scenario(None, {"when": {"every": 2, "offset": 1}}, {"times": "forever"})
    assert s.steps[0].when is not None
    assert (s.steps[0].when.every, s.steps[0].when.offset) == (2, 1)
    assert s.steps[1].when is None


def test_forever_with_a_window_is_allowed_before_the_last_step() -> None:
    s = scenario(None, {"times": "forever", "when": {"forSeconds": 1}}, {})
    assert [st.times for st in s.steps] == [None, 1]


@pytest.mark.parametrize(
    ("when", "field", "rule"),
    [
        ({}, "steps[0].when", "must have at least 1 field"),
        ({"everyN": 2}, "steps[0].when.everyN", "unknown field"),
        ({"every": 0}, "steps[0].when.every", "must be an integer >= 1"),
        ({"every": 1.5}, "steps[0].when.every", "must be an integer >= 1"),
        ({"every": "3"}, "steps[0].when.every", "must be an integer >= 1"),
        ({"every": 2, "offset": -1}, "steps[0].when.offset", "must be an integer >= 0"),
        ({"offset": 1}, "steps[0].when", "when.offset needs when.every"),
        ({"probability": 1.5}, "steps[0].when.probability", "must be a number from 0 to 1"),
        ({"probability": -0.1}, "steps[0].when.probability", "must be a number from 0 to 1"),
        ({"probability": "10%"}, "steps[0].when.probability", "must be a number from 0 to 1"),
        ({"probability": 0.5, "seed": 1.5}, "steps[0].when.seed", "must be an integer"),
        ({"probability": 0.5, "seed": "a"}, "steps[0].when.seed", "must be an integer"),
        ({"seed": 3}, "steps[0].when", "when.seed needs when.probability"),
        ({"forSeconds": 0}, "steps[0].when.forSeconds", "must be a number of seconds > 0"),
        ({"forSeconds": "5s"}, "steps[0].when.forSeconds", "must be a number of seconds > 0"),
        ({"afterSuccesses": -1}, "steps[0].when.afterSuccesses", "must be an integer >= 0"),
        ({"afterSuccesses": True}, "steps[0].when.afterSuccesses", "must be an integer >= 0"),
    ],
)
def test_schedule_errors_name_field_and_rule(
    tmp_path: Path, when: dict[str, Any], field: str, rule: str
) -> None:
    path = _write(tmp_path, json.dumps({**BASE, "steps": [{"when": when}]}))
    with pytest.raises(DataFileError) as info:
        load_scenario(path)
    assert (info.value.file, info.value.field, info.value.rule) == (str(path), field, rule)


@pytest.mark.parametrize(
    ("match", "field", "rule"),
    [
        (
            {"apiVersion": "v2"},
            "match.apiVersion",
            "must be v1 or v1beta1, or a non-empty list of them",
        ),
        (
            {"apiVersion": []},
            "match.apiVersion",
            "must be v1 or v1beta1, or a non-empty list of them",
        ),
        (
            {"framing": "json"},
            "match.framing",
            "must be unary, sse or array, or a non-empty list of them",
        ),
        (
            {"framing": ["sse", "sse"]},
            "match.framing",
            "must be unary, sse or array, or a non-empty list of them",
        ),
        ({"session": ""}, "match.session", "must not be empty"),
        ({"session": 7}, "match.session", "must be a string"),
    ],
)
def test_new_match_key_errors_name_field_and_rule(
    match: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(DataFileError) as info:
        load_scenario({**BASE, "match": match})
    assert (info.value.file, info.value.field, info.value.rule) == ("<mapping>", field, rule)
