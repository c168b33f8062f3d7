"""Benchmark of the launcher's interface (not a test): prints figures and ratios.

1. Start-up: from process start to the first painted sign-in screen of the real `bsp`,
   against a minimal Textual app (a Static with the same words and a Footer) started
   the same way, alternating runs. Both run in tmux at 80×24; the time is taken from
   just before `tmux new-session` to the first `capture-pane` that shows the words.
   Target: ours / minimal ≤ 1.5.
2. Opening a tile after sign-in, in process with the Pilot: press "1" on the dashboard
   until the connector screen is current and painted, against pushing a trivial
   screen in a minimal app with the same loop.

Run: `.venv/bin/python bench/tui.py [--runs 7] [--opens 15]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

MARKER = "Connexion avec votre e-CPS"
STARTUP_TARGET = 1.5
START_TIMEOUT = 30.0
POLL = 0.005  # between two captures: often enough, without starving the app of CPU
PERSONA = "generaliste"

MINIMAL_APP = f'''
"""The reference: the least a Textual app can do to paint the same words."""

from textual.app import App, ComposeResult
from textual.widgets import Footer, Static


class Minimal(App):
    def compose(self) -> ComposeResult:
        yield Static("{MARKER}")
        yield Footer()


if __name__ == "__main__":
    Minimal().run()
'''


def ms(seconds: float) -> str:
    """Seconds as milliseconds, for the report."""
    return f"{seconds * 1000:7.1f} ms"


# -- 1. start-up in tmux -------------------------------------------------------------------


class Tmux:
    """A private tmux server (its own socket), kept up between runs by an idle session."""

    def __init__(self) -> None:
        self.socket = f"bsp-bench-{os.getpid()}"
        self.run("new-session", "-d", "-s", "keep", "-x", "80", "-y", "24", "cat")
        self.path = self.run("display-message", "-p", "#{socket_path}").strip()

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        return done.stdout

    def time_to_marker(self, command: str, name: str) -> float:
        """Seconds from just before the session starts to the first screen with MARKER."""
        start = time.perf_counter()
        self.run("new-session", "-d", "-s", name, "-x", "80", "-y", "24", command)
        try:
            while time.perf_counter() - start < START_TIMEOUT:
                if MARKER in self.run("capture-pane", "-p", "-t", name):
                    return time.perf_counter() - start
                time.sleep(POLL)
            screen = self.run("capture-pane", "-p", "-t", name)
            raise RuntimeError(f"no {MARKER!r} after {START_TIMEOUT} s:\n{screen}")
        finally:
            self.run("kill-session", "-t", name)
            time.sleep(0.3)  # let the process end before the next run starts

    def close(self) -> None:
        self.run("kill-server")
        if self.path:
            Path(self.path).unlink(missing_ok=True)


def startup(runs: int, home: Path) -> dict[str, list[float]]:
    """Alternate the real `bsp` and the minimal app, `runs` times each (after a warm-up)."""
    script = home / "minimal_app.py"
    script.write_text(MINIMAL_APP, encoding="utf-8")
    bsp = Path(sys.executable).parent / "bsp"
    env = f"env BSP_HOME={shlex.quote(str(home))} BSP_TOKEN_STORE=memory"
    commands = {
        "bsp": f"{env} {shlex.quote(str(bsp))}",
        "minimal": f"{env} {shlex.quote(sys.executable)} {shlex.quote(str(script))}",
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    tmux = Tmux()
    try:
        for name, command in commands.items():  # warm-up: page cache, .pyc files
            tmux.time_to_marker(command, f"warm-{name}")
        for run in range(runs):
            for name, command in commands.items():
                elapsed = tmux.time_to_marker(command, f"{name}-{run}")
                times[name].append(elapsed)
                print(f"  start-up {name:<8} run {run + 1}: {ms(elapsed)}", flush=True)
    finally:
        tmux.close()
    return times


# -- 2. opening a tile, in process ------------------------------------------------------------


async def until(pilot: Any, condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Let the app run until `condition()` is truthy; returns its value."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        value = condition()
        if value:
            return value
        await pilot.pause()
    raise TimeoutError("the app never got there")


def painted(screen: Any, kind: type, body: type) -> bool:
    """`screen` is a `kind`, current, laid out and repainted, its `body` on screen."""
    return (
        isinstance(screen, kind)
        and screen.is_current
        and not screen._layout_required
        and not screen._repaint_required
        and not screen._dirty_widgets
        and any(widget.region.area for widget in screen.query(body))
    )


async def time_opens(pilot: Any, opens: int, kind: type, body: type, home: type) -> list[float]:
    """Press "1" until a painted `kind` screen, Escape back to `home`; one warm-up first."""
    times = []
    for _ in range(opens + 1):
        start = time.perf_counter()
        await pilot.press("1")
        await until(pilot, lambda: painted(pilot.app.screen, kind, body))
        times.append(time.perf_counter() - start)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, home))
    return times[1:]


async def bsp_tile_opens(opens: int) -> list[float]:
    """Sign in with the virtual phone (no demo panel), then open tile 1 again and again."""
    from textual.widgets import Digits

    from bsp_tui.app.app import BspApp
    from bsp_tui.app.screens.connector import ConnectorScreen
    from bsp_tui.app.screens.dashboard import DashboardScreen
    from bsp_tui.app.screens.signin import SignInScreen
    from bsp_tui.app.screens.waiting import WaitingScreen
    from bsp_tui.app.widgets.tile import ConnectorTile
    from bsp_tui.launcher import virtual_phone
    from bsp_tui.platform.core import Platform
    from bsp_tui.platform.settings import PlatformSettings
    from connectors.view import ConnectorView

    app = BspApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SignInScreen))
        platform = Platform.open(PlatformSettings.from_env())
        try:
            persona = dict(platform.ecps.persona(name=PERSONA))
        finally:
            platform.db.close()
        await pilot.press(*persona["national_id"], "enter")
        binding = await until(
            pilot,
            lambda: (
                isinstance(app.screen, WaitingScreen)
                and app.screen.query_one("#binding", Digits).value
            ),
        )
        phone = virtual_phone(app.session.http)
        await phone.approve_binding(PERSONA, persona["pin"], binding)
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await until(
            pilot, lambda: all(t.state != "checking" for t in app.screen.query(ConnectorTile))
        )
        return await time_opens(pilot, opens, ConnectorScreen, ConnectorView, DashboardScreen)


async def minimal_screen_opens(opens: int) -> list[float]:
    """The reference: a minimal app whose "1" pushes a trivial screen."""
    from textual.app import App, ComposeResult
    from textual.screen import Screen
    from textual.widgets import Footer, Static

    class Body(Static):
        pass

    class Trivial(Screen):
        BINDINGS: ClassVar = [("escape", "app.pop_screen", "Retour")]

        def compose(self) -> ComposeResult:
            yield Body("Un écran")
            yield Footer()

    class Home(Screen):
        def compose(self) -> ComposeResult:
            yield Static(MARKER)
            yield Footer()

    class Minimal(App):
        BINDINGS: ClassVar = [("1", "open", "Ouvrir")]

        def on_mount(self) -> None:
            self.push_screen(Home())

        def action_open(self) -> None:
            self.push_screen(Trivial())

    app = Minimal()
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, Home))
        return await time_opens(pilot, opens, Trivial, Body, Home)


# -- report ------------------------------------------------------------------------------------


def row(label: str, value: str) -> str:
    return f"  {label:<34}{value}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="start-up runs of each app")
    parser.add_argument("--opens", type=int, default=15, help="tile openings of each app")
    parser.add_argument("--skip-startup", action="store_true", help="only the tile figures")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="bsp-bench-"))
    os.environ["BSP_HOME"] = str(home)
    os.environ["BSP_TOKEN_STORE"] = "memory"  # noqa: S105 - a store kind, not a secret
    os.environ["BSP_POLL_INTERVAL"] = "1"  # a quick CIBA pace: sign-in is not what is timed
    summary: list[str] = []
    try:
        if args.skip_startup:
            pass
        elif shutil.which("tmux") is None:
            summary.append("start-up: skipped (tmux is not installed)")
        else:
            print(f"Start-up to the first painted sign-in screen ({args.runs} runs each, tmux)")
            times = startup(args.runs, home)
            ours, minimal = statistics.median(times["bsp"]), statistics.median(times["minimal"])
            ratio = ours / minimal
            verdict = "ok" if ratio <= STARTUP_TARGET else "ABOVE TARGET"
            summary += [
                f"start-up to the first painted sign-in screen, median of {args.runs}:",
                row("bsp", ms(ours)),
                row("minimal Textual app", ms(minimal)),
                row("ratio bsp / minimal", f"{ratio:7.2f}  (target ≤ {STARTUP_TARGET}: {verdict})"),
                row(
                    "best runs, bsp / minimal",
                    f"{ms(min(times['bsp']))} / {ms(min(times['minimal']))}"
                    f" = {min(times['bsp']) / min(times['minimal']):.2f}",
                ),
            ]

        print(f"\nOpening a tile after sign-in ({args.opens} opens each, Pilot 80×24)")
        ours_opens = asyncio.run(bsp_tile_opens(args.opens))
        minimal_opens = asyncio.run(minimal_screen_opens(args.opens))
        for name, values in (("bsp tile 1", ours_opens), ("minimal screen", minimal_opens)):
            print(f"  {name:<15} " + " ".join(f"{v * 1000:.0f}" for v in values) + " (ms)")
        ours, minimal = statistics.median(ours_opens), statistics.median(minimal_opens)
        summary += [
            f"open a tile after sign-in, median of {args.opens}:",
            row('bsp: "1" → connector screen', ms(ours)),
            row('minimal: "1" → trivial screen', ms(minimal)),
            row("ratio bsp / minimal", f"{ours / minimal:7.2f}"),
        ]
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print("\n== bench/tui.py summary " + "=" * 40)
    print("\n".join(summary))
    print("=" * 64)
    return 0


if __name__ == "__main__":
    sys.exit(main())
