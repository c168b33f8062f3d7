"""The launcher's identity store: the confidence status of each patient's identity.

The status is the structure's, given by its identity-vigilance process (RNIV), never by
INSi: an identity found by INSi is *récupérée*; an identity whose high-trust document
(passport, identity card, residence permit…) the professional checked is *validée*;
both make it *qualifiée*, and only a qualified INS may be shared (DMP, prescriptions).
Without either fact, the identity is *provisoire*.

One SQLite file per profile in the data folder (`identities-PROFILE.sqlite3`): the
launcher's own, on the professional's machine, never the platform's. Each fact records
who (the professional's name and national id) and when.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from pathlib import Path

from bsp_tui.domain.patients import Identity
from bsp_tui.sqlite import SqliteFile
from connectors.kit.errors import NOT_ALLOWED, ConnectorError
from connectors.kit.local import profile_data

STORE_STEM, STORE_SUFFIX = "identities", ".sqlite3"

PROVISOIRE, RECUPEREE, VALIDEE, QUALIFIEE = "PROV", "RECUP", "VALI", "QUAL"
STATUS_LABELS = {
    PROVISOIRE: "provisoire",
    RECUPEREE: "récupérée",
    VALIDEE: "validée",
    QUALIFIEE: "qualifiée",
}
# The high-trust documents of the RNIV; a minor's family record book or birth
# certificate counts with a legal representative's own high-trust document.
DOCUMENTS = {
    "passeport": "passeport",
    "cni": "carte nationale d'identité",
    "titre_sejour": "titre de séjour",
    "livret_famille": "livret de famille (mineur, avec la pièce d'un représentant légal)",
    "acte_naissance": "extrait d'acte de naissance (mineur, avec la pièce d'un représentant légal)",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    ins TEXT PRIMARY KEY, oid TEXT NOT NULL DEFAULT '', family TEXT NOT NULL DEFAULT '',
    given TEXT NOT NULL DEFAULT '', sex TEXT NOT NULL DEFAULT '',
    birthdate TEXT NOT NULL DEFAULT '', birthplace TEXT NOT NULL DEFAULT '',
    retrieved REAL, retrieved_by TEXT NOT NULL DEFAULT '',
    document TEXT NOT NULL DEFAULT '', validated REAL, validated_by TEXT NOT NULL DEFAULT ''
);
"""


def not_qualified_reason(ins: str, status: str) -> str:
    """Why an INS may not be shared yet, in French (the screens offer to qualify it)."""
    return (
        f"Identité {STATUS_LABELS[status]}, non qualifiée : l'INS {ins} ne se partage "
        "qu'une fois l'identité qualifiée (récupérée par INSi et vérifiée sur une pièce "
        "d'identité à haut niveau de confiance)."
    )


class NotQualifiedError(ConnectorError):
    """The INS of an identity that is not qualified: it may not be shared (exit 4)."""

    def __init__(self, ins: str, status: str) -> None:
        super().__init__(
            NOT_ALLOWED,
            f"{not_qualified_reason(ins, status)} Qualifiez-la : bsp ins qualify {ins} "
            "--document cni (ou passeport, titre_sejour…).",
            code="not_qualified",
        )
        self.ins = ins
        self.identity_status = status


@dataclass(frozen=True)
class LocalIdentity:
    """What the store knows of one INS: the traits INSi gave, and both facts."""

    ins: str
    family: str
    given: str
    retrieved: float | None
    retrieved_by: str
    document: str
    validated: float | None
    validated_by: str

    @property
    def status(self) -> str:
        """`QUAL`, `RECUP`, `VALI` or `PROV`, from the facts recorded."""
        if self.retrieved is not None:
            return QUALIFIEE if self.validated is not None else RECUPEREE
        return VALIDEE if self.validated is not None else PROVISOIRE

    @property
    def status_label(self) -> str:
        """The status in French."""
        return STATUS_LABELS[self.status]

    def as_json(self) -> dict[str, object]:
        """The CLI's JSON shape (times in ISO 8601, UTC)."""
        return {
            "ins": self.ins,
            "status": self.status,
            "retrieved": _iso(self.retrieved),
            "retrieved_by": self.retrieved_by,
            "document": self.document,
            "validated": _iso(self.validated),
            "validated_by": self.validated_by,
        }


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment).astimezone().isoformat(timespec="seconds")


