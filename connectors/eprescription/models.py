"""E-prescription domain: CIP13 codes, the prescription number, lines, the access matrix.

Shared by the client (which checks input before any request) and the emulated service
(which enforces the rules). The national API's operations and number format are not
published: the number, its check character, the QR payload and the matrix below are
the emulation's own, written down in docs/emulation.md.
"""

from __future__ import annotations

import calendar
import io
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import segno

from bsp_tui.domain.professions import INFIRMIER, MEDECIN, PHARMACIEN

# The access matrix: who may do what. Professions not listed (the secrétaire médicale,
# `SECR`, among them) get nothing.
PRESCRIBERS = frozenset({MEDECIN})
DISPENSERS = frozenset({PHARMACIEN})
READERS = frozenset({MEDECIN, PHARMACIEN, INFIRMIER})

# The service's refusal codes and their HTTP status: 403 for who may do what, 409 for
# what the prescription's state allows.
REFUSALS = {
    "profession": 403,
    "not_prescriber": 403,
    "not_pharmacist": 403,
    "not_author": 403,
    "already_dispensed": 409,
    "cancelled": 409,
    "expired": 409,
    "exceeds_remaining": 409,
    "non_substitutable": 409,
    "agreement_required": 409,
}

PRESCRIPTION_LOINC = "57833-6"  # the DMP's "Prescription de médicaments"

# FHIR systems, all the emulation's own.
CIP13_SYSTEM = "urn:bsp:cip13"  # the catalogue's codes (well formed, not real products)
NUMBER_SYSTEM = "urn:bsp:eprescription:number"
REFUSAL_SYSTEM = "urn:bsp:eprescription:refusal"
DMP_COPY_SYSTEM = "urn:bsp:eprescription:dmp-copy"
DISPENSING_SYSTEM = "urn:bsp:eprescription:dispensing"  # a dispensing's rank: 1, 2, …
NON_SUBSTITUTABLE_SYSTEM = "urn:bsp:eprescription:non-substitutable"
AGREEMENT_URL = "urn:bsp:eprescription:prescriber-agreement"  # an extension, valueDate
OPPOSITION_SYSTEM = "urn:bsp:eprescription:opposition"

# The three situations in which a prescriber may write "non substituable", each with its
# mention (arrêté du 12 novembre 2019, art. L. 5125-23 of the Code de la santé publique).
NON_SUBSTITUTABLE = {
    "MTE": "marge thérapeutique étroite",
    "EFG": "enfant de moins de 6 ans, aucun générique à la forme adaptée",
    "CIF": "contre-indication formelle et démontrée à un excipient",
}
# "À renouveler N fois": at most eleven renewals, twelve months of treatment (R. 5132-21).
MAX_RENEWALS = 11
# A prescription is first dispensed within three months of its date (R. 5132-22), and
# dispensed at all within twelve months (R. 5132-21).
FIRST_DISPENSING_MONTHS = 3
VALIDITY_MONTHS = 12

MAX_LINES = 20
MAX_DOSAGE_CHARS = 200
MAX_BOXES = 12
MAX_DURATION_DAYS = 365

# The prescription number: 12 random characters of Crockford's base 32 (no I, L, O, U:
# nothing to misread on paper) and a check character computed by Luhn mod 32, which
# catches every mistyped character. Shown in groups of four: `ABCD-EFGH-JKMN-P`.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NUMBER_BODY = 12
# What a typist may write for a letter the alphabet leaves out.
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
# The QR code carries this prefix and the compact number: all in QR's alphanumeric mode
# (a smaller code), and versioned should the payload ever change.
QR_PREFIX = "RX1:"

# How each line was dispensed.
DISPENSED = "dispensed"
SUBSTITUTED = "substituted"
NOT_DISPENSED = "not_dispensed"
OUTCOMES = (DISPENSED, SUBSTITUTED, NOT_DISPENSED)
OUTCOME_LABELS = {DISPENSED: "délivré", SUBSTITUTED: "substitué", NOT_DISPENSED: "non délivré"}

# Prescription statuses (FHIR MedicationRequest.status of its lines).
ACTIVE = "active"
COMPLETED = "completed"
CANCELLED = "cancelled"
EXPIRED = "stopped"  # active, its validity passed (computed when read, never stored)
STATUS_LABELS = {
    ACTIVE: "à délivrer",
    COMPLETED: "délivrée",
    CANCELLED: "annulée",
    EXPIRED: "expirée",
}
PARTLY = "délivrée en partie"  # active, some of it delivered


