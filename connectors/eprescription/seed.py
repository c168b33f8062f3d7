"""The e-prescription service's tables, made when the platform opens (it seeds no data)."""

from __future__ import annotations

from sqlalchemy import Column, Double, Integer, MetaData, PrimaryKeyConstraint, Table, Text

from bsp_tui.platform.api import Schema, Seeding, Tx

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
# A line, its renewals and "non substituable" mention, and how much of it (boxes or days)
# all the dispensings delivered: what a dispensing checks and adds to under the lock.
Table(
    "rx_lines",
    TABLES,
    Column("number", Text, primary_key=True),
    Column("line", Integer, primary_key=True),
    *(Column(name, Text, nullable=False) for name in ("cip13", "dosage")),
    *(Column(name, Integer) for name in ("boxes", "duration_days")),
    Column("renewals", Integer, nullable=False, server_default="0"),
    Column("non_substitutable", Text, nullable=False, server_default=""),
    Column("delivered", Integer, nullable=False, server_default="0"),
)
# One row per visit to a pharmacy (visit 1, 2, …), and whether the patient opposed the
# prescriber's seeing it.
Table(
    "rx_deliveries",
    TABLES,
    Column("number", Text, nullable=False),
    Column("visit", Integer, nullable=False),
    Column("at", Double, nullable=False),
    *(Column(name, Text, nullable=False) for name in ("pharmacist_id", "pharmacist", "pharmacy")),
    Column("opposed", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("number", "visit"),
)
# Each line a visit gave: its outcome, the substitute, the quantity, the agreement's day.
Table(
    "rx_given",
    TABLES,
    Column("number", Text, nullable=False),
    Column("visit", Integer, nullable=False),
    Column("line", Integer, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("cip13", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("agreement", Text, nullable=False),
    PrimaryKeyConstraint("number", "visit", "line"),
)


def _dispensing_in_visits(tx: Tx) -> None:
    """Version 2: dispensing in several visits. The single dispensing of version 1 becomes
    visit 1, each line's outcome its given line (a line given in full); the lines learn
    their renewals (none), mention (none) and delivered quantity."""
    for table in TABLES.sorted_tables:
        if table.name in ("rx_deliveries", "rx_given"):
            tx.create(table)
    for column in ("renewals", "delivered"):
        tx.execute(f"ALTER TABLE rx_lines ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    tx.execute("ALTER TABLE rx_lines ADD COLUMN non_substitutable TEXT NOT NULL DEFAULT ''")
    tx.execute(
        "INSERT INTO rx_deliveries (number, visit, at, pharmacist_id, pharmacist, pharmacy,"
        " opposed) SELECT number, 1, at, pharmacist_id, pharmacist, pharmacy, 0"
        " FROM rx_dispensings"
    )
    tx.execute(
        "INSERT INTO rx_given (number, visit, line, outcome, cip13, quantity, agreement)"
        " SELECT number, 1, line, outcome, coalesce(dispensed_cip13, ''),"
        " CASE WHEN outcome = 'not_dispensed' THEN 0 ELSE coalesce(boxes, duration_days) END,"
        " '' FROM rx_lines WHERE outcome IS NOT NULL"
    )
    tx.execute(
        "UPDATE rx_lines SET delivered = coalesce(boxes, duration_days)"
        " WHERE outcome IS NOT NULL AND outcome <> 'not_dispensed'"
    )
    for column in ("outcome", "dispensed_cip13"):
        tx.execute(f"ALTER TABLE rx_lines DROP COLUMN {column}")
    tx.execute("DROP TABLE rx_dispensings")


SCHEMA = Schema("eprescription", 2, TABLES, {1: _dispensing_in_visits})


def seed(seeding: Seeding) -> None:
    """The tables."""
    seeding.db.ensure(SCHEMA)
