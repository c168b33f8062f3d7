"""The FSE reception's tables and seed data, made when the platform opens."""

from __future__ import annotations

from bsp_tui.domain.patients import normalise_name
from bsp_tui.platform.api import Patients, Seeding

SCHEMA = """
CREATE TABLE IF NOT EXISTS fse_rights_closures (ins TEXT PRIMARY KEY, closed_on TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fse_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, batch_id TEXT NOT NULL, national_id TEXT NOT NULL,
    received REAL NOT NULL, status TEXT NOT NULL, code TEXT NOT NULL, sheets INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fse_sheets (
    number TEXT PRIMARY KEY, batch_id TEXT NOT NULL, national_id TEXT NOT NULL,
    ins TEXT NOT NULL, care_date TEXT NOT NULL, fingerprint TEXT NOT NULL,
    status TEXT NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL,
    amounts TEXT NOT NULL, pf TEXT NOT NULL, received REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS fse_sheets_by_patient ON fse_sheets (ins, status, care_date);
"""

# The scenario patient whose rights are closed, by her traits (docs/emulation.md).
CLOSED_SCENARIO = ("Lefèvre", "Hélène", "F", "1955-09-03")
CLOSED_SCENARIO_ON = "2026-01-01"


def seed(seeding: Seeding) -> None:
    """The tables, and the scenario patient's closed rights (once)."""
    db = seeding.db
    db.ensure_schema(SCHEMA)
    if db.one("SELECT 1 FROM fse_rights_closures LIMIT 1"):
        return
    family, given, sex, birthdate = CLOSED_SCENARIO
    closed = [
        person.ins
        for person in Patients(db).by_traits(normalise_name(family), birthdate, sex)
        if person.given == normalise_name(given)
    ]
    with db.write() as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO fse_rights_closures VALUES (?, ?)",
            [(ins, CLOSED_SCENARIO_ON) for ins in closed],
        )
