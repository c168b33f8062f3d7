"""The e-prescription service's tables, made when the platform opens (it seeds no data)."""

from __future__ import annotations

from bsp_tui.platform.api import Seeding

SCHEMA = """
CREATE TABLE IF NOT EXISTS rx_prescriptions (
    number TEXT PRIMARY KEY, ins TEXT NOT NULL, oid TEXT NOT NULL, patient TEXT NOT NULL,
    prescriber_id TEXT NOT NULL, prescriber TEXT NOT NULL, created REAL NOT NULL,
    status TEXT NOT NULL, changed REAL, dmp_document TEXT, dmp_refusal TEXT,
    dmp_reason TEXT
);
CREATE TABLE IF NOT EXISTS rx_lines (
    number TEXT NOT NULL, line INTEGER NOT NULL, cip13 TEXT NOT NULL, dosage TEXT NOT NULL,
    boxes INTEGER, duration_days INTEGER, outcome TEXT, dispensed_cip13 TEXT,
    PRIMARY KEY (number, line)
);
CREATE TABLE IF NOT EXISTS rx_dispensings (
    number TEXT PRIMARY KEY, at REAL NOT NULL, pharmacist_id TEXT NOT NULL,
    pharmacist TEXT NOT NULL, pharmacy TEXT NOT NULL
);
"""


def seed(seeding: Seeding) -> None:
    """The tables."""
    seeding.db.ensure_schema(SCHEMA)
