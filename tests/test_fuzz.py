"""Hostile input over a real socket, bounded: the seeded byte-level fuzzer and Hypothesis.

The fuzzer (``bench/fuzz_server.py``, where ``--requests 100000`` runs the long version by
hand) builds each connection's bytes from a seeded generator: bodies, headers, framing,
encodings, sizes, nesting, invalid UTF-8 and surrogates. Hypothesis adds requests it shrinks
when one fails. Every test starts ``MockVertexServer`` on 127.0.0.1:0 in its thread, as users
do, sends a bearer token and an API key, and checks: no 5xx, no connection left hanging, no
log record with a traceback (``aiohttp.*``, ``mockvertex`` and ``asyncio`` at DEBUG), no
secret in a log line or the journal, and a valid request still answered at the end.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockvertex.server.runner import MockVertexServer

BENCH = Path(__file__).resolve().parent.parent / "bench"
SEED = 20261201
CI_REQUESTS = 3000
ROUTE = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash"
PAYLOAD = "Invalid JSON payload received."
TOO_DEEP = f"{PAYLOAD} Message too deep. Max recursion depth reached for key "


@pytest.fixture(scope="module")
def fuzz() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("fuzz_server")
    finally:
        sys.path.remove(str(BENCH))


class Env:
    """A threaded mock and the trap holding every record it logs."""

    def __init__(
        self, fuzz: ModuleType, server: MockVertexServer, trap: Any, client: asyncio.Runner
    ) -> None:
        self.fuzz, self.server, self.trap, self.client = fuzz, server, trap, client
        self.requests = 1  # the client's event loop logs its selector once
        self._seen = 0

    def send(self, case: Any) -> Any:
        self.requests += case.requests
        return self.client.run(self.fuzz.send(self.server.port, case))

    def post(self, body: bytes, *, rpc: str = "generateContent", query: str = "") -> Any:
        headers = [
            (b"Host", b"127.0.0.1"),
            (b"Authorization", b"Bearer " + self.fuzz.SECRET_TOKEN.encode()),
            (b"Connection", b"close"),
        ]
        data = self.fuzz._request(b"POST", f"{ROUTE}:{rpc}{query}".encode(), headers, body)
        return self.send(self.fuzz.Case("post", (data,)))

    def new_log_problems(self) -> list[str]:
        """What the records logged since the last call got wrong (at most one per request)."""
        fresh = self.fuzz.LogTrap()
        fresh.records = self.trap.records[self._seen :]
        self._seen = len(self.trap.records)
        return list(fresh.problems(self.requests))

    def assert_clean(self) -> None:
        assert self.new_log_problems() == []
        assert self.fuzz.journal_leaks(self.server) == []
        assert self.server.state.errors == []
        final = self.client.run(self.fuzz._valid_request(self.server.port))
        assert final.status == 200


@pytest.fixture(scope="module")
def env(fuzz: ModuleType) -> Iterator[Env]:
    with fuzz.LogTrap() as trap, MockVertexServer() as server, asyncio.Runner() as client:
        yield Env(fuzz, server, trap, client)


# ---------------------------------------------------------------------------------------------
# The seeded byte-level fuzzer


def test_seeded_fuzz_finds_nothing(fuzz: ModuleType) -> None:
    with MockVertexServer() as server:
        report = fuzz.run(server, CI_REQUESTS, seed=SEED, concurrency=16)
    assert report.failures == []
    assert report.cases == CI_REQUESTS
    assert report.server_errors == 0
    assert report.tracebacks == 0
    assert report.outcomes["timeout"] == 0
    # every kind of hostile input was sent, and the valid ones were answered
    assert set(report.kinds) == {name for name, _, _ in fuzz.CaseMaker(SEED).kinds}
    assert report.answers["valid", "200"] > 0
    assert report.answers["surrogates", "400"] > 0
    assert report.answers["nesting", "400"] > 0
    assert report.answers["framing", "400"] > 0


def test_the_same_seed_makes_the_same_cases(fuzz: ModuleType) -> None:
    one, two = fuzz.CaseMaker(7), fuzz.CaseMaker(7)
    assert [one.make(i) for i in range(200)] == [two.make(i) for i in range(200)]
    assert one.make(0) != fuzz.CaseMaker(8).make(0)


# ---------------------------------------------------------------------------------------------
# Hypothesis: JSON bodies with lone surrogates and deep nesting


# Text with lone surrogates (category Cs, which text() leaves out by default) and pairs.
_SURROGATES = st.characters(categories=["Cs"]) | st.sampled_from(["\ud83d\ude00", "\udbff\udfff"])
_TEXT = st.lists(st.text(max_size=4) | _SURROGATES, max_size=4).map("".join)


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _has_lone_surrogate(text: str) -> bool:
    """A surrogate not in a high-low pair (a pair's two escapes decode to one character)."""
    return _has_surrogate(re.sub("[\ud800-\udbff][\udc00-\udfff]", "", text))


_NEST = "\x00nest\x00"


def _function_response_body(text: str, nest: str, *, ascii_only: bool) -> bytes:
    """A valid request but for ``text`` and the JSON ``nest``: a user turn, a model function
    call, the user's function response (a Struct, which may hold any JSON) holding ``nest``."""
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": text or "hi"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": _NEST}}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "f", "description": "a function"}]}],
    }
    raw = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    return raw.replace(b'"\\u0000nest\\u0000"', nest.encode())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=_TEXT,
    objects=st.integers(1, 105) | st.integers(1, 3000),
    lists=st.integers(0, 150) | st.integers(0, 3000),
    surrogates_as=st.sampled_from(["escapes", "bytes"]),
)
def test_surrogates_and_nesting_get_the_front_ends_400(
    env: Env, text: str, objects: int, lists: int, surrogates_as: str
) -> None:
    nest = '{"a":' * objects + "[" * lists + "1" + "]" * lists + "}" * objects
    escapes = surrogates_as == "escapes"  # else CESU-8 bytes, not UTF-8 at all
    answer = env.post(_function_response_body(text, nest, ascii_only=escapes))
    assert answer.outcome == "answered"
    assert env.fuzz.body_problem(answer) is None
    # objects: the root, a content, a part, functionResponse, then the nest (``response`` is
    # its first); containers: those and contents, parts and the nest's lists
    too_deep = 4 + objects > 100 or 4 + objects + 2 + lists > 200
    invalid_utf8 = not escapes and _has_surrogate(text)
    lone = escapes and _has_lone_surrogate(text)
    if not (invalid_utf8 or lone or too_deep):
        assert answer.status == 200
        return
    assert answer.status == 400
    message = json.loads(answer.body)["error"]["message"]
    assert message.startswith(PAYLOAD)
    if invalid_utf8:
        assert "Invalid UTF-8" in message
    elif lone:  # the first lone surrogate is in the first text part, before the nest
        reason = message.split("\n")[0].removeprefix(f"{PAYLOAD} ")
        assert reason in {
            "Missing low surrogate.",
            "Invalid low surrogate.",
            "Invalid unicode code point.",
        }
    else:
        assert message in {f"{TOO_DEEP}'a'", f"{TOO_DEEP}''"}
    assert env.new_log_problems() == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
        max_leaves=25,
    ),
    rpc=st.sampled_from(["generateContent", "streamGenerateContent", "countTokens"]),
    query=st.sampled_from(["", "?alt=sse", "?alt=json"]),
)
def test_any_json_body_is_answered_without_a_5xx(
    env: Env, value: Any, rpc: str, query: str
) -> None:
    if rpc != "streamGenerateContent":
        query = ""
    body = {"contents": [{"role": "user", "parts": [{"text": "x", "fuzz": value}]}], "k": value}
    answer = env.post(json.dumps(body).encode(), rpc=rpc, query=query)
    assert answer.outcome == "answered"
    assert answer.status == 400  # "fuzz" and "k" are unknown fields
    assert env.fuzz.body_problem(answer) is None
    assert env.new_log_problems() == []


