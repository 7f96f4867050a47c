"""bench/bench_client.py runs end to end in --quick mode (no timing asserts: speed is the
bench's to report, not a test's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_client_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_client.py"), "--quick", "--requests", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("mode "))
    for column in ("mean us", "CPU us/req", "vs plain", "overhead us", "failed"):
        assert column in lines[header]
    rows = [
        line.split("  ") for line in lines[header + 2 :] if line and not line.startswith("note:")
    ]
    cells = [[c.strip() for c in row if c.strip()] for row in rows]
    clients = {(row[1], row[2]) for row in cells}
    assert {("sync", "plain requests"), ("sync", "VertexClient"), ("async", "plain aiohttp")} <= (
        clients
    )
    assert ("async", "AsyncVertexClient") in clients
    assert len(cells) == 18
    assert all(row[-1] == "0" for row in cells)  # every request answered as expected
