"""The mock's HTTP throughput against a bare aiohttp handler sending the same bytes.

Each server runs in its own process, pinned to one CPU, on 127.0.0.1:

* ``mock``: ``MockVertexServer(auth="none")`` with no scenario, so the default responder
  answers: every request is parsed, validated, resolved to its session, matched against the
  (empty) books, synthesized, framed and journaled;
* ``bare``: an aiohttp app that reads the request body and answers canned bytes captured from
  the mock at start-up for that body and mode: the unary body in one piece, the SSE and array
  bodies in the pieces the mock writes (one ``write()`` per chunk);
* ``base`` (only with ``--against``): the mock of another tree, a commit or a directory, to
  compare the current code with an older one in the same run.

The load is a mix of three bodies, in turn: the seed doc's banana-bread request, a chat with ten
turns of history (``bench/bodies/chat_ten_turns.json``) and the seed's request with three
function declarations (which the default responder answers with a function call). Each mode
(unary ``generateContent``, SSE ``streamGenerateContent?alt=sse``, array
``streamGenerateContent``) is run in rounds that alternate the servers (ABBA order) to cancel
drift.

The load generator is ``wrk`` when it is installed (1 thread, 32 connections, a Lua script that
rotates the bodies; ``--seconds`` per run), pinned to the other CPU; else this process with an
aiohttp client at concurrency 32 (``--requests`` per run). Columns: requests/s, p50/p99
latency, the response bytes per request, the server process's CPU time per request (from
/proc, independent of how fast the client is) and its CPU use, the client's CPU use, failures.
Then the ratio mock/bare of requests/s, and bare/mock of server CPU per request: the
throughput ratio the two would reach if the server's core, not the client, were the limit.
Mock journals are cleared between rounds through the control plane.

Run: ``python bench/bench_server.py [--quick] [--seconds S] [--requests N] [--rounds N]
[--client auto|wrk|python] [--unique] [--against COMMIT|DIR] [--profile FILE] [--no-pin]``.
``--profile`` writes a cProfile of the mock's process and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from _common import (
    ROOT,
    SERVER_MAX_LIFETIME,
    ServerProcess,
    announce_ready,
    bench_bodies,
    cpu_seconds,
    percentile,
    pin_to_cpu,
    print_table,
    watch_parent,
)
from aiohttp import web

CONCURRENCY = 32
WRK_THREADS = 1
TARGET_RATIO = 0.6
MODES = {
    "unary": ("generateContent", ""),
    "sse": ("streamGenerateContent", "?alt=sse"),
    "array": ("streamGenerateContent", ""),
}
_DROPPED_HEADERS = frozenset({"date", "server", "content-length", "transfer-encoding"})
_PREFIX = "/v1/projects/p/locations/us-central1/publishers/google/models/"
#: The header naming the bench body a request carries (the bare server answers --unique
#: bodies by it).
_NAME = "X-Bench-Body"


def _path(model: str, mode: str) -> str:
    rpc, query = MODES[mode]
    return f"{_PREFIX}{model}:{rpc}{query}"


# ---------------------------------------------------------------------------------------------
# Server side (the subprocesses)


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


async def _capture(port: int) -> dict[tuple[str, bytes | str], _Canned]:
    """What the mock on ``port`` answers for every body and mode, split as it writes it;
    by (mode, body) and by (mode, the body's name) for ``--unique`` bodies."""
    canned: dict[tuple[str, bytes | str], _Canned] = {}
    async with aiohttp.ClientSession() as session:
        for name, model, body in bench_bodies():
            for mode in MODES:
                url = f"http://127.0.0.1:{port}{_path(model, mode)}"
                async with session.post(url, data=body) as resp:
                    raw = await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(
                            f"the mock answered {resp.status} for {name}/{mode}: {raw[:200]!r}"
                        )
                    headers = {
                        k: v for k, v in resp.headers.items() if k.lower() not in _DROPPED_HEADERS
                    }
                if mode == "unary":
                    canned[mode, body] = _Canned(headers, [raw], stream=False)
                elif mode == "sse":
                    canned[mode, body] = _Canned(headers, _split_sse(raw), stream=True)
                else:
                    canned[mode, body] = _Canned(headers, _split_array(raw), stream=True)
                canned[mode, name] = canned[mode, body]
    return canned


def _bare_app(canned: dict[tuple[str, bytes | str], _Canned]) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.match_info["tail"].endswith(":generateContent"):
            mode = "unary"
        elif request.query.get("alt") == "sse":
            mode = "sse"
        else:
            mode = "array"
        reply = canned.get((mode, body)) or canned.get((mode, request.headers.get(_NAME, "")))
        if reply is None:
            return web.Response(status=404, text="not a bench body")
        if not reply.stream:
            return web.Response(body=reply.pieces[0], headers=reply.headers)
        response = web.StreamResponse(headers=reply.headers)
        try:
            await response.prepare(request)
            for piece in reply.pieces:
                await response.write(piece)
            await response.write_eof()
        except ConnectionError:  # wrk closes its connections when its time is up
            pass
        return response

    app = web.Application()
    path = "/{version}/projects/{project}/locations/{location}/publishers/{publisher}/models/{tail}"
    app.router.add_post(path, handle)
    return app


async def _until_parent_goes() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    watch_parent(lambda: loop.call_soon_threadsafe(stop.set))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), SERVER_MAX_LIFETIME)


