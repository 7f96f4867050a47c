"""The journal keeps the server's memory bounded: 200 requests of 10 MB, one server process.

Before the journal was bounded in bytes, each 15 MB request kept about 43 MB for as long as
the entry lived. Here a server process of its own (so that its peak RSS is its own) takes 200
generateContent requests whose bodies are 10 MB each (inline data), and the test reads the
process's peak resident size (VmHWM) and the journal's own account of what it shed.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap

import requests

REQUESTS = 200
BODY_MB = 10
#: What the whole process may reach at its peak: the interpreter with aiohttp and the schemas
#: (about 70 MB), the journal's own budget (64 MiB by default), and the few copies of the one
#: request in flight (its bytes, the parsed JSON and the normalized request).
PEAK_RSS_BOUND_MB = 400

_SERVER = """
import json, sys
from mockvertex.server.runner import MockVertexServer

server = MockVertexServer(auth="none").start()
print(server.port, flush=True)
sys.stdin.readline()
stats = server.state.journal.stats().to_json()
entries = server.journal()
kept = {
    "bodies": sum(1 for e in entries if e.body),
    "requests": sum(1 for e in entries if e.request is not None),
    "sizes": sorted({e.body_size for e in entries}),
}
status = open("/proc/self/status").read()
peak_kb = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1])
print(json.dumps({"stats": stats, "kept": kept, "peak_kb": peak_kb}), flush=True)
server.stop()
"""


def _body(size: int) -> bytes:
    """A valid generateContent request of about ``size`` bytes (base64 inline PNG data)."""
    raw = (b"\x89PNG\r\n\x1a\n" * (size // 8 + 1))[: size * 3 // 4]
    request = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {
                        "inlineData": {
                            "mimeType": "image/png",
                            "data": base64.b64encode(raw).decode(),
                        }
                    },
                    {"text": "What is in this picture?"},
                ],
            }
        ]
    }
    return json.dumps(request).encode()


def test_two_hundred_requests_of_ten_megabytes_stay_under_the_memory_bound() -> None:
    body = _body(BODY_MB * 1_000_000)
    assert len(body) >= BODY_MB * 1_000_000
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_SERVER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdin is not None
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = (
            f"http://127.0.0.1:{port}/v1/projects/p/locations/us-central1"
            "/publishers/google/models/gemini-2.0-flash:generateContent"
        )
        with requests.Session() as http:
            statuses = [
                http.post(
                    url, data=body, headers={"Content-Type": "application/json"}, timeout=60
                ).status_code
                for _ in range(REQUESTS)
            ]
        server.stdin.write("stats\n")
        server.stdin.flush()
        report = json.loads(server.stdout.readline())
        server.wait(timeout=30)
    assert statuses == [200] * REQUESTS
    stats, kept = report["stats"], report["kept"]
    # Every exchange is still listed (entries are small once shed); the bodies and parsed
    # requests beyond the byte budget were shed, and the journal says how many.
    assert stats["entries"] == REQUESTS
    assert stats["bytes"] <= stats["max_bytes"]
    assert stats["dropped_bodies"] > 0
    assert stats["dropped_bodies"] + kept["requests"] >= REQUESTS
    assert kept["sizes"] == [len(body)]  # size and digest stay on every entry
    peak_mb = report["peak_kb"] / 1024
    print(f"peak RSS {peak_mb:.0f} MB; journal {stats}")
    assert peak_mb < PEAK_RSS_BOUND_MB, f"peak RSS {peak_mb:.0f} MB"
