"""Sign in once with the real `bsp` against a served platform, then use the session from
fresh processes: no prompt, silent renewal, one refresh for twenty racing processes,
and logout that leaves every earlier token useless."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import COMMAND_TIMEOUT, ServedPlatform, bsp_env, run_bsp

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
AUDIENCES = ("ins", "dmp", "eprescription", "fse")
USERINFO = "/auth/realms/esante-wallet/protocol/openid-connect/userinfo"


class Launcher:
    """The real CLI of one person: its own BSP_HOME and its own (test) keyring."""

    def __init__(self, served: ServedPlatform, home: Path, **extra: str) -> None:
        self.served = served
        self.home = home
        self.keyring = home / "keyring.json"
        self.env = (
            bsp_env(
                home,
                BSP_PLATFORM_URL=served.url,
                PYTHON_KEYRING_BACKEND="tests.support.keyring_backend.FileKeyring",
                BSP_TEST_KEYRING=str(self.keyring),
                PYTHONPATH=str(ROOT),
            )
            | extra
        )

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_bsp(*args, env=self.env, stdin=stdin)

    def login(self, persona: dict) -> subprocess.CompletedProcess[str]:
        """Sign in with the virtual phone of this home (enrolled with the card's code); the
        PIN on standard input, as the docs give it: never on the command line."""
        self.served.enrol_phone(persona["name"], self.env)
        result = self.run(
            "login", "--persona", persona["name"], "--pin-stdin", stdin=persona["pin"] + "\n"
        )
        assert result.returncode == 0, result.stderr
        return result

    def entry(self, key: str) -> dict:
        stored = json.loads(self.keyring.read_text())
        return json.loads(stored[f"bsp:default/{key}"])

    def rewrite(self, key: str, change: dict | None) -> None:
        """Change (or, with None, remove) one keyring entry, as time or another host would."""
        stored = json.loads(self.keyring.read_text())
        name = f"bsp:default/{key}"
        if change is None:
            stored.pop(name, None)
        else:
            stored[name] = json.dumps(json.loads(stored[name]) | change)
        self.keyring.write_text(json.dumps(stored))


def me(served: ServedPlatform, audience: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{served.url}/api/{audience}/me", headers={"Authorization": f"Bearer {token}"}
    )


def refreshes_of(served: ServedPlatform, national_id: str) -> int:
    """How many refresh tokens the platform issued to that professional's open session."""
    database = served.home / "data" / "platform.sqlite3"
    with sqlite3.connect(database) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM refresh_tokens r JOIN sessions s ON s.sid = r.sid "
            "WHERE s.national_id = ? AND s.ended IS NULL",
            (national_id,),
        ).fetchone()
    return count


def test_sign_in_once_then_every_connector_from_fresh_processes(
    served: ServedPlatform, personas: dict, tmp_path: Path
) -> None:
    launcher = Launcher(served, tmp_path)
    login = launcher.login(personas["generaliste"])
    assert "Élise Martin-Dubois" in login.stdout
    assert "nombre affiché doit être" in login.stderr
    first = {}
    for audience in AUDIENCES:
        result = launcher.run("token", audience)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        first[audience] = result.stdout.strip()
        answer = me(served, audience, first[audience])
        assert answer.status_code == 200, answer.text
        assert answer.json()["national_id"] == personas["generaliste"]["national_id"]
    # A script's next calls are served from the shared cache: the same tokens.
    for audience in AUDIENCES:
        assert launcher.run("token", audience).stdout.strip() == first[audience]
    status = launcher.run("status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["who"]["name"] == "Élise Martin-Dubois"
    assert report["acr"] == "eidas1"
    assert all(c["token_expires_at"] for c in report["connectors"].values())
    assert report["live"] is True  # a served platform is asked

    # The PSC access token itself, for a token exchange by hand (the guide's curl).
    psc = json.loads(launcher.run("token", "psc", "--json").stdout)
    assert psc["connector"] == "psc" and psc["expires_at"] > time.time()
    exchanged = httpx.post(
        f"{served.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": psc["access_token"],
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "audience": "dmp",
            "client_id": "bsp-launcher",
        },
        timeout=15,
    )
    assert exchanged.status_code == 200, exchanged.text
    assert me(served, "dmp", exchanged.json()["access_token"]).status_code == 200


