"""A real `bsp platform serve` in a subprocess, and helpers to drive it from outside.

The server runs `python -m bsp_tui platform serve --port 0` with its own BSP_HOME; its
address is read from the first line it prints, with a deadline. The phone and the
CLI run as subprocesses too, pointed at it by BSP_PLATFORM_URL; the test process
plays the relying party with httpx.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import jwt
import pytest

from tests.conftest import CIBA, CIBA_GRANT, LAUNCHER, TOKEN

REALM = "/auth/realms/esante-wallet"
START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60.0
POLL_TIMEOUT = 30.0
_ISOLATED = (
    "BSP_HOME",
    "BSP_DATABASE_URL",
    "BSP_TRAINER_TOKEN",
    "BSP_PLATFORM_URL",
    "BSP_PROFILE",
    "BSP_TOKEN_STORE",
    "BSP_PSC_ACCESS_TTL",
    "BSP_PSC_REFRESH_TTL",
    "BSP_API_TOKEN_TTL",
    "BSP_ECPS_REQUEST_TTL",
    "BSP_POLL_INTERVAL",
    "BSP_ECPS_LOCKOUT",
    "BSP_PIN",
)


def bsp_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment with no inherited BSP_* setting, BSP_HOME=home, and extra."""
    env = {k: v for k, v in os.environ.items() if k not in _ISOLATED}
    return env | {"BSP_HOME": str(home)} | extra


def run_bsp(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `bsp` command, without a terminal (`stdin` on its standard input, or
    nothing), and capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "bsp_tui", *args],
        env=env,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


class _Drain(threading.Thread):
    """Reads a pipe to its end, keeping every line; stdout's lines also go to a queue."""

    def __init__(self, pipe: IO[str], lines: queue.Queue[str | None] | None = None) -> None:
        super().__init__(daemon=True)
        self._pipe = pipe
        self._queue = lines
        self.text: list[str] = []

    def run(self) -> None:
        for line in self._pipe:
            self.text.append(line)
            if self._queue is not None:
                self._queue.put(line)
        if self._queue is not None:
            self._queue.put(None)  # end of output: the process is gone


@dataclass
class ServedPlatform:
    """A platform served by `bsp platform serve` in a subprocess."""

    url: str
    home: Path
    client_home: Path
    process: subprocess.Popen[str]
    _stdout: _Drain
    _stderr: _Drain
    trainer_token: str = ""
    # Its PostgreSQL database, when served with --database (else the home's SQLite file).
    database_url: str = ""
    stopped: bool = field(default=False)
    enrolled: set[tuple[str, str]] = field(default_factory=set)

    @property
    def issuer(self) -> str:
        return self.url + REALM

    @property
    def trainer(self) -> dict[str, str]:
        """The header of the trainer's calls (faults, reset, personas, clients)."""
        return {"Authorization": f"Bearer {self.trainer_token}"}

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def phone_env(self) -> dict[str, str]:
        """For the phone and CLI: this platform's URL, and a home of their own.

        Their BSP_HOME is not the server's: what they do can only go over HTTP.
        """
        return bsp_env(self.client_home, BSP_PLATFORM_URL=self.url)

    def server_env(self) -> dict[str, str]:
        """For `bsp platform …` commands that work on the server's own database."""
        if self.database_url:
            return bsp_env(self.home, BSP_DATABASE_URL=self.database_url)
        return bsp_env(self.home)

    def activation_code(self, name: str) -> str:
        """A fresh activation code for the persona, issued on the server's side (its
        database), as `bsp platform cards` would print one."""
        from bsp_tui.platform.core import Platform
        from bsp_tui.platform.settings import PlatformSettings

        database = self.database_url or self.home / "data" / "platform.sqlite3"
        platform = Platform.open(PlatformSettings(database=database))
        try:
            return platform.ecps.issue_code(name)["code"]
        finally:
            platform.db.close()

    def enrol_phone(self, name: str, env: dict[str, str] | None = None) -> None:
        """Enrol the phone of `env` (default: the client home's) for the persona, as a
        trainee does with the code of the card: once per home."""
        env = env or self.phone_env()
        if (env["BSP_HOME"], name) in self.enrolled:
            return
        code = self.activation_code(name)
        result = run_bsp("phone", "enrol", "--persona", name, "--code", code, env=env)
        assert result.returncode == 0, result.stderr
        self.enrolled.add((env["BSP_HOME"], name))

    def output(self) -> tuple[str, str]:
        """What the server printed so far, on stdout and stderr."""
        return "".join(self._stdout.text), "".join(self._stderr.text)

    def stop(self) -> tuple[str, str]:
        """Stop the server (it must still be running) and return its stdout and stderr."""
        if self.stopped:
            return self.output()
        self.stopped = True
        died = self.process.poll()
        if died is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail("the served platform did not stop on SIGTERM")
        self._stdout.join(timeout=5)
        self._stderr.join(timeout=5)
        stdout, stderr = self.output()
        if died is not None:
            pytest.fail(
                f"the served platform died during the test (exit {died}):\n{stderr[-3000:]}"
            )
        # uvicorn re-raises the signal it caught once it has shut down cleanly.
        assert self.process.returncode in (0, -signal.SIGTERM), stderr[-3000:]
        return stdout, stderr


