"""The real `bsp` as another shell runs it: no terminal, this test's environment plus `env`."""

from __future__ import annotations

import os
import subprocess
import sys


def run_bsp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`bsp ARGS…` in a subprocess, standard input closed."""
    return subprocess.run(
        [sys.executable, "-m", "bsp_tui", *args],
        env=os.environ | env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
