"""The real `bsp` command in subprocesses, over this test's BSP_HOME.

The test's own BSP_HOME (set by the autouse fixture of tests/conftest.py) is handed
to each subprocess, so that the command's embedded platform and the one the test opens
in process share one SQLite file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
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
    (request,) = platform.ecps.pending(national_id)
    return request.id


def shows_number(text: str, digits: str) -> bool:
    """Whether `digits` appears in `text` as a whole number."""
    return re.search(rf"(?<!\d){digits}(?!\d)", text) is not None
