"""A served platform whose database another process holds locked: writes answer 503 with
Retry-After at once, reads go on, and once the lock is free the writes go through."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from tests.e2e.conftest import REALM, ServedPlatform, start_ciba

pytestmark = pytest.mark.e2e


def test_a_lock_held_elsewhere_gives_503_not_a_frozen_platform(
    served: ServedPlatform, personas: dict[str, dict], http: httpx.Client
) -> None:
    (path,) = served.home.rglob("platform.sqlite3")
    persona = next(iter(personas.values()))
    ciba = {
        "client_id": "bsp-launcher",
        "scope": "openid scope_all",
        "login_hint": persona["national_id"],
        "binding_message": "12",
        "acr_values": "eidas1",
    }
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write, holding the lock
    try:
        busy = http.post(f"{REALM}/protocol/openid-connect/ext/ciba/auth", data=ciba)
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "1"
        assert busy.json()["error"] == "temporarily_unavailable"
        # Meanwhile the platform answers whatever only reads.
        assert http.get(f"{REALM}/.well-known/openid-configuration").status_code == 200
        assert http.get("/").status_code == 200
    finally:
        other.execute("ROLLBACK")
        other.close()
    start_ciba(http, persona, "12")  # the lock is free: the same write goes through
