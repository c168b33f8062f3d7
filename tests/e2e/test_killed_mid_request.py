"""A served platform killed in the middle of a prescription's creation, then started again:
the prescription was committed whole (number, lines, status) with its copy recorded as
pending, never « None »; the retry with the same Idempotency-Key gets that prescription,
its copy now filed, and no second prescription is made."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from connectors.eprescription.models import format_number
from connectors.retry import IDEMPOTENCY_HEADER
from tests.connectors.eprescription.conftest import PARACETAMOL
from tests.connectors.eprescription.test_service import bundle, line
from tests.e2e.conftest import POLL_TIMEOUT, ServedPlatform, run_bsp, start_platform
from tests.e2e.test_sso_cli import Launcher

pytestmark = pytest.mark.e2e
RX = "/api/eprescription/MedicationRequest"
FAILPOINT = "bsp-platform-failpoint rx_before_copy"


def kill_at_failpoint(served: ServedPlatform) -> None:
    """Kill the server once it says it reached the failpoint (polled, with a deadline)."""
    deadline = time.monotonic() + POLL_TIMEOUT
    while FAILPOINT not in served.output()[1] and served.process.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling the server's stderr, bounded by the deadline
    served.process.kill()
    served.process.wait()
    served.stopped = True


def prescriptions(home: Path) -> list[sqlite3.Row]:
    (path,) = home.rglob("platform.sqlite3")
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM rx_prescriptions").fetchall()
    finally:
        db.close()


def first(command: tuple[str, ...], served: ServedPlatform) -> dict:
    return json.loads(run_bsp(*command, "--json", env=served.server_env()).stdout)[0]


def test_a_retry_after_the_platform_died_mid_request_makes_no_second_prescription(
    tmp_path: Path,
) -> None:
    served = start_platform(tmp_path, env={"BSP_PLATFORM_FAILPOINT": "rx_before_copy"})
    killer = threading.Thread(target=kill_at_failpoint, args=(served,))
    try:
        doctor = Launcher(served, tmp_path / "doctor")
        doctor.login(first(("platform", "personas"), served))
        token = doctor.run("token", "eprescription").stdout.strip()
        ins = first(("platform", "patients"), served)["ins"]
        headers = {"Authorization": f"Bearer {token}", IDEMPOTENCY_HEADER: "rx-0001"}
        body = bundle(line(ins, PARACETAMOL))
        # The platform commits, stops at the failpoint, is killed there: no answer comes.
        killer.start()
        with pytest.raises(httpx.TransportError), httpx.Client(timeout=60) as http:
            http.post(served.url + RX, json=body, headers=headers)
    finally:
        if killer.is_alive():
            killer.join()
        if not served.stopped:
            served.process.kill()
            served.process.wait()
    assert FAILPOINT in served.output()[1]

    (left,) = prescriptions(served.home)
    assert (left["status"], left["dmp_document"], left["dmp_refusal"]) == (
        "active",
        None,
        "pending",
    )

    again = start_platform(tmp_path, "--port", str(served.port))
    try:
        before = doctor.run("rx", "show", left["number"], "--json")  # copy not yet filed
        with httpx.Client(base_url=again.url, timeout=30) as http:
            retried = http.post(RX, json=body, headers=headers)
        after_show = doctor.run("rx", "show", left["number"], "--json")
    finally:
        again.stop()
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["dmp_copy"] == {
        "filed": False,
        "document_id": "",
        "reason": "dépôt en attente.",
        "code": "pending",
    }
    assert retried.status_code == 201, retried.text
    answer = retried.json()
    assert answer["identifier"]["value"] == format_number(left["number"])
    (after,) = prescriptions(again.home)  # still one prescription, its copy filed
    assert after["number"] == left["number"] and after["dmp_document"]
    copy = next(
        entry["resource"]
        for entry in answer["entry"]
        if entry["resource"]["resourceType"] == "OperationOutcome"
    )
    assert copy["issue"][0]["details"]["coding"][0]["code"] == "filed"
    assert json.loads(after_show.stdout)["dmp_copy"]["filed"] is True
