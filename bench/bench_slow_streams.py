"""Many slow SSE streams held open at once by one mock process, and what they cost in memory.

A server subprocess runs ``MockVertexServer(auth="none")`` with one scenario: five text chunks
(by default) with ``delay.betweenChunks`` of 1 s, forever. Client processes (one per 2,500
streams unless ``--clients`` says otherwise, pinned to the other CPU) open ``--streams``
concurrent ``streamGenerateContent?alt=sse`` requests between them (each in batches of 100,
20 ms apart), decode every stream with ``mockvertex.contract.wire.SSEDecoder`` and check it got
every chunk, in order, with a final ``finishReason``. Meanwhile this process samples the
server's VmRSS from ``/proc/<pid>/status`` and the connections it holds open from
``/proc/net/tcp``. It reports RSS when idle (after one warm-up stream), at the peak, the
difference per stream, and the most connections open at the same moment.

The mock journals every exchange (request body included); that memory is part of what each
stream costs and is not given back when the stream ends.

Run: ``python bench/bench_slow_streams.py [--quick] [--streams N] [--chunks N] [--delay S]
[--clients N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
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
    raise_fd_limit,
    rss_kib,
    seed_request,
    tcp_counters,
    watch_parent,
)

from mockvertex.contract.wire import SSEDecoder

BATCH = 100
BATCH_PAUSE = 0.02
SAMPLE_EVERY = 0.05
#: Streams one client process opens (more streams start more client processes).
STREAMS_PER_CLIENT = 2500


def _chunk_texts(count: int) -> list[str]:
    return [f"chunk {i} of {count}. " for i in range(count)]


# ---------------------------------------------------------------------------------------------
# Server side (the subprocess)


async def _serve(streams: int, chunks: int, delay: float) -> None:
    from mockvertex.server.runner import MockVertexServer

    fds = raise_fd_limit(streams + 256)
    pinned = pin_to_cpu(0)
    scenario = {
        "format": 1,
        "name": "bench_slow_streams",
        "steps": [
            {
                "times": "forever",
                "delay": {"betweenChunks": delay},
                "respond": {"chunks": _chunk_texts(chunks)},
            }
        ],
    }
    mock = MockVertexServer(auth="none", scenarios=(scenario,))
    await mock.start_async()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    watch_parent(lambda: loop.call_soon_threadsafe(stop.set))
    announce_ready({"port": mock.port, "fd_limit": fds, "pinned": pinned})
    try:
        await asyncio.wait_for(stop.wait(), SERVER_MAX_LIFETIME)
    except TimeoutError:
        pass
    finally:
        await mock.stop_async()


# ---------------------------------------------------------------------------------------------
# Client side: this process starts the clients, samples the server and reports


@dataclass
class _Open:
    now: int = 0
    peak: int = 0


async def _stream(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    expected: list[str],
    gauge: _Open,
    durations: list[float],
) -> str | None:
    """One stream; None when it was complete and correct, else what went wrong."""
    started = time.perf_counter()
    decoder = SSEDecoder()
    events: list[Any] = []
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        if resp.status != 200:
            return f"HTTP {resp.status}"
        gauge.now += 1
        gauge.peak = max(gauge.peak, gauge.now)
        try:
            async for data in resp.content.iter_any():
                events.extend(decoder.feed(data))
            events.extend(decoder.close())
        finally:
            gauge.now -= 1
    durations.append(time.perf_counter() - started)
    texts = [e["candidates"][0]["content"]["parts"][0]["text"] for e in events]
    if texts != expected:
        return f"got {len(texts)} chunks, expected {len(expected)}"
    if events[-1]["candidates"][0].get("finishReason") != "STOP":
        return "no finishReason on the last chunk"
    return None


def _url(port: int, model: str) -> str:
    return (
        f"http://127.0.0.1:{port}/v1/projects/p/locations/us-central1/"
        f"publishers/google/models/{model}:streamGenerateContent?alt=sse"
    )


async def _client_part(port: int, streams: int, chunks: int, delay: float) -> dict[str, Any]:
    """One client process's share: ``streams`` streams opened in batches, each checked."""
    model, body = seed_request()
    url = _url(port, model)
    expected = _chunk_texts(chunks)
    timeout = aiohttp.ClientTimeout(total=chunks * delay + 120)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    gauge = _Open()
    durations: list[float] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = []
        for i in range(streams):
            tasks.append(
                asyncio.create_task(_stream(session, url, body, expected, gauge, durations))
            )
            if (i + 1) % BATCH == 0:
                await asyncio.sleep(BATCH_PAUSE)
        results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [repr(r) for r in results if r is not None]
    return {"ok": streams - len(failures), "failures": failures[:5], "durations": durations}


def _open_connections(port: int) -> int:
    """Established TCP connections whose local end is 127.0.0.1:``port`` (the server's side
    of each open stream), from ``/proc/net/tcp``."""
    table = Path("/proc/net/tcp").read_bytes()
    # Counted by peer address: a table that changes while it is read can list a socket twice.
    return len(set(re.findall(rb" 0100007F:%04X ([0-9A-F]{8}:[0-9A-F]{4}) 01 " % port, table)))