def _tree_of(package_file: str | None) -> str:
    """The directory the imported ``mockvertex`` package sits in."""
    return str(Path(package_file or ".").resolve().parent.parent)


async def _serve_mock(*, pin: bool) -> None:
    import mockvertex
    from mockvertex import MockVertexServer

    pinned = pin_to_cpu(0) if pin else "not pinned"
    mock = MockVertexServer(auth="none")
    await mock.start_async()
    announce_ready({"port": mock.port, "pinned": pinned, "tree": _tree_of(mockvertex.__file__)})
    try:
        await _until_parent_goes()
    finally:
        await mock.stop_async()


async def _serve_bare(capture_from: int, *, pin: bool) -> None:
    pinned = pin_to_cpu(0) if pin else "not pinned"
    canned = await _capture(capture_from)
    runner = web.AppRunner(_bare_app(canned), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    shape = {
        f"{mode}/{name}": [sum(map(len, c.pieces)), len(c.pieces)]
        for name, _, body in bench_bodies()
        for mode in MODES
        for c in [canned[mode, body]]
    }
    announce_ready({"port": int(runner.addresses[0][1]), "pinned": pinned, "shape": shape})
    try:
        await _until_parent_goes()
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------------------------------
# Load generators (this process drives them)


@dataclass
class _Sample:
    """One run of the load generator against one server."""

    requests: int
    seconds: float
    p50: float  # seconds
    p99: float
    bytes: int  # response bytes read, headers included where the generator counts them
    failures: int
    client_cpu: float  # CPU seconds the load generator used


WRK_SCRIPT = Path(__file__).resolve().parent / "rotate_bodies.lua"


class _Wrk:
    """wrk with a Lua script per mode that rotates the bench bodies."""

    def __init__(
        self,
        workdir: Path,
        bodies: Sequence[tuple[str, str, bytes]],
        cpu: int | None,
        *,
        unique: bool,
    ) -> None:
        self.cpu = cpu
        self.unique = unique
        files = []
        for name, _, body in bodies:
            path = workdir / f"{name}.json"
            path.write_bytes(body)
            files.append(str(path))
        self.triples = {
            mode: [
                x
                for (name, model, _), f in zip(bodies, files, strict=True)
                for x in (_path(model, mode), f, name)
            ]
            for mode in MODES
        }

    def run(self, port: int, mode: str, seconds: float) -> _Sample:
        command = [
            "wrk",
            f"-t{WRK_THREADS}",
            f"-c{CONCURRENCY}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(WRK_SCRIPT),
            f"http://127.0.0.1:{port}",
            "--",
            *(["--unique"] if self.unique else []),
            *self.triples[mode],
        ]
        cpu = self.cpu

        def pin() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
            preexec_fn=pin,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
        r = json.loads(line.removeprefix("WRKJSON "))
        failures = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
        return _Sample(
            requests=r["requests"],
            seconds=r["us"] / 1e6,
            p50=r["p50"] / 1e6,
            p99=r["p99"] / 1e6,
            bytes=r["bytes"],
            failures=failures,
            client_cpu=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        )


def unique_body(body: bytes, count: int) -> bytes:
    """``body`` with ``count`` at the start of its first text part (as rotate_bodies.lua
    makes them with --unique)."""
    return body.replace(b'"text": "', b'"text": "%d ' % count, 1)


async def _python_run(
    port: int, mode: str, bodies: Sequence[tuple[str, str, bytes]], count: int, *, unique: bool
) -> _Sample:
    """This process as the load generator: aiohttp at concurrency 32, the bodies in turn."""
    urls = [
        (
            f"http://127.0.0.1:{port}{_path(model, mode)}",
            body,
            {"Content-Type": "application/json", _NAME: name},
        )
        for name, model, body in bodies
    ]
    latencies: list[float] = []
    sent = 0
    received = failures = 0
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    client_before = time.process_time()
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal sent, received, failures
            while sent < count:
                url, body, headers = urls[sent % len(urls)]
                sent += 1
                if unique:
                    body = unique_body(body, sent)
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    raw = await resp.read()
                latencies.append(time.perf_counter() - start)
                received += len(raw)
                if resp.status != 200 or not raw:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        seconds = time.perf_counter() - started
    latencies.sort()
    return _Sample(
        requests=len(latencies),
        seconds=seconds,
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        bytes=received,
        failures=failures,
        client_cpu=time.process_time() - client_before,
    )


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class _Tally:
    samples: list[_Sample] = field(default_factory=list)
    cpu: float = 0.0  # server CPU seconds over all samples

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.samples)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.samples)


