"""Helpers the benchmarks share: the seed request, server subprocesses, /proc readings, tables.

The benchmarks run as scripts (``python bench/<name>.py``), so this module is imported as
``_common`` from the script's own directory. Nothing here sends traffic anywhere but 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = ROOT / "fixtures" / "seed" / "banana_bread_sse.json"
#: The server bench's mix of bodies: (name, file, model when the file names none).
BODY_FILES = (
    ("seed", SEED_FILE, None),
    ("chat", ROOT / "bench" / "bodies" / "chat_ten_turns.json", None),
    ("tools", ROOT / "fixtures" / "requests" / "seed_find_theaters.json", "gemini-1.0-pro"),
)
#: How long a server subprocess lives at most, whatever happens to the script that started it.
SERVER_MAX_LIFETIME = 900.0


def seed_request() -> tuple[str, bytes]:
    """The seed doc's banana-bread request: (model, body bytes as a client would send them)."""
    doc = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    return str(doc["model"]), json.dumps(doc["request"]).encode("utf-8")


def bench_bodies() -> list[tuple[str, str, bytes]]:
    """The server bench's mix: (name, model, body bytes) for the seed request, a chat with ten
    turns of history, and the seed's request with three function declarations."""
    bodies = []
    for name, path, model in BODY_FILES:
        doc = json.loads(path.read_text(encoding="utf-8"))
        request = doc.get("request", doc)
        bodies.append((name, str(doc.get("model") or model), json.dumps(request).encode("utf-8")))
    return bodies


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit towards ``wanted`` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def pin_to_cpu(index: int) -> str:
    """Pin this process to one CPU when the machine has more than one; describe what was done."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return "not pinned (one CPU)"
    cpu = cpus[index % len(cpus)]
    os.sched_setaffinity(0, {cpu})
    return f"cpu {cpu}"


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB, from ``/proc/<pid>/status``."""
    values = {"VmRSS": 0, "VmHWM": 0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def tcp_counters() -> dict[str, int]:
    """System-wide TcpExt counters (``/proc/net/netstat``): listen overflows, SYN retransmits."""
    lines = [ln.split() for ln in Path("/proc/net/netstat").read_text().splitlines()]
    for names, values in itertools.pairwise(lines):
        if names[0] == "TcpExt:" and values[0] == "TcpExt:":
            table = dict(zip(names[1:], values[1:], strict=True))
            return {k: int(table.get(k, 0)) for k in ("ListenOverflows", "TCPSynRetrans")}
    return {"ListenOverflows": 0, "TCPSynRetrans": 0}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain fixed-width table: text columns left-aligned, numeric ones right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    # Text columns (a str in the first row) align left, numbers right.
    left = [not rows or (isinstance(v, str) and not v[:1].isdigit()) for v in (rows or [[]])[0]]
    left = left or [True] * len(headers)

    def line(row: Sequence[str]) -> str:
        out = [c.ljust(w) if lf else c.rjust(w) for c, w, lf in zip(row, widths, left, strict=True)]
        return "  ".join(out).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# ---------------------------------------------------------------------------------------------
# Server subprocesses


class ServerProcess:
    """A benchmark server started as ``python <script> --serve <args>``.

    The child prints one JSON line (its ports and anything else) when it is ready and then runs
    until its stdin closes or ``SERVER_MAX_LIFETIME`` passes, so it never outlives the bench.
    """

    def __init__(
        self,
        script: str,
        args: Sequence[str] = (),
        *,
        env: dict[str, str] | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, script, "--serve", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise RuntimeError(f"server subprocess exited with {self.proc.returncode}")
        self.info: dict[str, Any] = json.loads(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def announce_ready(info: dict[str, Any]) -> None:
    """Child side: tell the parent the servers are listening."""
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()


def watch_parent(on_gone: Callable[[], object]) -> None:
    """Child side: call ``on_gone`` (from a thread) once stdin reaches EOF."""

    def wait() -> None:
        sys.stdin.read()
        on_gone()

    threading.Thread(target=wait, name="stdin-watch", daemon=True).start()
