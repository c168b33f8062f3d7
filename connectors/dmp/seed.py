"""The DMP's tables and its seeded records, made when the platform opens.

Each patient's DMP (open or closed), the professionals they blocked and their documents
are drawn from the platform's generator where its population left it, so they are the
same every time.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Column, Double, Index, Integer, LargeBinary, MetaData, Table, Text, text

from bsp_tui.domain.patients import Identity
from bsp_tui.platform.api import Schema, Seeding, Tx
from connectors.dmp.models import DOCUMENT_TYPES, ORGANIZATION

TABLES = MetaData()
Table(
    "dmps",
    TABLES,
    Column("ins", Text, primary_key=True),
    Column("status", Text, nullable=False),
)
Table(
    "dmp_blocks",
    TABLES,
    Column("ins", Text, primary_key=True),
    Column("national_id", Text, primary_key=True),
)
Table(
    "dmp_documents",
    TABLES,
    Column("id", Text, primary_key=True),
    *(
        Column(name, Text, nullable=False)
        for name in ("ins", "loinc", "title", "author_id", "author_name", "created")
    ),
    Column("content_type", Text, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("masked", Integer, nullable=False),
    Column("invisible_patient", Integer, nullable=False),
    Column("status", Text, nullable=False),
    # The content's SHA-1 in base64 (FHIR Attachment.hash), kept so lists need not read it.
    Column("hash", Text, nullable=False),
    # The document's unique id (masterIdentifier), by which a JSON Patch names it; hidden
    # from a minor's legal representatives; archived (PDSm_isArchived).
    Column("master_id", Text, nullable=False),
    Column("invisible_legal", Integer, nullable=False),
    Column("archived", Integer, nullable=False),
    # What the author is: a professional (`Practitioner`, by IdNat_PS) or an organisation
    # (`Organization`, by its structure id, IdNat_Struct): a laboratory, an imaging centre.
    Column("author_kind", Text, nullable=False),
    # A patient's documents in the order of a list's pages, so that a page starts where the
    # previous one ended (`_cursor`) with neither a sort nor the skipping of an OFFSET.
    Index("documents_in_page_order", "ins", text("created DESC"), "id"),
    # Whether the caller authored one of the patient's documents (of the care team, then),
    # asked on every reading, without going through a long DMP's documents.
    Index("documents_by_author", "ins", "author_id"),
    Index("documents_by_master_id", "master_id", unique=True),
)
# The patient's médecin traitant (one per DMP at most), and the patients who oppose
# emergency (break-glass) access to their whole DMP: the patients' own choices.
Table(
    "dmp_treating_doctors",
    TABLES,
    Column("ins", Text, primary_key=True),
    Column("national_id", Text, nullable=False),
)
Table("dmp_emergency_oppositions", TABLES, Column("ins", Text, primary_key=True))
# The patient's authorisation for a professional outside the care team to read their DMP
# (code de la santé publique, art. L. 1110-4 and L. 1111-15), as the professional records it.
Table(
    "dmp_authorizations",
    TABLES,
    Column("ins", Text, primary_key=True),
    Column("national_id", Text, primary_key=True),
    Column("at", Double, nullable=False),
)
Table(
    "dmp_access_log",
    TABLES,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ins", Text, nullable=False),
    Column("at", Double, nullable=False),
    *(
        Column(name, Text, nullable=False)
        for name in ("national_id", "name", "profession", "mode", "reason", "action")
    ),
    sqlite_autoincrement=True,  # ids never reused: the history reads in their order
)


def content_hash(content: bytes) -> str:
    """A document's hash as FHIR's Attachment.hash defines it: its SHA-1, base64."""
    digest = hashlib.sha1(content, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def _nothing_to_change(_: Tx) -> None:
    # Versions 2 and 3 only add the patients' choices' tables (version 3: the access
    # authorisations), which opening the schema makes; `seed` fills the scenario's.
    return


def _hash_documents(tx: Tx) -> None:
    """Version 4: each document's content hash, computed once for those filed before."""
    tx.execute("ALTER TABLE dmp_documents ADD COLUMN hash TEXT NOT NULL DEFAULT ''")
    rows = tx.all("SELECT id, content FROM dmp_documents")
    if rows:
        tx.execute(
            "UPDATE dmp_documents SET hash = :hash WHERE id = :id",
            [{"id": row["id"], "hash": content_hash(bytes(row["content"]))} for row in rows],
        )


