"""The conformance suite has teeth: run against deliberately broken variants of the mock, it
fails on each, and names the property that caught it.

Every variant is the real mock behind a small proxy on 127.0.0.1 that rewrites its bytes (or,
for the validator, what it answers to a body it refused): nothing inside the mock is patched.
The proxy has no control plane, as a gateway would not, so the fault properties are not
applicable through it. The suite runs in-process (pytester), derandomized, three drawn
examples per property after the fixed bodies; its divergence report must name the property too.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from mockvertex.contract import wire
from mockvertex.server.runner import MockVertexServer

pytest_plugins = ["pytester"]


@dataclass(frozen=True)
class Exchange:
    """One forwarded request and the mock's answer, as the proxy may rewrite them."""

    path: str
    body: bytes
    status: int
    headers: tuple[tuple[str, str], ...]
    reply: bytes

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers if k.lower() == "content-type"), "")

    @property
    def framing(self) -> wire.Framing:
        """The framing the request asked for (an error in SSE mode is a plain envelope)."""
        if ":streamGenerateContent" not in self.path:
            return wire.Framing.UNARY
        if "alt=sse" in self.path:
            return wire.Framing.SSE
        return wire.Framing.ARRAY

    @property
    def error_framing(self) -> wire.Framing:
        """How an error reply is framed: wrapped in the array in array mode, else plain."""
        return wire.Framing.ARRAY if self.framing is wire.Framing.ARRAY else wire.Framing.UNARY


Rewrite = Callable[[Exchange, Callable[[bytes], Exchange]], tuple[int, bytes]]


def _decode(exchange: Exchange) -> list[Any]:
    framing = exchange.framing if exchange.status == 200 else exchange.error_framing
    if framing is wire.Framing.SSE:
        return wire.decode_sse(exchange.reply)
    if framing is wire.Framing.ARRAY:
        return wire.decode_array(exchange.reply)
    return [wire.decode_unary(exchange.reply)]


def _encode(framing: wire.Framing, chunks: list[Any]) -> bytes:
    if framing is wire.Framing.SSE:
        return b"".join(wire.encode_sse_event(c) for c in chunks)
    if framing is wire.Framing.ARRAY:
        return wire.encode_array(chunks)
    return wire.encode_unary(chunks[0])


def _chunks_rewritten(change: Callable[[list[dict[str, Any]]], None]) -> Rewrite:
    """A rewrite of the chunks of every 200 generation reply, re-encoded in its framing."""

    def rewrite(exchange: Exchange, resend: Callable[[bytes], Exchange]) -> tuple[int, bytes]:
        if exchange.status != 200 or ":countTokens" in exchange.path:
            return exchange.status, exchange.reply
        chunks = _decode(exchange)
        change(chunks)
        return 200, _encode(exchange.framing, chunks)

    return rewrite


# --------------------------------------------------------------------------------------------
# The broken variants


def lf_only_sse(exchange: Exchange, resend: Callable[[bytes], Exchange]) -> tuple[int, bytes]:
    if exchange.framing is wire.Framing.SSE:
        return exchange.status, exchange.reply.replace(b"\r\n\r\n", b"\n\n")
    return exchange.status, exchange.reply


def no_closing_bracket(
    exchange: Exchange, resend: Callable[[bytes], Exchange]
) -> tuple[int, bytes]:
    if exchange.framing is wire.Framing.ARRAY and exchange.status == 200:
        return 200, exchange.reply.removesuffix(b"]")
    return exchange.status, exchange.reply


def _usage_everywhere(chunks: list[dict[str, Any]]) -> None:
    for chunk in chunks:
        chunk["usageMetadata"] = dict(chunks[-1]["usageMetadata"])


def _cumulative(chunks: list[dict[str, Any]]) -> None:
    so_far = ""
    for chunk in chunks:
        for part in chunk["candidates"][0].get("content", {}).get("parts", []):
            if "text" in part:
                so_far += part["text"]
                part["text"] = so_far


def accepts_unknown_fields(
    exchange: Exchange, resend: Callable[[bytes], Exchange]
) -> tuple[int, bytes]:
    """A validator that lets unknown fields through: a body refused only for unknown names is
    answered as if they were not there (here: as a plain request is)."""
    if exchange.status == 400 and b"Unknown name" in exchange.reply:
        error = _decode(exchange)[0]
        violations = error["error"]["details"][0]["fieldViolations"]
        if all("Unknown name" in v["description"] for v in violations):
            plain = resend(b'{"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}')
            return plain.status, plain.reply
    return exchange.status, exchange.reply


def status_422(exchange: Exchange, resend: Callable[[bytes], Exchange]) -> tuple[int, bytes]:
    """422 where Vertex says 400, as pydantic-based mocks answer (llmock)."""
    if exchange.status != 400:
        return exchange.status, exchange.reply
    envelope = _decode(exchange)[0]
    envelope["error"]["code"] = 422
    return 422, _encode(exchange.error_framing, [envelope])


def _seed_spelling(chunks: list[dict[str, Any]]) -> None:
    for chunk in chunks:
        for candidate in chunk.get("candidates", []):
            if candidate.get("finishReason") == "STOP":
                candidate["finishReason"] = "FINISH_REASON_STOP"  # the seed doc's table


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", k).lower(): _snake(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def _snake_keys(chunks: list[dict[str, Any]]) -> None:
    chunks[:] = [_snake(c) for c in chunks]


def identity(exchange: Exchange, resend: Callable[[bytes], Exchange]) -> tuple[int, bytes]:
    return exchange.status, exchange.reply


