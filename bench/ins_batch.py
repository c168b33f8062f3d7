"""Benchmark of `bsp ins lookup --batch` (not a test): prints rows/s and a ratio.

Against one served platform (`python -m bsp_tui platform serve --port 0`, started here
in a temporary BSP_HOME), with one sign-in (`bsp login --persona generaliste`,
BSP_TOKEN_STORE=file in a temporary client BSP_HOME):

- the CLI: `bsp ins lookup --batch FILE --concurrency 16` over 2,000 CSV rows, timed
  from process start to exit (start-up, reading, checking, the lookups, the output);
- the reference: a plain asyncio loop with one `httpx.AsyncClient` sending the same
  2,000 lookups with the same API token (`bsp token ins`) at concurrency 16, timed
  around the requests only.

Rows are the population's own traits (mostly `00`), homonyms (`02`) and unknown
people (`01`); the population is seeded by a warm-up request before any timing.
Runs alternate; the median of each is compared. Target: CLI / plain ≥ 0.8. The
client's CPU time per row is printed too: on a busy or slow server both loops wait on
it, and the CPU figure shows what the CLI itself costs.

Run: `.venv/bin/python bench/ins_batch.py [--rows 2000] [--concurrency 16] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bsp, serve, signed_in
from bsp_tui.platform.population import generate

TARGET = 0.8
FIELDS = ("family", "given", "sex", "birthdate", "birthplace")


def rows(count: int) -> list[dict[str, str]]:
    """Traits of real (emulated) patients, with homonyms and unknown people mixed in."""
    people, _, _ = generate()
    draw = random.Random(7)  # noqa: S311 - reproducible rows, not secrets
    out = []
    for index in range(count):
        person = people[draw.randrange(len(people))]
        row = {
            "family": person.family.title(),
            "given": person.given,
            "sex": person.sex,
            "birthdate": person.birthdate,
            "birthplace": "",
        }
        if index % 10 == 3:
            row |= {"family": "Martin", "given": "Jean", "sex": "M", "birthdate": "1980-05-12"}
        elif index % 10 == 7:
            row["family"] = "Inconnu"
        out.append(row)
    return out


def write_csv(path: Path, data: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(data)


async def plain(
    url: str, token: str, data: list[dict[str, str]], concurrency: int
) -> tuple[float, float]:
    """Seconds (wall, and this process's CPU) for the plain loop to send every lookup."""
    bodies = [{k: v for k, v in row.items() if v} for row in data]
    limit = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{url}/api/ins", headers=headers, timeout=30) as http:

        async def one(body: dict) -> str:
            async with limit:
                response = await http.post("lookup", json=body)
            response.raise_for_status()
            return response.json()["code"]

        started, cpu = time.perf_counter(), time.process_time()
        codes = await asyncio.gather(*(one(body) for body in bodies))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert len(codes) == len(data)
    return elapsed, cpu


def cli(env: dict[str, str], batch: Path, count: int, concurrency: int) -> tuple[float, float, str]:
    """Seconds (wall, and the process's CPU) for `bsp ins lookup --batch` from start to
    exit; and its summary line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [
            *(sys.executable, "-m", "bsp_tui", "ins", "lookup"),
            *("--batch", str(batch), "--concurrency", str(concurrency)),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"the batch failed ({result.returncode}):\n{result.stderr[-2000:]}")
    lines = result.stdout.splitlines()
    assert len(lines) == count, len(lines)
    assert [json.loads(line)["row"] for line in lines] == list(range(1, count + 1))
    return elapsed, cpu, result.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bsp-bench-ins-") as folder:
        base = Path(folder)
        server, url = serve(base / "server")
        try:
            env = signed_in(base / "client", base / "server", url)
            token = bsp("token", "ins", "--min-valid", "600", env=env).stdout.strip()
            data = rows(args.rows)
            batch = base / "batch.csv"
            write_csv(batch, data)
            # Warm-up: seeds the population and opens the server's caches for both.
            asyncio.run(plain(url, token, data[:50], args.concurrency))
            plain_times, cli_times, plain_cpu, cli_cpu, summary = [], [], [], [], ""
            for _ in range(args.runs):
                elapsed, cpu = asyncio.run(plain(url, token, data, args.concurrency))
                plain_times.append(elapsed)
                plain_cpu.append(cpu)
                elapsed, cpu, summary = cli(env, batch, args.rows, args.concurrency)
                cli_times.append(elapsed)
                cli_cpu.append(cpu)
        finally:
            server.terminate()
            server.wait(timeout=15)
    plain_rate = args.rows / statistics.median(plain_times)
    cli_rate = args.rows / statistics.median(cli_times)
    ratio = cli_rate / plain_rate
    print(f"rows: {args.rows}, concurrency: {args.concurrency}, runs: {args.runs} (medians)")
    print(f"CLI summary: {summary}")
    print(f"plain httpx loop : {plain_rate:8.0f} rows/s  {[round(t, 2) for t in plain_times]} s")
    print(f"bsp ins --batch  : {cli_rate:8.0f} rows/s  {[round(t, 2) for t in cli_times]} s")
    print(
        f"ratio CLI/plain  : {ratio:.2f} (target ≥ {TARGET}) {'ok' if ratio >= TARGET else 'BELOW'}"
    )
    per_row = 1000 / args.rows
    print(
        f"client CPU per row: plain {statistics.median(plain_cpu) * per_row:.2f} ms, "
        f"CLI {statistics.median(cli_cpu) * per_row:.2f} ms (start-up included)"
    )


if __name__ == "__main__":
    main()
