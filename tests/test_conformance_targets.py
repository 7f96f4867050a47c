"""Conformance targets: where requests go, how replies are read, and the replay server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from mockvertex.conformance.targets import (
    ARRAY,
    ARRAY_INT,
    SSE,
    UNARY,
    UNARY_INT,
    Read,
    ReplayServer,
    Reply,
    Target,
    TargetError,
    TargetSpec,
    open_target,
)
from mockvertex.contract import wire
from mockvertex.server.runner import MockVertexServer

BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}).encode()


@pytest.fixture
def mock_target() -> Iterator[Target]:
    with open_target(TargetSpec()) as target:
        yield target


def test_each_mode_asks_with_the_contracts_query() -> None:
    assert [m.name for m in (UNARY, UNARY_INT, SSE, ARRAY, ARRAY_INT)] == [
        "unary", "unary+int", "sse", "array", "array+int",
    ]  # fmt: skip
    assert UNARY.query() == {}
    assert UNARY_INT.query() == {"$alt": "json;enum-encoding=int"}
    assert SSE.query() == {"alt": "sse"}
    assert ARRAY.query() == {}
    assert ARRAY_INT.query() == {"$alt": "json;enum-encoding=int"}
    assert SSE.rpc() == "streamGenerateContent"
    assert UNARY.rpc("countTokens") == "countTokens"


def test_the_mock_target_reads_the_body_as_it_arrived(mock_target: Target) -> None:
    reply = mock_target.send(mock_target.call("streamGenerateContent", BODY, SSE))

    assert reply.status == 200
    assert reply.content_type == "text/event-stream"
    assert reply.body == b"".join(r.data for r in reply.reads)
    assert [r.at for r in reply.reads] == sorted(r.at for r in reply.reads)
    assert reply.first_byte is not None
    assert 0 < reply.first_byte <= reply.elapsed
    assert len(wire.decode_sse(reply.body)) >= 2
    assert mock_target.control is not None  # the mock's own session: faults can be injected
    assert mock_target.deterministic


def test_a_url_target_sends_its_token_and_never_writes_it() -> None:
    with (
        MockVertexServer() as server,
        open_target(TargetSpec(target=server.url, token="s3cret-token")) as target,
    ):
        call = target.call("generateContent", BODY)
        reply = target.send(call)
        command = call.curl("/tmp/b.json", auth=target.auth_hint)
        assert reply.status == 200
        assert target.control is not None  # GET /_mockvertex/v1/health answered
        assert target.kind == "url"
        assert "$TOKEN" in command
        assert "s3cret-token" not in command
        described = json.dumps(target.describe())
        assert "s3cret-token" not in described
        assert target.describe()["controlPlane"] is True


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TargetSpec(target="ftp://x"), "--target must be mock, vertex or an http(s):// URL"),
        (TargetSpec(target="vertex"), "--target vertex needs --project"),
        (TargetSpec(target="vertex", project="p", location="not a place"), "--location"),
        (TargetSpec(target="http://127.0.0.1:9"), "nothing answers there"),
        (TargetSpec(target="vertex", project="p", token=" spaced "), "--token"),
    ],
    ids=["scheme", "project", "location", "unreachable", "token"],
)
def test_a_target_that_cannot_be_used_says_why_in_one_line(spec: TargetSpec, message: str) -> None:
    with pytest.raises(TargetError) as caught:
        open_target(spec).close()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_replay_server_serves_the_recorded_pieces_to_anyone() -> None:
    events = [wire.encode_sse_event({"n": i}) for i in range(3)]
    recorded = Reply(
        status=200,
        headers=(("Content-Type", "text/event-stream"), ("Content-Length", "999")),
        body=b"".join(events),
        reads=tuple(Read(i * 0.01, e) for i, e in enumerate(events)),
    )
    with ReplayServer() as replay:
        replay.serve(recorded)
        for path in ("/v1/a:streamGenerateContent?alt=sse", "/anything"):
            answer = requests.post(replay.url + path, data=b"{}", timeout=5)
            assert answer.status_code == 200
            assert answer.headers["Content-Type"] == "text/event-stream"
            assert answer.content == recorded.body
        assert replay.served == 2


def test_the_replay_server_without_a_reply_answers_503() -> None:
    with ReplayServer() as replay:
        answer = requests.post(replay.url + "/x", data=b"{}", timeout=5)
    assert answer.status_code == 503
