"""The benchmarks run end to end in --quick mode and print their tables (no timing asserts).

Each bench is run as a user would run it, in a subprocess. The assertions are about behaviour:
the script exits 0, prints its table headers, and reports the correctness figures it checks
(every request answered, every slow stream complete). Speed is never asserted here.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mockvertex.contract import wire

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
#: The server bench's load generators on this machine: its own Python client always (what CI
#: has), wrk where it is installed.
CLIENTS = ["python", *(["wrk"] if shutil.which("wrk") else [])]


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _table(out: str, first_header: str) -> list[list[str]]:
    """Rows (split on runs of 2+ spaces) of the table whose header line starts with a word."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [first_header])
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip() or line.startswith(("note:", "seed request:", "kernel,")):
            break
        rows.append([cell.strip() for cell in line.split("  ") if cell.strip()])
    return rows


def test_bench_validation_quick() -> None:
    out = _run("bench_validation.py")
    for header in ("validator", "ops/s", "vs validate_request"):
        assert header in out
    validators = {row[2] for row in _table(out, "request")}
    assert {"json.loads (floor)", "mockvertex validate_request", "jsonschema Draft202012"} <= (
        validators
    )
    assert "fastjsonschema" in validators
    assert "seed request:" in out
    assert "accepted a broken body" not in out


@pytest.mark.parametrize("client", CLIENTS)
def test_bench_server_quick(client: str) -> None:
    out = _run("bench_server.py", "--requests", "40", "--client", client)
    for header in ("req/s", "p50 ms", "p99 ms", "srv CPU us/req", "mock/bare req/s"):
        assert header in out
    assert ("wrk, 1 thread, 32 connections" in out) == (client == "wrk")
    bodies = {row[0] for row in _table(out, "body")}
    assert bodies == {"seed", "chat", "tools"}
    rows = _table(out, "mode")
    assert {(row[0], row[1]) for row in rows} == {
        (mode, server) for mode in ("unary", "sse", "array") for server in ("mock", "bare")
    }
    assert all(row[-1] == "0" for row in rows)  # no failed request


def test_bench_slow_streams_quick() -> None:
    out = _run("bench_slow_streams.py", "--streams", "20")
    for header in ("complete", "max open", "RSS idle MiB", "RSS peak MiB", "KiB/stream"):
        assert header in out
    (row,) = _table(out, "streams")
    assert row[0] == "20"
    assert row[1] == "20"  # every stream got every chunk


def test_bare_server_writes_the_mock_bytes_in_the_mock_pieces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    bench_server = importlib.import_module("bench_server")

    chunks = [{"candidates": [{"content": {"parts": [{"text": t}]}}]} for t in ("a", "{b}", "c")]
    sse = b"".join(wire.encode_sse_event(c) for c in chunks)
    sse_pieces = bench_server._split_sse(sse)
    assert sse_pieces == [wire.encode_sse_event(c) for c in chunks]
    array = wire.encode_array(chunks)
    pieces = bench_server._split_array(array)
    writer = wire.ArrayWriter()
    assert pieces == [*(writer.item(c) for c in chunks), writer.close()]
    assert json.loads(b"".join(pieces)) == chunks