# ---------------------------------------------------------------------------------------------
# Hypothesis: HTTP the parser may refuse


_TOKEN = st.sampled_from([b"X-Fuzz", b"Accept", b"Content-Type", b"Expect", b"Upgrade"])
_HEADER_NAMES = _TOKEN | st.binary(min_size=0, max_size=12)
_HEADER_VALUES = st.binary(max_size=40) | st.sampled_from([b"\x00", b"\r", b"a\nb", b"x" * 9000])
_METHODS = st.sampled_from([b"POST", b"GET", b"HEAD", b"PUT", b"post"]) | st.binary(max_size=8)
_TARGETS = st.sampled_from(
    [f"{ROUTE}:generateContent".encode(), f"{ROUTE}:streamGenerateContent?alt=sse".encode()]
) | st.binary(max_size=30).map(lambda b: b"/" + b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=_METHODS,
    target=_TARGETS,
    version=st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTP/1.1", b""]),
    headers=st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=4),
    body=st.binary(max_size=200),
    framing=st.sampled_from(["length", "chunked"]),
    authorization=st.sampled_from(["clean", "with a NUL"]),
)
def test_any_request_head_is_answered_or_closed(
    env: Env,
    method: bytes,
    target: bytes,
    version: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    framing: str,
    authorization: str,
) -> None:
    fuzz = env.fuzz
    framed = {b"content-length", b"transfer-encoding", b"connection"}
    kept = [(n, v) for n, v in headers if n.strip().lower() not in framed]
    token = fuzz.SECRET_TOKEN.encode()
    auth = b"Bearer " + token + (b"\x00" if authorization == "with a NUL" else b"")
    lines = [(b"Host", b"127.0.0.1"), (b"Authorization", auth), *kept, (b"Connection", b"close")]
    head = method + b" " + target + b" " + version + b"\r\n" + fuzz._head_lines(lines)
    if framing == "chunked":
        data = head + b"Transfer-Encoding: chunked\r\n\r\n"
        data += (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    else:
        data = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    # Complete bytes (framed, ``Connection: close``): the server answers or closes, never hangs.
    answer = env.send(fuzz.Case("hypothesis", (data,), head=method == b"HEAD"))
    assert answer.outcome in {"answered", "closed", "reset"}
    assert answer.status is None or answer.status < 500
    assert fuzz.body_problem(answer) is None
    assert env.new_log_problems() == []


def test_after_the_hypothesis_runs_the_server_is_clean(env: Env) -> None:
    env.assert_clean()