#: variant -> (the rewrite, the property that must catch it)
VARIANTS: dict[str, tuple[Rewrite, str]] = {
    "lf-only-sse-separators": (lf_only_sse, "sse-framing"),
    "missing-closing-bracket": (no_closing_bracket, "array-framing"),
    "usage-on-every-chunk": (_chunks_rewritten(_usage_everywhere), "finish-and-usage-last"),
    "cumulative-text": (_chunks_rewritten(_cumulative), "text-deltas"),
    "validator-accepts-unknown-fields": (accepts_unknown_fields, "verdict-matches-validator"),
    "422-instead-of-400": (status_422, "verdict-matches-validator"),
    "finish-reason-spelling": (_chunks_rewritten(_seed_spelling), "chunks-match-schema"),
    "snake-case-keys": (_chunks_rewritten(_snake_keys), "camel-case-keys"),
}


# --------------------------------------------------------------------------------------------
# The proxy


_HOP_BY_HOP = frozenset(
    {"connection", "content-length", "transfer-encoding", "content-encoding", "date", "server"}
)


class RewritingProxy:
    """A proxy on 127.0.0.1 in front of ``upstream``: forwards each generation request, reads
    the whole answer and sends back what ``rewrite`` makes of it. No control plane."""

    def __init__(self, upstream: str, rewrite: Rewrite) -> None:
        http = requests.Session()
        lock = threading.Lock()

        def forward(path: str, headers: dict[str, str], body: bytes) -> Exchange:
            with lock:
                answer = http.post(upstream + path, data=body, headers=headers, timeout=30)
            headers_out = tuple(
                (k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP
            )
            return Exchange(path, body, answer.status_code, headers_out, answer.content)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # the name http.server dispatches on
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("authorization", "content-type")
                }
                exchange = forward(self.path, headers, body)
                status, reply = rewrite(exchange, lambda other: forward(self.path, headers, other))
                self.send_response(status)
                for name, value in exchange.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply)
                self.close_connection = True

            def do_GET(self) -> None:
                self.send_error(404)

            do_HEAD = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._http = http
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._http.close()
        self._thread.join(5)


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockVertexServer]:
    with MockVertexServer() as server:
        yield server
        server.check()


@dataclass
class SuiteRun:
    failed: set[str]
    passed: int
    report: dict[str, Any]
    messages: dict[str, str]


def _property_of(nodeid: str) -> str:
    name = nodeid.rsplit("::", 1)[-1].split("[", 1)[0]
    return name.removeprefix("test_").replace("_", "-")


#: A pytest-asyncio setting for the inner runs (its warning would be an error here).
_INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""


def run_suite(pytester: pytest.Pytester, url: str, tmp_path: Path) -> SuiteRun:
    """The packaged suite against ``url``, in this process, as ``mockvertex conform`` runs it
    (the mock behind the proxy wants a bearer token, as Vertex does)."""
    pytester.makeini(_INI)
    report_path = tmp_path / "report.json"
    recorder = pytester.inline_run(
        "-p", "mockvertex.conformance.plugin",
        "-p", "no:cacheprovider",
        "--pyargs", "mockvertex.conformance.suite",
        "--target", url,
        "--token", "teeth-token",
        "--conformance-profile", "ci",
        "--conformance-examples", "3",
        "--divergence-report", str(report_path),
    )  # fmt: skip
    passed, _, failed = recorder.listoutcomes()
    messages = {}
    for report in failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        messages[_property_of(report.nodeid)] = str(getattr(crash, "message", report.longrepr))
    document = json.loads(report_path.read_text("utf-8"))
    return SuiteRun(set(messages), len(passed), document, messages)


@pytest.fixture
def broken(upstream: MockVertexServer, request: pytest.FixtureRequest) -> Iterator[str]:
    rewrite, _ = VARIANTS[request.param]
    proxy = RewritingProxy(upstream.url, rewrite)
    yield proxy.url
    proxy.close()


def test_the_suite_passes_through_a_proxy_that_changes_nothing(
    pytester: pytest.Pytester, upstream: MockVertexServer, tmp_path: Path
) -> None:
    proxy = RewritingProxy(upstream.url, identity)
    try:
        run = run_suite(pytester, proxy.url, tmp_path)
    finally:
        proxy.close()
    assert run.failed == set()
    assert run.passed > 10
    outcomes = {p["name"]: p["outcome"] for p in run.report["properties"]}
    # no control plane behind a proxy: the fault properties say so instead of passing
    assert outcomes["clients-raise-alike-on-faults"] == "not applicable"
    assert "no mock control plane" in next(
        p["detail"]
        for p in run.report["properties"]
        if p["name"] == "clients-raise-alike-on-faults"
    )
    assert [d for d in run.report["divergences"] if d["known"] is None] == []


@pytest.mark.parametrize("broken", sorted(VARIANTS), indirect=True)
def test_the_suite_catches_each_broken_variant(
    pytester: pytest.Pytester, broken: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    variant = request.node.callspec.params["broken"]
    _, catcher = VARIANTS[variant]

    run = run_suite(pytester, broken, tmp_path)

    print(f"\n{variant}: caught by {catcher}; failed: {', '.join(sorted(run.failed))}")
    assert catcher in run.failed, f"{variant}: only {sorted(run.failed)} failed"
    message = run.messages[catcher]
    assert f"{catcher} failed:" in message
    assert "reproduce: curl" in message
    outcomes = {p["name"]: p["outcome"] for p in run.report["properties"]}
    assert outcomes[catcher] == "failed"
    # the difference from the mock's contract is in the report as well, and it is new
    assert any(d["known"] is None for d in run.report["divergences"]), run.report["divergences"]