def start_platform(base: Path, *options: str, env: dict[str, str] | None = None) -> ServedPlatform:
    """Start `bsp platform serve --port 0 [options]` under base/server-home, with `env`
    added to its environment; wait for its address and trainer token."""
    home = base / "server-home"
    client_home = base / "client-home"
    given = (env or {}).get("BSP_TRAINER_TOKEN")
    env = bsp_env(home, BSP_POLL_INTERVAL="1") | (env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "bsp_tui", "platform", "serve", "--port", "0", *options],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    stdout, stderr = _Drain(process.stdout, lines), _Drain(process.stderr)
    stdout.start()
    stderr.start()
    try:
        first = lines.get(timeout=START_TIMEOUT)
    except queue.Empty:
        first = None
    match = re.fullmatch(r"Plateforme servie sur (http://127\.0\.0\.1:\d+)\n", first or "")
    token = None
    if match is not None:
        token = _trainer_token(lines, given)
    if match is None or token is None:
        process.kill()
        process.wait()
        stderr.join(timeout=5)
        pytest.fail(
            f"`bsp platform serve` did not print its address within {START_TIMEOUT:.0f} s "
            f"(first line {first!r}, exit {process.returncode}):\n{''.join(stderr.text)[-3000:]}"
        )
    database = env.get("BSP_DATABASE_URL", "")
    return ServedPlatform(
        match.group(1), home, client_home, process, stdout, stderr, token, database
    )


def _trainer_token(lines: queue.Queue[str | None], given: str | None) -> str | None:
    """The trainer token `serve` prints once after its address (or says it took `given`
    from BSP_TRAINER_TOKEN), read with a deadline."""
    deadline = time.monotonic() + START_TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            return None
        if line is None:
            return None
        if given and line == "Jeton formateur : celui de BSP_TRAINER_TOKEN.\n":
            return given
        found = re.fullmatch(r"Jeton formateur \(affiché une seule fois\) : (\S+)\n", line)
        if found:
            return found.group(1)
    return None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedPlatform]:
    """One served platform for the module; stopped (and checked alive) at teardown."""
    platform = start_platform(tmp_path_factory.mktemp("served"))
    try:
        yield platform
    finally:
        platform.stop()


@pytest.fixture(scope="module")
def personas(served: ServedPlatform) -> dict[str, dict]:
    """The demo professionals, PINs included, as `bsp platform personas --json` gives them."""
    result = run_bsp("platform", "personas", "--json", env=served.server_env())
    assert result.returncode == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)}


@pytest.fixture
def http(served: ServedPlatform) -> Iterator[httpx.Client]:
    """An HTTP client to the served platform (never following redirects)."""
    with httpx.Client(base_url=served.url, timeout=15, follow_redirects=False) as client:
        yield client


def phone_approve(
    served: ServedPlatform, persona: dict, pin: str | None = None, deny: bool = False
) -> subprocess.CompletedProcess[str]:
    """`bsp phone approve` in a subprocess, against the served platform (its phone enrolled
    with the persona's activation code first)."""
    served.enrol_phone(persona["name"])
    args = ["phone", "approve", "--persona", persona["name"], "--json"]
    if deny:
        return run_bsp(*args, "--deny", env=served.phone_env())
    # The PIN as the docs give it: in BSP_PIN, never on the command line.
    pin = persona["pin"] if pin is None else pin
    return run_bsp(*args, env=served.phone_env() | {"BSP_PIN": pin})


def start_ciba(http: httpx.Client, persona: dict, binding: str) -> dict:
    """POST ext/ciba/auth for the persona; returns {auth_req_id, expires_in, interval}."""
    response = http.post(
        CIBA,
        data={
            "client_id": LAUNCHER,
            "scope": "openid scope_all",
            "login_hint": persona["national_id"],
            "binding_message": binding,
            "acr_values": "eidas1",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


class Poller:
    """Polls the token endpoint as RFC 8628 / CIBA ask: never sooner than `interval`.

    Waiting out the interval the server gave is the protocol, not a guess at timing;
    only the part of it not already spent is waited.
    """

    def __init__(self, http: httpx.Client, data: dict, interval: float) -> None:
        self._http = http
        self._data = data
        self.interval = interval
        self._last: float | None = None
        self.polls = 0

    def once(self) -> httpx.Response:
        if self._last is not None:
            remaining = self._last + self.interval - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
        self._last = time.monotonic()
        self.polls += 1
        return self._http.post(TOKEN, data=self._data)

    def until_done(self, timeout: float = POLL_TIMEOUT) -> httpx.Response:
        """Poll until the answer is no longer authorization_pending (slow_down adds 5 s)."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.once()
            error = response.json().get("error") if response.status_code == 400 else None
            if error == "slow_down":
                self.interval += 5
            elif error != "authorization_pending":
                return response
            assert time.monotonic() < deadline, f"still {error} after {timeout:.0f} s"


def ciba_poller(http: httpx.Client, started: dict) -> Poller:
    data = {"grant_type": CIBA_GRANT, "auth_req_id": started["auth_req_id"], "client_id": LAUNCHER}
    return Poller(http, data, started["interval"])


def ciba_sign_in(served: ServedPlatform, http: httpx.Client, persona: dict) -> dict:
    """A whole CIBA sign-in, the phone approving in a subprocess; the token response."""
    poller = ciba_poller(http, start_ciba(http, persona, "21"))
    approved = phone_approve(served, persona)
    assert approved.returncode == 0, approved.stderr
    tokens = poller.until_done()
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def verify_id_token(http: httpx.Client, served: ServedPlatform, id_token: str) -> dict:
    """Check an ID token with PyJWT against the served JWKS and discovery; its claims."""
    discovery = http.get(f"{REALM}/.well-known/wallet-openid-configuration").json()
    assert discovery["issuer"] == served.issuer
    jwks = jwt.PyJWKSet.from_dict(http.get(discovery["jwks_uri"]).json())
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return jwt.decode(
        id_token, key.key, algorithms=["RS256"], audience=LAUNCHER, issuer=served.issuer
    )