MASTER_NAMESPACE = uuid.UUID("6f1c1f0e-2d0b-5b8e-9a4e-44d4d5a0b1e7")  # the emulation's own


def master_id(document_id: str) -> str:
    """A document's unique id (masterIdentifier), a `urn:uuid:` derived from its DMP id."""
    return f"urn:uuid:{uuid.uuid5(MASTER_NAMESPACE, document_id)}"


def _updatable_documents(tx: Tx) -> None:
    """Version 5: the unique id a JSON Patch names a document by, kept (for those filed
    before, the one they were already served with), and two flags."""
    for column in (
        "master_id TEXT NOT NULL DEFAULT ''",
        "invisible_legal INTEGER NOT NULL DEFAULT 0",
        "archived INTEGER NOT NULL DEFAULT 0",
    ):
        tx.execute(f"ALTER TABLE dmp_documents ADD COLUMN {column}")
    ids = tx.all("SELECT id FROM dmp_documents")
    if ids:
        tx.execute(
            "UPDATE dmp_documents SET master_id = :master WHERE id = :id",
            [{"id": row["id"], "master": master_id(row["id"])} for row in ids],
        )
    tx.execute("CREATE UNIQUE INDEX documents_by_master_id ON dmp_documents (master_id)")


PRACTITIONER = "Practitioner"
# The seeded laboratory and imaging centre are organisations by their structure id
# ("1" + a FINESS number, fictional); before version 6 they were persons' IdNat_PS.
ORGANIZATIONS = {
    "810000088882": ("1750000184", "Laboratoire Biomédical du Centre"),
    "810000077773": ("1690000224", "Centre d'imagerie Saint-Louis"),
}


def _organisation_authors(tx: Tx) -> None:
    """Version 6: each document's author's kind; the seeded laboratory's and imaging
    centre's documents authored by the organisation, by its structure id."""
    tx.execute(
        f"ALTER TABLE dmp_documents ADD COLUMN author_kind TEXT NOT NULL DEFAULT '{PRACTITIONER}'"
    )
    tx.execute(
        "UPDATE dmp_documents SET author_id = :structure, author_kind = :kind"
        " WHERE author_id = :person",
        [
            {"person": person, "structure": structure, "kind": ORGANIZATION}
            for person, (structure, _) in ORGANIZATIONS.items()
        ],
    )


def _documents_in_page_order(tx: Tx) -> None:
    """Version 7: the documents indexed in the order of a list's pages (created, newest
    first, then id), which the index by patient and date alone left to a sort, and by
    author."""
    tx.execute("DROP INDEX documents_by_patient")
    tx.execute("CREATE INDEX documents_in_page_order ON dmp_documents (ins, created DESC, id)")
    tx.execute("CREATE INDEX documents_by_author ON dmp_documents (ins, author_id)")


SCHEMA = Schema(
    "dmp",
    7,
    TABLES,
    {
        1: _nothing_to_change,
        2: _nothing_to_change,
        3: _hash_documents,
        4: _updatable_documents,
        5: _organisation_authors,
        6: _documents_in_page_order,
    },
)

INSERT_DOCUMENT = (
    "INSERT INTO dmp_documents (id, ins, loinc, title, author_id, author_name, created,"
    " content_type, content, masked, invisible_patient, status, hash, master_id,"
    " invisible_legal, archived, author_kind) VALUES (:id, :ins, :loinc, :title, :author_id,"
    " :author_name, :created, :content_type, :content, :masked, :invisible_patient, 'current',"
    " :hash, :master_id, :invisible_legal, 0, :author_kind)"
)

