"""Benchmark of the command line's start-up (not a test): prints each command's ratio to
a floor.

The floor is what any Python tool with our HTTP client and keyring pays:
`python -c "import httpx, keyring; keyring.get_keyring()"`. Against it, whole
processes, from start to exit, signed in as one professional (token store `file`, a
throwaway home):

- `bsp --help`;
- `bsp status` on the embedded platform and on a served one (`bsp platform serve` on a
  free port, started here);
- `bsp token dmp` with the token cached, on both.

Each round runs every command once, in turn, so that the machine's load weighs on all
alike; the median of the rounds is compared. Targets: status ≤ 1.5× the floor, `--help`
and `token` ≤ 1.3×. The load average is printed with the figures.

Run: `.venv/bin/python bench/cli.py [--runs 11]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and its platform.py would
# hide the standard library's.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import bsp, serve, signed_in  # noqa: E402

FLOOR = (sys.executable, "-c", "import httpx, keyring; keyring.get_keyring()")
BSP = (sys.executable, "-m", "bsp_tui")
TARGETS = {"--help": 1.3, "status": 1.5, "token": 1.3}


def timed(command: tuple[str, ...], env: dict[str, str], expect: int = 0) -> float:
    """Seconds from start to exit of one process."""
    started = time.perf_counter()
    done = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != expect:
        raise SystemExit(
            f"{' '.join(command[2:])} exited {done.returncode}: {done.stderr[-500:]!r}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bsp-bench-cli-") as folder:
        base = Path(folder)
        server, url = serve(base / "server")
        try:
            embedded = signed_in(base / "embedded", None, None)
            served = signed_in(base / "served", base / "server", url)
            for env in (embedded, served):
                bsp("token", "dmp", env=env)  # cached from now on
            commands = {
                "floor": (FLOOR, embedded),
                "--help": ((*BSP, "--help"), embedded),
                "status (embedded)": ((*BSP, "status"), embedded),
                "status (served)": ((*BSP, "status"), served),
                "token (embedded)": ((*BSP, "token", "dmp"), embedded),
                "token (served)": ((*BSP, "token", "dmp"), served),
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            for command, env in commands.values():
                timed(command, env)  # warm the file cache once
            for _ in range(args.runs):
                for name, (command, env) in commands.items():
                    times[name].append(timed(command, env))
        finally:
            server.terminate()
            server.wait(timeout=15)
    floor = statistics.median(times["floor"])
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"runs: {args.runs} (medians of alternating runs); load average: {load}")
    print(f"{'floor':<20} {floor * 1000:7.0f} ms")
    for name, values in times.items():
        if name == "floor":
            continue
        median = statistics.median(values)
        target = TARGETS[name.split()[0]]
        ratio = median / floor
        verdict = "ok" if ratio <= target else "ABOVE"
        print(f"{name:<20} {median * 1000:7.0f} ms  {ratio:4.2f}× (target ≤ {target}) {verdict}")


if __name__ == "__main__":
    main()
