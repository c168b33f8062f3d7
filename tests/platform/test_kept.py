"""What a worker keeps of the signing key and of the clients, instead of reading them for
every token: on PostgreSQL until a change rings its bell (every worker hears every
change through NOTIFY); on SQLite not at all (a command beside the platform changes the
file and rings nothing)."""

from __future__ import annotations

import pytest

from bsp_tui.platform import signing
from bsp_tui.platform.bell import BELL
from bsp_tui.platform.psc import clients
from bsp_tui.platform.psc.clients import LAUNCHER_ID, Clients
from bsp_tui.platform.signing import SigningKeys
from bsp_tui.platform.tables import CLIENTS_TOPIC, KEYS_TOPIC
from tests.conftest import Emulation

pytestmark = pytest.mark.anyio
FOREVER = 3600.0  # far longer than any test: only a ring (or SQLite) makes it read again


def rotate_unheard(emu: Emulation) -> str:
    """A rotation as another worker makes it, before its notification arrives here:
    written, no bell rung in this process. The new key's kid."""
    kid, pem = emu.platform.keys._new_key()
    with emu.platform.db.write() as conn:
        conn.execute("UPDATE signing_keys SET retired = :now WHERE retired IS NULL", {"now": 1.0})
        conn.execute(
            "INSERT INTO signing_keys (kid, private_pem, created) VALUES (:kid, :pem, :now)",
            {"kid": kid, "pem": pem, "now": 2.0},
        )
    return kid


async def test_a_worker_signs_with_the_key_it_read_until_a_rotation_rings(
    emu: Emulation, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signing, "ACTIVE_SECONDS", FOREVER)
    keys = SigningKeys(emu.platform.db, emu.platform.settings)
    old = keys.active().kid
    new = rotate_unheard(emu)
    if engine == "postgresql":
        assert keys.active().kid == old  # kept: no read
        BELL.ring(emu.platform.db.topic(KEYS_TOPIC))  # its notification is heard
    # SQLite: read again every time, the other process's rotation seen at once.
    assert keys.active().kid == new


async def test_a_rotation_rings_every_worker_of_this_process(
    emu: Emulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signing, "ACTIVE_SECONDS", FOREVER)
    keeping = SigningKeys(emu.platform.db, emu.platform.settings)
    keeping.active()
    rotating = SigningKeys(emu.platform.db, emu.platform.settings)
    new = rotating.rotate()
    assert keeping.active().kid == new


async def test_a_removed_client_is_refused_once_its_removal_rings(
    emu: Emulation, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clients, "KEPT_SECONDS", FOREVER)
    registry = Clients(emu.platform.db, emu.platform.settings)
    registry.add("outil", ["https://outil.example/cb"])
    assert registry.get("outil") is not None
    with emu.platform.db.write() as conn:  # as another worker removes it: unheard yet
        conn.execute("DELETE FROM clients WHERE client_id = 'outil'")
    if engine == "postgresql":
        assert registry.get("outil") is not None  # kept
        BELL.ring(emu.platform.db.topic(CLIENTS_TOPIC))
    assert registry.get("outil") is None


async def test_an_added_client_is_known_at_once_and_a_reset_rings(
    emu: Emulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clients, "KEPT_SECONDS", FOREVER)
    registry = Clients(emu.platform.db, emu.platform.settings)
    assert registry.get("outil") is None  # an unknown client is not kept as unknown
    emu.platform.clients.add("outil", ["https://outil.example/cb"])
    assert registry.get("outil") is not None
    assert registry.get(LAUNCHER_ID) is not None
    emu.platform.reset()  # removes the clients a trainer added, keeps the launcher
    assert registry.get("outil") is None
    assert registry.get(LAUNCHER_ID) is not None
