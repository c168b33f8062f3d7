"""Each serving process binds itself to one core, sibling workers to different ones."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
needs_cores = pytest.mark.skipif(
    CORES < 2, reason="binding to a core needs Linux and two cores or more"
)

# A serving command's stand-in: it starts workers that each bind themselves, say where,
# and wait (on their standard input) so that the next one sees them bound.
PARENT = textwrap.dedent(
    """
    import subprocess, sys
    child = (
        "import os, sys; from pathlib import Path;"
        "from bsp_tui.platform.cores import bind_to_a_core;"
        "core = bind_to_a_core(Path(sys.argv[1]));"
        "print(core, sorted(os.sched_getaffinity(0)), flush=True); sys.stdin.read()"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", child, sys.argv[1]], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
        for _ in range(int(sys.argv[2]))
    ]
    for worker in workers:
        print(worker.stdout.readline().strip(), flush=True)
    for worker in workers:
        worker.stdin.close()
        worker.wait()
    """
)


def workers_bound(tmp_path: Path, count: int) -> list[tuple[int, list[int]]]:
    lock = tmp_path / "cores.lock"
    result = subprocess.run(
        [sys.executable, "-c", PARENT, str(lock), str(count)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.split("\n")
    bound = []
    for line in filter(None, lines):
        core, _, cores = line.partition(" ")
        bound.append((int(core), eval(cores)))  # noqa: S307 - a list of ints printed above
    return bound


@needs_cores
def test_sibling_workers_take_different_cores(tmp_path: Path) -> None:
    bound = workers_bound(tmp_path, 2)
    assert [cores for _, cores in bound] == [[core] for core, _ in bound]
    assert len({core for core, _ in bound}) == 2


@needs_cores
def test_more_workers_than_cores_spread_evenly(tmp_path: Path) -> None:
    bound = workers_bound(tmp_path, CORES + 1)
    per_core = sorted(
        sum(1 for core, _ in bound if core == each) for each in os.sched_getaffinity(0)
    )
    assert per_core == [1] * (CORES - 1) + [2]
