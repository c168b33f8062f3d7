"""The real `bsp` command in subprocesses, over this test's BSP_HOME.

The test's own BSP_HOME (set by the autouse fixture of tests/conftest.py) is handed
to each subprocess, so that the command's embedded platform and the one the test opens
in process share one SQLite file.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from bsp_tui.platform.core import Platform
from bsp_tui.platform.settings import PlatformSettings
from tests.conftest import LAUNCHER

Bsp = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def bsp() -> Bsp:
    """Run `bsp ARGS…` without a terminal; keyword arguments are extra environment."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bsp_tui", *args],
            env=os.environ | env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
            check=False,
        )

    return run


@pytest.fixture
def platform() -> Iterator[Platform]:
    """The platform of this test's BSP_HOME, opened in process."""
    opened = Platform.open(PlatformSettings.from_env())
    yield opened
    opened.db.close()


def pending_request(platform: Platform, name: str, binding: str = "42") -> str:
    """Start a CIBA sign-in for the persona, in process; the id of its e-CPS request."""
    national_id = platform.ecps.persona(name=name)["national_id"]
    platform.flows.start_ciba(
        platform.clients.get(LAUNCHER), "openid scope_all", national_id, binding, "eidas1", None
    )
    return platform.ecps.pending(national_id)[-1].id  # the newest: this one


def shows_number(text: str, digits: str) -> bool:
    """Whether `digits` appears in `text` as a whole number."""
    return re.search(rf"(?<!\d){digits}(?!\d)", text) is not None


class Terminal:
    """The real `bsp ARGS…` on a pseudo-terminal: what it prints is read with a deadline."""

    def __init__(self, *args: str, timeout: float = 30) -> None:
        self._timeout = timeout
        self._controller, worker = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bsp_tui", *args],
            stdin=worker,
            stdout=worker,
            stderr=worker,
            close_fds=True,
        )
        os.close(worker)
        self.output = ""

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *_: object) -> None:
        self.process.kill()
        self.process.wait(timeout=self._timeout)
        os.close(self._controller)

    def expect(self, text: str) -> str:
        """Read until `text` was printed; everything printed so far."""
        deadline = time.monotonic() + self._timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"never printed {text!r}; printed: {self.output!r}")
            ready, _, _ = select.select([self._controller], [], [], left)
            if ready:
                try:
                    self.output += os.read(self._controller, 4096).decode("utf-8", "replace")
                except OSError:  # the command ended
                    raise AssertionError(f"ended before {text!r}: {self.output!r}") from None
        return self.output

    def send(self, text: str) -> None:
        """Type `text` at the terminal."""
        os.write(self._controller, text.encode())
