"""`bsp platform reset`: back to the seeded state, connectors' own tables included."""

from __future__ import annotations

import pytest

from tests.conftest import Emulation

pytestmark = pytest.mark.anyio
CONNECTOR_TABLE = "CREATE TABLE IF NOT EXISTS extra_things (id TEXT PRIMARY KEY);"


async def test_a_reset_empties_connector_tables_and_keeps_keys_and_personas(
    emu: Emulation,
) -> None:
    db = emu.platform.db
    db.ensure_schema(CONNECTOR_TABLE)
    db.ensure_schema(CONNECTOR_TABLE)  # a second call is a no-op
    with db.write() as conn:
        conn.execute("INSERT INTO extra_things VALUES ('x')")
    emu.platform.keys.active()  # made on first use
    personas = db.one("SELECT COUNT(*) AS n FROM personas")["n"]
    keys = db.one("SELECT COUNT(*) AS n FROM signing_keys")["n"]
    emu.platform.reset()
    assert db.one("SELECT COUNT(*) AS n FROM extra_things")["n"] == 0
    assert db.one("SELECT COUNT(*) AS n FROM personas")["n"] == personas > 0
    assert db.one("SELECT COUNT(*) AS n FROM signing_keys")["n"] == keys > 0
    assert db.one("SELECT COUNT(*) AS n FROM clients WHERE client_id = 'bsp-launcher'")["n"] == 1
