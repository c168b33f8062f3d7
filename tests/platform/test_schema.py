"""Schema versions: a platform file made before they were kept opens and is upgraded; a
file made by a newer bsp is refused rather than damaged."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import uuid

import pytest
from sqlalchemy import Column, MetaData, Table, Text

from bsp_tui.platform.core import Platform
from bsp_tui.platform.db import Database, Schema, SchemaError
from bsp_tui.platform.settings import PlatformSettings

# The e-prescription tables of version one: one dispensing per prescription, the
# outcomes on the lines.
RX_VERSION_ONE = (
    "DROP TABLE rx_lines",
    "DROP TABLE rx_deliveries",
    "DROP TABLE rx_given",
    "CREATE TABLE rx_lines (number TEXT, line INTEGER, cip13 TEXT NOT NULL,"
    " dosage TEXT NOT NULL, boxes INTEGER, duration_days INTEGER, outcome TEXT,"
    " dispensed_cip13 TEXT, PRIMARY KEY (number, line))",
    "CREATE TABLE rx_dispensings (number TEXT PRIMARY KEY, at DOUBLE NOT NULL,"
    " pharmacist_id TEXT NOT NULL, pharmacist TEXT NOT NULL, pharmacy TEXT NOT NULL)",
)


# What DMP version 7 changed: the documents were indexed by patient and date only.
DMP_VERSION_SIX = (
    "DROP INDEX documents_in_page_order",
    "DROP INDEX documents_by_author",
    "CREATE INDEX documents_by_patient ON dmp_documents (ins, created)",
)
# What DMP version 6 changed: the organisations authoring documents were persons' ids.
DMP_VERSION_FIVE = (
    *DMP_VERSION_SIX,
    "UPDATE dmp_documents SET author_id = '810000088882' WHERE author_id = '1750000184'",
    "UPDATE dmp_documents SET author_id = '810000077773' WHERE author_id = '1690000224'",
    "ALTER TABLE dmp_documents DROP COLUMN author_kind",
)
# What DMP versions 5 and 6 added to the documents: undone for a file of an older version.
DMP_VERSION_THREE = (
    *DMP_VERSION_FIVE,
    "DROP INDEX documents_by_master_id",
    "ALTER TABLE dmp_documents DROP COLUMN master_id",
    "ALTER TABLE dmp_documents DROP COLUMN invisible_legal",
    "ALTER TABLE dmp_documents DROP COLUMN archived",
)


DROP_HASH = "ALTER TABLE dmp_documents DROP COLUMN hash"  # what DMP version 4 added


def _as_version_one(path) -> list[str]:
    """Turn a platform file back into what version 1 made: no version table, no `seq`
    columns, no franchise on the care sheets, a national status on the patients, no
    back-channel logout URI on the clients, no hash, unique id or update flags on the DMP's
    documents, patients listed by rowid. Returns the
    personas in rowid order."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TABLE schema_versions")
        for table in ("patients", "personas"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN seq")
        conn.execute("ALTER TABLE fse_sheets DROP COLUMN franchise")
        for statement in RX_VERSION_ONE:
            conn.execute(statement)
        conn.execute("ALTER TABLE patients ADD COLUMN status TEXT NOT NULL DEFAULT 'QUAL'")
        conn.execute("ALTER TABLE clients DROP COLUMN backchannel_logout_uri")
        for statement in DMP_VERSION_THREE:
            conn.execute(statement)
        conn.execute(DROP_HASH)
        # A shuffled insertion order, so that the upgrade must read rowids, not names.
        conn.execute("CREATE TABLE personas_old AS SELECT * FROM personas ORDER BY name DESC")
        conn.execute("DELETE FROM personas")
        conn.execute("INSERT INTO personas SELECT * FROM personas_old")
        conn.execute("DROP TABLE personas_old")
        conn.commit()
        return [name for (name,) in conn.execute("SELECT name FROM personas ORDER BY rowid")]
    finally:
        conn.close()


@pytest.mark.sqlite_only
def test_a_version_one_file_is_upgraded_and_keeps_its_order(settings: PlatformSettings) -> None:
    Platform.open(settings).db.close()
    order = _as_version_one(settings.database)
    assert order == sorted(order, reverse=True)
    conn = sqlite3.connect(settings.database)
    # Version 4 put AME holders on Vitale cards: this one is moved to an admission.
    conn.execute("DROP TABLE ame_admissions")
    conn.execute(
        "INSERT INTO card_beneficiaries SELECT '9999999999', 1, ins, '01', 70, 'AME', 1"
        " FROM patients WHERE family = 'OUEDRAOGO' ORDER BY rowid LIMIT 1"
    )
    conn.commit()
    conn.close()
    platform = Platform.open(settings)
    try:
        versions = {
            r["name"]: r["version"] for r in platform.db.all("SELECT * FROM schema_versions")
        }
        assert (versions["platform"], versions["fse"], versions["eprescription"]) == (6, 2, 2)
        assert versions["dmp"] == 7
        admission = platform.db.one("SELECT * FROM ame_admissions")
        assert admission["number"] == "AME999999999901"
        assert (
            platform.db.value("SELECT count(*) FROM card_beneficiaries WHERE exemption = 'AME'")
            == 0
        )
        columns = platform.db.all("SELECT name FROM pragma_table_info('clients')")
        assert "backchannel_logout_uri" in {row["name"] for row in columns}
        columns = platform.db.all("SELECT name FROM pragma_table_info('fse_sheets')")
        assert "franchise" in {row["name"] for row in columns}
        columns = platform.db.all("SELECT name FROM pragma_table_info('patients')")
        assert "status" not in {row["name"] for row in columns}
        assert platform.db.value("SELECT count(*) FROM housekeeping") == 0
        assert [row["name"] for row in platform.ecps.personas()] == order
        first, *_, last = platform.db.all("SELECT ins, seq FROM patients ORDER BY seq")
        assert (first["seq"], last["seq"]) == (1, 520)
        # Its data stayed: the seeded directory and population are still there, once.
        assert platform.db.value("SELECT count(*) FROM patients") == 520
    finally:
        platform.db.close()


def test_a_file_made_by_a_newer_bsp_is_refused(settings: PlatformSettings) -> None:
    db = Platform.open(settings).db
    with db.write() as tx:
        tx.execute("UPDATE schema_versions SET version = 99 WHERE name = 'platform'")
    db.close()
    with pytest.raises(SchemaError, match="plus récente"):
        Platform.open(settings)


def test_a_new_schema_starts_at_its_version_and_a_missing_step_is_an_error(tmp_path) -> None:
    tables = MetaData()
    Table("things", tables, Column("id", Text, primary_key=True))
    db = Database(tmp_path / "p.sqlite3")
    db.ensure(Schema("things", 3, tables))
    assert db.value("SELECT version FROM schema_versions WHERE name = 'things'") == 3
    db.close()
    # The same tables at version 1 (no recorded version) with no step from 1: refused.
    again = Database(tmp_path / "p.sqlite3")
    with again.write() as tx:
        tx.execute("DELETE FROM schema_versions")
    with pytest.raises(SchemaError, match="de v1 à v2"):
        again.ensure(Schema("things", 2, tables))
    again.close()


@pytest.mark.sqlite_only
def test_a_version_one_dispensing_becomes_the_first_visit(settings: PlatformSettings) -> None:
    from connectors.eprescription.seed import SCHEMA as RX

    db = Database(settings.database)
    with db.write() as tx:
        for statement in RX_VERSION_ONE:
            tx.execute(statement)
        tx.execute(
            "INSERT INTO rx_lines VALUES ('N1', 1, 'A', 'x', 2, NULL, 'dispensed', ''),"
            " ('N1', 2, 'B', 'y', NULL, 7, 'substituted', 'C'),"
            " ('N1', 3, 'D', 'z', 1, NULL, 'not_dispensed', ''),"
            " ('N2', 1, 'A', 'x', 3, NULL, NULL, NULL)"
        )
        tx.execute("INSERT INTO rx_dispensings VALUES ('N1', 100.0, 'P', 'Hugo', 'Pharmacie')")
        tx.execute("DELETE FROM schema_versions WHERE name = 'eprescription'")
    db.ensure(RX)
    try:
        assert db.value("SELECT version FROM schema_versions WHERE name = 'eprescription'") == 2
        lines = db.all("SELECT number, line, delivered, renewals FROM rx_lines ORDER BY 1, 2")
        assert [tuple(row.values()) for row in lines] == [
            ("N1", 1, 2, 0),
            ("N1", 2, 7, 0),
            ("N1", 3, 0, 0),
            ("N2", 1, 0, 0),
        ]
        (visit,) = db.all("SELECT * FROM rx_deliveries")
        assert (visit["number"], visit["visit"], visit["pharmacy"]) == ("N1", 1, "Pharmacie")
        given = db.all("SELECT line, outcome, cip13, quantity FROM rx_given ORDER BY line")
        assert [tuple(row.values()) for row in given] == [
            (1, "dispensed", "", 2),
            (2, "substituted", "C", 7),
            (3, "not_dispensed", "", 0),
        ]
        tables = {row["name"] for row in db.all("SELECT name FROM sqlite_master")}
        assert "rx_dispensings" not in tables
    finally:
        db.close()


def _dmp_upgraded_from(settings: PlatformSettings, version: int, *statements: str) -> Platform:
    """The platform's file set back to DMP `version` by `statements`, then opened again:
    upgraded to the current version, which it checks."""
    platform = Platform.open(settings)
    try:
        with platform.db.write() as tx:
            for statement in statements:
                tx.execute(statement)
            tx.execute("UPDATE schema_versions SET version = :v WHERE name = 'dmp'", {"v": version})
    finally:
        platform.db.close()
    platform = Platform.open(settings)
    assert platform.db.value("SELECT version FROM schema_versions WHERE name = 'dmp'") == 7
    return platform


def _first_middle_last(rows: list) -> list:
    return [rows[0], rows[len(rows) // 2], rows[-1]]


@pytest.mark.sqlite_only
def test_a_version_two_dmp_gains_the_access_authorisations(settings: PlatformSettings) -> None:
    """DMP version 3 adds the patients' access authorisations: an older file opens with the
    table, and the scenario patients' authorisations are seeded into it."""
    older = ("DROP TABLE dmp_authorizations", *DMP_VERSION_THREE, DROP_HASH)
    platform = _dmp_upgraded_from(settings, 2, *older)
    try:
        assert platform.db.value("SELECT count(*) FROM dmp_authorizations") == 36
    finally:
        platform.db.close()


@pytest.mark.sqlite_only
def test_a_version_three_dmp_gains_each_documents_hash(settings: PlatformSettings) -> None:
    """DMP version 4 keeps each document's content hash (FHIR Attachment.hash): an older file
    opens with the column, filled for every document it already had."""
    platform = _dmp_upgraded_from(settings, 3, *DMP_VERSION_THREE, DROP_HASH)
    try:
        rows = platform.db.all("SELECT id, content, hash FROM dmp_documents ORDER BY id")
        assert len(rows) == 3787
        for row in _first_middle_last(rows):
            digest = base64.b64encode(
                hashlib.sha1(bytes(row["content"]), usedforsecurity=False).digest()
            ).decode()
            assert row["hash"] == digest
    finally:
        platform.db.close()


@pytest.mark.sqlite_only
def test_a_version_four_dmp_keeps_the_unique_ids_its_documents_were_served_with(
    settings: PlatformSettings,
) -> None:
    """DMP version 5 keeps each document's masterIdentifier (a JSON Patch names a document
    by it) and its update flags: an older file gains them, each id the one served before."""
    platform = _dmp_upgraded_from(settings, 4, *DMP_VERSION_THREE)
    try:
        db = platform.db
        rows = db.all("SELECT * FROM dmp_documents ORDER BY id")
        assert len(rows) == 3787
        namespace = uuid.UUID("6f1c1f0e-2d0b-5b8e-9a4e-44d4d5a0b1e7")
        for row in _first_middle_last(rows):
            assert row["master_id"] == f"urn:uuid:{uuid.uuid5(namespace, row['id'])}"
            assert (row["invisible_legal"], row["archived"]) == (0, 0)
        indexes = db.all("SELECT name FROM pragma_index_list('dmp_documents')")
        assert "documents_by_master_id" in {row["name"] for row in indexes}
    finally:
        platform.db.close()


def test_a_version_five_dmp_has_the_laboratory_and_imaging_centre_as_organisations(
    settings: PlatformSettings,
) -> None:
    """DMP version 6 records the author's kind: the seeded laboratory's and imaging centre's
    documents, authored before by persons' ids, become the organisations' by structure id."""
    platform = _dmp_upgraded_from(settings, 5, *DMP_VERSION_FIVE)
    try:
        kinds = platform.db.all(
            "SELECT author_kind, author_id, count(*) AS n FROM dmp_documents"
            " GROUP BY author_kind, author_id ORDER BY author_kind, author_id"
        )
        organisations = {(r["author_kind"], r["author_id"]) for r in kinds if r["n"]}
        assert ("Organization", "1690000224") in organisations
        assert ("Organization", "1750000184") in organisations
        assert ("Practitioner", "810000012301") in organisations
        assert not {i for k, i in organisations if k == "Practitioner" and i[0] == "1"}
        assert not {i for k, i in organisations if i in ("810000088882", "810000077773")}
    finally:
        platform.db.close()


def test_a_version_six_dmp_indexes_its_documents_in_the_order_of_the_pages(
    settings: PlatformSettings,
) -> None:
    """DMP version 7 indexes the documents in the order a list's pages read them (a page
    after a cursor is read from the index, with no sort) and by author."""
    platform = _dmp_upgraded_from(settings, 6, *DMP_VERSION_SIX)
    try:
        db = platform.db
        names = {
            row["indexname"]
            for row in db.all(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'dmp_documents'"
                if db.dialect == "postgresql"
                else "SELECT name AS indexname FROM pragma_index_list('dmp_documents')"
            )
        }
        assert {"documents_in_page_order", "documents_by_author"} <= names
        assert "documents_by_patient" not in names
        if db.dialect == "sqlite":
            plan = " ".join(
                row["detail"]
                for row in db.all(
                    "EXPLAIN QUERY PLAN SELECT id FROM dmp_documents WHERE ins = :ins"
                    " AND created <= :c AND (created < :c OR id > :i)"
                    " ORDER BY created DESC, id LIMIT 10",
                    {"ins": "1", "c": "2026", "i": "A"},
                )
            )
            assert "documents_in_page_order" in plan and "TEMP B-TREE" not in plan
            authored = db.all(
                "EXPLAIN QUERY PLAN SELECT 1 FROM dmp_documents WHERE ins = :ins"
                " AND author_id = :id",
                {"ins": "1", "id": "810000012301"},
            )
            assert "documents_by_author" in " ".join(row["detail"] for row in authored)
    finally:
        platform.db.close()


def test_the_dmp_upgrades_from_version_three_on_either_engine(settings: PlatformSettings) -> None:
    """Versions 4 to 6 of the DMP alter a table: the same steps on SQLite and PostgreSQL."""
    platform = _dmp_upgraded_from(settings, 3, *DMP_VERSION_THREE, DROP_HASH)
    try:
        rows = platform.db.all(
            "SELECT id, hash, master_id, author_kind FROM dmp_documents ORDER BY id"
        )
        for row in _first_middle_last(rows):
            assert len(base64.b64decode(row["hash"])) == 20
            assert row["master_id"].startswith("urn:uuid:")
            assert row["author_kind"] in ("Practitioner", "Organization")
    finally:
        platform.db.close()