async def _sample(
    pid: int, port: int, peak: list[int], opened: list[int], done: asyncio.Event, every: float
) -> None:
    while not done.is_set():
        peak[0] = max(peak[0], rss_kib(pid)[0])
        opened[0] = max(opened[0], _open_connections(port))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), every)


async def _run(
    server: ServerProcess, streams: int, chunks: int, delay: float, clients: int, pin: int | None
) -> int:
    model, body = seed_request()
    port = int(server.info["port"])
    expected = _chunk_texts(chunks)
    timeout = aiohttp.ClientTimeout(total=chunks * delay + 120)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm = await _stream(session, _url(port, model), body, expected, _Open(), [])
    if warm is not None:
        print(f"warm-up stream failed: {warm}")
        return 1
    await asyncio.sleep(0.2)
    idle_kib, _ = rss_kib(server.pid)
    cpu_before = cpu_seconds(server.pid)
    tcp_before = tcp_counters()
    peak, opened = [idle_kib], [0]
    done = asyncio.Event()
    # /proc/net/tcp grows with the connections: sample it less often when there are many.
    every = SAMPLE_EVERY if streams <= 2000 else 0.2
    sampler = asyncio.create_task(_sample(server.pid, port, peak, opened, done, every))
    shares = [streams // clients + (1 if i < streams % clients else 0) for i in range(clients)]
    started = time.perf_counter()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client-part",
            str(port),
            "--streams",
            str(share),
            "--chunks",
            str(chunks),
            "--delay",
            str(delay),
            *(["--pin", str(pin)] if pin is not None else []),
            stdout=asyncio.subprocess.PIPE,
        )
        for share in shares
    ]
    outputs = await asyncio.gather(
        *(asyncio.wait_for(p.communicate(), chunks * delay + 300) for p in procs)
    )
    wall = time.perf_counter() - started
    done.set()
    await sampler
    cpu = cpu_seconds(server.pid) - cpu_before
    tcp = {k: v - tcp_before[k] for k, v in tcp_counters().items()}
    after_kib, hwm_kib = rss_kib(server.pid)

    parts = [json.loads(out) for out, _ in outputs]
    ok = sum(p["ok"] for p in parts)
    failures = [f for p in parts for f in p["failures"]]
    durations = sorted(d for p in parts for d in p["durations"])
    per_stream = (peak[0] - idle_kib) / streams
    print(
        f"slow streams: {streams:,} concurrent SSE streams x {chunks} chunks, "
        f"{delay:g} s between chunks (ideal stream time {(chunks - 1) * delay:g} s), from "
        f"{clients} client process{'es' if clients > 1 else ''}; server fd limit "
        f"{server.info['fd_limit']:,}, server {server.info['pinned']}"
    )
    print_table(
        [
            "streams",
            "complete",
            "max open",
            "wall s",
            "stream s p50",
            "stream s max",
            "srv CPU s",
            "RSS idle MiB",
            "RSS peak MiB",
            "VmHWM MiB",
            "RSS after MiB",
            "KiB/stream",
        ],
        [
            [
                streams,
                ok,
                opened[0],
                wall,
                percentile(durations, 50),
                durations[-1] if durations else float("nan"),
                cpu,
                idle_kib / 1024,
                peak[0] / 1024,
                hwm_kib / 1024,
                after_kib / 1024,
                per_stream,
            ]
        ],
    )
    print()
    print(
        f"max open: the most connections the server held at once (/proc/net/tcp, every "
        f"{every:g} s); peak RSS {peak[0] / 1024:,.0f} MiB against the 1 GiB goal"
    )
    print(
        f"kernel, system-wide during the run: {tcp['ListenOverflows']:,} listen-queue overflows, "
        f"{tcp['TCPSynRetrans']:,} SYN retransmits"
    )
    for failure in failures[:5]:
        print(f"failed stream: {failure}")
    return 0 if ok == streams else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 streams, short delays")
    parser.add_argument("--streams", type=int, help="concurrent streams (default 1000)")
    parser.add_argument("--chunks", type=int, default=5, help="chunks per stream (default 5)")
    parser.add_argument("--delay", type=float, help="seconds between chunks (default 1.0)")
    parser.add_argument(
        "--clients",
        type=int,
        help=f"client processes (default one per {STREAMS_PER_CLIENT:,} streams)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client-part", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--pin", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    streams = args.streams or (50 if args.quick else 1000)
    delay = args.delay if args.delay is not None else (0.05 if args.quick else 1.0)
    if args.serve:
        asyncio.run(_serve(streams, args.chunks, delay))
        return 0
    raise_fd_limit(streams + 256)
    if args.client_part is not None:
        if args.pin is not None:
            os.sched_setaffinity(0, {args.pin})
        result = asyncio.run(_client_part(args.client_part, streams, args.chunks, delay))
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    clients = args.clients or max(1, -(-streams // STREAMS_PER_CLIENT))
    server_args = ["--streams", str(streams), "--chunks", str(args.chunks), "--delay", str(delay)]
    with ServerProcess(__file__, server_args) as server:
        pinned = pin_to_cpu(1)
        pin = next(iter(os.sched_getaffinity(0))) if pinned.startswith("cpu") else None
        return asyncio.run(_run(server, streams, args.chunks, delay, clients, pin))


if __name__ == "__main__":
    sys.exit(main())
