"""``mockvertex generate``: the seed's curl and Python samples as one command, against the mock."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from scenario_builders import scenario

from mockvertex.cli import main
from mockvertex.server.adc import write_adc_file
from mockvertex.server.runner import MockVertexServer

MODEL = "gemini-2.0-flash"
TOKEN = "cli-token"
CHUNKS = ["Machine ", "learning ", "is ", "statistics."]


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MOCKVERTEX_TOKEN", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


@pytest.fixture
def journal_secrets() -> tuple[str, ...]:
    return (TOKEN,)


@pytest.fixture
def mock(mock: MockVertexServer) -> MockVertexServer:
    mock.add_scenario(scenario("ml", {"times": "forever", "respond": {"chunks": CHUNKS}}))
    return mock


def _run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["generate", *argv], out=out, err=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def _only(mock: MockVertexServer, built: dict[str, object] | str) -> None:
    """Replace the default answer with ``built`` (a scenario mapping or a built-in name)."""
    mock.reset()
    mock.add_scenario(built)


def _at(mock: MockVertexServer, *extra: str) -> list[str]:
    return ["--base-url", mock.url, "--project", "p", "--token", TOKEN, *extra]


def test_generate_prints_the_answer(mock: MockVertexServer) -> None:
    code, out, err = _run(*_at(mock), "Tell me about machine learning.")

    assert (code, out, err) == (0, "".join(CHUNKS) + "\n", "")
    (exchange,) = mock.journal()
    assert exchange.rpc == "generateContent"
    assert exchange.request is not None
    assert exchange.request["contents"] == [
        {"role": "user", "parts": [{"text": "Tell me about machine learning."}]}
    ]


class TimedOut(io.StringIO):
    """Records, for each write, how many chunks the mock had sent by then."""

    def __init__(self, mock: MockVertexServer) -> None:
        super().__init__()
        self.mock = mock
        self.sent_at_write: list[int] = []

    def write(self, text: str) -> int:
        if text.strip():
            self.sent_at_write.append(self.mock.journal()[-1].chunks_sent)
        return super().write(text)


def test_stream_prints_text_as_it_arrives(mock: MockVertexServer) -> None:
    paced = {"times": "forever", "respond": {"chunks": CHUNKS}, "delay": {"betweenChunks": 0.2}}
    _only(mock, scenario("paced", paced))
    out = TimedOut(mock)

    code = main(["generate", *_at(mock), "--stream", "Speak slowly"], out=out, err=io.StringIO())

    assert code == 0
    assert out.getvalue() == "".join(CHUNKS) + "\n"
    assert out.sent_at_write[0] < len(CHUNKS)  # the first text was out before the last chunk
    assert mock.journal()[-1].query == {"alt": "sse"}


def test_json_prints_the_raw_chunks(mock: MockVertexServer) -> None:
    code, out, _ = _run(*_at(mock), "--stream", "--json", "Raw please")

    lines = out.splitlines()
    assert code == 0
    assert len(lines) == len(CHUNKS)
    chunks = [json.loads(line) for line in lines]
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks] == CHUNKS


def test_json_without_stream_prints_the_response(mock: MockVertexServer) -> None:
    code, out, _ = _run(*_at(mock), "--json", "Raw please")

    assert code == 0
    assert json.loads(out)["candidates"][0]["finishReason"] == "STOP"


def test_generation_flags_reach_the_request(mock: MockVertexServer) -> None:
    flags = ["--temperature", "0.7", "--top-p", "0.9", "--top-k", "20", "--max-output-tokens"]
    code, _, _ = _run(*_at(mock), *flags, "1024", "--system", "Be brief.", "Configured")

    assert code == 0
    request = mock.journal()[0].request
    assert request is not None
    assert request["generationConfig"] == {
        "temperature": 0.7,
        "topP": 0.9,
        "topK": 20,
        "maxOutputTokens": 1024,
    }
    assert request["systemInstruction"]["parts"] == [{"text": "Be brief."}]


def test_the_prompt_can_come_from_stdin(mock: MockVertexServer) -> None:
    code, _, _ = _run(*_at(mock), "-", stdin="From a pipe")

    assert code == 0
    request = mock.journal()[0].request
    assert request is not None
    assert request["contents"][0]["parts"][0]["text"] == "From a pipe"


def test_an_invalid_request_exits_1_before_anything_is_sent(mock: MockVertexServer) -> None:
    code, out, err = _run(*_at(mock), "--model", "gemini-1.0-pro", "--top-k", "50", "Too many")

    assert code == 1
    assert out == ""
    assert err.startswith("mockvertex: INVALID_ARGUMENT: ")
    assert "topK value of 50" in err
    assert mock.journal() == []


def test_an_api_error_exits_1_with_the_status_and_attempts(mock: MockVertexServer) -> None:
    _only(mock, scenario("no", {"times": "forever", "error": {"code": 403, "message": "No."}}))

    code, out, err = _run(*_at(mock), "Forbidden")

    assert (code, out) == (1, "")
    assert err == "mockvertex: error: 403 PERMISSION_DENIED: No. (1 attempt)\n"


def test_a_failure_mid_stream_keeps_the_printed_text(mock: MockVertexServer) -> None:
    broken = {"respond": {"chunks": CHUNKS}, "fault": {"kind": "disconnect", "after": 2}}
    _only(mock, scenario("drop", broken))

    code, out, err = _run(*_at(mock), "--stream", "Half")

    assert code == 1
    assert out == "".join(CHUNKS[:2]) + "\n"
    assert err.startswith("mockvertex: error: 503 UNAVAILABLE: ")


def test_a_blocked_prompt_says_why_there_is_no_text(mock: MockVertexServer) -> None:
    _only(mock, "safety_block_prompt")

    code, out, err = _run(*_at(mock), "Something dangerous")

    assert (code, out) == (0, "")
    assert err.startswith("mockvertex: no text: The prompt was blocked (blockReason SAFETY)")


def test_verbose_logs_each_attempt_without_the_token(mock: MockVertexServer) -> None:
    _only(mock, scenario("rl", {"error": {"code": 429, "retryAfter": 0}}))

    code, _, err = _run(*_at(mock), "--verbose", "Retry me")

    assert code == 0
    lines = err.splitlines()
    assert lines[0].startswith("generateContent gemini-2.0-flash attempt 1/5: 429")
    assert lines[1] == "generateContent gemini-2.0-flash attempt 2/5: 200 OK"
    assert TOKEN not in err


def test_mockvertex_token_gives_the_static_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKVERTEX_TOKEN", "env-token")
    with MockVertexServer(auth="token=env-token") as mock:
        code, out, _ = _run("--base-url", mock.url, "--project", "p", "Hi")

    assert code == 0
    assert out
    assert [e.status for e in mock.journal()] == [200]


def test_adc_is_used_without_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with MockVertexServer(auth="token=from-adc") as mock:
        adc = write_adc_file(mock.url, tmp_path / "adc.json")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        code, _, err = _run("--base-url", mock.url, "--project", "p", "Hi")

    assert (code, err) == (0, "")
    assert [e.status for e in mock.journal()] == [200]


def test_without_credentials_one_clear_line() -> None:
    code, out, err = _run("--project", "p", "Hi")

    assert (code, out) == (2, "")
    assert err == (
        "mockvertex: error: no credentials: pass --token TOKEN or set MOCKVERTEX_TOKEN "
        "(any token for the mock), or run `gcloud auth application-default login`\n"
    )


def test_vertex_needs_a_project() -> None:
    code, _, err = _run("--token", "x", "Hi")

    assert code == 2
    assert err == "mockvertex: error: --project is required to call Vertex\n"


def test_a_bad_base_url_is_a_usage_error() -> None:
    code, _, err = _run("--token", "x", "--base-url", "localhost:8080", "Hi")

    assert code == 2
    assert "base_url must be an http:// or https:// URL" in err


def test_help_lists_the_flags() -> None:
    code, out, _ = _run("--help")

    assert code == 0
    for flag in ("--stream", "--json", "--base-url", "--max-output-tokens", "--system", "--token"):
        assert flag in out
