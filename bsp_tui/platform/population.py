"""The emulated platform's synthetic population: patients, Vitale cards, DMPs.

Generated deterministically (a fixed seed), on first use, into the platform's
database. Names, numbers and documents are synthetic; the NIR/NIA keys are valid.
A few scenario patients come first, with fixed traits, so that demos and tests can
name them; the rest is drawn at random.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta

from bsp_tui.domain.patients import SEXES, Identity, ins_key, is_nia, normalise_name, oid_of
from bsp_tui.platform.db import Database
from connectors.dmp.models import DOCUMENT_TYPES

SEED = 20_251_126
POPULATION = 520

FAMILIES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Le Gall",
    "Le Roux",
    "N'Diaye",
    "D'Almeida",
    "Martin-Dubois",
    "Saint-Jean",
    "Lévêque",
    "Guérin",
    "Faure",
    "Roussel",
    "Boyer",
    "Nguyen",
    "Diallo",
    "Traoré",
    "Ouédraogo",
    "Bensaïd",
    "El Amrani",
    "Da Silva",
    "De La Fontaine",
    "O'Connor",
    "Châtel",
    "Lemaître",
    "Bouchard-Lévy",
)
GIVEN_F = (
    "Marie",
    "Élise",
    "Chloé",
    "Léa",
    "Manon",
    "Camille",
    "Anne-Sophie",
    "Marie-Claire",
    "Joséphine",
    "Inès",
    "Zoé",
    "Aminata",
    "Fatou",
    "Noémie",
    "Hélène",
    "Aïcha",
    "Océane",
    "Maëlle",
    "Françoise",
    "Geneviève",
    "Louise",
    "Jeanne",
    "Lina",
    "Sarah",
)
GIVEN_M = (
    "Jean",
    "Pierre",
    "Lucas",
    "Hugo",
    "Jean-Pierre",
    "François",
    "Jérôme",
    "Noé",
    "Maël",
    "Karim",
    "Mamadou",
    "Théo",
    "Loïc",
    "Éric",
    "Benoît",
    "Gaël",
    "Mathéo",
    "Raphaël",
    "Yannick",
    "Cédric",
    "Louis",
    "Gabriel",
    "Adam",
    "Paul",
)
BIRTHPLACES_FRANCE = (
    "75111",
    "75115",
    "75118",
    "69381",
    "13201",
    "31555",
    "33063",
    "59350",
    "67482",
    "44109",
    "35238",
    "06088",
    "34172",
    "21231",
    "2A004",
    "2A247",
    "2B033",
    "2B096",
)
# INSEE codes of countries (99 + country), for people born abroad.
BIRTHPLACES_ABROAD = ("99350", "99352", "99351", "99127", "99134", "99139", "99109", "99341")
STATUS_WEIGHTS = (("QUAL", 45), ("VALI", 20), ("RECUP", 25), ("PROV", 10))

AUTHORS = (
    ("810000012301", "Dr Élise Martin-Dubois"),
    ("810000045608", "Dr Karim Benali"),
    ("810000099991", "Dr Paul Rivière"),
    ("810000088882", "Laboratoire Biomédical du Centre"),
    ("810000077773", "Centre d'imagerie Saint-Louis"),
)
URGENTISTE = "810000045608"
GENERALISTE = "810000012301"


@dataclass(frozen=True)
class Beneficiary:
    """A person on a Vitale card, with the insurance rights the card carries."""

    serial: str
    rank: int
    ins: str
    regime: str
    rate: int
    exemption: str
    coordinated: bool


def make_ins(sex: str, birthdate: date, birthplace: str, order: int, nia: bool) -> str:
    """A matricule with its key: sex (1/2, or 7/8 for a NIA), year, month, place, order."""
    first = {"M": "1", "F": "2"}[sex]
    if nia:
        first = {"1": "7", "2": "8"}[first]
    body = f"{first}{birthdate:%y}{birthdate:%m}{birthplace}{order:03d}"
    return body + ins_key(body)


class _Draw:
    def __init__(self) -> None:
        self.random = random.Random(SEED)  # noqa: S311 - synthetic data, reproducible on purpose
        self.orders: dict[tuple[str, str, str], int] = {}

    def order(self, sex: str, birthdate: date, place: str) -> int:
        key = (sex, f"{birthdate:%y%m}", place)
        self.orders[key] = self.orders.get(key, self.random.randrange(1, 400)) + 1
        return self.orders[key]

    def identity(
        self,
        family: str,
        given: str,
        sex: str,
        birthdate: date,
        place: str,
        status: str | None = None,
        nia: bool = False,
    ) -> Identity:
        ins = make_ins(sex, birthdate, place, self.order(sex, birthdate, place), nia)
        status = (
            status
            or self.random.choices([s for s, _ in STATUS_WEIGHTS], [w for _, w in STATUS_WEIGHTS])[
                0
            ]
        )
        if nia and status == "QUAL":
            status = "RECUP"  # a NIA is provisional in the national referential
        return Identity(
            ins,
            oid_of(ins),
            normalise_name(family),
            normalise_name(given),
            sex,
            birthdate.isoformat(),
            place,
            status,
        )

    def given(self, sex: str) -> str:
        pool = GIVEN_F if sex == "F" else GIVEN_M
        names = self.random.sample(pool, self.random.choice((1, 1, 2, 2, 3)))
        return " ".join(names)

    def birthdate(self, start: int = 1930, end: int = 2008) -> date:
        first = date(start, 1, 1)
        return first + timedelta(days=self.random.randrange((date(end, 12, 31) - first).days))

    def place(self) -> tuple[str, bool]:
        if self.random.random() < 0.12:
            return self.random.choice(BIRTHPLACES_ABROAD), self.random.random() < 0.4
        return self.random.choice(BIRTHPLACES_FRANCE), False


def _scenario(draw: _Draw) -> list[Identity]:
    """Patients with fixed traits, named in the docs and used by demos and tests."""
    d = date.fromisoformat
    return [
        draw.identity("Dupont", "Marie Louise", "F", d("1962-03-14"), "75111", "QUAL"),
        draw.identity("Leroy", "Paul", "M", d("1948-11-02"), "69381", "QUAL"),
        draw.identity("Bernard", "Sophie Anne", "F", d("1975-07-21"), "13201", "QUAL"),
        draw.identity("Petit", "Lucas", "M", d("2012-01-09"), "2A004", "VALI"),
        draw.identity("Ouédraogo", "Aminata", "F", d("1990-05-30"), "99341", "RECUP", nia=True),
        draw.identity("Martin", "Jean Pierre", "M", d("1980-05-12"), "75115", "QUAL"),
        draw.identity("Martin", "Jean Marc", "M", d("1980-05-12"), "31555", "QUAL"),
        draw.identity("Martin", "Jean", "M", d("1980-05-12"), "2B033", "VALI"),
        draw.identity("Lefèvre", "Hélène", "F", d("1955-09-03"), "59350", "QUAL"),
    ]


def generate() -> tuple[list[Identity], list[Beneficiary], dict[str, dict]]:
    """The whole population: identities, Vitale cards, and each DMP's facts."""
    draw = _Draw()
    people = _scenario(draw)
    while len(people) < POPULATION:
        sex = draw.random.choice(SEXES)
        family = draw.random.choice(FAMILIES)
        born = draw.birthdate()
        place, nia = draw.place()
        people.append(draw.identity(family, draw.given(sex), sex, born, place, nia=nia))
        if draw.random.random() < 0.04:
            # A homonym: same family name, first name, birth date and sex, born elsewhere.
            first = people[-1].given.split(" ")[0].title()
            other = draw.random.choice(BIRTHPLACES_FRANCE)
            people.append(draw.identity(family, first, sex, born, other))
    return people, _cards(draw, people), _dmps(draw, people)