@dataclass
class _Plan:
    client: str  # "wrk" or "python"
    seconds: float
    requests: int
    rounds: int
    warmup_seconds: float
    warmup_requests: int
    unique: bool = False


async def _clear_journal(port: int) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.delete(f"http://127.0.0.1:{port}/_mockvertex/journal") as resp,
    ):
        await resp.read()


async def _probe(port: int, bodies: Sequence[tuple[str, str, bytes]]) -> None:
    """Every body in every mode answers 200 (a server that refuses them would look fast)."""
    async with aiohttp.ClientSession() as session:
        for name, model, body in bodies:
            for mode in MODES:
                async with session.post(
                    f"http://127.0.0.1:{port}{_path(model, mode)}", data=body
                ) as resp:
                    raw = await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{name}/{mode} on port {port}: {resp.status} {raw!r}")


def _order(names: Sequence[str], round_index: int) -> Sequence[str]:
    """ABBA: every other round runs the servers in reverse order."""
    return names if round_index % 2 == 0 else list(reversed(names))


async def _measure(
    servers: dict[str, ServerProcess],
    plan: _Plan,
    bodies: Sequence[tuple[str, str, bytes]],
    wrk: _Wrk | None,
) -> dict[tuple[str, str], _Tally]:
    mocks = [s for s in servers if s != "bare"]

    async def one(port: int, mode: str, *, warm: bool) -> _Sample:
        if wrk is not None:
            seconds = plan.warmup_seconds if warm else plan.seconds
            return await asyncio.to_thread(wrk.run, port, mode, seconds)
        count = plan.warmup_requests if warm else plan.requests
        return await _python_run(port, mode, bodies, count, unique=plan.unique)

    for server in servers.values():
        await _probe(int(server.info["port"]), bodies)
    tallies = {(mode, name): _Tally() for mode in MODES for name in servers}
    for mode in MODES:
        for server in servers.values():
            await one(int(server.info["port"]), mode, warm=True)
        for r in range(plan.rounds):
            for name in mocks:
                await _clear_journal(int(servers[name].info["port"]))
            for name in _order(list(servers), r):
                server = servers[name]
                before = cpu_seconds(server.pid)
                sample = await one(int(server.info["port"]), mode, warm=False)
                tally = tallies[mode, name]
                tally.cpu += cpu_seconds(server.pid) - before
                tally.samples.append(sample)
    for name in mocks:
        await _clear_journal(int(servers[name].info["port"]))
    return tallies


