"""Benchmark of the served platform (not a test): requests/s and p99 against a hello app.

Two servers on 127.0.0.1, each on a free port, both through the same uvicorn setup
(`bsp_tui.platform.serving`: `listening_socket`, the timely httptools protocol, no access log,
no lifespan):

- ours: `bsp platform serve --port 0` in a temporary BSP_HOME (SQLite by default;
  `--database postgresql://…` for a PostgreSQL server you started yourself, or
  `--postgresql` for one of its own; `--workers N` on PostgreSQL);
- the reference: a FastAPI app whose one endpoint answers `{"hello": "world"}`, one
  worker.

A professional (generaliste) signs in first, and the INS and DMP API tokens are taken
with `bsp token`. Then, at each concurrency (1, 16, 64 by default), for `--seconds` each,
one asyncio loop with one `httpx.AsyncClient` sends, over as many connections:

- INS: `POST /api/ins/lookup` with a seeded patient's traits (answer `00`);
- DMP: `GET /api/dmp/DocumentReference?patient.identifier=…` (the scenario patient
  with 12 documents; every list leaves its trace in the patient's history);
- hello: `GET /hello`.

It prints requests/s and the 99th-percentile latency of each, and ours/hello.
Targets at concurrency 64: INS ≥ 0.5 × hello, DMP ≥ 0.4 × hello.

Run: `.venv/bin/python bench/platform.py [--seconds 3] [--concurrency 1 16 64]
[--database postgresql://… | --postgresql] [--workers 2]` (`--postgresql`: on a server
of its own, started and stopped as the tests do; `--workers`: with PostgreSQL).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and its name would hide
# the standard library's `platform` from every module imported after: the project's
# root takes that place instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Coroutine  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

from bench.common import bsp, serve, signed_in  # noqa: E402
from bsp_tui.platform.population import generate  # noqa: E402
from tests.support import postgres  # noqa: E402

TARGETS = {"INS": 0.5, "DMP": 0.4}
OID_TEST = "urn:oid:1.2.250.1.213.1.4.10"
HELLO_FLAG = "--hello-server"

Send = Callable[[httpx.AsyncClient], Coroutine[Any, Any, httpx.Response]]


def hello_server() -> None:
    """Serve the reference app as the platform is served, and print its address."""
    import uvicorn
    from fastapi import FastAPI

    from bsp_tui.platform.serving import TimelyHttpToolsProtocol, listening_socket

    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    sock = listening_socket("127.0.0.1", 0)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        app,
        http=TimelyHttpToolsProtocol,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run(sockets=[sock])


def start_hello() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, __file__, HELLO_FLAG],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


async def load(url: str, send: Send, concurrency: int, seconds: float) -> tuple[float, float]:
    """Requests/s and p99 (ms) of `send` run by `concurrency` loops for `seconds`.

    Each loop has a client of its own, over one connection: one client sharing a pool
    of 64 connections spends, in httpcore's pool, CPU that grows with every request
    waiting (a loaded server's latency made the client the slower party on 2 cores).
    """
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = httpx.create_ssl_context()  # one for all: each costs 50 ms, and http:// uses none
    clients = [
        httpx.AsyncClient(base_url=url, limits=limits, timeout=60, verify=tls)
        for _ in range(concurrency)
    ]
    try:
        for http in clients:  # warm-up: the connections opened, the caches filled
            (await send(http)).raise_for_status()
        deadline = time.perf_counter() + seconds

        async def one_loop(http: httpx.AsyncClient) -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await send(http)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one_loop(http) for http in clients))
        elapsed = time.perf_counter() - started
    finally:
        for http in clients:
            await http.aclose()
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
    return len(latencies) / elapsed, p99 * 1000


def senders(ins_token: str, dmp_token: str) -> dict[str, Send]:
    people = generate().people
    traits = {
        "family": people[5].family,
        "given": people[5].given,
        "sex": people[5].sex,
        "birthdate": people[5].birthdate,
    }
    ins_auth = {"Authorization": f"Bearer {ins_token}"}
    dmp_auth = {"Authorization": f"Bearer {dmp_token}"}
    query = {"patient.identifier": f"{OID_TEST}|{people[0].ins}"}

    async def ins(http: httpx.AsyncClient) -> httpx.Response:
        return await http.post("/api/ins/lookup", json=traits, headers=ins_auth)

    async def dmp(http: httpx.AsyncClient) -> httpx.Response:
        return await http.get("/api/dmp/DocumentReference", params=query, headers=dmp_auth)

    async def hello(http: httpx.AsyncClient) -> httpx.Response:
        return await http.get("/hello")

    return {"INS": ins, "DMP": dmp, "hello": hello}


def measure(args: argparse.Namespace) -> dict[tuple[str, int], tuple[float, float]]:
    """Requests/s and p99 of each path at each concurrency, by (path, concurrency)."""
    with tempfile.TemporaryDirectory(prefix="bsp-bench-platform-") as folder:
        base = Path(folder)
        options = ("--database", args.database) if args.database else ()
        if args.workers > 1:
            options += ("--workers", str(args.workers))
        server, url = serve(base / "server", *options)
        hello, hello_url = start_hello()
        try:
            env = signed_in(base / "client", base / "server", url, args.database)
            tokens = [
                bsp("token", audience, "--min-valid", "600", env=env).stdout.strip()
                for audience in ("ins", "dmp")
            ]
            results: dict[tuple[str, int], tuple[float, float]] = {}
            for concurrency in args.concurrency:
                for name, request in senders(*tokens).items():
                    target = hello_url if name == "hello" else url
                    results[name, concurrency] = asyncio.run(
                        load(target, request, concurrency, args.seconds)
                    )
        finally:
            for process in (server, hello):
                process.terminate()
                process.wait(timeout=15)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--database", default="", help="a postgresql:// URL (default: SQLite)")
    parser.add_argument(
        "--postgresql", action="store_true", help="on a PostgreSQL server of its own"
    )
    parser.add_argument("--workers", type=int, default=1, help="with PostgreSQL")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.postgresql:
            server = stack.enter_context(postgres.server())
            args.database = server.create_database(seeded=False)
        results = measure(args)
    engine = "PostgreSQL" if args.database else "SQLite"
    workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
    print(f"{workers}, {engine}, {args.seconds:g} s per figure (hello: one worker)")
    print(f"{'concurrency':>11} {'path':>6} {'req/s':>8} {'p99 ms':>8} {'ours/hello':>10}")
    paths = ("INS", "DMP", "hello")
    for concurrency in args.concurrency:
        reference = results["hello", concurrency][0]
        for name in paths:
            rate, p99 = results[name, concurrency]
            ratio = f"{rate / reference:10.2f}" if name != "hello" else ""
            print(f"{concurrency:>11} {name:>6} {rate:8.0f} {p99:8.1f} {ratio}")
    top = max(args.concurrency)
    for name, target in TARGETS.items():
        ratio = results[name, top][0] / results["hello", top][0]
        verdict = "ok" if ratio >= target else "BELOW"
        print(f"{name} at concurrency {top}: {ratio:.2f} × hello (target ≥ {target}) {verdict}")


if __name__ == "__main__":
    if sys.argv[1:] == [HELLO_FLAG]:
        hello_server()
    else:
        main()
