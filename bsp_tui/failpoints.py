"""Failpoints: where a crash test stops a process, to kill it exactly there.

With the environment variable `variable` (say `BSP_FSE_FAILPOINT`) naming the point, the
process writes `bsp-fse-failpoint NAME` on stderr on reaching it, then waits forever;
without it, a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import sys
import threading


def failpoint(variable: str, name: str) -> None:
    """Announce the point on stderr and wait forever, when `variable` names it."""
    if os.environ.get(variable) == name:
        label = variable.lower().replace("_", "-")
        print(f"{label} {name}", file=sys.stderr, flush=True)
        threading.Event().wait()
