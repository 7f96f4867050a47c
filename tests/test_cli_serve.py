"""``mockvertex serve`` as a user runs it: a real process, a real port, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockvertex.cli import main


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockvertex", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    while not any("GOOGLE_APPLICATION_CREDENTIALS" in line for line in lines):
        line = proc.stdout.readline()
        assert line, f"serve exited early: {proc.communicate(timeout=10)}"
        lines.append(line)
    return proc, lines


@pytest.fixture
def served() -> Iterator[tuple[str, list[str]]]:
    proc, lines = _start("--scenario", "seed_pirate_chat")
    url = lines[0].rsplit(" ", 1)[-1].strip()
    try:
        yield url, lines
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "Traceback" not in err


def test_serve_prints_the_url_and_the_environment_lines(served: tuple[str, list[str]]) -> None:
    url, lines = served
    assert url.startswith("http://127.0.0.1:")
    text = "".join(lines)
    assert "export GOOGLE_GENAI_USE_VERTEXAI=true" in text
    assert f"export GOOGLE_VERTEX_BASE_URL={url}" in text
    assert f"export GOOGLE_GEMINI_BASE_URL={url}" in text
    credentials = next(
        line.split("=", 1)[1].strip() for line in lines if "GOOGLE_APPLICATION_CREDENTIALS" in line
    )
    document = json.loads(Path(credentials).read_text("utf-8"))
    assert document["token_url"] == f"{url}/token"


def test_serve_answers_with_the_named_builtin_scenario(served: tuple[str, list[str]]) -> None:
    url, _ = served
    body = json.dumps(
        {"contents": [{"role": "user", "parts": [{"text": "Wow! You are a real-life priate!"}]}]}
    ).encode()
    request = urllib.request.Request(
        f"{url}/v1/projects/p/locations/us-central1/publishers/google/models/"
        "gemini-1.0-pro:generateContent",
        data=body,
        headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    text = answer["candidates"][0]["content"]["parts"][0]["text"]
    assert text.startswith("Avast there, landlubber!")


def test_serve_without_a_token_is_401_by_default(served: tuple[str, list[str]]) -> None:
    url, _ = served
    request = urllib.request.Request(
        f"{url}/v1/publishers/google/models/gemini-1.0-pro:generateContent", data=b"{}"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 401
    assert json.loads(caught.value.read())["error"]["status"] == "UNAUTHENTICATED"


def test_serve_rejects_a_bad_auth_value() -> None:
    import io

    err = io.StringIO()
    assert main(["serve", "--auth", "bogus"], out=io.StringIO(), err=err) == 2
    assert "--auth must be 'vertex', 'none' or 'token=VALUE'" in err.getvalue()


def test_serve_names_a_broken_scenario_file(tmp_path: Path) -> None:
    import io

    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1, "name": "x", "steps": [{"times": 0}]}', "utf-8")
    err = io.StringIO()
    assert main(["serve", "--port", "0", "--scenario", str(bad)], out=io.StringIO(), err=err) == 2
    message = err.getvalue()
    assert str(bad) in message
    assert "steps[0].times" in message
    assert "Traceback" not in message


def test_serve_reports_a_busy_port_without_a_traceback() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "mockvertex", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ},
        )
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
