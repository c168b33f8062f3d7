"""Patients: the identity number (INS: NIR or NIA) and its key, the five traits and their
normalisation, the identity INSi answers, and the patient context every connector shares.

Shared by the clients (which check input before any request), the emulated services and
the platform's seed data.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

OID_NIR = "1.2.250.1.213.1.4.8"
OID_NIA = "1.2.250.1.213.1.4.9"
OID_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_NIR_DEMO = "1.2.250.1.213.1.4.11"
SEXES = ("F", "M")
NAME_MAX = 100

_INS = re.compile(r"[1278][0-9]{2}(?:0[1-9]|1[0-2]|[2-9][0-9])(?:[0-9]{2}|2[AB])[0-9]{6}[0-9]{2}")
_COG = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{3}")
_NAME_ALLOWED = re.compile(r"[A-Z' -]+")
_NORMAL = re.compile(r"(?:[A-Z'-]+(?: [A-Z'-]+)*)?")


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


# Latin letters that do not decompose into a base letter and accents, spelt out as
# French civil registers do; typographic apostrophes and hyphens become ASCII ones.
_SPELT_OUT = str.maketrans(
    {
        "Æ": "AE",
        "Œ": "OE",
        "Ð": "D",
        "Đ": "D",
        "Ø": "O",
        "Þ": "TH",
        "Ħ": "H",
        "Ł": "L",
        "Ŋ": "N",
        "Ŧ": "T",
        "ĸ": "K",
        "·": "",
        "’": "'",
        "‘": "'",
        "ʼ": "'",
        "´": "'",
        "`": "'",
        "′": "'",
        "‐": "-",
        "‑": "-",
    }
)


def _without_marks(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))


def _normalise_once(value: str) -> str:
    # Marks go before capitals too: some (the Greek ypogegrammeni) have a capital letter.
    upper = _without_marks(value.translate(_SPELT_OUT)).upper()
    stripped = _without_marks(upper.translate(_SPELT_OUT)).translate(_SPELT_OUT)
    return re.sub(r"\s+", " ", stripped).strip()


def normalise_name(value: str) -> str:
    """A trait as INS keeps it: capitals without diacritics; hyphens and apostrophes kept.

    Typographic apostrophes become `'`, ligatures and letters without a decomposition
    are spelt out (Œ → OE, Æ → AE, ß → SS, Ø → O, Ł → L), runs of spaces collapse and
    the result is trimmed. Idempotent: a normalised name normalises to itself (the
    steps repeat until nothing changes, since capitals or decompositions of rare
    characters may themselves need another pass).
    """
    if _NORMAL.fullmatch(value):
        return value  # already normal: the common case of a batch's second check
    for _ in range(8):
        again = _normalise_once(value)
        if again == value:
            break
        value = again
    return value


def sex_problem(value: str) -> str | None:
    """Why `value` is not a sex as INS records it (F or M), or None."""
    if value not in SEXES:
        return "le sexe s'écrit F ou M"
    return None


def card_serial_problem(value: str) -> str | None:
    """Why `value` is not a Vitale card serial number of the emulation (10 digits), or None."""
    if len(value) != 10 or not value.isascii() or not value.isdigit():
        return "le numéro de série de la carte Vitale compte 10 chiffres"
    return None


def name_problem(value: str, what: str = "le nom") -> str | None:
    """Why a (normalised) name cannot be an INS trait, or None; `what` names it in the reason."""
    if not value:
        return f"{what} est vide"
    if len(value) > NAME_MAX:
        return f"{what} compte au plus {NAME_MAX} caractères"
    if not _NAME_ALLOWED.fullmatch(value):
        return f"{what} ne contient que des lettres, espaces, tirets et apostrophes"
    return None


@dataclass(frozen=True)
class Identity:
    """An identity as INSi answers it: matricule, OID and the five traits.

    INSi gives no confidence status: the structure's identity vigilance does
    (`connectors.kit.identities`)."""

    ins: str
    oid: str
    family: str
    given: str
    sex: str
    birthdate: str
    birthplace: str

    @property
    def first_given(self) -> str:
        """The first of the birth first names."""
        return self.given.split(" ")[0]


@dataclass(frozen=True)
class Traits:
    """What a lookup by traits gives: birth name, birth first names, sex, birth date, and
    optionally the birthplace (INSEE COG code)."""

    family: str
    given: str
    sex: str
    birthdate: str
    birthplace: str = ""

    def normalised(self) -> Traits:
        """The traits as INS compares them: names normalised, codes in capitals."""
        return Traits(
            normalise_name(self.family),
            normalise_name(self.given),
            self.sex.strip().upper(),
            self.birthdate.strip(),
            self.birthplace.strip().upper(),
        )

    def problem(self, partial: bool = False) -> tuple[str, str] | None:
        """The first `(field, reason)` that makes these traits unusable, or None.

        Checks the normalised form, so "élise" and "ÉLISE" are the same valid name.
        With `partial`, absent (empty) traits are not checked; the birthplace is
        always optional.
        """
        return self.normalised().problem_as_is(partial)

    def problem_as_is(self, partial: bool = False) -> tuple[str, str] | None:
        """As `problem`, for traits already normalised (nothing is normalised again)."""
        checks = (
            ("family", lambda v: name_problem(v, "le nom de naissance")),
            ("given", lambda v: name_problem(v, "le prénom")),
            ("sex", sex_problem),
            ("birthdate", birthdate_problem),
            ("birthplace", cog_problem),
        )
        for name, check in checks:
            value = getattr(self, name)
            if not value and (partial or name == "birthplace"):
                continue
            reason = check(value)
            if reason:
                return name, reason
        return None


def identity_of(data: dict[str, Any]) -> Identity:
    """An Identity from its JSON form (unknown keys ignored)."""
    return Identity(**{name: str(data[name]) for name in Identity.__dataclass_fields__})


@dataclass(frozen=True)
class PatientContext:
    """The patient the professional is working on, shared by every connector's view.

    Set from an identity (the INS connector's choice); the others read it to know whose
    record, prescription or care sheet they work on."""

    ins: str
    oid: str
    family: str
    given: str
    sex: str
    birthdate: str
    birthplace: str = ""

    @classmethod
    def of(cls, identity: Identity) -> PatientContext:
        """The context an identity gives."""
        return cls(
            identity.ins,
            identity.oid,
            identity.family,
            identity.given,
            identity.sex,
            identity.birthdate,
            identity.birthplace,
        )

    @property
    def label(self) -> str:
        """How screens name the patient: birth name, first names and INS."""
        return f"{self.family} {self.given} — INS {self.ins}"
