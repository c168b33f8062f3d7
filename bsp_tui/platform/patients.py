"""The patient registry's read API: identities and Vitale cards, as services read them.

The platform owns the `patients` and `card_beneficiaries` tables; services ask here
rather than query them, so that those tables can change without touching a service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bsp_tui.domain.patients import Identity
from bsp_tui.platform.db import Database


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


def _identity(row: Any) -> Identity:
    return Identity(*(row[name] for name in Identity.__dataclass_fields__))


def _beneficiary(row: Any) -> Beneficiary:
    return Beneficiary(
        row["serial"],
        row["rank"],
        row["ins"],
        row["regime"],
        row["rate"],
        row["exemption"],
        bool(row["coordinated"]),
    )


class Patients:
    """Read access to the synthetic population (patients and their Vitale cards), for one
    service request: a patient read once is not read again through the same object."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # A service request reads its patient several times (the parameter's check, then
        # the rules): once per request is enough, and one request's reads are all this
        # object sees (the services make one per request).
        self._by_ins: dict[str, Identity | None] = {}

    def by_ins(self, ins: str) -> Identity | None:
        """The identity this INS names, if any."""
        if ins not in self._by_ins:
            row = self._db.one("SELECT * FROM patients WHERE ins = :ins", {"ins": ins})
            self._by_ins[ins] = None if row is None else _identity(row)
        return self._by_ins[ins]

    def by_traits(self, family: str, birthdate: str, sex: str) -> list[Identity]:
        """Every identity of that (normalised) birth name, birth date and sex, in seeding
        order."""
        rows = self._db.all(
            "SELECT * FROM patients WHERE family = :family AND birthdate = :birthdate"
            " AND sex = :sex ORDER BY seq",
            {"family": family, "birthdate": birthdate, "sex": sex},
        )
        return [_identity(row) for row in rows]

    def card(self, serial: str) -> list[tuple[Beneficiary, Identity]]:
        """The beneficiaries a Vitale card carries, by rank, with their identities."""
        rows = self._db.all(
            "SELECT c.serial, c.rank, c.regime, c.rate, c.exemption, c.coordinated, p.* "
            "FROM card_beneficiaries c JOIN patients p ON p.ins = c.ins WHERE c.serial = :serial "
            "ORDER BY c.rank",
            {"serial": serial},
        )
        return [(_beneficiary(row), _identity(row)) for row in rows]

    def ame_of(self, ins: str) -> str | None:
        """The number of the patient's AME admission document, or None (no AME)."""
        row = self._db.one(
            "SELECT number FROM ame_admissions WHERE ins = :ins ORDER BY number LIMIT 1",
            {"ins": ins},
        )
        return None if row is None else str(row["number"])

    def card_of(self, ins: str) -> Beneficiary | None:
        """The card that carries a patient's rights: a child on two cards is read on the
        lowest rank, then the first card."""
        row = self._db.one(
            "SELECT * FROM card_beneficiaries WHERE ins = :ins ORDER BY rank, serial LIMIT 1",
            {"ins": ins},
        )
        return None if row is None else _beneficiary(row)
