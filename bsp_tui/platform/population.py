"""The emulated platform's synthetic population: patients and Vitale cards.

Generated deterministically (a fixed seed) into the platform's database when the
platform opens, followed by each connector's own seed data (a DMP's documents, say),
drawn on from the same generator. Names and numbers are synthetic; the NIR/NIA keys
are valid. A few scenario patients come first, with fixed traits, so that demos and
tests can name them; the rest is drawn at random.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any, NamedTuple

from bsp_tui.domain.patients import SEXES, Identity, ins_key, normalise_name, oid_of
from bsp_tui.platform.db import Database, Tx
from bsp_tui.platform.patients import Beneficiary
from bsp_tui.platform.tables import PLATFORM
from connectors.base import registry

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
        nia: bool = False,
        drawn: bool = True,
    ) -> Identity:
        ins = make_ins(sex, birthdate, place, self.order(sex, birthdate, place), nia)
        if drawn:
            # Where a national status was drawn once (a status is local now): the draw
            # stays, so that the population and every connector's seed after it stay
            # those the platforms already hold.
            self.random.random()
        return Identity(
            ins,
            oid_of(ins),
            normalise_name(family),
            normalise_name(given),
            sex,
            birthdate.isoformat(),
            place,
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
        draw.identity("Dupont", "Marie Louise", "F", d("1962-03-14"), "75111", drawn=False),
        draw.identity("Leroy", "Paul", "M", d("1948-11-02"), "69381", drawn=False),
        draw.identity("Bernard", "Sophie Anne", "F", d("1975-07-21"), "13201", drawn=False),
        draw.identity("Petit", "Lucas", "M", d("2012-01-09"), "2A004", drawn=False),
        draw.identity("Ouédraogo", "Aminata", "F", d("1990-05-30"), "99341", nia=True, drawn=False),
        draw.identity("Martin", "Jean Pierre", "M", d("1980-05-12"), "75115", drawn=False),
        draw.identity("Martin", "Jean Marc", "M", d("1980-05-12"), "31555", drawn=False),
        draw.identity("Martin", "Jean", "M", d("1980-05-12"), "2B033", drawn=False),
        draw.identity("Lefèvre", "Hélène", "F", d("1955-09-03"), "59350", drawn=False),
    ]


class Population(NamedTuple):
    """The platform's people, Vitale cards and AME admissions, and the generator's state
    after them."""

    people: list[Identity]
    cards: list[Beneficiary]
    random_state: Any
    admissions: list[tuple[str, str]]  # (AME number, INS): no Vitale card for them


# The scenario's AME holder, by traits (docs/emulation.md); the others are every 37th adult
# with no other exemption, drawn from no random number so that the rest stays the same.
AME_SCENARIO = ("OUEDRAOGO", "1990-05-30")
AME_EVERY = 37


@cache
def generate() -> Population:
    """The whole population: identities and Vitale cards (the same every time)."""
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
    cards, admissions = _cards(draw, people)
    return Population(people, cards, draw.random.getstate(), admissions)


def _cards(draw: _Draw, people: list[Identity]) -> tuple[list[Beneficiary], list[tuple[str, str]]]:
    """The Vitale cards, and the AME admissions of the households that have none.

    The aide médicale de l'État has nothing to do with a NIA: its holders are chosen by
    position (and the scenario's), not by their number.
    """
    adults = [p for p in people if p.birthdate < "2006-01-01"]
    children = [p for p in people if p.birthdate >= "2006-01-01"]
    cards: list[Beneficiary] = []
    admissions: list[tuple[str, str]] = []
    for number, holder in enumerate(adults):
        serial = f"{1_000_000_000 + number * 7919:010d}"
        exemption = draw.random.choices(
            ["", "ALD", "CSS", "MATERNITE"], [82, 9, 7, 2 if holder.sex == "F" else 0]
        )[0]
        scenario = (holder.family, holder.birthdate) == AME_SCENARIO
        ame = scenario or (not exemption and number % AME_EVERY == AME_EVERY // 3)
        regime = draw.random.choices(["01", "02", "03"], [85, 10, 5])[0]
        coordinated = draw.random.random() < 0.85
        kids = [c for c in children if c.family == holder.family][
            : draw.random.choice((0, 0, 1, 2))
        ]
        if ame:
            # A paper admission document for each member of the household, no card.
            for rank, person in enumerate([holder, *kids], start=1):
                admissions.append((f"AME{serial}{rank:02d}", person.ins))
            continue
        cards.append(Beneficiary(serial, 1, holder.ins, regime, 70, exemption, coordinated))
        for rank, child in enumerate(kids, start=2):
            cards.append(Beneficiary(serial, rank, child.ins, regime, 70, "", coordinated))
    # A child of an AME household listed on another household's card is not on it either.
    admitted = {ins for _, ins in admissions}
    return [c for c in cards if c.ins not in admitted], admissions


@dataclass(frozen=True)
class Seeding:
    """What a connector's seed is given when the platform opens: the database, and the
    population the platform generated (its patients, its Vitale cards).

    A connector drawing its own data goes on from `population.random_state`, the state
    the platform's draw left its generator in: it gets the same data every time, whatever
    the other connectors draw.
    """

    db: Database

    @property
    def population(self) -> Population:
        """The population, generated on first need (seeds already done need none)."""
        return generate()

    @property
    def people(self) -> list[Identity]:
        """Every patient, in seeding order (the scenario patients first)."""
        return self.population.people


def ensure_population(db: Database) -> None:
    """Seed the population, then each connector's tables and data; each part only once
    (a query when it is already there)."""
    db.ensure(PLATFORM)
    if not db.one("SELECT 1 FROM patients LIMIT 1"):
        population = generate()
        with db.write() as conn:
            conn.serialize("population")
            if not conn.one("SELECT 1 FROM patients LIMIT 1"):
                _insert(conn, population)  # unless another process seeded it meanwhile
    seeding = Seeding(db)
    for connector in registry():
        seed = connector.load_seed()
        if seed is not None:
            seed(seeding)


def _insert(conn: Tx, population: Population) -> None:
    conn.execute(
        "INSERT INTO patients (ins, oid, family, given, sex, birthdate, birthplace, seq)"
        " VALUES (:ins, :oid, :family, :given, :sex, :birthdate, :birthplace, :seq)",
        [asdict(p) | {"seq": seq} for seq, p in enumerate(population.people, 1)],
    )
    conn.execute(
        "INSERT INTO card_beneficiaries (serial, rank, ins, regime, rate, exemption, coordinated)"
        " VALUES (:serial, :rank, :ins, :regime, :rate, :exemption, :coordinated)",
        [asdict(c) | {"coordinated": int(c.coordinated)} for c in population.cards],
    )
    conn.execute(
        "INSERT INTO ame_admissions (number, ins) VALUES (:number, :ins)",
        [{"number": number, "ins": ins} for number, ins in population.admissions],
    )