def _cards(draw: _Draw, people: list[Identity]) -> list[Beneficiary]:
    adults = [p for p in people if p.birthdate < "2006-01-01"]
    children = [p for p in people if p.birthdate >= "2006-01-01"]
    cards = []
    for number, holder in enumerate(adults):
        serial = f"{1_000_000_000 + number * 7919:010d}"
        exemption = draw.random.choices(
            ["", "ALD", "CSS", "MATERNITE"], [82, 9, 7, 2 if holder.sex == "F" else 0]
        )[0]
        if not exemption and is_nia(holder.ins):
            # Drawn from no random number, so the rest of the population stays the same:
            # people still awaiting registration (a NIA) are the AME beneficiaries here.
            exemption = "AME"
        regime = draw.random.choices(["01", "02", "03"], [85, 10, 5])[0]
        coordinated = draw.random.random() < 0.85
        cards.append(Beneficiary(serial, 1, holder.ins, regime, 70, exemption, coordinated))
        kids = [c for c in children if c.family == holder.family][
            : draw.random.choice((0, 0, 1, 2))
        ]
        for rank, child in enumerate(kids, start=2):
            household = exemption if exemption == "AME" else ""
            cards.append(Beneficiary(serial, rank, child.ins, regime, 70, household, coordinated))
    return cards


