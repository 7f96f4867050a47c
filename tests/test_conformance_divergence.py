"""The divergence report: observations normalised, differences counted, known ones named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mockvertex.conformance.divergence import Recorder, known_divergences, observe, render_table
from mockvertex.conformance.properties import Example
from mockvertex.conformance.targets import ARRAY, SSE, UNARY, Call, Read, Reply
from mockvertex.contract import wire
from mockvertex.contract.errors import InvalidArgument

EXAMPLE = Example.of("hello", "generateContent", {"contents": [{"parts": [{"text": "Hi"}]}]})
_SSE = (("Content-Type", "text/event-stream"), ("Content-Disposition", "attachment"))
_JSON = (("Content-Type", "application/json; charset=UTF-8"),)


def _chunks(*, text: str = "Hello there", reason: str = "STOP", **extra: Any) -> list[Any]:
    first = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}],
        "usageMetadata": {"trafficType": "ON_DEMAND"},
        "modelVersion": "gemini-2.0-flash-001",
        "createTime": "2026-01-01T00:00:00.123Z",
        "responseId": "abc",
    }
    last = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": " again."}]},
                "finishReason": reason,
                **extra,
            }
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7},
        "modelVersion": "gemini-2.0-flash-001",
        "createTime": "2026-01-01T00:00:00.123Z",
        "responseId": "abc",
    }
    return [first, last]


def _sse(chunks: list[Any]) -> Reply:
    return Reply(200, _SSE, b"".join(wire.encode_sse_event(c) for c in chunks))


def _call(mode: Any = SSE) -> Call:
    return Call(mode.rpc(), mode, "http://x/v1/...", EXAMPLE.body, "gemini-2.0-flash")


def test_volatile_fields_are_normalised_and_enums_kept() -> None:
    seen = observe("streamGenerateContent", SSE, _sse(_chunks()))

    assert seen["status"] == "200"
    assert seen["header.content-type"] == "text/event-stream"
    assert seen["header.content-disposition"] == "present"
    assert seen["framing"] == "data lines ended by \\r\\n\\r\\n"
    assert seen["stream.text"] == "deltas"
    assert seen["stream.finishReason"] == "last chunk only"
    assert seen["stream.usage counts"] == "last chunk only"
    assert seen["shape.last:candidates[].finishReason"] == "STOP"
    assert seen["shape.last:candidates[].content.parts[].text"] == "<string>"
    assert seen["shape.earlier:createTime"] == "<string>"
    assert seen["shape.last:usageMetadata.totalTokenCount"] == "<number>"
    # the same reply with other text, ids and times observes the same
    other = _chunks(text="Something else entirely")
    other[0]["responseId"] = other[1]["responseId"] = "zzz"
    assert observe("streamGenerateContent", SSE, _sse(other)) == seen


def test_cumulative_text_and_usage_everywhere_are_observed() -> None:
    chunks = _chunks()
    chunks[1]["candidates"][0]["content"]["parts"][0]["text"] = "Hello there again."
    chunks[0]["usageMetadata"] = dict(chunks[1]["usageMetadata"])

    seen = observe("streamGenerateContent", SSE, _sse(chunks))

    assert seen["stream.text"] == "cumulative"
    assert seen["stream.usage counts"] == "earlier chunks too"


def test_an_error_is_observed_by_status_and_field_paths() -> None:
    error = InvalidArgument.from_envelope(
        {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT", "details": [
            {"@type": "type.googleapis.com/google.rpc.BadRequest",
             "fieldViolations": [{"field": "generation_config.top_k", "description": "x"}]}]}}
    )  # fmt: skip
    reply = Reply(400, _JSON, wire.encode_error(error, wire.Framing.ARRAY))

    seen = observe("streamGenerateContent", ARRAY, reply)

    assert seen == {
        "status": "400",
        "header.content-type": "application/json",
        "error.status": "INVALID_ARGUMENT",
        "error.fields": "generation_config.top_k",
    }


def test_differences_are_counted_and_known_ones_named(tmp_path: Path) -> None:
    recorder = Recorder({"name": "gateway", "baseUrl": "https://gw"}, profile="live")
    mock = _sse(_chunks())
    for _ in range(3):
        recorder.compare(EXAMPLE, _call(), _sse(_chunks(avgLogprobs=-0.25)), mock)
    recorder.compare(EXAMPLE, _call(), _sse(_chunks(reason="MAX_TOKENS")), mock)

    divergences = {d.path: d for d in recorder.divergences()}

    assert set(divergences) == {"candidates[].avgLogprobs", "candidates[].finishReason"}
    logprobs = divergences["candidates[].avgLogprobs"]
    assert (logprobs.count, logprobs.target, logprobs.mock) == (3, "<number>", "(absent)")
    assert logprobs.known is not None
    assert logprobs.known.name == "avg-logprobs-not-synthesised"
    finish = divergences["candidates[].finishReason"]
    assert (finish.target, finish.mock, finish.known) == ("MAX_TOKENS", "STOP", None)
    assert finish.examples == ["hello"]

    json_path, table_path = recorder.write(tmp_path / "report.json")
    document = json.loads(json_path.read_text("utf-8"))
    assert document["exchangesCompared"] == 4
    assert [d["known"] is None for d in document["divergences"]] == [True, False]  # new first
    observed = {k["name"]: k["observed"] for k in document["knownDivergences"]}
    assert observed["avg-logprobs-not-synthesised"] is True
    assert observed["genai-accepts-truncated-replies"] is False  # listed although not seen
    table = table_path.read_text("utf-8")
    assert "2 divergences from the mock's contract (1 new, 1 known)" in table
    assert "NEW" in table
    assert "avg-logprobs-not-synthesised" in table


def test_a_different_verdict_is_compared_as_a_verdict_not_as_bodies() -> None:
    recorder = Recorder({"name": "gw", "baseUrl": "https://gw"}, profile="ci")
    refused = Reply(400, _JSON, wire.encode_error(InvalidArgument("no"), wire.Framing.UNARY))
    accepted = Reply(200, _JSON, wire.encode_unary(_chunks()[1]))

    recorder.compare(EXAMPLE, _call(UNARY), refused, accepted)

    aspects = {d.aspect: (d.target, d.mock) for d in recorder.divergences()}
    assert aspects == {"status": ("400", "200"), "error.status": ("INVALID_ARGUMENT", "(absent)"),
                       "error.fields": ("(none)", "(absent)")}  # fmt: skip


def test_a_client_disagreement_on_truncation_is_the_known_one() -> None:
    recorder = Recorder({"name": "mock", "baseUrl": "http://m"}, profile="ci")

    known = recorder.client_divergence(
        "clients-raise-alike-on-faults", "truncate", "sse", "503 UNAVAILABLE", "200 OK"
    )
    unknown = recorder.client_divergence(
        "clients-raise-alike-on-faults", "stall", "sse", "504 DEADLINE_EXCEEDED", "200 OK"
    )

    assert known is not None
    assert known.name == "genai-accepts-truncated-replies"
    assert unknown is None
    rows = render_table(recorder.to_json())
    assert "where the clients disagree on a fault:" in rows
    assert "genai-accepts-truncated-replies" in rows


def test_every_known_divergence_has_a_reason_evidence_and_a_pattern() -> None:
    entries = known_divergences()
    assert entries
    for entry in entries:
        assert entry.reason.endswith(".")
        assert entry.evidence
        assert entry.scope in ("target", "client")
        assert entry.match
    assert len({e.name for e in entries}) == len(entries)


def test_the_time_to_the_first_byte_is_reported_per_mode() -> None:
    recorder = Recorder({"name": "gw", "baseUrl": "https://gw"}, profile="live")
    body = _sse(_chunks()).body
    slow = Reply(200, _SSE, body, reads=(Read(0.8, body[:10]), Read(1.2, body[10:])))
    fast = Reply(200, _SSE, body, reads=(Read(0.002, body),))

    recorder.compare(EXAMPLE, _call(), slow, fast)

    (row,) = recorder.to_json()["timing"]
    assert (row["rpc"], row["mode"], row["replies"]) == ("streamGenerateContent", "sse", 1)
    assert row["target"] == {"firstByteMedianSeconds": 0.8, "readsMedian": 2}
    assert row["mock"] == {"firstByteMedianSeconds": 0.002, "readsMedian": 1}
    assert "0.800s, 2" in render_table(recorder.to_json())