AUTHORS = (
    ("810000012301", "Dr Élise Martin-Dubois", PRACTITIONER),
    ("810000045608", "Dr Karim Benali", PRACTITIONER),
    ("810000099991", "Dr Paul Rivière", PRACTITIONER),
    *((structure, name, ORGANIZATION) for structure, name in ORGANIZATIONS.values()),
)
URGENTISTE = "810000045608"
# DUPONT Marie Louise's médecin traitant is Dr Karim Benali (who also works in the
# emergency department): the généraliste, who is not, sees her masked document only
# in an emergency mode.
TREATED_BY_URGENTISTE = 0
OPPOSES_EMERGENCY = 8  # LEFÈVRE Hélène opposes break-glass access to her DMP
# The demonstration professionals the scenario patients authorised to read their DMP
# (the généraliste, the urgentiste, the pharmacist, the nurse): the drawn patients
# authorised none of them.
AUTHORIZED = ("810000012301", "810000045608", "810000078906", "810000023407")
SCENARIO_AUTHORIZED_AT = 1_767_225_600.0  # 2026-01-01 00:00 UTC, fixed for the digest
SCENARIO = 9  # the scenario patients come first; their DMPs are fixed, not drawn


def seed(seeding: Seeding) -> None:
    """The tables, and every patient's DMP with its documents (once)."""
    db = seeding.db
    db.ensure(SCHEMA)
    if db.one("SELECT 1 FROM dmps LIMIT 1"):
        _scenario_choices(seeding)  # a DMP seeded before version 2 gets them too
        _scenario_authorizations(seeding)  # and before version 3, these
        return
    dmps, blocks, documents = _rows(tuple(seeding.people), seeding.population.random_state)
    with db.write() as conn:
        conn.serialize("dmp seed")
        if conn.one("SELECT 1 FROM dmps LIMIT 1"):
            return  # another process seeded them meanwhile
        conn.execute("INSERT INTO dmps (ins, status) VALUES (:ins, :status)", dmps)
        if blocks:
            conn.execute(
                "INSERT INTO dmp_blocks (ins, national_id) VALUES (:ins, :national_id)", blocks
            )
        conn.execute(INSERT_DOCUMENT, documents)
    _scenario_choices(seeding)
    _scenario_authorizations(seeding)


def _scenario_choices(seeding: Seeding) -> None:
    """The scenario patients' choices (fixed, not drawn): once, whoever comes first."""
    db = seeding.db
    if db.one("SELECT 1 FROM dmp_treating_doctors LIMIT 1"):
        return
    first = db.all("SELECT ins FROM patients ORDER BY seq LIMIT :n", {"n": SCENARIO})
    with db.write() as conn:
        conn.execute(
            "INSERT INTO dmp_treating_doctors (ins, national_id) VALUES (:ins, :national_id)"
            " ON CONFLICT DO NOTHING",
            {"ins": first[TREATED_BY_URGENTISTE]["ins"], "national_id": URGENTISTE},
        )
        conn.execute(
            "INSERT INTO dmp_emergency_oppositions (ins) VALUES (:ins) ON CONFLICT DO NOTHING",
            {"ins": first[OPPOSES_EMERGENCY]["ins"]},
        )


def _scenario_authorizations(seeding: Seeding) -> None:
    """The scenario patients' authorisations of the demonstration professionals: once."""
    db = seeding.db
    if db.one("SELECT 1 FROM dmp_authorizations LIMIT 1"):
        return
    first = db.all("SELECT ins FROM patients ORDER BY seq LIMIT :n", {"n": SCENARIO})
    rows = [
        {"ins": row["ins"], "national_id": national_id, "at": SCENARIO_AUTHORIZED_AT}
        for row in first
        for national_id in AUTHORIZED
    ]
    with db.write() as conn:
        conn.execute(
            "INSERT INTO dmp_authorizations (ins, national_id, at) VALUES"
            " (:ins, :national_id, :at) ON CONFLICT DO NOTHING",
            rows,
        )


