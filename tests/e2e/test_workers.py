"""A served platform on PostgreSQL with two worker processes: every worker stateless,
and the sections that read then write stay right when requests race across workers.
On SQLite, more than one worker is refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.conftest import ServedPlatform, bsp_env, run_bsp, start_platform
from tests.e2e.test_sso_cli import Launcher
from tests.support.postgres import Server

pytestmark = pytest.mark.e2e
TOKEN = "/auth/realms/esante-wallet/protocol/openid-connect/token"
RACERS = 8


@pytest.fixture(scope="module")
def on_postgres(
    postgres: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedPlatform]:
    """`bsp platform serve --workers 2` over a database of the test server of its own."""
    url = postgres.create_database()
    served = start_platform(
        tmp_path_factory.mktemp("workers"), "--workers", "2", env={"BSP_DATABASE_URL": url}
    )
    try:
        yield served
    finally:
        served.stop()
        postgres.drop_database(url)


def _refresh_token(launcher: Launcher) -> str:
    stored = json.loads(launcher.keyring.read_text())
    for value in stored.values():
        entry = json.loads(value)
        if isinstance(entry, dict) and entry.get("refresh_token"):
            return entry["refresh_token"]
    raise AssertionError("no refresh token in the launcher's keyring")


def test_eight_refreshes_racing_over_two_workers_make_one_token(
    on_postgres: ServedPlatform, tmp_path: Path
) -> None:
    personas = json.loads(
        run_bsp("platform", "personas", "--json", env=on_postgres.server_env()).stdout
    )
    persona = next(p for p in personas if p["name"] == "generaliste")
    launcher = Launcher(on_postgres, tmp_path)
    launcher.login(persona)
    refresh = _refresh_token(launcher)
    start = threading.Barrier(RACERS)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def race() -> None:
        with httpx.Client(base_url=on_postgres.url, timeout=30) as client:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "client_id": "bsp-launcher",
            }
            start.wait()
            answer = client.post(TOKEN, data=form)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * (RACERS - 1), [a.text for a in answers]
    refused = [a.json() for a in answers if a.status_code == 400]
    assert {body["error"] for body in refused} == {"invalid_grant"}
    # The reuse rule: the session is revoked, and only one new refresh token was made.
    with psycopg.connect(on_postgres.database_url) as conn:
        rows = conn.execute(
            "SELECT s.end_reason, count(r.token_hash) FROM sessions s"
            " JOIN refresh_tokens r ON r.sid = s.sid GROUP BY s.sid, s.end_reason"
        ).fetchall()
    assert rows == [("refresh_reuse", 2)]  # the one from the sign-in, and one new


def test_both_workers_answer_from_the_same_database(on_postgres: ServedPlatform) -> None:
    # Keys, faults and sessions live in the database: whichever worker answers, the
    # same keys verify and the same faults are in force.
    seen_keys, seen_faults = set(), set()
    trainer = on_postgres.trainer
    with httpx.Client(base_url=on_postgres.url, timeout=15) as client:
        client.put("/demo/faults", json={"down": ["dmp"]}, headers=trainer).raise_for_status()
        for _ in range(20):
            # A new connection each time, so that the kernel hands them to both workers.
            with httpx.Client(base_url=on_postgres.url, timeout=15) as fresh:
                jwks = fresh.get("/auth/realms/esante-wallet/protocol/openid-connect/certs")
                seen_keys.add(json.dumps(jwks.json(), sort_keys=True))
                seen_faults.add(fresh.get("/api/dmp/metadata").status_code)
        client.post("/demo/faults/reset", headers=trainer).raise_for_status()
    assert len(seen_keys) == 1
    assert seen_faults == {503}
    # Each worker writes its access lines to the one platform.log (a worker is a new
    # process: it sets its own logging up).
    log = (on_postgres.home / "logs" / "platform.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in log.splitlines()]
    certs = [line for line in lines if line.get("path", "").endswith("/certs")]
    assert len(certs) >= 20  # the sign-in of the test before asked too
    assert len({line["pid"] for line in certs}) == 2


def test_more_than_one_worker_on_sqlite_is_refused(tmp_path: Path) -> None:
    result = run_bsp("platform", "serve", "--port", "0", "--workers", "2", env=bsp_env(tmp_path))
    assert result.returncode == 2
    assert "exige PostgreSQL" in result.stderr
    bad = run_bsp("platform", "serve", "--database", "mysql://x@h/db", env=bsp_env(tmp_path))
    assert bad.returncode == 2
    assert "postgresql://" in bad.stderr


def test_an_unreachable_database_is_one_sentence(tmp_path: Path) -> None:
    url = "postgresql://nobody@127.0.0.1:9/nothing"  # port 9: discard, nothing listens
    result = run_bsp("platform", "serve", "--port", "0", "--database", url, env=bsp_env(tmp_path))
    assert result.returncode == 6, result.stderr
    assert result.stderr.startswith("bsp: Base de données injoignable (postgresql://nobody@")
    assert "Traceback" not in result.stderr