# -- CIP13 ------------------------------------------------------------------------------


def ean13_check_digit(body: str) -> str:
    """The EAN-13 check digit of 12 digits (weights 1 and 3 from the left)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return str(-total % 10)


def cip13_problem(code: str) -> str | None:
    """Why `code` is not a well-formed CIP13, in French, or None."""
    if not (len(code) == 13 and code.isdigit()):
        return "un CIP13 compte 13 chiffres"
    if not code.startswith("3400"):
        return "un CIP13 commence par 3400"
    if ean13_check_digit(code[:12]) != code[12]:
        return "la clé du CIP13 ne correspond pas"
    return None


# -- the prescription number ------------------------------------------------------------


def check_character(body: str) -> str:
    """The Luhn mod 32 check character of a body written in ALPHABET."""
    total, double = 0, True
    for char in reversed(body):
        value = ALPHABET.index(char) * (2 if double else 1)
        total += value // 32 + value % 32
        double = not double
    return ALPHABET[-total % 32]


def new_number() -> str:
    """A fresh prescription number, compact (13 characters, check included)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(NUMBER_BODY))
    return body + check_character(body)


def format_number(compact: str) -> str:
    """The number as printed: groups of four, the check character last."""
    return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def number_problem(text: str) -> str | None:
    """Why `text` is not a prescription number (typed or scanned), in French, or None."""
    try:
        parse_number(text)
    except ValueError as error:
        return str(error)
    return None


def parse_number(text: str) -> str:
    """The compact number from what was typed or scanned; ValueError (French) otherwise.

    Case, spaces and hyphens do not matter, O reads as 0 and I or L as 1, and the QR
    code's payload (`RX1:…`) is accepted as it is.
    """
    value = text.strip().upper()
    value = value.removeprefix(QR_PREFIX)
    value = re.sub(r"[\s-]", "", value).translate(_READ_AS)
    if len(value) != NUMBER_BODY + 1:
        raise ValueError(f"un numéro d'ordonnance compte {NUMBER_BODY + 1} caractères")
    if any(char not in ALPHABET for char in value):
        raise ValueError("un numéro d'ordonnance s'écrit en chiffres et lettres (sans U)")
    if check_character(value[:-1]) != value[-1]:
        raise ValueError("le caractère de contrôle ne correspond pas (numéro mal saisi ?)")
    return value


# -- the QR code ------------------------------------------------------------------------


def qr_payload(number: str) -> str:
    """What the QR code holds: the prefix and the compact number."""
    return QR_PREFIX + parse_number(number)


def qr_code(number: str) -> segno.QRCode:
    """The prescription's QR code (error correction M: readable from a creased print)."""
    return segno.make(qr_payload(number), error="m", boost_error=False)


def qr_text(number: str) -> str:
    """The QR code in half-block characters, two modules a character, for a terminal."""
    out = io.StringIO()
    qr_code(number).terminal(out=out, compact=True, border=2)
    return out.getvalue().rstrip("\n")


def save_qr(number: str, path: Path) -> None:
    """Write the QR code to `path`, as SVG or PNG after its suffix (ValueError otherwise)."""
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("svg", "png"):
        raise ValueError("le fichier du QR code doit finir par .svg ou .png")
    qr_code(number).save(str(path), kind=kind, scale=8, border=4)


# -- lines --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineRequest:
    """One line as the prescriber writes it: a medication, how to take it, how much.

    Exactly one of `boxes` (a number of boxes) and `duration_days` (a treatment length)
    is given; `renewals` is "à renouveler N fois" (that quantity N more times), and
    `non_substitutable` the mention's code (`MTE`, `EFG`, `CIF`) or "".
    """

    cip13: str
    dosage: str
    boxes: int | None = None
    duration_days: int | None = None
    renewals: int = 0
    non_substitutable: str = ""


def quantity_of(text: str) -> tuple[int | None, int | None]:
    """(boxes, duration in days) from `2` / `2 boîtes` (boxes) or `30j` / `30 jours` (days)."""
    value = text.strip().lower()
    match = re.fullmatch(r"(\d{1,4})\s*(?:bo[iî]tes?|(j|jours?|d|days?))?", value)
    if match is None:
        raise ValueError(
            f"quantité « {text.strip()} » : un nombre de boîtes (2) ou une durée (30j)"
        )
    count, unit = int(match.group(1)), match.group(2)
    if unit:
        if not 1 <= count <= MAX_DURATION_DAYS:
            raise ValueError(f"durée : de 1 à {MAX_DURATION_DAYS} jours")
        return None, count
    if not 1 <= count <= MAX_BOXES:
        raise ValueError(f"quantité : de 1 à {MAX_BOXES} boîtes")
    return count, None