def _report(
    servers: dict[str, ServerProcess],
    tallies: dict[tuple[str, str], _Tally],
    plan: _Plan,
    client_cpu: str,
    against: str | None,
) -> int:
    bodies = bench_bodies()
    shape = servers["bare"].info["shape"]
    load = (
        f"wrk, {WRK_THREADS} thread, {CONCURRENCY} connections, {plan.seconds:g} s per run"
        if plan.client == "wrk"
        else f"Python aiohttp client, concurrency {CONCURRENCY}, {plan.requests:,} requests per run"
    )
    print(
        f"server vs bare aiohttp: {load}; {plan.rounds} rounds per mode (ABBA); "
        f"bodies in turn: {', '.join(n for n, _, _ in bodies)}"
        f"{' (each one unique)' if plan.unique else ''}; default responder; "
        f"server {servers['mock'].info['pinned']}, client {client_cpu}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if against is not None:
        print(f"base: {against} ({servers['base'].info['tree']})")
    print_table(
        ["body", "model", "request bytes", *(f"{m} bytes/writes" for m in MODES)],
        [
            [name, model, len(body), *("{}/{}".format(*shape[f"{m}/{name}"]) for m in MODES)]
            for name, model, body in bodies
        ],
    )
    print()
    rows: list[list[object]] = []
    rates: dict[tuple[str, str], float] = {}
    cpu_per: dict[tuple[str, str], float] = {}
    for mode in MODES:
        for name in servers:
            t = tallies[mode, name]
            n = t.requests
            rates[mode, name] = n / t.seconds if t.seconds else float("nan")
            cpu_per[mode, name] = t.cpu / n if n else float("nan")
            rows.append(
                [
                    mode,
                    name,
                    rates[mode, name],
                    sum(s.p50 for s in t.samples) / len(t.samples) * 1000,
                    max(s.p99 for s in t.samples) * 1000,
                    sum(s.bytes for s in t.samples) / n if n else float("nan"),
                    cpu_per[mode, name] * 1e6,
                    t.cpu / t.seconds * 100 if t.seconds else float("nan"),
                    sum(s.client_cpu for s in t.samples) / t.seconds * 100,
                    sum(s.failures for s in t.samples),
                ]
            )
    print_table(
        [
            "mode",
            "server",
            "req/s",
            "p50 ms",
            "p99 ms",
            "bytes/req",
            "srv CPU us/req",
            "srv CPU %",
            "client CPU %",
            "errors",
        ],
        rows,
    )
    print()
    ratio_rows = []
    for mode in MODES:
        ratio = rates[mode, "mock"] / rates[mode, "bare"]
        capacity = _ratio(cpu_per[mode, "bare"], cpu_per[mode, "mock"])
        verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
        row = [mode, f"{ratio:.2f}", verdict, f"{capacity:.2f}"]
        if against is not None:
            row += [
                f"{rates[mode, 'mock'] / rates[mode, 'base']:.2f}",
                f"{_ratio(cpu_per[mode, 'base'], cpu_per[mode, 'mock']):.2f}",
            ]
        ratio_rows.append(row)
    headers = ["mode", "mock/bare req/s", f"target >= {TARGET_RATIO}", "bare/mock srv CPU per req"]
    if against is not None:
        headers += ["mock/base req/s", "base/mock srv CPU per req"]
    print_table(headers, ratio_rows)
    failures = sum(s.failures for t in tallies.values() for s in t.samples)
    return 1 if failures else 0


def _ratio(a: float, b: float) -> float:
    """a / b; NaN when b is 0 (a short run can use less CPU than one clock tick)."""
    return a / b if b else float("nan")


# ---------------------------------------------------------------------------------------------
# Another tree to compare with


@contextlib.contextmanager
def _base_tree(against: str) -> Iterator[Path]:
    """A directory holding the ``mockvertex`` package of ``against``: the directory itself
    when it has one (say a ``git worktree add /tmp/base <commit>``), else the commit's
    package exported with ``git archive`` into a temporary directory."""
    given = Path(against)
    if (given / "mockvertex" / "__init__.py").is_file():
        yield given.resolve()
        return
    tar = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", against, "mockvertex"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if tar.returncode != 0:
        raise SystemExit(f"--against {against}: {tar.stderr.decode(errors='replace').strip()}")
    workdir = Path(tempfile.mkdtemp(prefix="mockvertex-base-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
            archive.extractall(workdir, filter="data")
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _print_profile(path: str, top: int = 20) -> None:
    """Where the mock's process spent its time: own time by module, then the top functions
    by own time. Waiting in ``epoll`` is left out: the rest is the busy time."""
    import pstats

    stats = pstats.Stats(path)
    entries = stats.stats  # type: ignore[attr-defined]
    rows = []
    by_module: dict[str, float] = {}
    for (file, line, name), (_, calls, own, _, _) in entries.items():
        if "epoll" in name or name == "<method 'poll' of 'select.epoll' objects>":
            continue
        where = _short(file)
        rows.append((own, calls, f"{where}:{line}({name})" if line else name))
        module = where if file.startswith(("/", ".")) else "builtins and C calls"
        by_module[module] = by_module.get(module, 0.0) + own
    busy = sum(by_module.values()) or 1.0
    print(f"\nprofile of the mock's process ({path}): {busy:.2f} s busy, own time by module")
    print_table(
        ["module", "own s", "% of busy"],
        [[m, t, t / busy * 100] for m, t in sorted(by_module.items(), key=lambda kv: -kv[1])[:top]],
    )
    print(f"\ntop {top} functions by own time")
    rows.sort(reverse=True)
    print_table(
        ["function", "calls", "own s", "% of busy"],
        [[name, calls, own, own / busy * 100] for own, calls, name in rows[:top]],
    )


def _short(file: str) -> str:
    for prefix in (str(ROOT) + "/", sys.prefix + "/", sys.base_prefix + "/"):
        file = file.removeprefix(prefix)
    return file.replace("lib/python3.11/site-packages/", "").replace("lib/python3.11/", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds in all")
    parser.add_argument("--seconds", type=float, help="seconds per wrk run (default 3)")
    parser.add_argument("--requests", type=int, help="requests per run of the Python client")
    parser.add_argument("--rounds", type=int, help="rounds per mode (each runs every server)")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk when installed (auto), or this process",
    )
    parser.add_argument(
        "--against",
        metavar="COMMIT|DIR",
        help="also run the mock of another commit (or a tree holding mockvertex/): ratio printed",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the mock's process to FILE"
    )
    parser.add_argument(
        "--unique",
        action="store_true",
        help="a counter in every body's first text: no body twice, no memo hit (the cold path)",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="let the OS place servers and client on any CPU"
    )
    parser.add_argument("--serve", choices=("mock", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--capture", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    pin = not args.no_pin
    if args.serve == "bare":
        asyncio.run(_serve_bare(args.capture, pin=pin))
        return 0
    if args.serve == "mock":
        if args.profile:
            import cProfile

            with cProfile.Profile() as profile:
                asyncio.run(_serve_mock(pin=pin))
            profile.dump_stats(args.profile)
        else:
            asyncio.run(_serve_mock(pin=pin))
        return 0

    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    elif client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk)")
    plan = _Plan(
        client=client,
        seconds=args.seconds or (1.0 if args.quick else 3.0),
        requests=args.requests or (100 if args.quick else 2000),
        rounds=args.rounds or (1 if args.quick else 3),
        warmup_seconds=1.0,
        warmup_requests=20 if args.quick else 200,
        unique=args.unique,
    )
    pin_args = [] if pin else ["--no-pin"]
    profile = os.path.abspath(args.profile) if args.profile else None
    bodies = bench_bodies()
    with contextlib.ExitStack() as stack:
        servers: dict[str, ServerProcess] = {}
        mock_args = ["mock", *pin_args, *(["--profile", profile] if profile else [])]
        servers["mock"] = stack.enter_context(ServerProcess(__file__, mock_args))
        bare_args = ["bare", "--capture", str(servers["mock"].info["port"]), *pin_args]
        servers["bare"] = stack.enter_context(ServerProcess(__file__, bare_args))
        if args.against:
            tree = stack.enter_context(_base_tree(args.against))
            env = {**os.environ, "PYTHONPATH": str(tree)}
            servers["base"] = stack.enter_context(
                ServerProcess(__file__, ["mock", *pin_args], env=env)
            )
            if Path(servers["base"].info["tree"]) != tree:
                raise SystemExit(f"the base server imported mockvertex from {servers['base'].info}")
        client_cpu = "not pinned" if not pin else pin_to_cpu(1)
        wrk = None
        if client == "wrk":
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-wrk-")))
            cpu = None if not pin else next(iter(os.sched_getaffinity(0)))
            wrk = _Wrk(workdir, bodies, cpu, unique=plan.unique)
        tallies = asyncio.run(_measure(servers, plan, bodies, wrk))
        status = _report(servers, tallies, plan, client_cpu, args.against)
    if profile:
        _print_profile(profile)
    return status


if __name__ == "__main__":
    sys.exit(main())
