"""A real `bsp fse send` killed (SIGKILL) at each failpoint of a batch; the next send
completes, and the platform bills every sheet exactly once.

The sender announces a failpoint on stderr and waits there (BSP_FSE_FAILPOINT); the
test waits for the announcement with a deadline, then kills it. Nothing sleeps.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.fse.models import Rights, build_sheet
from connectors.fse.outbox import ACCEPTED, PENDING, SENDING, Outbox, outbox_path
from tests.connectors.fse.conftest import TODAY
from tests.e2e.conftest import ServedPlatform, run_bsp
from tests.e2e.test_sso_cli import Launcher

pytestmark = pytest.mark.e2e
DEADLINE = 60.0


@pytest.fixture(scope="module")
def patients(served: ServedPlatform) -> list[dict]:
    """Adults whose card carries no exemption: typed rights without one are theirs."""
    result = run_bsp("platform", "patients", "--json", env=served.server_env())
    assert result.returncode == 0, result.stderr  # the population is seeded by now
    with sqlite3.connect(served.home / "data" / "platform.sqlite3") as conn:
        rows = conn.execute(
            "SELECT p.ins, p.birthdate FROM patients p JOIN card_beneficiaries c ON c.ins = p.ins"
            " WHERE c.rank = 1 AND c.exemption = '' AND p.rowid > 10 ORDER BY p.rowid LIMIT 10"
        ).fetchall()
    return [{"ins": ins, "birthdate": birthdate} for ins, birthdate in rows]


@pytest.fixture(scope="module")
def nurse(
    served: ServedPlatform, personas: dict[str, dict], tmp_path_factory: pytest.TempPathFactory
) -> Launcher:
    launcher = Launcher(served, tmp_path_factory.mktemp("fse-crash"))
    launcher.login(personas["infirmier"])
    return launcher


@pytest.fixture
def outbox(nurse: Launcher) -> Iterator[Outbox]:
    box = Outbox(outbox_path(Path(nurse.env["BSP_HOME"]) / "data", "default"))
    yield box
    box.close()


def queue_sheets(outbox: Outbox, patients: list[dict], count: int = 3) -> list[str]:
    """Paramedical sheets (no participation forfaitaire: no dependence between tests)."""
    numbers = []
    for patient in patients[:count]:
        rights = Rights(ins=patient["ins"], birthdate=patient["birthdate"])
        numbers.append(outbox.add(build_sheet(rights, ["AMI1"], TODAY, False, True)).number)
    return numbers


class Sender:
    """A `bsp fse send` subprocess whose stderr lines arrive in a queue."""

    def __init__(self, launcher: Launcher, failpoint: str = "") -> None:
        env = launcher.env | ({"BSP_FSE_FAILPOINT": failpoint} if failpoint else {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bsp_tui", "fse", "send", "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, words: str) -> None:
        """Wait (with a deadline) until the sender prints a line containing `words`."""
        while True:
            try:
                line = self.lines.get(timeout=DEADLINE)
            except queue.Empty:
                self.process.kill()
                pytest.fail(f"no {words!r} within {DEADLINE:.0f} s: {self.seen}")
            if line is None:
                pytest.fail(f"the sender ended before {words!r}: {self.seen}")
            self.seen.append(line)
            if words in line:
                return

    def kill(self) -> None:
        self.process.kill()
        assert self.process.wait(timeout=DEADLINE) == -9

    def finish(self) -> dict:
        stdout, _ = self.process.communicate(timeout=DEADLINE)
        assert self.process.returncode == 0, self.seen
        return json.loads(stdout)


def billing(served: ServedPlatform, numbers: list[str]) -> list[int]:
    """How many times the platform billed each sheet."""
    with sqlite3.connect(served.home / "data" / "platform.sqlite3") as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'fse_sheets'").fetchone():
            return [0] * len(numbers)  # no sheet ever reached the platform
        return [
            conn.execute(
                "SELECT COUNT(*) FROM fse_sheets WHERE number = ? AND status = 'accepted'", (n,)
            ).fetchone()[0]
            for n in numbers
        ]


def state_of(outbox: Outbox, numbers: list[str]) -> list[str]:
    return [outbox.get(n).state for n in numbers]  # type: ignore[union-attr]


# failpoint → (outbox states after the kill, billed by then, resent as already received)
POINTS = {
    "claimed": ([SENDING] * 3, [0, 0, 0], 0),
    "acknowledged": ([SENDING] * 3, [1, 1, 1], 3),
    "recording": ([ACCEPTED, SENDING, SENDING], [1, 1, 1], 2),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_a_sender_killed_at_a_failpoint_loses_nothing_and_bills_nothing_twice(
    nurse: Launcher,
    outbox: Outbox,
    patients: list[dict],
    served: ServedPlatform,
    point: str,
) -> None:
    numbers = queue_sheets(outbox, patients)
    sender = Sender(nurse, point)
    sender.wait_for(f"bsp-fse-failpoint {point}")
    sender.kill()
    states, billed, again = POINTS[point]
    assert state_of(outbox, numbers) == states
    assert billing(served, numbers) == billed
    later = queue_sheets(outbox, patients[5:], count=1)  # made after the crash
    report = Sender(nurse).finish()
    assert (report["accepted"], report["rejected"], report["left"]) == (
        len(numbers) - states.count(ACCEPTED) + 1,
        0,
        0,
    )
    assert report["already_received"] == again
    assert state_of(outbox, numbers + later) == [ACCEPTED] * 4
    assert billing(served, numbers + later) == [1, 1, 1, 1]


def test_two_senders_at_once_send_each_sheet_once(
    nurse: Launcher, outbox: Outbox, patients: list[dict], served: ServedPlatform
) -> None:
    numbers = queue_sheets(outbox, patients)
    first = Sender(nurse, "claimed")
    first.wait_for("bsp-fse-failpoint claimed")
    second = Sender(nurse)
    second.wait_for("Un autre envoi est en cours")
    assert state_of(outbox, numbers) == [SENDING] * 3
    first.kill()  # its lock goes with it; the second sender takes over
    report = second.finish()
    assert (report["accepted"], report["already_received"]) == (3, 0)
    assert billing(served, numbers) == [1, 1, 1]
    assert PENDING not in state_of(outbox, numbers)
