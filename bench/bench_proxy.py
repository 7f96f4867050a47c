"""The proxy's added latency per request: the same calls direct to a mock and through
``mockvertex proxy`` in front of it, in one run.

The upstream is a ``MockVertexServer`` (``auth="none"``, a fixed scenario of four text chunks
sent verbatim, so every answer has the same bytes) and the proxy a ``ProxyServer`` in front of
it, both on 127.0.0.1 in threads of this process. One client (``requests.Session``, keep-alive)
sends one request at a time, the seed's banana-bread request, for three calls: ``unary``
(``generateContent``), ``sse`` and ``array`` (``streamGenerateContent``), and for two proxies:
``check`` (validation both ways, no recording) and ``record`` (the same, plus a redacted
cassette entry written per exchange). Rounds alternate direct and proxied (ABBA) to cancel
drift. ``added ms`` is the proxied mean minus the direct mean of the same call in the same
run; every answer is checked to have the direct answer's bytes.

Run: ``python bench/bench_proxy.py [--quick] [--requests N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import percentile, print_table, seed_request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from mockvertex.server.proxy import ProxyConfig, ProxyServer
from mockvertex.server.runner import MockVertexServer

CHUNK = {"candidates": [{"content": {"role": "model", "parts": [{"text": "word "}]}}]}
SCENARIO: dict[str, Any] = {
    "format": 1,
    "name": "bench_proxy_chunks",
    "steps": [{"times": "forever", "respond": {"raw": [CHUNK, CHUNK, CHUNK, CHUNK]}}],
}
CALLS = {
    "unary": ("generateContent", {}),
    "sse": ("streamGenerateContent", {"alt": "sse"}),
    "array": ("streamGenerateContent", {}),
}
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer bench"}


def _path(model: str, rpc: str) -> str:
    return f"/v1/projects/bench/locations/us-central1/publishers/google/models/{model}:{rpc}"


def _time(
    session: requests.Session, url: str, query: dict[str, str], body: bytes, n: int, want: bytes
) -> tuple[list[float], int]:
    times: list[float] = []
    wrong = 0
    for _ in range(n):
        start = time.perf_counter()
        resp = session.post(url, params=query, data=body, headers=HEADERS, timeout=30)
        content = resp.content
        times.append(time.perf_counter() - start)
        wrong += resp.status_code != 200 or content != want
    return times, wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds")
    parser.add_argument("--requests", type=int, default=200, help="per call, proxy and round")
    parser.add_argument("--rounds", type=int, default=4, help="ABBA rounds (default 4)")
    args = parser.parse_args()
    n, rounds = (20, 2) if args.quick else (args.requests, args.rounds)
    model, body = seed_request()
    rows: list[list[object]] = []
    answered = total = 0
    with (
        tempfile.TemporaryDirectory() as folder,
        MockVertexServer(auth="none", scenarios=(SCENARIO,)) as upstream,
    ):
        proxies = {
            "check": ProxyServer(ProxyConfig(upstream=upstream.url)),
            "record": ProxyServer(ProxyConfig(upstream=upstream.url, record_dir=Path(folder))),
        }
        for proxy in proxies.values():
            proxy.start()
        try:
            with requests.Session() as session:
                for call, (rpc, query) in CALLS.items():
                    path = _path(model, rpc)
                    want = session.post(
                        upstream.url + path, params=query, data=body, headers=HEADERS, timeout=30
                    ).content
                    for name, proxy in proxies.items():
                        direct: list[float] = []
                        proxied: list[float] = []
                        for r in range(rounds):
                            order = [(direct, upstream.url), (proxied, proxy.url)]
                            for into, base in order if r % 2 == 0 else order[::-1]:
                                times, wrong = _time(session, base + path, query, body, n, want)
                                into.extend(times)
                                total += n
                                answered += n - wrong
                        d, p = sorted(direct), sorted(proxied)
                        rows.append(
                            [
                                call,
                                name,
                                round(statistics.mean(d) * 1e3, 3),
                                round(statistics.mean(p) * 1e3, 3),
                                round(percentile(d, 50) * 1e3, 3),
                                round(percentile(p, 50) * 1e3, 3),
                                round(percentile(p, 95) * 1e3, 3),
                                round((statistics.mean(p) - statistics.mean(d)) * 1e3, 3),
                            ]
                        )
        finally:
            for proxy in proxies.values():
                proxy.stop()
    print(f"proxy bench: {n} requests x {rounds} rounds per call and proxy, one at a time")
    print_table(
        [
            "call",
            "proxy",
            "direct mean ms",
            "proxied mean ms",
            "direct p50 ms",
            "proxied p50 ms",
            "proxied p95 ms",
            "added ms",
        ],
        rows,
    )
    print(f"answered with the direct bytes: {answered}/{total}")
    return 0 if answered == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
