"""The DMP's tables and its seeded records, made when the platform opens.

Each patient's DMP (open or closed), the professionals they blocked and their documents
are drawn from the platform's generator where its population left it, so they are the
same every time.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta
from functools import cache
from typing import Any

from bsp_tui.domain.patients import Identity
from bsp_tui.platform.api import Seeding
from connectors.dmp.models import DOCUMENT_TYPES

SCHEMA = """
CREATE TABLE IF NOT EXISTS dmps (ins TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dmp_blocks (
    ins TEXT NOT NULL, national_id TEXT NOT NULL, PRIMARY KEY (ins, national_id)
);
CREATE TABLE IF NOT EXISTS dmp_documents (
    id TEXT PRIMARY KEY, ins TEXT NOT NULL, loinc TEXT NOT NULL, title TEXT NOT NULL,
    author_id TEXT NOT NULL, author_name TEXT NOT NULL, created TEXT NOT NULL,
    content_type TEXT NOT NULL, content BLOB NOT NULL, masked INTEGER NOT NULL,
    invisible_patient INTEGER NOT NULL, status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_patient ON dmp_documents (ins, created);
CREATE TABLE IF NOT EXISTS dmp_access_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ins TEXT NOT NULL, at REAL NOT NULL,
    national_id TEXT NOT NULL, name TEXT NOT NULL, profession TEXT NOT NULL,
    mode TEXT NOT NULL, reason TEXT NOT NULL, action TEXT NOT NULL
);
"""

AUTHORS = (
    ("810000012301", "Dr Élise Martin-Dubois"),
    ("810000045608", "Dr Karim Benali"),
    ("810000099991", "Dr Paul Rivière"),
    ("810000088882", "Laboratoire Biomédical du Centre"),
    ("810000077773", "Centre d'imagerie Saint-Louis"),
)
URGENTISTE = "810000045608"
SCENARIO = 9  # the scenario patients come first; their DMPs are fixed, not drawn


def seed(seeding: Seeding) -> None:
    """The tables, and every patient's DMP with its documents (once)."""
    db = seeding.db
    db.ensure_schema(SCHEMA)
    if db.one("SELECT 1 FROM dmps LIMIT 1"):
        return
    dmps, blocks, documents = _rows(tuple(seeding.people), seeding.population.random_state)
    with db.write() as conn:
        if conn.execute("SELECT 1 FROM dmps LIMIT 1").fetchone():
            return  # another process seeded them meanwhile
        conn.executemany("INSERT INTO dmps VALUES (?, ?)", dmps)
        conn.executemany("INSERT INTO dmp_blocks VALUES (?, ?)", blocks)
        conn.executemany(
            "INSERT INTO dmp_documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'current')",
            documents,
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
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of the `dmps`, `dmp_blocks` and `dmp_documents` tables, drawn once per
    process (a test suite opens many platforms)."""
    draw = random.Random()  # noqa: S311 - synthetic data, reproducible on purpose
    draw.setstate(random_state)
    by_ins = {p.ins: p for p in people}
    dmps, blocks, documents = [], [], []
    for ins, dmp in _dmps(draw, list(people)).items():
        dmps.append((ins, "closed" if dmp["closed"] else "open"))
        blocks += [(ins, nid) for nid in dmp["blocked"]]
        for number, doc in enumerate(dmp["documents"]):
            content_type, content = _content(by_ins[ins], doc)
            documents.append(
                (
                    _document_id(ins, number),
                    ins,
                    doc["loinc"],
                    DOCUMENT_TYPES[doc["loinc"]],
                    doc["author"][0],
                    doc["author"][1],
                    doc["created"],
                    content_type,
                    content,
                    int(doc["masked"]),
                    int(doc["invisible"]),
                ),
            )
    return dmps, blocks, documents
