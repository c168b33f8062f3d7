"""INS domain: the identity number (NIR or NIA) and its key, the five traits, normalisation.

Shared by the client (which checks input before any request) and the emulated INSi.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

OID_NIR = "1.2.250.1.213.1.4.8"
OID_NIA = "1.2.250.1.213.1.4.9"
OID_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_NIR_DEMO = "1.2.250.1.213.1.4.11"
STATUSES = ("PROV", "VALI", "RECUP", "QUAL")
SEXES = ("F", "M")

_INS = re.compile(r"[1278][0-9]{2}(?:0[1-9]|1[0-2]|[2-9][0-9])(?:[0-9]{2}|2[AB])[0-9]{6}[0-9]{2}")
_COG = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{3}")
_NAME_ALLOWED = re.compile(r"[A-Z' -]+")


def ins_key(body: str) -> str:
    """The 2-digit key of a 13-character NIR/NIA body: 97 − (body mod 97).

    Corsica's `2A` and `2B` count as 19 and 18 (INSEE's rule).
    """
    digits = body[:5] + body[5:7].replace("2A", "19").replace("2B", "18") + body[7:]
    return f"{97 - int(digits) % 97:02d}"


def ins_problem(value: str) -> str | None:
    """Why `value` is not a well-formed INS matricule (NIR or NIA), or None."""
    if len(value) != 15:
        return "l'INS compte 15 caractères (13 + clé à 2 chiffres)"
    if not value.isascii() or not _INS.fullmatch(value):
        return "l'INS commence par 1, 2 (NIR) ou 7, 8 (NIA), puis année, mois, lieu, rang, clé"
    if ins_key(value[:13]) != value[13:]:
        return "la clé de l'INS ne correspond pas : vérifiez la saisie"
    return None


def is_nia(value: str) -> bool:
    """A NIA (identification number pending a NIR) starts with 7 or 8."""
    return value[:1] in ("7", "8")


def oid_of(value: str) -> str:
    """The OID of the emulation's authority for that matricule (test OIDs for NIR)."""
    return OID_NIA if is_nia(value) else OID_NIR_TEST


def cog_problem(value: str) -> str | None:
    """Why `value` is not an INSEE birthplace code (COG), or None; 99xxx is abroad."""
    if not value.isascii() or not _COG.fullmatch(value):
        return "le lieu de naissance est un code INSEE à 5 caractères (ex. 75111, 2A004, 99350)"
    return None


def birthdate_problem(value: str) -> str | None:
    """Why `value` is not a birth date YYYY-MM-DD in the past, or None."""
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return "la date de naissance s'écrit AAAA-MM-JJ"
    if len(value) != 10:
        return "la date de naissance s'écrit AAAA-MM-JJ"
    if parsed > date.today() or parsed.year < 1880:
        return "la date de naissance n'est pas plausible"
    return None


def normalise_name(value: str) -> str:
    """A trait as INS keeps it: capitals without diacritics; hyphens and apostrophes kept.

    Typographic apostrophes become `'`, ligatures are spelt out (Œ → OE, Æ → AE),
    runs of spaces collapse and the result is trimmed.
    """
    value = value.replace("’", "'").replace("‘", "'").replace("œ", "oe").replace("Œ", "OE")
    value = value.replace("æ", "ae").replace("Æ", "AE").replace("ß", "SS")
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c)
    )
    upper = stripped.upper()
    return re.sub(r"\s+", " ", upper).strip()


def name_problem(value: str) -> str | None:
    """Why a (normalised) name cannot be an INS trait, or None."""
    if not value:
        return "le nom est vide"
    if not _NAME_ALLOWED.fullmatch(value):
        return "le nom ne contient que des lettres, espaces, tirets et apostrophes"
    return None


@dataclass(frozen=True)
class Identity:
    """An identity as INSi answers it: matricule, OID, the five traits, status."""

    ins: str
    oid: str
    family: str
    given: str
    sex: str
    birthdate: str
    birthplace: str
    status: str

    @property
    def first_given(self) -> str:
        """The first of the birth first names."""
        return self.given.split(" ")[0]
