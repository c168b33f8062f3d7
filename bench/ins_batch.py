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
import os
import queue
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bsp_tui.platform.population import generate  # noqa: E402

TARGET = 0.8
PERSONA = "generaliste"
START_TIMEOUT = 30.0
FIELDS = ("family", "given", "sex", "birthdate", "birthplace")


def bsp_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BSP_")}
    return env | {"BSP_HOME": str(home)} | extra


def bsp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bsp_tui", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"bsp {' '.join(args[:2])} failed ({result.returncode}):\n{result.stderr}")
    return result


def serve(home: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bsp_tui", "platform", "serve", "--port", "0"],
        env=bsp_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def drain() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    try:
        first = lines.get(timeout=START_TIMEOUT)
    except queue.Empty:
        process.kill()
        raise SystemExit("the platform did not start") from None
    match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
    if match is None:
        process.kill()
        raise SystemExit(f"unexpected first line from the platform: {first!r}")
    return process, match.group(1)


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
            personas = json.loads(
                bsp("platform", "personas", "--json", env=bsp_env(base / "server")).stdout
            )
            persona = next(p for p in personas if p["name"] == PERSONA)
            store = {"BSP_TOKEN_STORE": "file"}  # explicit opt-in: a throwaway home
            env = bsp_env(base / "client", BSP_PLATFORM_URL=url, **store)
            # A served platform's phone enrols with the card's activation code first.
            bsp(
                "phone",
                "enrol",
                "--persona",
                PERSONA,
                "--code",
                persona["activation_code"],
                env=env,
            )
            bsp("login", "--persona", PERSONA, env=env | {"BSP_PIN": persona["pin"]})
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
