"""Benchmark of `bsp dmp list` (not a test): a long DMP against a short one, and the ratio.

Against one served platform (`python -m bsp_tui platform serve --port 0`, started here
in a temporary BSP_HOME), with one sign-in (`bsp login --persona generaliste`,
BSP_TOKEN_STORE=file in a temporary client BSP_HOME): two scenario patients' DMPs are
filled, straight in the served platform's SQLite database, with consultation reports up
to 100 and 10,000 documents the doctor may see. Each `bsp dmp list INS` (the table, and
`--json`) is timed from process start to exit, the two patients alternating, and the
medians compared: the service answers in pages (`_count`, 1000 a page as the client
asks), the client follows the `next` links. Target: 10,000 documents ≤ 2× the time of
100. The load average is printed at the start and the end: the figures move with it.

Run: `.venv/bin/python bench/dmp_list.py [--runs 5] [--short 100] [--long 10000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and its platform.py would
# hide the standard library's.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import bsp, bsp_env, qualified, serve, signed_in  # noqa: E402
from connectors.dmp.seed import content_hash, master_id  # noqa: E402

TARGET = 2.0


def listed(env: dict[str, str], ins: str) -> int:
    return int(json.loads(bsp("dmp", "list", ins, "--json", env=env).stdout)["count"])


def fill(database: Path, ins: str, count: int) -> None:
    """`count` more consultation reports in the patient's DMP, older than the seeded ones."""
    rows = [
        (
            f"BENCH{ins[-6:]}{number:06d}",
            ins,
            "11488-4",
            f"Consultation {number}",
            "810000099991",
            "Dr Paul Rivière",
            f"1990-01-01T{number // 3600 % 24:02d}:{number // 60 % 60:02d}:{number % 60:02d}Z",
            "text/plain",
            b"Examen clinique normal.\n",
            content_hash(b"Examen clinique normal.\n"),
            master_id(f"BENCH{ins[-6:]}{number:06d}"),
        )
        for number in range(count)
    ]
    with sqlite3.connect(database, timeout=30) as conn:
        conn.executemany(
            "INSERT INTO dmp_documents (id, ins, loinc, title, author_id, author_name, created,"
            " content_type, content, hash, master_id, masked, invisible_patient, status,"
            " invisible_legal, archived, author_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0,"
            " 0, 'current', 0, 0, 'Practitioner')",
            rows,
        )


def timed(env: dict[str, str], ins: str, *options: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "bsp_tui", "dmp", "list", ins, *options],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"bsp dmp list failed ({result.returncode}):\n{result.stderr[-2000:]!r}")
    return elapsed


def load() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--short", type=int, default=100)
    parser.add_argument("--long", type=int, default=10_000)
    args = parser.parse_args()
    print(f"load average at start: {load()}")
    with tempfile.TemporaryDirectory(prefix="bsp-bench-dmp-") as folder:
        base = Path(folder)
        server, url = serve(base / "server")
        try:
            env = signed_in(base / "client", base / "server", url)
            server_env = bsp_env(base / "server")
            patients = json.loads(bsp("platform", "patients", "--json", env=server_env).stdout)
            # DUPONT and the fourth scenario patient: open DMPs, nobody blocked.
            short, long = patients[0]["ins"], patients[3]["ins"]
            for patient in (patients[0], patients[3]):
                qualified(env, patient)
            database = base / "server" / "data" / "platform.sqlite3"
            for ins, wanted in ((short, args.short), (long, args.long)):
                fill(database, ins, wanted - listed(env, ins))
                assert listed(env, ins) == wanted
            times: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.runs):
                for options in ((), ("--json",)):
                    for ins in (short, long):
                        times.setdefault((ins, " ".join(options)), []).append(
                            timed(env, ins, *options)
                        )
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"load average at end: {load()}; runs: {args.runs} (medians)")
    for options in ("", "--json"):
        few = statistics.median(times[(short, options)])
        many = statistics.median(times[(long, options)])
        ratio = many / few
        verdict = "ok" if ratio <= TARGET else "ABOVE"
        name = f"bsp dmp list {options}".strip()
        print(f"{name}: {args.short} documents {few:.2f} s, {args.long} documents {many:.2f} s")
        print(f"  ratio {args.long}/{args.short}: {ratio:.2f} (target ≤ {TARGET}) {verdict}")


if __name__ == "__main__":
    main()
