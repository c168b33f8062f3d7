"""A real `bsp fse send` killed (SIGKILL) at each failpoint of a batch; the next send
completes, and the platform bills every sheet exactly once. Likewise a `bsp fse returns`
killed while it records: the next one records every return, each sheet once.

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
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.fse.models import Prescription, Rights, Used, build_sheet
from connectors.fse.outbox import (
    ACCEPTED,
    PAID,
    PENDING,
    REJECTED,
    SENDING,
    Outbox,
    outbox_path,
)
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
    """Paramedical sheets, priced with the franchise the patient's earlier sheets took
    today (every sheet of this outbox not rejected is or will be billed)."""
    numbers = []
    prescription = Prescription("10003456789", TODAY, "SCOR-CRASH")
    for patient in patients[:count]:
        rights = Rights(ins=patient["ins"], birthdate=patient["birthdate"])
        taken = sum(
            (
                e.sheet.amounts.franchise
                for e in outbox.entries()
                if e.ins == rights.ins and e.state != REJECTED
            ),
            Decimal(0),
        )
        used = Used(franchise_year=taken, franchise_day=taken)
        sheet = build_sheet(rights, ["AMI1"], TODAY, False, True, used, prescription=prescription)
        numbers.append(outbox.add(sheet).number)
    return numbers


class Sender:
    """A `bsp fse send` (or `returns`) subprocess whose stderr lines arrive in a queue."""

    def __init__(self, launcher: Launcher, failpoint: str = "", command: str = "send") -> None:
        env = launcher.env | ({"BSP_FSE_FAILPOINT": failpoint} if failpoint else {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bsp_tui", "fse", command, "--json"],
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


def returned(served: ServedPlatform, numbers: list[str]) -> list[int]:
    """How many returns the platform holds for each sheet."""
    with sqlite3.connect(served.home / "data" / "platform.sqlite3") as conn:
        return [
            conn.execute("SELECT COUNT(*) FROM fse_returns WHERE number = ?", (n,)).fetchone()[0]
            for n in numbers
        ]


# failpoint → outbox states after the kill
RETURN_POINTS = {"returned": [ACCEPTED] * 3, "recording-returns": [PAID, ACCEPTED, ACCEPTED]}


@pytest.mark.parametrize("point", list(RETURN_POINTS))
def test_returns_killed_while_recording_lose_nothing_and_record_each_once(
    nurse: Launcher, outbox: Outbox, patients: list[dict], served: ServedPlatform, point: str
) -> None:
    Sender(nurse).finish()  # what earlier tests left, acknowledged
    Sender(nurse, command="returns").finish()
    numbers = queue_sheets(outbox, patients)
    assert Sender(nurse).finish()["accepted"] == 3
    fetcher = Sender(nurse, point, "returns")
    fetcher.wait_for(f"bsp-fse-failpoint {point}")
    fetcher.kill()
    # The returns of one batch come by number: which sheet was recorded first is chance.
    assert sorted(state_of(outbox, numbers)) == sorted(RETURN_POINTS[point])
    report = Sender(nurse, command="returns").finish()
    assert report["recorded"] == RETURN_POINTS[point].count(ACCEPTED)
    assert state_of(outbox, numbers) == [PAID] * 3
    assert Sender(nurse, command="returns").finish()["recorded"] == 0
    assert billing(served, numbers) == returned(served, numbers) == [1, 1, 1]