def _dmps(draw: _Draw, people: list[Identity]) -> dict[str, dict]:
    dmps = {}
    for index, person in enumerate(people):
        if index > 8 and draw.random.random() < 0.12:
            continue  # no DMP
        closed = index == 1 or (index > 8 and draw.random.random() < 0.04)
        blocked = [URGENTISTE] if index == 2 or (index > 8 and draw.random.random() < 0.02) else []
        documents = []
        for number in range(draw.random.randint(2, 14) if index != 0 else 12):
            loinc = draw.random.choice(list(DOCUMENT_TYPES))
            author = draw.random.choice(AUTHORS)
            created = draw.birthdate(2012, 2026)
            documents.append(
                {
                    "loinc": loinc,
                    "author": author,
                    "created": created.isoformat(),
                    "masked": (index == 0 and number == 0) or draw.random.random() < 0.03,
                    "invisible": (index == 0 and number == 1) or draw.random.random() < 0.02,
                    "html": draw.random.random() < 0.3,
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


def ensure_population(db: Database) -> None:
    """Seed the population once; a no-op (one query) when it is already there."""
    if db.one("SELECT 1 FROM patients LIMIT 1"):
        return
    people, cards, dmps = generate()
    with db.write() as conn:
        if conn.execute("SELECT 1 FROM patients LIMIT 1").fetchone():
            return  # another process seeded it meanwhile
        _insert(conn, people, cards, dmps)


def _insert(
    conn: sqlite3.Connection,
    people: list[Identity],
    cards: list[Beneficiary],
    dmps: dict[str, dict],
) -> None:
    conn.executemany(
        "INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (p.ins, p.oid, p.family, p.given, p.sex, p.birthdate, p.birthplace, p.status)
            for p in people
        ],
    )
    conn.executemany(
        "INSERT INTO card_beneficiaries VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (c.serial, c.rank, c.ins, c.regime, c.rate, c.exemption, int(c.coordinated))
            for c in cards
        ],
    )
    by_ins = {p.ins: p for p in people}
    for ins, dmp in dmps.items():
        conn.execute("INSERT INTO dmps VALUES (?, ?)", (ins, "closed" if dmp["closed"] else "open"))
        conn.executemany(
            "INSERT INTO dmp_blocks VALUES (?, ?)", [(ins, nid) for nid in dmp["blocked"]]
        )
        for number, doc in enumerate(dmp["documents"]):
            content_type, content = _content(by_ins[ins], doc)
            conn.execute(
                "INSERT INTO dmp_documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'current')",
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
