"""The e-prescription service's tables, made when the platform opens (it seeds no data)."""

from __future__ import annotations

from sqlalchemy import Column, Double, Integer, MetaData, Table, Text

from bsp_tui.platform.api import Schema, Seeding

TABLES = MetaData()
Table(
    "rx_prescriptions",
    TABLES,
    Column("number", Text, primary_key=True),
    *(
        Column(name, Text, nullable=False)
        for name in ("ins", "oid", "patient", "prescriber_id", "prescriber")
    ),
    Column("created", Double, nullable=False),
    Column("status", Text, nullable=False),
    Column("changed", Double),
    *(Column(name, Text) for name in ("dmp_document", "dmp_refusal", "dmp_reason")),
)
Table(
    "rx_lines",
    TABLES,
    Column("number", Text, primary_key=True),
    Column("line", Integer, primary_key=True),
    *(Column(name, Text, nullable=False) for name in ("cip13", "dosage")),
    *(Column(name, Integer) for name in ("boxes", "duration_days")),
    *(Column(name, Text) for name in ("outcome", "dispensed_cip13")),
)
Table(
    "rx_dispensings",
    TABLES,
    Column("number", Text, primary_key=True),
    Column("at", Double, nullable=False),
    *(Column(name, Text, nullable=False) for name in ("pharmacist_id", "pharmacist", "pharmacy")),
)
SCHEMA = Schema("eprescription", 1, TABLES)


def seed(seeding: Seeding) -> None:
    """The tables."""
    seeding.db.ensure(SCHEMA)
