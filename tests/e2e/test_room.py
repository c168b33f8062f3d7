"""A room on a served platform: trainees sign in at once while someone with only the URL
(in a process of their own) tries every power the platform must refuse them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import COMMAND_TIMEOUT, ServedPlatform, bsp_env, start_ciba
from tests.e2e.test_sso_cli import ROOT, Launcher

pytestmark = pytest.mark.e2e


def stolen_token(served: ServedPlatform) -> str:
    """A PSC access token of another application (rp-a), as if it had leaked."""
    from bsp_tui.platform.core import Platform
    from bsp_tui.platform.settings import PlatformSettings

    platform = Platform.open(PlatformSettings(database=served.home / "data" / "platform.sqlite3"))
    try:
        if platform.clients.get("rp-a") is None:
            platform.clients.add("rp-a", ["https://rp-a.example/cb"])
        national_id = platform.ecps.persona(name="infirmier")["national_id"]
        sid = platform.tokens.open_session(national_id, "rp-a", "openid", None, "MOBILE")
        return platform.tokens.issue(sid, served.issuer)["access_token"]
    finally:
        platform.db.close()


def attack(served: ServedPlatform, home: Path, request_id: str, national_id: str) -> dict:
    """The attacker's process: only the URL (and a stolen token); what each try got."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.e2e.attacker",
            served.url,
            request_id,
            national_id,
            stolen_token(served),
        ],
        env=bsp_env(home, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def persona_row(served: ServedPlatform, name: str) -> dict:
    with sqlite3.connect(served.home / "data" / "platform.sqlite3") as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM personas WHERE name = ?", (name,)).fetchone())


def test_trainees_sign_in_while_the_attacker_gets_nothing(
    served: ServedPlatform, personas: dict, http: httpx.Client, tmp_path: Path
) -> None:
    # A sign-in waiting on the urgentiste's phone: the attacker's target.
    victim = personas["urgentiste"]
    start_ciba(http, victim, "77")
    with sqlite3.connect(served.home / "data" / "platform.sqlite3") as conn:
        (request_id,) = conn.execute(
            "SELECT id FROM ecps_requests WHERE national_id = ? AND status = 'pending'",
            (victim["national_id"],),
        ).fetchone()

    # Three trainees in three homes, two of them as the same professional, at once,
    # while the attacker runs.
    trainees = [
        (Launcher(served, tmp_path / f"trainee{i}"), personas[name])
        for i, name in enumerate(("generaliste", "generaliste", "pharmacien"))
    ]
    for launcher, _ in trainees:
        Path(launcher.env["BSP_HOME"]).mkdir()
    with ThreadPoolExecutor(4) as pool:
        attacked = pool.submit(
            attack, served, tmp_path / "attacker", request_id, victim["national_id"]
        )
        logins = [pool.submit(launcher.login, persona) for launcher, persona in trainees]
        results = attacked.result()
        for login in logins:
            assert login.result().returncode == 0

    assert results == {
        "enrol": [403],
        "enrol_old_route": [404],
        "list": [401],
        "show": [401],
        "deny": [401],
        "lock": [401],
        "fault": [401],
        "reset": [401],
        "personas_with_pins": [401],
        "register_client": [401],
        "exchange": [400],
        "introspect": [401],
    }
    # Nothing changed for anyone: the request waits, no one is locked, no fault.
    with sqlite3.connect(served.home / "data" / "platform.sqlite3") as conn:
        (status,) = conn.execute(
            "SELECT status FROM ecps_requests WHERE id = ?", (request_id,)
        ).fetchone()
    assert status == "pending"
    assert persona_row(served, "urgentiste")["failures"] == 0
    assert persona_row(served, "urgentiste")["locked_until"] == 0
    faults = http.get("/demo/faults", headers=served.trainer).json()
    assert faults == {"down": [], "latency_ms": 0}
    for launcher, persona in trainees:
        status = json.loads(launcher.run("status", "--json").stdout)
        assert status["who"]["national_id"] == persona["national_id"]