def identities_path(data: Path, profile: str) -> Path:
    """Where a profile's identity store lives (`profile_data` names the configured one's)."""
    return data / f"{STORE_STEM}-{profile}{STORE_SUFFIX}"


def document_problem(document: str) -> str | None:
    """Why `document` is not one of the high-trust documents, or None."""
    if document in DOCUMENTS:
        return None
    return "pièce à haut niveau de confiance attendue : " + ", ".join(DOCUMENTS)


class IdentityStore:
    """The identity store of one profile (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = SqliteFile(path, SCHEMA)

    @classmethod
    def of_profile(cls) -> IdentityStore:
        """The configured profile's store (`BSP_PROFILE`, under `BSP_HOME`)."""
        return cls(profile_data(STORE_STEM, STORE_SUFFIX))

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def retrieved(self, identity: Identity, by: str) -> LocalIdentity:
        """Record that INSi gave this identity (its traits as INSi gave them)."""
        self.all_retrieved([identity], by)
        return self.require(identity.ins)

    def all_retrieved(self, identities: Sequence[Identity], by: str) -> None:
        """Record that INSi gave each of these identities, in one transaction: a batch
        records its rows' identities a group at a time, not a commit (and its wait for
        the disk) each."""
        if not identities:
            return
        now = time.time()
        with self.db.write() as conn:
            conn.executemany(
                "INSERT INTO identities (ins, oid, family, given, sex, birthdate, birthplace,"
                " retrieved, retrieved_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (ins) DO UPDATE SET oid = excluded.oid, family = excluded.family,"
                " given = excluded.given, sex = excluded.sex, birthdate = excluded.birthdate,"
                " birthplace = excluded.birthplace, retrieved = excluded.retrieved,"
                " retrieved_by = excluded.retrieved_by",
                [(*astuple(identity), now, by) for identity in identities],
            )

    def validated(self, ins: str, document: str, by: str) -> LocalIdentity:
        """Record that the professional checked this identity on a high-trust document."""
        problem = document_problem(document)
        if problem:
            raise ValueError(problem)
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO identities (ins, document, validated, validated_by)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (ins) DO UPDATE SET"
                " document = excluded.document, validated = excluded.validated,"
                " validated_by = excluded.validated_by",
                (ins, document, time.time(), by),
            )
        return self.require(ins)

    def get(self, ins: str) -> LocalIdentity | None:
        """What the store knows of this INS, or None."""
        row = self.db.one("SELECT * FROM identities WHERE ins = ?", (ins,))
        if row is None:
            return None
        return LocalIdentity(
            row["ins"],
            row["family"],
            row["given"],
            row["retrieved"],
            row["retrieved_by"],
            row["document"],
            row["validated"],
            row["validated_by"],
        )

    def require(self, ins: str) -> LocalIdentity:
        """What the store knows of this INS (it must know it)."""
        found = self.get(ins)
        assert found is not None, ins
        return found

    def status(self, ins: str) -> str:
        """The identity's status: `PROV` for an INS the store does not know."""
        found = self.get(ins)
        return found.status if found else PROVISOIRE

    def check_qualified(self, ins: str) -> None:
        """Raise `NotQualifiedError` (exit 4) unless this INS's identity is qualified."""
        status = self.status(ins)
        if status != QUALIFIEE:
            raise NotQualifiedError(ins, status)


def professional_label(name: str, national_id: str) -> str:
    """How a fact names who recorded it."""
    return f"{name} ({national_id})" if national_id else name
