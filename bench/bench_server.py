"""The mock's HTTP throughput against a bare aiohttp handler sending the same bytes.

One server process (pinned to one CPU) runs two servers on 127.0.0.1 in one event loop:

* the mock, ``MockVertexServer(auth="none")`` with a fixed scenario (four text chunks, forever),
  so every request is parsed, validated, matched, synthesized, framed and journaled;
* a bare aiohttp app that reads the request body and answers canned bytes captured from the
  mock at start-up: one unary body, and the SSE and array bodies written in the same pieces the
  mock writes (one ``write()`` per chunk).

This process is the load generator (pinned to the other CPU): an aiohttp client at concurrency
32 sends a fixed number of requests per mode (unary ``generateContent``, SSE
``streamGenerateContent?alt=sse``, array ``streamGenerateContent``), in rounds that alternate
mock and bare (ABBA order) to cancel drift. It reports requests/s, p50/p99 latency, the server
process's CPU time per request (from /proc, independent of how fast the client is), the ratio
mock/bare of requests/s, and bare/mock of server CPU per request: the throughput ratio the two
would reach if the server's core, not the client, were the limit. The mock's journal is
cleared between rounds through its control plane.

Run: ``python bench/bench_server.py [--quick] [--requests N] [--rounds N] [--profile FILE]``;
``--profile`` writes a cProfile of the server process (read it with ``pstats``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from _common import (
    SERVER_MAX_LIFETIME,
    ServerProcess,
    announce_ready,
    cpu_seconds,
    percentile,
    pin_to_cpu,
    print_table,
    seed_request,
    watch_parent,
)
from aiohttp import web

CONCURRENCY = 32
TARGET_RATIO = 0.6
SCENARIO: dict[str, Any] = {
    "format": 1,
    "name": "bench_fixed_chunks",
    "steps": [{"times": "forever", "respond": {"chunks": ["a", "b", "c", "d"]}}],
}
MODES = {
    "unary": ("generateContent", ""),
    "sse": ("streamGenerateContent", "?alt=sse"),
    "array": ("streamGenerateContent", ""),
}
_DROPPED_HEADERS = frozenset({"date", "server", "content-length", "transfer-encoding"})


# ---------------------------------------------------------------------------------------------
# Server side (the subprocess)


@dataclass
class _Canned:
    headers: dict[str, str]
    pieces: list[bytes]
    stream: bool


def _split_sse(body: bytes) -> list[bytes]:
    events = body.split(b"\r\n\r\n")
    return [e + b"\r\n\r\n" for e in events[:-1]] + ([events[-1]] if events[-1] else [])


def _split_array(body: bytes) -> list[bytes]:
    if not body.endswith(b"\n]"):
        raise ValueError("array body does not end with \\n]")
    items = body[:-2].split(b"\n,\r\n")
    return [items[0], *(b"\n,\r\n" + item for item in items[1:]), b"\n]"]


async def _capture(base: str, model: str, body: bytes) -> dict[str, _Canned]:
    canned: dict[str, _Canned] = {}
    async with aiohttp.ClientSession() as session:
        for mode, (rpc, query) in MODES.items():
            url = f"{base}/v1/projects/p/locations/us-central1/publishers/google/models/{model}"
            async with session.post(f"{url}:{rpc}{query}", data=body) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"the mock answered {resp.status} for {mode}: {raw[:200]!r}")
                headers = {
                    k: v for k, v in resp.headers.items() if k.lower() not in _DROPPED_HEADERS
                }
            if mode == "unary":
                canned[mode] = _Canned(headers, [raw], stream=False)
            elif mode == "sse":
                canned[mode] = _Canned(headers, _split_sse(raw), stream=True)
            else:
                canned[mode] = _Canned(headers, _split_array(raw), stream=True)
    return canned


def _bare_app(canned: dict[str, _Canned]) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        tail = request.match_info["tail"]
        if tail.endswith(":generateContent"):
            reply = canned["unary"]
        elif request.query.get("alt") == "sse":
            reply = canned["sse"]
        else:
            reply = canned["array"]
        if not reply.stream:
            return web.Response(body=reply.pieces[0], headers=reply.headers)
        response = web.StreamResponse(headers=reply.headers)
        await response.prepare(request)
        for piece in reply.pieces:
            await response.write(piece)
        await response.write_eof()
        return response

    app = web.Application()
    path = "/{version}/projects/{project}/locations/{location}/publishers/{publisher}/models/{tail}"
    app.router.add_post(path, handle)
    return app


async def _serve(*, pin: bool) -> None:
    from mockvertex.server.runner import MockVertexServer

    pinned = pin_to_cpu(0) if pin else "not pinned"
    model, body = seed_request()
    mock = MockVertexServer(auth="none", scenarios=(SCENARIO,))
    await mock.start_async()
    canned = await _capture(mock.url, model, body)
    mock.reset()
    runner = web.AppRunner(_bare_app(canned), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    bare_port = int(runner.addresses[0][1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    watch_parent(lambda: loop.call_soon_threadsafe(stop.set))
    announce_ready(
        {
            "mock": mock.port,
            "bare": bare_port,
            "pinned": pinned,
            "bytes": {m: sum(map(len, c.pieces)) for m, c in canned.items()},
            "writes": {m: len(c.pieces) for m, c in canned.items()},
        }
    )
    try:
        await asyncio.wait_for(stop.wait(), SERVER_MAX_LIFETIME)
    except TimeoutError:
        pass
    finally:
        await runner.cleanup()
        await mock.stop_async()


# ---------------------------------------------------------------------------------------------
# Client side (this process)


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0
    client_cpu: float = 0.0
    failures: int = 0


def _url(port: int, model: str, mode: str) -> str:
    rpc, query = MODES[mode]
    return (
        f"http://127.0.0.1:{port}/v1/projects/p/locations/us-central1/publishers/google/"
        f"models/{model}:{rpc}{query}"
    )


async def _drive(url: str, body: bytes, count: int, tally: _Tally | None) -> None:
    remaining = count
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    raw = await resp.read()
                elapsed = time.perf_counter() - start
                if tally is not None:
                    tally.latencies.append(elapsed)
                    if resp.status != 200 or not raw:
                        tally.failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        if tally is not None:
            tally.seconds += time.perf_counter() - started


async def _clear_journal(port: int) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.delete(f"http://127.0.0.1:{port}/_mockvertex/journal") as resp,
    ):
        await resp.read()


async def _run(
    server: ServerProcess, requests: int, rounds: int, warmup: int, client_cpu: str
) -> int:
    model, body = seed_request()
    ports = {"mock": int(server.info["mock"]), "bare": int(server.info["bare"])}
    tallies = {(mode, kind): _Tally() for mode in MODES for kind in ports}
    for mode in MODES:
        for port in ports.values():
            await _drive(_url(port, model, mode), body, warmup, None)
    await _clear_journal(ports["mock"])
    for mode in MODES:
        for r in range(rounds):
            order = ("mock", "bare") if r % 2 == 0 else ("bare", "mock")
            for kind in order:
                tally = tallies[mode, kind]
                cpu_before = cpu_seconds(server.pid)
                client_before = time.process_time()
                await _drive(_url(ports[kind], model, mode), body, requests, tally)
                tally.cpu += cpu_seconds(server.pid) - cpu_before
                tally.client_cpu += time.process_time() - client_before
            await _clear_journal(ports["mock"])

    rows: list[list[object]] = []
    ratios: list[tuple[str, float, float]] = []
    for mode in MODES:
        rates = {}
        for kind in ports:
            t = tallies[mode, kind]
            lat = sorted(t.latencies)
            rates[kind] = len(lat) / t.seconds
            rows.append(
                [
                    mode,
                    kind,
                    int(server.info["bytes"][mode]),
                    int(server.info["writes"][mode]),
                    rates[kind],
                    percentile(lat, 50) * 1000,
                    percentile(lat, 99) * 1000,
                    t.cpu / len(lat) * 1e6,
                    t.cpu / t.seconds * 100,
                    t.client_cpu / t.seconds * 100,
                    t.failures,
                ]
            )
        cpu = {kind: tallies[mode, kind].cpu / requests / rounds for kind in ports}
        capacity = cpu["bare"] / cpu["mock"] if cpu["mock"] else float("nan")
        ratios.append((mode, rates["mock"] / rates["bare"], capacity))

    total = requests * rounds
    print(
        f"server vs bare aiohttp: {total:,} requests per mode and server ({rounds} rounds, ABBA), "
        f"concurrency {CONCURRENCY}; server {server.info['pinned']}, client {client_cpu}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print_table(
        [
            "mode",
            "server",
            "bytes",
            "writes",
            "req/s",
            "p50 ms",
            "p99 ms",
            "srv CPU us/req",
            "srv CPU %",
            "client CPU %",
            "errors",
        ],
        rows,
    )
    print()
    print_table(
        ["mode", "mock/bare req/s", f"target >= {TARGET_RATIO}", "bare/mock srv CPU per req"],
        [
            [m, f"{r:.2f}", "met" if r >= TARGET_RATIO else "MISSED", f"{c:.2f}"]
            for m, r, c in ratios
        ],
    )
    failures = sum(t.failures for t in tallies.values())
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds in all")
    parser.add_argument("--requests", type=int, help="requests per mode, server and round")
    parser.add_argument("--rounds", type=int, help="rounds per mode (each runs mock and bare)")
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the server process to FILE"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="let the OS place server and client on any CPU"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        if args.profile:
            import cProfile

            with cProfile.Profile() as profile:
                asyncio.run(_serve(pin=not args.no_pin))
            profile.dump_stats(args.profile)
        else:
            asyncio.run(_serve(pin=not args.no_pin))
        return 0
    requests = args.requests or (100 if args.quick else 2000)
    rounds = args.rounds or (1 if args.quick else 3)
    warmup = 20 if args.quick else 200
    server_args = ["--profile", os.path.abspath(args.profile)] if args.profile else []
    if args.no_pin:
        server_args.append("--no-pin")
    with ServerProcess(__file__, server_args) as server:
        client_cpu = "not pinned" if args.no_pin else pin_to_cpu(1)
        return asyncio.run(_run(server, requests, rounds, warmup, client_cpu))


if __name__ == "__main__":
    sys.exit(main())
