"""The client's overhead per request: VertexClient / AsyncVertexClient against plain requests /
aiohttp code sending the same request to the same mock, in one run.

A server process (pinned to one CPU) runs the mock with a fixed scenario (four text chunks,
forever, ``auth="none"``). This process (pinned to the other CPU) sends one request at a time,
so each figure is one request's latency and the client CPU it costs, for three calls:

* ``unary``: ``generateContent``; plain = ``session.post`` + ``json.loads`` of the body;
* ``sse``: ``streamGenerateContent?alt=sse``; plain = ``iter_lines`` + ``json.loads`` of each
  ``data:`` line (what google-genai's parser does);
* ``array``: ``streamGenerateContent``; plain = ``json.loads`` of the whole body.

The client rows add everything the client does per request: building the URL and body, the
local validation (``validate_request`` on the seed's banana-bread request; the ``no-validate``
rows leave it out), the retry bookkeeping, the contract decoders, the result objects and the
log line. Rounds alternate plain and client (ABBA) to cancel drift. ``CPU us/req`` is this
process's CPU time per request (``time.process_time``): the client's own cost, independent of
the server. ``vs plain`` is client/plain for the mean latency and for CPU.

Run: ``python bench/bench_client.py [--quick] [--requests N] [--rounds N] [--no-pin]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import (
    SERVER_MAX_LIFETIME,
    ServerProcess,
    announce_ready,
    percentile,
    pin_to_cpu,
    print_table,
    seed_request,
    watch_parent,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SCENARIO: dict[str, Any] = {
    "format": 1,
    "name": "bench_client_chunks",
    "steps": [{"times": "forever", "respond": {"chunks": ["a ", "b ", "c ", "d"]}}],
}
MODES = ("unary", "sse", "array")


# ---------------------------------------------------------------------------------------------
# Server side


async def _serve(*, pin: bool) -> None:
    from mockvertex.server.runner import MockVertexServer

    pinned = pin_to_cpu(0) if pin else "not pinned"
    mock = MockVertexServer(auth="none", scenarios=(SCENARIO,), journal_limit=100)
    await mock.start_async()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    watch_parent(lambda: loop.call_soon_threadsafe(stop.set))
    announce_ready({"mock": mock.port, "pinned": pinned})
    try:
        await asyncio.wait_for(stop.wait(), SERVER_MAX_LIFETIME)
    except TimeoutError:
        pass
    finally:
        await mock.stop_async()


# ---------------------------------------------------------------------------------------------
# Client side: one callable per (transport, client, mode), each makes one request


def _url(base: str, model: str, mode: str) -> str:
    rpc = "generateContent" if mode == "unary" else "streamGenerateContent"
    query = "?alt=sse" if mode == "sse" else ""
    return (
        f"{base}/v1/projects/p/locations/us-central1/publishers/google/models/{model}:{rpc}{query}"
    )


def _sync_plain(base: str, model: str, body: bytes) -> dict[str, Callable[[], int]]:
    import requests

    session = requests.Session()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench"}

    def unary() -> int:
        response = session.post(_url(base, model, "unary"), data=body, headers=headers)
        json.loads(response.content)
        return 1

    def sse() -> int:
        with session.post(
            _url(base, model, "sse"), data=body, headers=headers, stream=True
        ) as response:
            return sum(
                1
                for line in response.iter_lines()
                if line.startswith(b"data: ") and json.loads(line[6:])
            )

    def array() -> int:
        response = session.post(_url(base, model, "array"), data=body, headers=headers)
        return len(json.loads(response.content))

    return {"unary": unary, "sse": sse, "array": array}


def _sync_client(
    base: str, model: str, request: dict[str, Any], *, validate: bool
) -> dict[str, Callable[[], int]]:
    from mockvertex.client import Framing, VertexClient

    client = VertexClient(base_url=base, project="p", token="bench", validate=validate)

    def unary() -> int:
        return 1 if client.generate_content(model, request).raw else 0

    def sse() -> int:
        return sum(1 for _ in client.stream_generate_content(model, request))

    def array() -> int:
        return sum(1 for _ in client.stream_generate_content(model, request, framing=Framing.ARRAY))

    return {"unary": unary, "sse": sse, "array": array}


def _async_plain(
    session: Any, base: str, model: str, body: bytes
) -> dict[str, Callable[[], Awaitable[int]]]:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench"}

    async def unary() -> int:
        async with session.post(_url(base, model, "unary"), data=body, headers=headers) as r:
            json.loads(await r.read())
        return 1

    async def sse() -> int:
        count = 0
        async with session.post(_url(base, model, "sse"), data=body, headers=headers) as r:
            async for line in r.content:
                if line.startswith(b"data: ") and json.loads(line[6:]):
                    count += 1
        return count

    async def array() -> int:
        async with session.post(_url(base, model, "array"), data=body, headers=headers) as r:
            return len(json.loads(await r.read()))

    return {"unary": unary, "sse": sse, "array": array}


def _async_client(
    base: str, model: str, request: dict[str, Any], *, validate: bool
) -> tuple[Any, dict[str, Callable[[], Awaitable[int]]]]:
    from mockvertex.client import AsyncVertexClient, Framing

    client = AsyncVertexClient(base_url=base, project="p", token="bench", validate=validate)

    async def unary() -> int:
        return 1 if (await client.generate_content(model, request)).raw else 0

    async def sse() -> int:
        return len([c async for c in client.stream_generate_content(model, request)])

    async def array() -> int:
        stream = client.stream_generate_content(model, request, framing=Framing.ARRAY)
        return len([c async for c in stream])

    return client, {"unary": unary, "sse": sse, "array": array}


class _Row:
    def __init__(self, transport: str, client: str, mode: str) -> None:
        self.key = (transport, client, mode)
        self.latencies: list[float] = []
        self.cpu = 0.0
        self.failed = 0

    def add(self, latency: float, cpu: float, *, ok: bool) -> None:
        self.latencies.append(latency)
        self.cpu += cpu
        self.failed += 0 if ok else 1


def _time_sync(row: _Row, call: Callable[[], int], count: int, expect: int) -> None:
    for _ in range(count):
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            ok = call() == expect
        except Exception:  # a failure is counted, not hidden
            ok = False
        row.add(time.perf_counter() - t0, time.process_time() - cpu0, ok=ok)


async def _time_async(
    row: _Row, call: Callable[[], Awaitable[int]], count: int, expect: int
) -> None:
    for _ in range(count):
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            ok = await call() == expect
        except Exception:
            ok = False
        row.add(time.perf_counter() - t0, time.process_time() - cpu0, ok=ok)


def _expect(mode: str) -> int:
    return 1 if mode == "unary" else 4


def _run_sync(base: str, model: str, body: bytes, args: argparse.Namespace) -> list[_Row]:
    request = json.loads(body)
    clients = {
        "plain requests": _sync_plain(base, model, body),
        "VertexClient": _sync_client(base, model, request, validate=True),
        "VertexClient no-validate": _sync_client(base, model, request, validate=False),
    }
    rows = {(c, m): _Row("sync", c, m) for c in clients for m in MODES}
    for calls in clients.values():  # warm-up: connections, caches
        for mode in MODES:
            _time_sync(_Row("", "", ""), calls[mode], 5, _expect(mode))
    for round_ in range(args.rounds):
        order = list(clients) if round_ % 2 == 0 else list(reversed(clients))
        for name in order:
            for mode in MODES:
                _time_sync(rows[name, mode], clients[name][mode], args.requests, _expect(mode))
    return list(rows.values())


async def _run_async(base: str, model: str, body: bytes, args: argparse.Namespace) -> list[_Row]:
    import aiohttp

    request = json.loads(body)
    async with aiohttp.ClientSession() as session:
        validating, with_validation = _async_client(base, model, request, validate=True)
        bare, without = _async_client(base, model, request, validate=False)
        clients = {
            "plain aiohttp": _async_plain(session, base, model, body),
            "AsyncVertexClient": with_validation,
            "AsyncVertexClient no-validate": without,
        }
        rows = {(c, m): _Row("async", c, m) for c in clients for m in MODES}
        for calls in clients.values():
            for mode in MODES:
                await _time_async(_Row("", "", ""), calls[mode], 5, _expect(mode))
        for round_ in range(args.rounds):
            order = list(clients) if round_ % 2 == 0 else list(reversed(clients))
            for name in order:
                for mode in MODES:
                    await _time_async(
                        rows[name, mode], clients[name][mode], args.requests, _expect(mode)
                    )
        await validating.aclose()
        await bare.aclose()
    return list(rows.values())


def _report(rows: list[_Row]) -> None:
    plain = {
        (r.key[0], r.key[2]): r for r in rows if r.key[1] in ("plain requests", "plain aiohttp")
    }
    table = []
    for row in rows:
        transport, client, mode = row.key
        base = plain[transport, mode]
        mean = statistics.fmean(row.latencies) * 1e6
        cpu = row.cpu / len(row.latencies) * 1e6
        base_mean = statistics.fmean(base.latencies) * 1e6
        base_cpu = base.cpu / len(base.latencies) * 1e6
        table.append(
            [
                mode,
                transport,
                client,
                len(row.latencies),
                mean,
                percentile(sorted(row.latencies), 50) * 1e6,
                cpu,
                mean / base_mean,
                cpu / base_cpu if base_cpu else float("nan"),
                mean - base_mean,
                row.failed,
            ]
        )
    print_table(
        [
            "mode",
            "transport",
            "client",
            "requests",
            "mean us",
            "p50 us",
            "CPU us/req",
            "vs plain",
            "CPU vs plain",
            "overhead us",
            "failed",
        ],
        table,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a few requests (smoke test)")
    parser.add_argument("--requests", type=int, default=None, help="per mode, client and round")
    parser.add_argument("--rounds", type=int, default=None, help="ABBA rounds (default 4)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to CPUs")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(pin=not args.no_pin))
        return
    args.requests = args.requests or (10 if args.quick else 200)
    args.rounds = args.rounds or (2 if args.quick else 4)
    model, body = seed_request()
    with ServerProcess(__file__, ["--no-pin"] if args.no_pin else []) as server:
        pinned = pin_to_cpu(1) if not args.no_pin else "not pinned"
        base = f"http://127.0.0.1:{server.info['mock']}"
        print(f"server: {server.info['pinned']}; client: {pinned}")
        print(f"seed request: {model}, {len(body)} bytes; one request at a time")
        rows = _run_sync(base, model, body, args)
        rows += asyncio.run(_run_async(base, model, body, args))
    _report(rows)
    print(
        "note: 'vs plain' is client/plain mean latency, 'CPU vs plain' the same for this "
        "process's CPU; 'overhead us' is client minus plain latency."
    )


if __name__ == "__main__":
    main()
