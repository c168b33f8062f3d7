"""One CPU core for each process serving the platform.

A serving process runs its handlers in a thread pool, and its event loop in the main
thread: they take turns at the interpreter's lock. Spread over several cores, every turn
is a wake-up across cores, and under load those turns cost the platform as much CPU as
the requests themselves (measured: an INS lookup 2.6 ms of CPU against 2.1 ms on one
core, a DMP page 7.0 ms against 3.4 ms). Python code runs on one core at a time in a
process anyway, so a process bound to one core loses nothing of its own, and the other
cores are left to the other workers, PostgreSQL and the clients.

Each worker chooses its core when it starts: among those it may run on, the one the
fewest of its sibling workers (the other children of the same serving command) are
bound to, the choices made in turn under a file lock. Only Linux can bind a process;
elsewhere, or with a single core, nothing is done. `BSP_BIND_CORE=0` leaves the processes
to the system's scheduler: on a machine busy with other work (a test suite's), a process
bound to a busy core cannot move away from it.
"""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from pathlib import Path

BIND_CORE_ENV = "BSP_BIND_CORE"


def _siblings() -> list[int]:
    """The other children of this process's parent (Linux), [] when unreadable."""
    parent = os.getppid()
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return []
    return [int(pid) for pid in children if int(pid) != os.getpid()]


def _bound_to(pid: int) -> set[int]:
    """The core a process is bound to, as a set of one; empty when it may run on several
    or is gone."""
    try:
        cores = os.sched_getaffinity(pid)
    except OSError:
        return set()
    return cores if len(cores) == 1 else set()


def bind_to_a_core(lock: Path) -> int | None:
    """Bind this process to the core the fewest sibling workers are bound to (ties go by
    this process's id, for unrelated serving commands to spread); that core, or None
    where nothing was done."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # workers starting together choose in turn
        taken = Counter(core for pid in _siblings() for core in _bound_to(pid))
        mine = os.getpid() % len(allowed)
        core = min(allowed, key=lambda c: (taken[c], (allowed.index(c) - mine) % len(allowed)))
        os.sched_setaffinity(0, {core})
    return core
