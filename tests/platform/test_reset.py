"""`bsp platform reset`: back to the seeded state, connectors' own tables included."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, Table, Text

from bsp_tui.platform.db import Schema
from tests.conftest import Emulation

pytestmark = pytest.mark.anyio
EXTRA = MetaData()
Table("extra_things", EXTRA, Column("id", Text, primary_key=True))
CONNECTOR_SCHEMA = Schema("extra", 1, EXTRA)


async def test_a_reset_empties_connector_tables_and_keeps_keys_and_personas(
    emu: Emulation,
) -> None:
    db = emu.platform.db
    db.ensure(CONNECTOR_SCHEMA)
    db.ensure(CONNECTOR_SCHEMA)  # a second call is a no-op
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