def test_a_token_past_its_lifetime_renews_silently(
    served: ServedPlatform, personas: dict, tmp_path: Path
) -> None:
    launcher = Launcher(served, tmp_path)
    launcher.login(personas["urgentiste"])
    old = launcher.run("token", "ins").stdout.strip()
    refresh_before = launcher.entry("session")["refresh_token"]
    past = time.time() - 1
    launcher.rewrite("api:ins", {"expires_at": past})
    launcher.rewrite("access", {"expires_at": past})
    renewed = launcher.run("token", "ins")
    assert renewed.returncode == 0, renewed.stderr
    assert renewed.stderr == ""
    assert renewed.stdout.strip() != old
    assert launcher.entry("session")["refresh_token"] != refresh_before
    assert me(served, "ins", renewed.stdout.strip()).status_code == 200


def test_twenty_processes_racing_at_expiry_all_succeed_with_one_refresh(
    served: ServedPlatform, personas: dict, tmp_path: Path
) -> None:
    persona = personas["pharmacien"]
    launcher = Launcher(served, tmp_path)
    launcher.login(persona)
    assert refreshes_of(served, persona["national_id"]) == 1
    launcher.rewrite("access", {"expires_at": time.time() - 1})
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "bsp_tui", "token", "dmp"],
            env=launcher.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    outcomes = [racer.communicate(timeout=COMMAND_TIMEOUT * 2) for racer in racers]
    assert [r.returncode for r in racers] == [0] * 20, [err for _, err in outcomes]
    tokens = {out.strip() for out, _ in outcomes}
    assert len(tokens) == 1
    assert refreshes_of(served, persona["national_id"]) == 2
    assert me(served, "dmp", tokens.pop()).status_code == 200
    assert launcher.run("status").returncode == 0


def test_logout_makes_every_earlier_token_useless(
    served: ServedPlatform, personas: dict, tmp_path: Path
) -> None:
    launcher = Launcher(served, tmp_path)
    launcher.login(personas["infirmier"])
    api = {a: launcher.run("token", a).stdout.strip() for a in AUDIENCES}
    access = launcher.entry("access")["token"]
    result = launcher.run("logout")
    assert result.returncode == 0, result.stderr
    assert "révoquée" in result.stdout
    for audience, token in api.items():
        assert me(served, audience, token).status_code == 401
    userinfo = httpx.get(served.url + USERINFO, headers={"Authorization": f"Bearer {access}"})
    assert userinfo.status_code == 401
    for args in (("status",), ("token", "ins")):
        after = launcher.run(*args)
        assert after.returncode == 3
        assert "bsp login" in after.stderr
    assert json.loads(launcher.keyring.read_text()) == {}


def test_without_a_session_commands_exit_3_and_never_wait(
    served: ServedPlatform, tmp_path: Path
) -> None:
    launcher = Launcher(served, tmp_path)
    for args in (("status",), ("token", "fse"), ("status", "--json")):
        result = launcher.run(*args)
        assert result.returncode == 3
        assert "Aucune session" in result.stderr
    as_json = json.loads(launcher.run("token", "fse", "--json").stdout)
    assert as_json["error"]["code"] == "no_session"
    no_id = launcher.run("login")
    assert no_id.returncode == 2
    assert "--id" in no_id.stderr


def test_with_no_secure_keyring_nothing_is_stored_until_a_choice(
    served: ServedPlatform, personas: dict, tmp_path: Path
) -> None:
    persona = personas["secretaire"]
    no_keyring = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    refused = Launcher(served, tmp_path / "refused", **no_keyring)
    result = refused.run("login", "--persona", persona["name"], "--pin", persona["pin"])
    assert result.returncode == 3
    assert "bsp config set token_store file" in result.stderr
    assert not list((tmp_path / "refused").rglob("tokens-*"))
    assert refused.run("status").returncode == 3

    # Chosen once for the profile, the store is used by every later command.
    assert refused.run("config", "set", "token_store", "memory").returncode == 0
    remembered = refused.run("status", "--json")
    assert remembered.returncode == 3 and "trousseau" not in remembered.stderr

    as_file = Launcher(served, tmp_path / "file", BSP_TOKEN_STORE="file", **no_keyring)
    as_file.login(persona)
    stored = tmp_path / "file" / "data" / "tokens-default.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    token = as_file.run("token", "ins")
    assert token.returncode == 0
    assert "en clair" in token.stderr

    in_memory = Launcher(served, tmp_path / "memory", BSP_TOKEN_STORE="memory", **no_keyring)
    in_memory.login(persona)
    assert in_memory.run("token", "ins").returncode == 3
    assert not list((tmp_path / "memory").rglob("tokens-*"))
