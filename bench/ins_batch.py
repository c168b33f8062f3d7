"""Benchmark of `bsp ins lookup --batch` (not a test): rows/s, peak memory and ratios.

Against one served platform (`python -m bsp_tui platform serve --port 0`, started here
in a temporary BSP_HOME), with one sign-in (`bsp login --persona generaliste`,
BSP_TOKEN_STORE=file in a temporary client BSP_HOME), for each `--rows N` (default
1,000 and 500,000):

- the CLI: `bsp ins lookup --batch FILE --output FILE --concurrency 16` over N CSV rows,
  timed from process start to exit (start-up, reading, checking, the lookups, the
  output); its peak resident memory (ru_maxrss of that process alone, from wait4 in a small
  process started for it);
- the reference: a plain asyncio loop with one `httpx.AsyncClient` sending the same
  lookups (the first `--reference-rows`, default 20,000, of them: its rate does not
  change with the length, and a second 500,000-row loop would double the run) with the
  same API token (`bsp token ins`) at concurrency 16, timed around the requests only.

Rows are the population's own traits (mostly `00`), homonyms (`02`) and unknown
people (`01`); the population is seeded by a warm-up request before any timing. Runs
alternate (`--runs`, sizes up to 10,000 rows; one run above); the median of each is
compared. Targets: CLI / plain ≥ 0.8 in rows/s; peak memory at the largest size ≤ 1.3×
that at the smallest. The client's CPU time per row is printed too: on a busy or slow
server both loops wait on it, and the CPU figure shows what the CLI itself costs. The
load average is printed at the start and the end: the figures move with it.

Run: `.venv/bin/python bench/ins_batch.py [--rows 1000 500000] [--concurrency 16] [--runs 3]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and its platform.py would
# hide the standard library's `platform` from every module imported after: the
# project's root takes that place instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import httpx  # noqa: E402

from bench.common import bsp, serve, signed_in  # noqa: E402
from bsp_tui.platform.population import generate  # noqa: E402

TARGET = 0.8
MEMORY_TARGET = 1.3
MANY_RUNS_UP_TO = 10_000
FIELDS = ("family", "given", "sex", "birthdate", "birthplace")


def rows(count: int) -> Iterator[dict[str, str]]:
    """Traits of real (emulated) patients, with homonyms and unknown people mixed in."""
    people = generate().people
    draw = random.Random(7)  # noqa: S311 - reproducible rows, not secrets
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
        yield row


def write_csv(path: Path, data: Iterable[dict[str, str]]) -> None:
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


@dataclass
class Run:
    """One `bsp ins lookup --batch` from start to exit."""

    wall: float
    cpu: float
    peak_kib: int
    summary: str


# The CLI is started by a small process of its own, which reports its peak memory and
# CPU (wait4): Linux carries a parent's high-water mark of memory into the process it
# forks, and this one's, at 500,000 rows, is above the CLI's.
_MEASURED = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execv(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "with open(sys.argv[1], 'w') as out:\n"
    "    out.write(f'{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def cli(env: dict[str, str], batch: Path, count: int, concurrency: int) -> Run:
    """Run the batch to an output file and check it: every row once, in order."""
    output = batch.with_suffix(".ndjson")
    usage = batch.with_suffix(".usage")
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.run(
            [
                *(sys.executable, "-S", "-c", _MEASURED, str(usage)),
                *(sys.executable, "-m", "bsp_tui", "ins", "lookup"),
                *("--batch", str(batch), "--output", str(output)),
                *("--concurrency", str(concurrency)),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            check=False,
        )
        elapsed = time.perf_counter() - started
        errors.seek(0)
        stderr = errors.read()
    if process.returncode != 0:
        raise SystemExit(f"the batch failed ({process.returncode}):\n{stderr[-2000:]}")
    with output.open(encoding="utf-8") as answers:
        numbers = (json.loads(line)["row"] for line in answers)
        assert all(n == expected for n, expected in zip(numbers, range(1, count + 1), strict=True))
    peak, cpu = usage.read_text().split()
    return Run(elapsed, float(cpu), int(peak), stderr.strip().splitlines()[-1])


def load() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def measure(
    url: str, token: str, env: dict[str, str], base: Path, count: int, args: argparse.Namespace
) -> tuple[float, float, Run, float]:
    """Rows/s of the plain loop and of the CLI (medians), the CLI's median run, and the
    plain loop's CPU per row."""
    batch = base / f"batch-{count}.csv"
    write_csv(batch, rows(count))
    reference = list(rows(min(count, args.reference_rows)))
    runs = args.runs if count <= MANY_RUNS_UP_TO else 1
    plain_runs, cli_runs = [], []
    for _ in range(runs):
        plain_runs.append(asyncio.run(plain(url, token, reference, args.concurrency)))
        cli_runs.append(cli(env, batch, count, args.concurrency))
    plain_wall = statistics.median(wall for wall, _ in plain_runs)
    run = sorted(cli_runs, key=lambda r: r.wall)[len(cli_runs) // 2]
    plain_cpu = statistics.median(cpu for _, cpu in plain_runs) / len(reference)
    return len(reference) / plain_wall, count / run.wall, run, plain_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 500_000])
    parser.add_argument("--reference-rows", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {load()}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bsp-bench-ins-") as folder:
        base = Path(folder)
        server, url = serve(base / "server")
        try:
            env = signed_in(base / "client", base / "server", url)
            token = bsp("token", "ins", "--min-valid", "3600", env=env).stdout.strip()
            # Warm-up: seeds the population and opens the server's caches for both.
            asyncio.run(plain(url, token, list(rows(50)), args.concurrency))
            for count in args.rows:
                results[count] = measure(url, token, env, base, count, args)
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"load average at end: {load()}; concurrency {args.concurrency}")
    for count, (plain_rate, cli_rate, run, plain_cpu) in results.items():
        ratio = cli_rate / plain_rate
        verdict = "ok" if ratio >= TARGET else "BELOW"
        print(f"rows: {count}  CLI summary: {run.summary}")
        print(f"  plain httpx loop : {plain_rate:8.0f} rows/s")
        print(f"  bsp ins --batch  : {cli_rate:8.0f} rows/s  ({run.wall:.1f} s, start-up included)")
        print(f"  ratio CLI/plain  : {ratio:.2f} (target ≥ {TARGET}) {verdict}")
        print(
            f"  client CPU per row: plain {plain_cpu * 1000:.2f} ms, "
            f"CLI {run.cpu / count * 1000:.2f} ms; CLI peak memory {run.peak_kib / 1024:.1f} MiB"
        )
    if len(results) > 1:
        small, large = min(results), max(results)
        ratio = results[large][2].peak_kib / results[small][2].peak_kib
        verdict = "ok" if ratio <= MEMORY_TARGET else "ABOVE"
        print(
            f"peak memory {large} rows / {small} rows: {ratio:.2f} (target ≤ {MEMORY_TARGET}) "
            f"{verdict}"
        )


if __name__ == "__main__":
    main()