def line_problem(line: LineRequest) -> str | None:
    """Why a line cannot be prescribed, in French, or None (the catalogue aside)."""
    problem = cip13_problem(line.cip13)
    if problem:
        return f"CIP13 « {line.cip13} » : {problem}"
    if not line.dosage.strip():
        return "la posologie est obligatoire"
    if len(line.dosage) > MAX_DOSAGE_CHARS:
        return f"la posologie dépasse {MAX_DOSAGE_CHARS} caractères"
    if (line.boxes is None) == (line.duration_days is None):
        return "indiquez soit une quantité (boîtes), soit une durée (jours)"
    if line.boxes is not None and not 1 <= line.boxes <= MAX_BOXES:
        return f"quantité : de 1 à {MAX_BOXES} boîtes"
    if line.duration_days is not None and not 1 <= line.duration_days <= MAX_DURATION_DAYS:
        return f"durée : de 1 à {MAX_DURATION_DAYS} jours"
    if not 0 <= line.renewals <= MAX_RENEWALS:
        return f"renouvellements : de 0 à {MAX_RENEWALS}"
    if line.non_substitutable and line.non_substitutable not in NON_SUBSTITUTABLE:
        return "« non substituable » se justifie par " + ", ".join(NON_SUBSTITUTABLE)
    return None


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has fewer)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def parse_line(text: str) -> LineRequest:
    """A line from `CIP13;DOSAGE;QUANTITY`; ValueError (French) naming what is wrong."""
    cip13, _, rest = text.partition(";")
    dosage, semicolon, quantity = rest.rpartition(";")
    if not semicolon:
        raise ValueError(f"ligne « {text} » : attendu CIP13;POSOLOGIE;QUANTITÉ")
    boxes, days = quantity_of(quantity)
    line = LineRequest(cip13.strip(), dosage.strip(), boxes, days)
    problem = line_problem(line)
    if problem:
        raise ValueError(problem)
    return line


@dataclass(frozen=True)
class DispenseRequest:
    """How the pharmacist dispenses one line (1-based) this time: `cip13` for a
    substitution, `quantity` in the line's unit (boxes or days; None: the prescribed
    quantity, or what remains of it), `agreement` the day (ISO) the prescriber agreed to
    a modification that needs it."""

    line: int
    outcome: str
    cip13: str = ""
    quantity: int | None = None
    agreement: str = ""


_CHOICE = "N=dispensed[:QUANTITÉ]|not_dispensed|substituted:CIP13[:QUANTITÉ]"


def parse_dispense(text: str) -> DispenseRequest:
    """A choice from `N=dispensed[:QTY]`, `N=not_dispensed` or `N=substituted:CIP13[:QTY]`."""
    number, equals, choice = text.partition("=")
    if not equals or not number.strip().isdigit() or int(number) < 1:
        raise ValueError(f"« {text} » : attendu {_CHOICE}")
    outcome, *rest = [part.strip() for part in choice.strip().split(":")]
    if outcome not in OUTCOMES:
        raise ValueError(f"« {text} » : choix inconnu, attendu {', '.join(OUTCOMES)}")
    cip13 = ""
    if outcome == SUBSTITUTED:
        cip13 = rest.pop(0) if rest else ""
        problem = cip13_problem(cip13)
        if problem:
            raise ValueError(f"substitution de la ligne {number.strip()} : {problem}")
    quantity = None
    if rest and outcome != NOT_DISPENSED and len(rest) == 1 and rest[0].isdigit():
        quantity = int(rest[0])
    elif rest:
        raise ValueError(f"« {text} » : attendu {_CHOICE}")
    if quantity is not None and not 1 <= quantity <= MAX_DURATION_DAYS:
        raise ValueError(f"ligne {number.strip()} : quantité de 1 à {MAX_DURATION_DAYS}")
    return DispenseRequest(int(number), outcome, cip13, quantity)


def parse_agreement(text: str) -> tuple[int, str]:
    """(line, ISO day) from `N=YYYY-MM-DD`: the day the prescriber agreed to line N's
    modification."""
    number, equals, day = text.partition("=")
    if not equals or not number.strip().isdigit() or int(number) < 1:
        raise ValueError(f"« {text} » : attendu N=AAAA-MM-JJ")
    try:
        return int(number), date.fromisoformat(day.strip()).isoformat()
    except ValueError:
        raise ValueError(f"« {text} » : date attendue AAAA-MM-JJ") from None


