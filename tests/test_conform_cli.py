"""``mockvertex conform`` as a user runs it: a real process, against a real ``mockvertex serve``
on 127.0.0.1, and one clear line for every way it cannot start."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockvertex.cli import main
from mockvertex.conformance.targets import MOCK_TOKEN


def _conform(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockvertex", "conform", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``mockvertex serve --port 0`` in its own process; its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockvertex", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("mockvertex serving"), proc.communicate(timeout=10)
    try:
        yield first.rsplit(" ", 1)[-1].strip()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "Traceback" not in err


def test_conform_against_a_served_mock_passes_and_writes_the_report(
    served: str, tmp_path: Path
) -> None:
    done = _conform("--target", served, "--", "-q", cwd=tmp_path)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert "failed" not in done.stdout.splitlines()[-1]
    # every run against a non-mock target leaves its divergence report, by default here
    report = json.loads((tmp_path / "mockvertex-divergences.json").read_text("utf-8"))
    assert report["target"]["name"] == served
    assert report["target"]["controlPlane"] is True
    assert report["profile"] == "ci"  # a mockvertex behind a URL: no quota to spare
    assert report["exchangesCompared"] > 50
    assert [d for d in report["divergences"] if d["known"] is None] == []
    outcomes = {p["name"]: p["outcome"] for p in report["properties"]}
    assert set(outcomes.values()) == {"passed"}
    assert {"verdict-matches-validator", "sse-framing", "clients-raise-alike-on-faults"} <= set(
        outcomes
    )
    table = (tmp_path / "mockvertex-divergences.txt").read_text("utf-8")
    assert "0 divergences from the mock's contract (0 new, 0 known)" in table
    assert "mockvertex divergence report" in done.stdout
    # the token the kit sent is written nowhere
    written = json.dumps(report) + table + done.stdout + done.stderr
    assert MOCK_TOKEN not in written


def test_the_live_profile_prints_its_cost_before_the_first_request(
    served: str, tmp_path: Path
) -> None:
    done = _conform(
        "--target", served, "--conformance-profile", "live", "--", "--collect-only", "-q",
        cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    estimate = next(line for line in done.stdout.splitlines() if "live profile" in line)
    assert f"live profile against {served} (gemini-2.0-flash, us-central1)" in estimate
    assert "at most 30 a minute" in estimate
    assert "prompt tokens" in estimate
    assert "per million" in estimate
    assert "$" in estimate


def test_conform_runs_the_mock_in_process_by_default(tmp_path: Path) -> None:
    done = _conform("--", "-q", "-k", "verdict or sse_framing", cwd=tmp_path)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
    assert not (tmp_path / "mockvertex-divergences.json").exists()  # nothing to compare


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--target", "ftp://example"], "--target must be mock, vertex or an http(s):// URL"),
        (["--target", "vertex"], "--target vertex needs --project PROJECT"),
        (["--target", "http://127.0.0.1:9"], "--target http://127.0.0.1:9: nothing answers there"),
        (["--target", "vertex", "--project", "p"], "No Application Default Credentials found"),
    ],
    ids=["bad-target", "no-project", "nothing-listening", "no-credentials"],
)
def test_conform_stops_with_one_clear_line(
    tmp_path: Path, args: list[str], line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ADC that cannot be found, without asking a metadata server: a credentials file that
    # does not exist is where google-auth looks first, and gives up there.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    import os

    done = _conform(*args, cwd=tmp_path, env=dict(os.environ))

    assert done.returncode == 4  # pytest's usage error
    errors = [row for row in done.stderr.splitlines() if row.strip()]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("ERROR: ")
    assert line in errors[0]
    assert "Traceback" not in done.stdout + done.stderr


def test_conform_without_the_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "hypothesis" else real(name)
    )
    err = io.StringIO()

    assert main(["conform"], out=io.StringIO(), err=err) == 2
    assert "pip install 'mockvertex[conformance]'" in err.getvalue()


def test_conform_help_lists_the_options() -> None:
    out = io.StringIO()

    assert main(["conform", "--help"], out=out, err=io.StringIO()) == 0
    for option in (
        "--target",
        "--project",
        "--location",
        "--token",
        "--conformance-profile",
        "--divergence-report",
        "--conformance-examples",
        "--model",
    ):
        assert option in out.getvalue()
