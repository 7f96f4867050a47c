"""The conformance properties on hand-made replies: verdicts, envelopes, keys, the fault cases."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from google.genai import errors

from mockvertex.conformance import clients, properties
from mockvertex.conformance.properties import (
    PROPERTIES,
    Example,
    PropertyFailed,
    Verdict,
    check_envelope,
    fixed_examples,
    local_verdict,
    reply_verdict,
)
from mockvertex.conformance.targets import (
    ARRAY,
    SSE,
    UNARY,
    Call,
    Mode,
    Reply,
    TargetSpec,
    open_target,
)
from mockvertex.contract import wire
from mockvertex.contract.errors import FieldViolation, InvalidArgument, ResourceExhausted
from mockvertex.engine.faults import REGISTRY

_JSON = (("Content-Type", "application/json; charset=UTF-8"),)


def _error_reply(error: InvalidArgument | ResourceExhausted, framing: wire.Framing) -> Reply:
    return Reply(error.http_status, _JSON, wire.encode_error(error, framing))


def _call(mode: Mode = UNARY) -> Call:
    return Call(mode.rpc(), mode, "http://x/v1/m:generateContent", b"{}", "gemini-2.0-flash")


def test_a_reply_verdict_reads_the_envelope_in_every_framing() -> None:
    error = InvalidArgument(violations=[FieldViolation("generation_config.top_k", "too big")])
    for mode, framing in ((UNARY, wire.Framing.UNARY), (SSE, wire.Framing.UNARY),
                          (ARRAY, wire.Framing.ARRAY)):  # fmt: skip
        verdict = reply_verdict(_error_reply(error, framing), mode)
        assert verdict == Verdict(400, "INVALID_ARGUMENT", ("generation_config.top_k",))
    assert reply_verdict(Reply(200, _JSON, b"{}")) == Verdict(200)
    assert reply_verdict(Reply(502, (), b"<html>bad gateway</html>")) == Verdict(502, "?")


def test_the_local_verdict_is_the_validators() -> None:
    bad = Example.of("x", "generateContent", {"contents": [], "bogus": 1})
    good = Example.of("y", "generateContent", {"contents": [{"parts": [{"text": "hi"}]}]})

    assert local_verdict(bad, "gemini-2.0-flash") == Verdict(400, "INVALID_ARGUMENT")
    assert local_verdict(good, "gemini-2.0-flash").ok
    assert str(Verdict(400, "INVALID_ARGUMENT", ("a", "b"))) == "400 INVALID_ARGUMENT at a, b"


def test_the_envelope_check_takes_the_real_shapes() -> None:
    error = ResourceExhausted()
    check_envelope(_call(), _error_reply(error, wire.Framing.UNARY), UNARY)
    check_envelope(_call(SSE), _error_reply(error, wire.Framing.UNARY), SSE)
    check_envelope(_call(ARRAY), _error_reply(error, wire.Framing.ARRAY), ARRAY)


@pytest.mark.parametrize(
    ("status", "body", "mode", "words"),
    [
        (422, {"error": {"code": 422, "message": "m", "status": "INVALID_ARGUMENT"}}, UNARY,
         "HTTP 422 is paired with status 'INVALID_ARGUMENT'"),
        (400, {"error": {"code": 400, "message": "m", "status": "INVALID_ARGUMENT"}}, ARRAY,
         "array stream must start with '['"),
        (400, [{"error": {"code": 400, "message": "m", "status": "INVALID_ARGUMENT"}}], UNARY,
         "must not be wrapped in an array"),
        (400, {"error": {"code": 400, "message": "m"}}, UNARY, "lacks ['status']"),
        (400, {"error": {"code": 400, "message": "m", "status": "INVALID_ARGUMENT", "type": "x"}},
         UNARY, "unknown keys ['type']"),
        (429, {"error": {"code": 400, "message": "m", "status": "INVALID_ARGUMENT"}}, UNARY,
         "error.code 400 is not the HTTP status 429"),
        (400, {"detail": "Bad Request"}, UNARY, 'must be {"error": {...}}'),
    ],
    ids=["422", "array-unwrapped", "unary-wrapped", "no-status", "extra-key", "code-mismatch",
         "not-google"],
)  # fmt: skip
def test_a_wrong_envelope_fails_and_says_how(
    status: int, body: object, mode: Mode, words: str
) -> None:
    reply = Reply(status, _JSON, json.dumps(body).encode())
    with pytest.raises(PropertyFailed) as caught:
        check_envelope(_call(mode), reply, mode)
    assert words in caught.value.message


def test_an_error_sent_as_text_html_is_refused() -> None:
    reply = Reply(400, (("Content-Type", "text/html"),), b"<h1>400</h1>")
    with pytest.raises(PropertyFailed, match="not application/json"):
        check_envelope(_call(), reply, UNARY)


def test_keys_inside_function_args_and_maps_may_be_any_case() -> None:
    chunk = {
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "f", "args": {"snake_case": 1, "Upper": {"x_y": 2}}}}
        ]}, "finishReason": "STOP"}],
        "usage_metadata": {"prompt_token_count": 1},
    }  # fmt: skip
    msg = properties._response_type("v1")
    assert list(properties._bad_keys(chunk, msg)) == [
        "usage_metadata",
        "usage_metadata.prompt_token_count",
    ]


def test_a_failure_writes_its_body_and_a_curl_command(tmp_path: Path) -> None:
    failure = PropertyFailed("it broke", call=_call(SSE), prop="sse-framing")
    with open_target(TargetSpec()) as target:
        text = failure.reproduce(tmp_path, target)
    (body,) = tmp_path.glob("sse-framing-*.json")
    assert body.read_bytes() == b"{}"
    assert text.startswith("sse-framing failed: it broke")
    assert "mockvertex serve --port 8080" in text
    assert f"--data-binary @{body}" in text
    assert f"mockvertex validate --model gemini-2.0-flash --method generateContent {body}" in text
    assert str(failure) == text


def test_every_fault_kind_of_the_registry_has_a_case_with_the_error_it_means() -> None:
    cases = clients.fault_cases()
    assert set(REGISTRY) <= set(cases)
    assert set(clients.FAULT_CASES) == set(cases)
    assert {c for c in cases if c.startswith("http-")} == set(clients.HTTP_CASES)
    assert cases["stall"].expected == clients.Outcome(504, "DEADLINE_EXCEEDED")
    assert cases["http-429"].expected.status == "RESOURCE_EXHAUSTED"
    assert cases["malformed"].expected.http == 500


def test_genai_exceptions_are_read_as_codes_and_statuses() -> None:
    request = httpx.Request("POST", "http://x")
    api = errors.ClientError(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                                             "message": "m"}})  # fmt: skip
    assert clients.genai_outcome(None) == clients.Outcome(200, "OK")
    assert clients.genai_outcome(api).same(clients.Outcome(429, "RESOURCE_EXHAUSTED"))
    timeout = clients.genai_outcome(httpx.ReadTimeout("slow", request=request))
    assert timeout.same(clients.Outcome(504, "DEADLINE_EXCEEDED"))
    reset = clients.genai_outcome(httpx.ReadError("reset", request=request))
    assert reset.same(clients.Outcome(503, "UNAVAILABLE"))
    garbled = clients.genai_outcome(errors.UnknownApiResponseError("not json"))
    assert garbled.same(clients.Outcome(500, "INTERNAL"))


def test_the_fixed_examples_fill_every_pool() -> None:
    with open_target(TargetSpec()) as target:
        ctx = properties.Context(target)
        for pool in ("any", "invalid", "valid", "valid-any"):
            assert properties.pool_examples(pool, ctx), pool
    names = [e.name for e in fixed_examples()]
    assert len(names) == len(set(names))
    assert {e.rpc for e in fixed_examples()} == {"generateContent", "countTokens"}


def test_every_property_has_a_summary_and_a_pool_or_the_control_plane() -> None:
    for prop in PROPERTIES.values():
        assert prop.summary
        assert (prop.check is not None and prop.pool) or prop.needs_control
    from mockvertex.conformance import suite

    tested = {getattr(suite, name).__conformance_property__ for name in suite.__all__}
    assert tested == set(PROPERTIES)


def test_a_fault_failure_says_which_fault_to_inject_and_how_to_call(tmp_path: Path) -> None:
    with open_target(TargetSpec()) as target:
        failure = properties.fault_failure(
            properties.Context(target), "truncate", SSE, "VertexClient raised 200 OK"
        )
        text = failure.reproduce(tmp_path, target)

    assert text.startswith("clients-raise-alike-on-faults failed: VertexClient raised 200 OK")
    inject = next(line for line in text.splitlines() if "inject:" in line)
    assert inject.startswith(
        "  inject: mockvertex fault add --url http://127.0.0.1:8080 --session "
        "mockvertex-conformance '"
    )
    step = json.loads(inject.split("'", 1)[1].rsplit("'", 1)[0])
    assert step["fault"] == {"kind": "truncate", "after": 1}
    assert ":streamGenerateContent?alt=sse" in text
