"""What a command loads to answer: `--help` imports no command, a cached token and the
embedded platform's status start no platform and no JOSE stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from bsp_tui.cli import LAZY_COMMANDS, cli
from bsp_tui.platform.core import Platform
from tests.cli.conftest import Bsp

# Runs `bsp ARGS…` as the console script does, then writes the modules it had loaded.
PROBE = """
import json, os, sys
from bsp_tui.main import main
sys.argv = ["bsp", *json.loads(os.environ["PROBE_ARGS"])]
try:
    main()
except SystemExit as done:
    code = done.code or 0
with open(os.environ["PROBE_OUT"], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""
HEAVY = ("fastapi", "uvicorn", "joserfc", "authlib", "bsp_tui.platform", "textual")


def loaded(tmp_path: Path, *args: str, **env: str) -> tuple[int, set[str]]:
    out = tmp_path / "probe.json"
    subprocess.run(
        [sys.executable, "-c", PROBE],
        env=os.environ | env | {"PROBE_ARGS": json.dumps(args), "PROBE_OUT": str(out)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=True,
    )
    found = json.loads(out.read_text())
    return found["code"], set(found["modules"])


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


@pytest.fixture(autouse=True)
def file_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSP_TOKEN_STORE", "file")  # this test's own home: no keyring to ask


@pytest.fixture
def signed_in(bsp: Bsp, platform: Platform) -> None:
    pin = platform.ecps.persona(name="generaliste")["pin"]
    assert bsp("login", "--persona", "generaliste", BSP_PIN=pin).returncode == 0
    assert bsp("token", "dmp").returncode == 0  # cached from now on


def test_help_imports_no_command(tmp_path: Path) -> None:
    code, modules = loaded(tmp_path, "--help")
    assert code == 0
    assert not [m for m in modules if m.startswith(("bsp_tui.commands", "bsp_tui.launcher"))]
    assert not [m for m in modules if m.startswith("connectors.") and m.endswith(".cli")]
    assert heavy(modules) == []


def test_each_summary_is_the_first_line_of_its_commands_help() -> None:
    ctx = click.Context(cli)
    for name, (_, summary) in LAZY_COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.help is not None
        assert command.help.splitlines()[0] == summary, name


@pytest.mark.usefixtures("signed_in")
def test_a_cached_token_needs_no_platform_and_no_jose(tmp_path: Path) -> None:
    code, modules = loaded(tmp_path, "token", "dmp")
    assert code == 0
    assert heavy(modules) == []


@pytest.mark.usefixtures("signed_in")
def test_status_on_the_embedded_platform_is_answered_by_the_store(bsp: Bsp, tmp_path: Path) -> None:
    code, modules = loaded(tmp_path, "status")
    assert code == 0 and heavy(modules) == []
    report = json.loads(bsp("status", "--json").stdout)
    assert report["live"] is False and report["who"]["national_id"]

    checked = json.loads(bsp("status", "--check", "--json").stdout)
    assert checked["live"] is True and checked["who"] == report["who"]
    code, modules = loaded(tmp_path, "status", "--check")
    assert code == 0 and "bsp_tui.platform.app" in modules


def test_status_without_a_session_exits_3_without_the_platform(tmp_path: Path) -> None:
    code, modules = loaded(tmp_path, "status")
    assert code == 3 and heavy(modules) == []
