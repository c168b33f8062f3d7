"""The real `bsp` in a real terminal (tmux, 80×24): sign in, approve from the virtual
phone in another process, read the dashboard from the screen, quit.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.app.conftest import approvals, national_id_of, pin_of, sign_in_outside
from tests.support.shell import run_bsp

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"
)

ROOT = Path(__file__).resolve().parents[2]
TILE_TITLES = ("1 · INS", "2 · DMP", "3 · Ordonnance numérique", "4 · Feuille de soins")


def bsp_command() -> list[str]:
    """The installed `bsp` script of this environment (or the module, if not installed)."""
    script = Path(sys.executable).parent / "bsp"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bsp_tui"]


class Terminal:
    """One tmux server of our own (its own socket), with one 80×24 session."""

    def __init__(self) -> None:
        self.socket = f"bsp-test-{uuid.uuid4().hex[:12]}"
        self.session = "bsp"
        self.socket_path: Path | None = None

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        )

    def start(self, env: dict[str, str], command: list[str]) -> None:
        exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
        line = f"env {exports} {shlex.join(command)}"
        self.tmux("new-session", "-d", "-s", self.session, "-x", "80", "-y", "24", line)
        shown = self.tmux("display-message", "-p", "#{socket_path}", check=False).stdout
        self.socket_path = Path(shown.strip()) if shown.strip() else None

    def screen(self) -> str:
        result = self.tmux("capture-pane", "-p", "-t", self.session, check=False)
        return result.stdout

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", self.session, check=False).returncode == 0

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", text)

    def key(self, name: str) -> None:
        self.tmux("send-keys", "-t", self.session, name)

    def wait_until(self, what: str, predicate: Callable[[str], bool], timeout: float = 20) -> str:
        """Poll the screen until `predicate(screen)`; fail with the last screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() >= deadline:
                pytest.fail(f"after {timeout} s, no {what} on the screen:\n{screen}")
            time.sleep(0.1)  # a poll interval between two captures, bounded by the deadline

    def kill(self) -> None:
        self.tmux("kill-server", check=False)
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)  # tmux leaves its socket file behind


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal()
    yield term
    term.kill()


@pytest.fixture
def env(shared_keyring: Path) -> dict[str, str]:
    """What `bsp` in the terminal and `bsp` in another shell share: home and keyring."""
    return {
        "BSP_HOME": os.environ["BSP_HOME"],
        "BSP_POLL_INTERVAL": "1",
        "PYTHON_KEYRING_BACKEND": "tests.support.keyring_backend.FileKeyring",
        "BSP_TEST_KEYRING": str(shared_keyring),
        "PYTHONPATH": str(ROOT),
        "TERM": "xterm-256color",
    }


def test_real_bsp_in_tmux_signs_in_and_shows_the_dashboard(
    terminal: Terminal, env: dict[str, str]
) -> None:
    national_id, pin = national_id_of("generaliste"), pin_of("generaliste")
    terminal.start(env, bsp_command())
    terminal.wait_until("sign-in screen", lambda s: "Connexion avec votre e-CPS" in s)

    terminal.type(national_id)
    terminal.wait_until("key check", lambda s: "✓ Identifiant valide" in s)
    terminal.key("Enter")
    waiting = terminal.wait_until("binding number", lambda s: "Validez sur votre e-CPS" in s)
    assert "expire dans" in waiting

    phone = run_bsp(env, "phone", "approve", "--persona", "generaliste", "--pin", pin)
    assert phone.returncode == 0, phone.stderr
    assert "approuvée" in phone.stdout

    dashboard = terminal.wait_until(
        "dashboard with its four tiles ready",
        lambda s: "1 · INS" in s and s.count("● Prêt") == len(TILE_TITLES),
        timeout=30,
    )
    for title in TILE_TITLES:
        assert title in dashboard, dashboard
    assert "Martin-Dubois" in dashboard  # the session bar: who is signed in
    assert approvals() == 1

    terminal.key("C-q")
    deadline = time.monotonic() + 15
    while terminal.alive():
        if time.monotonic() >= deadline:
            pytest.fail(f"bsp did not quit on ctrl+q:\n{terminal.screen()}")
        time.sleep(0.1)


def test_at_80x24_the_ins_answer_shows_and_a_logout_elsewhere_ends_the_dmp_screen(
    terminal: Terminal, env: dict[str, str]
) -> None:
    asyncio.run(sign_in_outside("generaliste"))
    terminal.start(env, bsp_command())
    terminal.wait_until("dashboard ready", lambda s: s.count("● Prêt") == len(TILE_TITLES))

    # Keyboard only, typed as bursts: the form, the sex list (Enter opens it on its
    # prompt, Down, Enter takes « Féminin »), the date, Enter searches.
    terminal.key("1")
    terminal.wait_until("the INS form", lambda s: "Nom de naissance" in s)
    terminal.type("DUPONT")
    terminal.key("Tab")
    terminal.type("Marie")
    for key in ("Tab", "Enter", "Down", "Enter", "Tab"):
        terminal.key(key)
    terminal.type("1962-03-14")
    terminal.key("Enter")
    found = terminal.wait_until(
        "the identity and its button on screen",
        lambda s: "INS 262037511122263" in s and "Choisir comme patient" in s,
    )
    assert "DUPONT MARIE LOUISE" in found
    terminal.key("Enter")  # the focus is on « Choisir comme patient »
    terminal.wait_until("the patient in the header", lambda s: "Patient : DUPONT" in s)

    terminal.key("Escape")  # alone: ESC then a key at once would read as Alt+key
    terminal.wait_until("the dashboard", lambda s: "1 · INS" in s)
    terminal.key("2")
    terminal.wait_until("the DMP list", lambda s: "document" in s and "DUPONT" in s)
    logout = run_bsp(env, "logout")
    assert logout.returncode == 0, logout.stderr
    terminal.key("r")
    ended = terminal.wait_until(
        "the sign-in screen with the sentence",
        lambda s: "Connexion avec votre e-CPS" in s and "Votre session a pris fin" in s,
    )
    assert "DUPONT" not in ended and "Traceback" not in ended
    assert terminal.alive()