def _day(draw: random.Random, start: int, end: int) -> date:
    first = date(start, 1, 1)
    return first + timedelta(days=draw.randrange((date(end, 12, 31) - first).days))


def _dmps(draw: random.Random, people: list[Identity]) -> dict[str, dict]:
    dmps = {}
    for index, person in enumerate(people):
        drawn = index >= SCENARIO
        if drawn and draw.random() < 0.12:
            continue  # no DMP
        closed = index == 1 or (drawn and draw.random() < 0.04)
        blocked = [URGENTISTE] if index == 2 or (drawn and draw.random() < 0.02) else []
        documents = []
        for number in range(draw.randint(2, 14) if index != 0 else 12):
            loinc = draw.choice(list(DOCUMENT_TYPES))
            author = draw.choice(AUTHORS)
            created = _day(draw, 2012, 2026)
            documents.append(
                {
                    "loinc": loinc,
                    "author": author,
                    "created": created.isoformat(),
                    "masked": (index == 0 and number == 0) or draw.random() < 0.03,
                    "invisible": (index == 0 and number == 1) or draw.random() < 0.02,
                    "html": draw.random() < 0.3,
                }
            )
        dmps[person.ins] = {"closed": closed, "blocked": blocked, "documents": documents}
    return dmps


def _content(person: Identity, doc: dict) -> tuple[str, bytes]:
    title = DOCUMENT_TYPES[doc["loinc"]]
    lines = [
        title,
        f"Patient : {person.family} {person.given}, né(e) le {person.birthdate}",
        f"INS : {person.ins} (OID {person.oid})",
        f"Auteur : {doc['author'][1]} — {doc['created']}",
        "",
        "Document de démonstration généré par la plateforme émulée bsp.",
    ]
    if doc["html"]:
        body = "".join(f"<p>{line}</p>" for line in lines[1:])
        return "text/html", f"<html><body><h1>{title}</h1>{body}</body></html>".encode()
    return "text/plain", "\n".join(lines).encode()


def _document_id(ins: str, number: int) -> str:
    return hashlib.sha256(f"{ins}/{number}".encode()).hexdigest()[:16]


@cache
def _rows(
    people: tuple[Identity, ...], random_state: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of the `dmps`, `dmp_blocks` and `dmp_documents` tables, drawn once per
    process (a test suite opens many platforms)."""
    draw = random.Random()  # noqa: S311 - synthetic data, reproducible on purpose
    draw.setstate(random_state)
    by_ins = {p.ins: p for p in people}
    dmps, blocks, documents = [], [], []
    for ins, dmp in _dmps(draw, list(people)).items():
        dmps.append({"ins": ins, "status": "closed" if dmp["closed"] else "open"})
        blocks += [{"ins": ins, "national_id": nid} for nid in dmp["blocked"]]
        for number, doc in enumerate(dmp["documents"]):
            content_type, content = _content(by_ins[ins], doc)
            documents.append(
                {
                    "id": _document_id(ins, number),
                    "master_id": master_id(_document_id(ins, number)),
                    "ins": ins,
                    "loinc": doc["loinc"],
                    "title": DOCUMENT_TYPES[doc["loinc"]],
                    "author_id": doc["author"][0],
                    "author_name": doc["author"][1],
                    "author_kind": doc["author"][2],
                    "created": doc["created"],
                    "content_type": content_type,
                    "content": content,
                    "hash": content_hash(content),
                    "masked": int(doc["masked"]),
                    "invisible_patient": int(doc["invisible"]),
                    "invisible_legal": 0,
                }
            )
    return dmps, blocks, documents
