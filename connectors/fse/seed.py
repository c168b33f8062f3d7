"""The FSE reception's tables and seed data, made when the platform opens."""

from __future__ import annotations

from sqlalchemy import Column, Double, Index, Integer, MetaData, Table, Text

from bsp_tui.domain.patients import normalise_name
from bsp_tui.platform.api import Patients, Schema, Seeding, Tx

TABLES = MetaData()
Table(
    "fse_rights_closures",
    TABLES,
    Column("ins", Text, primary_key=True),
    Column("closed_on", Text, nullable=False),
)
Table(
    "fse_batches",
    TABLES,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *(Column(name, Text, nullable=False) for name in ("batch_id", "national_id")),
    Column("received", Double, nullable=False),
    *(Column(name, Text, nullable=False) for name in ("status", "code")),
    Column("sheets", Integer, nullable=False),
    sqlite_autoincrement=True,
)
Table(
    "fse_sheets",
    TABLES,
    Column("number", Text, primary_key=True),
    *(
        Column(name, Text, nullable=False)
        for name in (
            "batch_id",
            "national_id",
            "ins",
            "care_date",
            "fingerprint",
            "status",
            "code",
            "reason",
            "amounts",
            "pf",
            "franchise",
        )
    ),
    Column("received", Double, nullable=False),
    Index("fse_sheets_by_patient", "ins", "status", "care_date"),
)
# The returns (RSP-like): one per accepted sheet once the caisse has settled it.
Table(
    "fse_returns",
    TABLES,
    Column("number", Text, primary_key=True),
    *(
        Column(name, Text, nullable=False)
        for name in ("national_id", "status", "code", "reason", "amount", "paid_on")
    ),
    Column("settled", Double, nullable=False),
    Index("fse_returns_by_professional", "national_id", "settled"),
)


def _franchise_column(tx: Tx) -> None:
    """Version 2: the franchise médicale each billed sheet took (none before); the
    returns table is new, made with the others."""
    tx.execute("ALTER TABLE fse_sheets ADD COLUMN franchise TEXT NOT NULL DEFAULT '0.00'")


SCHEMA = Schema("fse", 2, TABLES, {1: _franchise_column})

# The scenario patient whose rights are closed, by her traits (docs/emulation.md).
CLOSED_SCENARIO = ("Lefèvre", "Hélène", "F", "1955-09-03")
CLOSED_SCENARIO_ON = "2026-01-01"


def seed(seeding: Seeding) -> None:
    """The tables, and the scenario patient's closed rights (once)."""
    db = seeding.db
    db.ensure(SCHEMA)
    if db.one("SELECT 1 FROM fse_rights_closures LIMIT 1"):
        return
    family, given, sex, birthdate = CLOSED_SCENARIO
    closed = [
        person.ins
        for person in Patients(db).by_traits(normalise_name(family), birthdate, sex)
        if person.given == normalise_name(given)
    ]
    with db.write() as conn:
        conn.execute(
            "INSERT INTO fse_rights_closures (ins, closed_on) VALUES (:ins, :closed_on)"
            " ON CONFLICT DO NOTHING",
            [{"ins": ins, "closed_on": CLOSED_SCENARIO_ON} for ins in closed],
        )
