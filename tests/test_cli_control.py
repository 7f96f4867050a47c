"""The CLI's control subcommands against a running mock: output, exit codes and messages."""

from __future__ import annotations

import http.client
import io
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockvertex.cli import main
from mockvertex.config import DEFAULT_URL, control_url
from mockvertex.server.runner import MockVertexServer

BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about rivers"}]}]}


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def call(url: str, project: str, method: str = "generateContent") -> int:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        path = f"/v1/projects/{project}/locations/l/publishers/google/models/gemini-2.0-flash:"
        conn.request("POST", path + method, body=json.dumps(BODY), headers={"Authorization": "B t"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.fixture
def server() -> Iterator[MockVertexServer]:
    with MockVertexServer(auth="none") as running:
        yield running
        running.check()


@pytest.fixture
def url(server: MockVertexServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's URL, also in MOCKVERTEX_URL (each test passes --url too, or not)."""
    monkeypatch.setenv("MOCKVERTEX_URL", server.url + "/")
    return server.url


def test_control_url_default_and_environment() -> None:
    assert control_url({}) == DEFAULT_URL == "http://127.0.0.1:8080"
    assert control_url({"MOCKVERTEX_URL": " http://h:1/ "}) == "http://h:1"


def test_health_and_sessions(url: str) -> None:
    code, out, err = run("health")
    assert (code, err) == (0, "")
    assert out.startswith("ok: mockvertex ")
    assert f"at {url}, 0 session(s)" in out
    call(url, "alpha")
    call(url, "beta")
    assert run("sessions", "--url", url) == (0, "alpha\nbeta\n", "")


def test_fault_add_then_journal_and_report(url: str) -> None:
    code, out, _ = run("fault", "add", '{"error": {"code": 503}, "times": 2}', "--session", "p")
    assert (code, out) == (0, "added fault fault-1 to the session p\n")
    assert [call(url, "p") for _ in range(3)] == [503, 503, 200]
    code, out, _ = run("journal", "--session", "p")
    assert code == 0
    assert [e["status"] for e in json.loads(out)] == [503, 503, 200]
    code, out, _ = run("journal", "--session", "p", "--jsonl")
    assert [json.loads(line)["status"] for line in out.splitlines()] == [503, 503, 200]
    code, out, _ = run("report", "--session", "p")
    assert code == 0
    assert "call 1: session p" in out
    assert "thresholds:" in out
    code, out, _ = run("report", "--session", "p", "--json", "--threshold", "storm_attempts=2")
    assert json.loads(out)["thresholds"]["storm_attempts"] == 2
    assert run("report", "--session", "p", "--strict")[0] == 0
    strict = run("report", "--session", "p", "--strict", "--threshold", "non_retryable=503")
    assert strict[0] == 1
    assert "retried_non_retryable" in strict[1]


def test_fault_from_a_file_stdin_match_and_name(url: str, tmp_path: Path) -> None:
    step = tmp_path / "step.json"
    step.write_text('{"error": {"code": 429}}')
    assert run("fault", "add", f"@{step}", "--name", "from-file")[0] == 0
    code, out, _ = run(
        "fault", "add", "-", "--match", '{"model": "x-*"}', stdin='{"error": {"code": 500}}'
    )
    assert (code, out) == (0, "added fault fault-1 to the global scope\n")
    code, out, _ = run("scenario", "list")
    assert [s["name"] for s in json.loads(out)] == ["from-file", "fault-1"]
    assert call(url, "anyone") == 429


def test_fault_kinds(url: str) -> None:
    code, out, _ = run("fault", "kinds")
    assert code == 0
    assert "disconnect" in {k["kind"] for k in json.loads(out)["faults"]}


def test_scenario_add_from_stdin(url: str) -> None:
    document = {"format": 1, "name": "piped", "steps": [{"error": {"code": 503}}]}
    code, out, _ = run("scenario", "add", "-", stdin=json.dumps(document))
    assert (code, out) == (0, "added scenario piped to the global scope\n")
    assert call(url, "x") == 503


def test_scenario_add_list_remove_clear(url: str, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"format": 1, "name": "mine", "steps": [{"respond": {"text": "x"}}]}')
    assert run("scenario", "add", str(path), "--session", "s") == (
        0,
        "added scenario mine to the session s\n",
        "",
    )
    assert run("scenario", "add", "recitation", "--session", "s")[0] == 0
    code, out, _ = run("scenario", "list", "--session", "s")
    assert [s["name"] for s in json.loads(out)] == ["mine", "recitation"]
    assert run("scenario", "remove", "mine", "--session", "s")[1] == (
        "removed scenario mine from the session s\n"
    )
    code, _, err = run("scenario", "remove", "mine", "--session", "s")
    assert code == 1
    assert err == "mockvertex: error: NOT_FOUND: No scenario named 'mine' in scope 's'.\n"
    assert (
        run("scenario", "clear", "--session", "s")[1] == "cleared the scenarios of the session s\n"
    )
    assert json.loads(run("scenario", "list", "--session", "s")[1]) == []


def test_quota_set_show_lift(url: str) -> None:
    assert run("quota", "set", "rpm=1", "--session", "q")[1] == (
        "set quota rpm=1 on the session q\n"
    )
    assert [call(url, "q"), call(url, "q")] == [200, 429]
    code, out, _ = run("quota", "show", "--session", "q")
    assert code == 0
    (budget,) = json.loads(out)["models"]
    assert budget["requests"]["remaining"] == 0
    assert run("quota", "lift", "--session", "q")[1] == "lifted the quotas of the session q\n"
    assert call(url, "q") == 200


def test_reset_only_some_resources(url: str) -> None:
    run("fault", "add", "{}", "--session", "r")
    call(url, "r")
    assert run("reset", "--session", "r", "--only", "journal")[1] == (
        "reset journal of the session r\n"
    )
    assert json.loads(run("journal", "--session", "r")[1]) == []
    assert len(json.loads(run("scenario", "list", "--session", "r")[1])) == 1
    assert run("reset")[1] == "reset scenarios, journal, quota, errors of the global scope\n"
    assert json.loads(run("scenario", "list", "--session", "r")[1]) == []


def test_errors_exit_1_when_the_server_hit_a_bug(
    url: str, server: MockVertexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mockvertex.server.app

    assert run("errors") == (0, "no server-side errors in the global scope\n", "")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("cli boom")

    with monkeypatch.context() as patch:
        patch.setattr(mockvertex.server.app, "render", broken)
        assert call(url, "b") == 500
    code, out, _ = run("errors", "--session", "b")
    assert code == 1
    assert "RuntimeError: cli boom" in out
    assert run("errors", "--session", "other")[0] == 0
    server.reset()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("fault", "add", '{"error": {"code": 200}}'),
            "mockvertex: error: INVALID_ARGUMENT: step.error.code: must be >= 400\n",
        ),
        (
            ("scenario", "add", "/no/such/scenario.json"),
            "mockvertex: error: /no/such/scenario.json: <root>: cannot read the file",
        ),
    ],
)
def test_refused_requests_exit_1_or_2(url: str, argv: tuple[str, ...], message: str) -> None:
    code, out, err = run(*argv)
    assert code in (1, 2)
    assert out == ""
    assert err.startswith(message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("fault", "add", "{nope"), "the step is not JSON"),
        (("fault", "add", "[1]"), "the step and --match must be JSON objects"),
        (("fault", "add", "{}", "--match", "2"), "the step and --match must be JSON objects"),
        (("fault", "add", "@/no/such/file.json"), "No such file"),
        (("quota", "set", "rpm=lots"), "rpm must be an integer"),
        (("reset", "--only", "journal,cache"), "name resources from scenarios, journal"),
        (("reset", "--only", ","), "name resources from"),
        (("report", "--threshold", "storm"), "is not NAME=VALUE"),
        (("scenario", "add", "no_such_builtin"), "unknown built-in scenario"),
        (("scenario", "add", "-"), "the scenario is not JSON"),
    ],
)
def test_usage_errors_exit_2(url: str, argv: tuple[str, ...], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert out == ""
    assert err.startswith("mockvertex: error: ")
    assert message in err


def test_a_bad_threshold_is_refused_by_the_server(url: str) -> None:
    code, _, err = run("report", "--threshold", "storm_gap=soon")
    assert code == 1
    assert err == "mockvertex: error: INVALID_ARGUMENT: storm_gap: must be a number >= 0\n"


def test_nothing_listening_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MOCKVERTEX_URL", f"http://127.0.0.1:{port}")
    code, out, err = run("health")
    assert (code, out) == (2, "")
    assert err.startswith(
        f"mockvertex: error: mockvertex is not reachable at http://127.0.0.1:{port}"
    )


def test_subcommand_usage_errors() -> None:
    assert run("scenario")[0] == 2
    assert run("quota", "grow")[0] == 2
    code, out, _ = run("health", "--help")
    assert code == 0
    assert "--url URL" in out
    assert "MOCKVERTEX_URL" in out


def test_serve_rejects_a_bad_quota() -> None:
    code, out, err = run("serve", "--port", "0", "--quota", "rpm=60,tpm=x")
    assert (code, out) == (2, "")
    assert err == (
        "mockvertex: error: quota 'rpm=60,tpm=x': part 'tpm=x': tpm must be an integer "
        "from 1 to 1000000000000\n"
    )


def test_a_real_serve_process_driven_from_the_shell() -> None:
    """``mockvertex serve --quota`` in its own process, driven by the control subcommands."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "mockvertex", "serve", "--port", "0", "--auth", "none"),
            *("--quota", "rpm=2", "--quota", "rpm=1,model=gemini-2.5-*"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        while not any("GOOGLE_APPLICATION_CREDENTIALS" in line for line in lines):
            line = proc.stdout.readline()
            assert line, f"serve exited early: {proc.communicate(timeout=10)}"
            lines.append(line)
        url = lines[0].rsplit(" ", 1)[-1].strip()
        control = f"Control plane: {url}/_mockvertex/v1 (mockvertex health --url URL)\n"
        assert lines[1] == control
        assert run("health", "--url", url)[0] == 0
        assert [call(url, "ci") for _ in range(3)] == [200, 200, 429]
        code, out, _ = run("quota", "show", "--url", url, "--session", "ci")
        assert code == 0
        assert json.loads(out)["quotas"] == [{"rpm": 2}, {"rpm": 1, "model": "gemini-2.5-*"}]
        assert run("reset", "--url", url, "--session", "ci", "--only", "quota")[0] == 0
        assert call(url, "ci") == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err
