"""The guides' shell examples run as written: every ```sh block of README.md,
docs/it-support.md and docs/trainer.md, from a fresh shell with no standard input.

Each block is announced by a comment on the line before its fence, which the rendered
guide does not show:

    <!-- run: as=generaliste exit=0 -->          run it, signed in as that persona first
    <!-- run: platform=embedded -->             on the embedded platform (default: served)
    <!-- run: trainer -->                       with BSP_TRAINER_TOKEN exported
    <!-- run: server -->                        in the serving machine's own home
    <!-- run: no — why it cannot run here -->   shown, not run (the reason is required)

Blocks of one guide run in order, in one temporary folder and home, so that a file one
block writes is there for the next; each is `bash -eo pipefail`, and its exit code must
be the one announced (0 by default). Synopses with placeholders are ```text blocks.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import ServedPlatform, bsp_env, run_bsp, start_platform

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ("README.md", "docs/it-support.md", "docs/trainer.md")
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w*)\s*$")
MARKER = re.compile(r"^\s*<!-- run: (?P<spec>.*?) -->\s*$")
BIN = str(Path(sys.executable).parent)


@dataclass
class Block:
    guide: str
    line: int
    text: str
    spec: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    @property
    def name(self) -> str:
        return f"{self.guide}:{self.line}"


def blocks(guide: str) -> list[Block]:
    """The sh blocks of a guide, with the marker before each."""
    lines = (ROOT / guide).read_text(encoding="utf-8").splitlines()
    found, index = [], 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence or fence.group("lang") != "sh":
            if fence:  # skip another language's block whole
                index += 1
                while index < len(lines) and not FENCE.match(lines[index]):
                    index += 1
            index += 1
            continue
        indent = len(fence.group("indent"))
        start, body = index, []
        index += 1
        while index < len(lines) and not FENCE.match(lines[index]):
            body.append(lines[index][indent:])
            index += 1
        index += 1
        block = Block(guide, start + 1, "\n".join(body) + "\n")
        marker = MARKER.match(lines[start - 1]) if start else None
        if marker:
            spec = marker.group("spec")
            if spec.startswith("no"):
                block.reason = spec.removeprefix("no").strip(" —-")
            else:
                block.spec = dict(
                    item.split("=", 1) if "=" in item else (item, "") for item in shlex.split(spec)
                )
        found.append(block)
    return found


ALL = [block for guide in GUIDES for block in blocks(guide)]


def test_every_example_says_how_it_runs() -> None:
    unmarked = [b.name for b in ALL if not b.spec and not b.reason]
    assert unmarked == [], "a ```sh block without <!-- run: … --> before it"
    assert len([b for b in ALL if b.spec]) >= 12


class Shell:
    """One guide's shell: its folder, its home, the personas it signed in."""

    def __init__(self, served: ServedPlatform, folder: Path) -> None:
        self.served = served
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.signed_in: set[tuple[str, str]] = set()
        self.personas = {
            p["name"]: p
            for p in json.loads(
                run_bsp("platform", "personas", "--json", env=served.server_env()).stdout
            )
        }

    def env(self, block: Block) -> dict[str, str]:
        if "server" in block.spec:
            return self.served.server_env() | {"PATH": f"{BIN}:{os.environ['PATH']}"}
        embedded = block.spec.get("platform") == "embedded"
        home = self.folder / ("home-embedded" if embedded else "home")
        env = bsp_env(home, BSP_TOKEN_STORE="file", PATH=f"{BIN}:{os.environ['PATH']}")
        if not embedded:
            env["BSP_PLATFORM_URL"] = self.served.url
        if "trainer" in block.spec:
            env["BSP_TRAINER_TOKEN"] = self.served.trainer_token
        return env

    def sign_in(self, block: Block, env: dict[str, str]) -> None:
        name = block.spec.get("as")
        if not name or (env["BSP_HOME"], name) in self.signed_in:
            return
        if "BSP_PLATFORM_URL" in env:
            self.served.enrol_phone(name, env)
        pin = {"BSP_PIN": self.personas[name]["pin"]}
        done = run_bsp("login", "--persona", name, env=env | pin)
        assert done.returncode == 0, done.stderr
        self.signed_in = {s for s in self.signed_in if s[0] != env["BSP_HOME"]}
        self.signed_in.add((env["BSP_HOME"], name))

    def run(self, block: Block) -> subprocess.CompletedProcess[str]:
        env = self.env(block)
        self.sign_in(block, env)
        return subprocess.run(
            ["bash", "-eo", "pipefail", "-c", block.text],
            cwd=self.folder,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guides_examples_run_as_written(guide: str, tmp_path: Path) -> None:
    # A platform of its own: the trainer's guide resets it, the others sign in on it.
    served = start_platform(tmp_path)
    try:
        ran = run_guide(guide, Shell(served, tmp_path / "shell"))
    finally:
        served.stop()
    assert ran >= 1


def run_guide(guide: str, shell: Shell) -> int:
    """Run the guide's blocks in order; how many ran."""
    ran = 0
    for block in blocks(guide):
        if block.reason:
            continue
        done = shell.run(block)
        expected = int(block.spec.get("exit", "0"))
        assert done.returncode == expected, (
            f"{block.name} exited {done.returncode}, not {expected}:\n{block.text}\n"
            f"stdout: {done.stdout[-1500:]}\nstderr: {done.stderr[-1500:]}"
        )
        ran += 1
    return ran
