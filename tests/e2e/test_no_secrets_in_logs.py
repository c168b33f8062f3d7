"""A whole session against the served platform leaves no secret in its logs or output.

Every sign-in flow, a wrong PIN, refresh, exchange, introspection, revocation and a
logout with the ID token in the query string; then every file under the logs folders
and everything the server printed is searched for each token, PIN, device code, seed,
handle and client secret the run used.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest

from bsp_tui.logs import log_to_file
from bsp_tui.platform.core import audiences
from tests.conftest import (
    ACCESS_TYPE,
    DEVICE_GRANT,
    EXCHANGE_GRANT,
    LAUNCHER,
    OIDC,
    TOKEN,
    pkce_pair,
)
from tests.e2e.conftest import (
    Poller,
    ServedPlatform,
    ciba_poller,
    phone_approve,
    run_bsp,
    start_ciba,
    start_platform,
)

pytestmark = pytest.mark.e2e

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} ", re.MULTILINE)
# A JSON access line's own figures and ids: digits that are no code.
_ACCESS_FIGURES = re.compile(r'"(?:time|request_id|duration_ms|pid)": (?:"[^"]*"|[\d.]+)')
_FRAGMENT = 24


class Secrets:
    """What must never be written: long secrets by fragment, short digit codes whole."""

    def __init__(self) -> None:
        self.long: dict[str, str] = {}
        self.digits: dict[str, str] = {}
        self.short: dict[str, str] = {}

    def add(self, label: str, value: str) -> None:
        if value.isdigit():
            self.digits[label] = value
        elif len(value) < _FRAGMENT:  # an activation code: searched whole
            assert len(value) >= 12, f"{label} is too short to search for"
            self.short[label] = value
        else:
            self.long[label] = value

    def tokens(self, label: str, response: dict) -> None:
        for kind in ("access_token", "id_token", "refresh_token"):
            if kind in response:
                self.add(f"{label} {kind}", response[kind])

    def found_in(self, text: str) -> list[str]:
        """Labels of the secrets `text` contains (a 24-character piece is enough)."""
        found = [
            label
            for label, value in self.long.items()
            if any(
                value[i : i + _FRAGMENT] in text
                for i in range(0, len(value) - _FRAGMENT + 1, _FRAGMENT // 3)
            )
        ]
        # Digit codes are searched as whole numbers, outside the log lines' timestamps.
        numbers = _ACCESS_FIGURES.sub("", _TIMESTAMP.sub("", text))
        found += [
            label
            for label, value in self.digits.items()
            if re.search(rf"(?<![\d.]){value}(?![\d.])", numbers)
        ]
        found += [label for label, value in self.short.items() if value in text]
        return found


def _device_sign_in(
    served: ServedPlatform, http: httpx.Client, persona: dict, found: Secrets
) -> dict:
    device = http.post(
        f"{OIDC}/auth/device", data={"client_id": LAUNCHER, "scope": "openid scope_all"}
    ).json()
    found.add("device_code", device["device_code"])
    page = http.post(
        device["verification_uri"],
        data={"user_code": device["user_code"], "national_id": persona["national_id"]},
    )
    assert page.status_code == 200, page.text
    assert phone_approve(served, persona).returncode == 0
    data = {"grant_type": DEVICE_GRANT, "device_code": device["device_code"], "client_id": LAUNCHER}
    tokens = Poller(http, data, device["interval"]).until_done()
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def _code_sign_in(
    served: ServedPlatform, http: httpx.Client, persona: dict, found: Secrets
) -> dict:
    verifier, challenge = pkce_pair()
    found.add("code_verifier", verifier)
    redirect_uri = "http://127.0.0.1:8400/callback"
    form = http.get(
        "/wallet/auth",
        params={
            "client_id": LAUNCHER,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "openid scope_all",
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    tx = re.search(r'name="tx" value="([^"]+)"', form.text)
    assert tx, form.text
    found.add("wallet transaction", tx.group(1))
    login = http.post(
        "/wallet/auth/login",
        data={
            "tx": tx.group(1),
            "national_id": persona["national_id"],
            "csrf": re.search(r'name="csrf" value="([^"]+)"', form.text).group(1),
        },
    )
    assert login.status_code == 200, login.text
    assert phone_approve(served, persona).returncode == 0
    back = http.get("/wallet/auth/wait", params={"tx": tx.group(1)})
    assert back.status_code == 302, back.text
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    found.add("authorization code", code)
    tokens = http.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": LAUNCHER,
        },
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def _session(served: ServedPlatform, http: httpx.Client, found: Secrets) -> None:
    """The whole run; every secret it handles goes into `found`."""
    listed = run_bsp("platform", "personas", "--json", env=served.server_env())
    assert listed.returncode == 0, listed.stderr
    personas = {p["name"]: p for p in json.loads(listed.stdout)}
    phone_home = served.phone_env()["BSP_HOME"]
    seeds = {}
    for name, persona in personas.items():
        found.add(f"PIN of {name}", persona["pin"])
        code = served.activation_code(name)
        found.add(f"activation code of {name}", code)
        enrolled = run_bsp(
            "phone", "enrol", "--persona", name, "--code", code, "--json", env=served.phone_env()
        )
        assert enrolled.returncode == 0, enrolled.stderr
        served.enrolled.add((phone_home, name))
        seeds[name] = pyotp.parse_uri(json.loads(enrolled.stdout)["otpauth_uri"]).secret
        found.add(f"TOTP seed of {name}", seeds[name])
    devices = json.loads((Path(phone_home) / "data" / "ecps-devices.json").read_text())
    for key, device in devices.items():
        found.add(f"device key of {key}", device["key"]["d"])
    trainer = {"Authorization": f"Bearer {served.trainer_token}"}
    assert http.put("/demo/faults", json={}, headers=trainer).status_code == 200
    added = run_bsp("platform", "clients", "add", "auditeur", "--json", env=served.server_env())
    assert added.returncode == 0, added.stderr
    client_secret = json.loads(added.stdout)["client_secret"]
    found.add("client secret", client_secret)
    auditor = {"client_id": "auditeur", "client_secret": client_secret}
    started_at = time.time()

    # CIBA, with a wrong PIN first.
    generaliste = personas["generaliste"]
    started = start_ciba(http, generaliste, binding="55")
    found.add("auth_req_id", started["auth_req_id"])
    wrong_pin = f"{(int(generaliste['pin']) + 1) % 10_000:04d}"
    found.add("wrong PIN", wrong_pin)
    refused = phone_approve(served, generaliste, pin=wrong_pin)
    assert refused.returncode == 4
    assert "Code PIN ou appareil refusé" in refused.stderr
    assert phone_approve(served, generaliste).returncode == 0
    ciba = ciba_poller(http, started).until_done()
    assert ciba.status_code == 200, ciba.text
    found.tokens("CIBA", ciba.json())

    device = _device_sign_in(served, http, personas["urgentiste"], found)
    found.tokens("device", device)
    code = _code_sign_in(served, http, personas["pharmacien"], found)
    found.tokens("code", code)

    refreshed = http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": ciba.json()["refresh_token"],
            "client_id": LAUNCHER,
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    found.tokens("refreshed", refreshed.json())
    access = refreshed.json()["access_token"]

    api_tokens = {}
    for audience in audiences():
        exchanged = http.post(
            TOKEN,
            data={
                "grant_type": EXCHANGE_GRANT,
                "subject_token": access,
                "subject_token_type": ACCESS_TYPE,
                "audience": audience,
                "client_id": LAUNCHER,
            },
        )
        assert exchanged.status_code == 200, exchanged.text
        api_tokens[audience] = exchanged.json()["access_token"]
        found.add(f"{audience} API token", api_tokens[audience])
        bearer = {"Authorization": f"Bearer {api_tokens[audience]}"}
        assert http.get(f"/api/{audience}/me", headers=bearer).status_code == 200

    introspect = f"{OIDC}/token/introspect"
    assert http.post(introspect, data={"token": access} | auditor).json()["active"] is True
    by_basic = http.post(
        introspect,
        data={"token": refreshed.json()["refresh_token"]},
        auth=("auditeur", client_secret),
    )
    assert by_basic.json()["active"] is True

    revoke = f"{OIDC}/revoke"
    assert http.post(revoke, data={"token": api_tokens["ins"], "client_id": LAUNCHER}).is_success
    bearer = {"Authorization": f"Bearer {api_tokens['ins']}"}
    assert http.get("/api/ins/me", headers=bearer).status_code == 401
    code_refresh = {"token": code["refresh_token"], "client_id": LAUNCHER}
    assert http.post(revoke, data=code_refresh).is_success
    assert http.post(introspect, data={"token": code["refresh_token"]} | auditor).json() == {
        "active": False
    }

    logout = http.get(f"{OIDC}/logout", params={"id_token_hint": device["id_token"]})
    assert logout.status_code == 200, logout.text

    # Every device code that may have been typed during the run, for every persona.
    first = math.floor(started_at / 30) - 1
    last = math.floor(time.time() / 30) + 2
    for name, seed in seeds.items():
        totp = pyotp.TOTP(seed)
        for counter in range(first, last + 1):
            found.add(f"TOTP code of {name} at step {counter}", totp.generate_otp(counter))


def test_a_whole_session_leaves_no_secret_in_logs_or_output(tmp_path: Path) -> None:
    served = start_platform(tmp_path)
    found = Secrets()
    try:
        with httpx.Client(base_url=served.url, timeout=15, follow_redirects=False) as http:
            _session(served, http, found)
    finally:
        stdout, stderr = served.stop()

    _log_an_exception_carrying_a_token(served.home / "logs" / "exception.log", found)
    log = served.home / "logs" / "platform.log"
    assert log.is_file()
    text = log.read_text(encoding="utf-8")
    # The log is the access log, a JSON object a line: it has lines, so an empty log
    # cannot pass for a clean one.
    access = {
        (line["method"], line["path"], line["status"])
        for line in map(json.loads, text.splitlines())
        if "request_id" in line
    }
    assert ("POST", TOKEN, 200) in access
    assert ("GET", f"{OIDC}/logout", 200) in access
    assert ("GET", "/wallet/auth/wait", 302) in access
    assert "Plateforme servie sur http://127.0.0.1:" in stdout
    assert len(found.long) >= 25 and len(found.digits) >= 20

    written = {"server stdout": stdout, "server stderr": stderr}
    phone_home = Path(served.phone_env()["BSP_HOME"])
    # The phone's commands were given PINs, codes and seeds: their own log has lines.
    phone_log = (phone_home / "logs" / "bsp.log").read_text(encoding="utf-8")
    assert "Commande : bsp phone." in phone_log and "Code PIN ou appareil refusé" in phone_log
    for home in (served.home, served.client_home, phone_home):
        for path in sorted((home / "logs").rglob("*")):
            if path.is_file():
                written[str(path.relative_to(tmp_path))] = path.read_text(
                    encoding="utf-8", errors="replace"
                )
    leaks = {where: found.found_in(content) for where, content in written.items()}
    assert {where: labels for where, labels in leaks.items() if labels} == {}
    # The trainer token is printed once on the server's terminal, by design; never logged.
    logged = {w: t for w, t in written.items() if w not in ("server stdout", "server stderr")}
    assert logged and not [where for where, text in logged.items() if served.trainer_token in text]


def _log_an_exception_carrying_a_token(path: Path, found: Secrets) -> None:
    """On purpose: a traceback whose exception carries one of the run's real tokens,
    written by bsp's own file logging; the search below must not find the token."""
    label, token = next((k, v) for k, v in found.long.items() if k.endswith("API token"))
    log_to_file(path)
    try:
        try:
            raise ValueError(f"{label} refusé : {token}")
        except ValueError:
            logging.getLogger("bsp.test").exception("échec volontaire avec %s", token)
    finally:
        for handler in logging.getLogger("bsp").handlers[:]:
            logging.getLogger("bsp").removeHandler(handler)
            handler.close()
    assert "Traceback" in path.read_text(encoding="utf-8")


def test_the_search_finds_what_it_looks_for() -> None:
    """The leak search itself: a logged token or code is found, a timestamp is not."""
    found = Secrets()
    found.add("refresh token", "A" * 10 + secrets.token_urlsafe(32))
    found.add("PIN", "2026")
    found.add("TOTP code", "123456")
    token = found.long["refresh token"]
    assert found.found_in(f"x {token[5:40]} y") == ["refresh token"]
    assert found.found_in("2026-01-02 03:04:05,678 INFO GET / 200 1.2ms") == []
    assert found.found_in("2025-01-02 03:04:05,678 INFO pin=2026") == ["PIN"]
    assert found.found_in("took 2026.5ms; code 1234567") == []
    line = '{"time": "2026-01-02T03:04:05.678+00:00", "request_id": "a123456b", "pid": 2026}'
    assert found.found_in(line) == []
    assert found.found_in(line[:-1] + ', "path": "/x/2026"}') == ["PIN"]
    assert found.found_in("otp 123456 refused") == ["TOTP code"]