def parse_line_option(text: str, what: str) -> tuple[int, str]:
    """(line, value) from `N=VALUE`, for the options that qualify one line."""
    number, equals, value = text.partition("=")
    if not equals or not number.strip().isdigit() or int(number) < 1 or not value.strip():
        raise ValueError(f"« {text} » : attendu N={what}")
    return int(number), value.strip()


# -- what the client returns ------------------------------------------------------------


def french_day(instant: str) -> str:
    """`DD/MM/YYYY` from an ISO 8601 instant (the day as recorded, in UTC)."""
    return f"{instant[8:10]}/{instant[5:7]}/{instant[:4]}" if len(instant) >= 10 else instant


def amount(count: int, in_boxes: bool) -> str:
    """`2 boîtes`, `1 jour`: a quantity in its unit, in French."""
    unit = "boîte" if in_boxes else "jour"
    return f"{count} {unit}{'s' if count > 1 else ''}"


@dataclass(frozen=True)
class Line:
    """A prescribed line, and how much of it was delivered (in its unit) so far."""

    line: int
    cip13: str
    label: str
    dosage: str
    boxes: int | None
    duration_days: int | None
    renewals: int = 0
    non_substitutable: str = ""
    delivered: int = 0

    @property
    def unit_quantity(self) -> int:
        """The quantity written, in boxes or days (one delivery's worth)."""
        return self.boxes if self.boxes is not None else self.duration_days or 0

    @property
    def total(self) -> int:
        """All that may be delivered: the quantity, and once again per renewal."""
        return self.unit_quantity * (1 + self.renewals)

    @property
    def remaining(self) -> int:
        """What is left to deliver."""
        return max(0, self.total - self.delivered)

    @property
    def quantity(self) -> str:
        """The quantity or the duration, with its renewals, in French."""
        text = amount(self.unit_quantity, self.boxes is not None)
        if self.renewals:
            text += f", à renouveler {self.renewals} fois"
        return text

    @property
    def progress(self) -> str:
        """What was delivered of the total, in French (`30 / 90 jours`)."""
        return f"{self.delivered} / {amount(self.total, self.boxes is not None)}"

    def as_json(self) -> dict:
        """The CLI's JSON shape."""
        return asdict(self) | {"total": self.total, "remaining": self.remaining}


@dataclass(frozen=True)
class Given:
    """One line in one dispensing: how (`OUTCOMES`), what (the substitute), how much."""

    line: int
    outcome: str
    quantity: int
    cip13: str = ""
    label: str = ""
    agreement: str = ""

    def as_json(self) -> dict:
        """The CLI's JSON shape."""
        return asdict(self)


@dataclass(frozen=True)
class Dispensing:
    """One visit to a pharmacy: when, where, by whom, and each line it gave."""

    rank: int
    at: str
    pharmacy: str
    pharmacist_name: str
    given: tuple[Given, ...]

    def as_json(self) -> dict:
        """The CLI's JSON shape."""
        return asdict(self) | {"given": [g.as_json() for g in self.given]}


@dataclass(frozen=True)
class DmpCopy:
    """Whether the prescription's copy was filed in the patient's DMP, and why not."""

    filed: bool
    document_id: str = ""
    reason: str = ""
    code: str = ""


@dataclass(frozen=True)
class Prescription:
    """A prescription as the service answers it."""

    number: str
    status: str
    ins: str
    patient_name: str
    prescriber_id: str
    prescriber_name: str
    created: str
    lines: tuple[Line, ...]
    dispensings: tuple[Dispensing, ...] = ()
    valid_until: str = ""
    withheld: int = 0  # dispensings not shown: the patient opposed it
    dmp_copy: DmpCopy | None = field(default=None)

    @property
    def display_number(self) -> str:
        """The number as printed."""
        return format_number(self.number)

    @property
    def status_label(self) -> str:
        """The status in French; an active prescription partly delivered says so."""
        if self.status == ACTIVE and any(line.delivered for line in self.lines):
            return PARTLY
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def qr(self) -> str:
        """The QR code's payload."""
        return qr_payload(self.number)

    def as_json(self) -> dict:
        """The CLI's JSON shape."""
        data = asdict(self)
        data["number"] = self.display_number
        data["qr"] = self.qr
        data["lines"] = [line.as_json() for line in self.lines]
        data["dispensings"] = [d.as_json() for d in self.dispensings]
        if self.dmp_copy is None:
            del data["dmp_copy"]
        return data
