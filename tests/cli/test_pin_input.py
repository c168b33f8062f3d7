"""The PIN from standard input (`--pin-stdin`) or BSP_PIN, never needing the command line
(where `ps` and the shell's history show it); `--pin` still works."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bsp_tui.platform.core import Platform
from tests.cli.conftest import pending_request


def bsp(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bsp_tui", *args],
        env=os.environ | env,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def status(platform: Platform, request_id: str) -> str:
    return platform.db.value("SELECT status FROM ecps_requests WHERE id = :id", {"id": request_id})


@pytest.mark.parametrize("how", ["stdin", "environment", "argument"])
def test_the_phone_approves_with_the_pin_from_stdin_or_bsp_pin(
    platform: Platform, how: str
) -> None:
    request_id = pending_request(platform, "generaliste")
    pin = platform.ecps.persona(name="generaliste")["pin"]
    args = ["phone", "approve", "--persona", "generaliste"]
    if how == "stdin":
        result = bsp(*args, "--pin-stdin", stdin=pin + "\n")
    elif how == "environment":
        result = bsp(*args, BSP_PIN=pin)
    else:
        result = bsp(*args, "--pin", pin)  # discouraged, kept for existing scripts
    assert result.returncode == 0, result.stderr
    assert status(platform, request_id) == "approved"


def test_stdin_wins_over_bsp_pin_and_a_pin_given_twice_is_refused(platform: Platform) -> None:
    request_id = pending_request(platform, "infirmier")
    pin = platform.ecps.persona(name="infirmier")["pin"]
    args = ["phone", "approve", "--persona", "infirmier"]
    twice = bsp(*args, "--pin", pin, "--pin-stdin", stdin=pin + "\n")
    assert twice.returncode == 2 and "s'excluent" in twice.stderr
    empty = bsp(*args, "--pin-stdin", stdin="")
    assert empty.returncode == 2 and "aucun PIN lu" in empty.stderr
    assert status(platform, request_id) == "pending"
    wins = bsp(*args, "--pin-stdin", stdin=pin + "\n", BSP_PIN="0000")
    assert wins.returncode == 0, wins.stderr
    assert status(platform, request_id) == "approved"


def test_login_as_a_persona_reads_the_pin_from_stdin_or_bsp_pin(platform: Platform) -> None:
    pin = platform.ecps.persona(name="pharmacien")["pin"]
    memory = {"BSP_TOKEN_STORE": "memory"}
    from_stdin = bsp("login", "--persona", "pharmacien", "--pin-stdin", stdin=pin + "\n", **memory)
    assert from_stdin.returncode == 0, from_stdin.stderr
    from_env = bsp("login", "--persona", "pharmacien", BSP_PIN=pin, **memory)
    assert from_env.returncode == 0, from_env.stderr
    missing = bsp("login", "--persona", "pharmacien", **memory)
    assert missing.returncode == 2 and "--pin-stdin, ou BSP_PIN" in missing.stderr
