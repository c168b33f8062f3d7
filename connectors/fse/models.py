"""FSE domain: the act catalogue, the patient's rights, and the amounts of a care sheet.

Shared by the client (which computes the amounts before queuing a sheet) and the
emulated platform (which recomputes them and rejects a sheet whose amounts differ).
Every amount is a `Decimal` in euros, rounded to the cent; never a float.

The amounts rules are the emulation's reading of the public rules, written down with
their sources in docs/emulation.md:

- base: the sum of the acts' tariffs; G and GS cost €35 for a child under 6 (the €5
  child majoration folded into the tariff); supplements (MD, IFD) are lines of their own;
- rate: 100 % for AME and maternity, and for an ALD patient's acts related to the ALD
  (a flag per act); otherwise 60 % for paramedical acts; otherwise the card's rate
  (70 %) in the coordinated-care pathway or for a minor under 16, and 30 % out of it;
- covered: price × rate, rounded half-up to the cent per act; with CSS the
  Complémentaire santé solidaire pays the rest of the price (the ticket modérateur);
- participation forfaitaire: €2 per physician act (not on supplements), waived for CSS,
  AME, maternity and minors (under 18), capped at €4 per day and €50 per calendar year;
- franchise médicale: €1 per paramedical act (not on IFD), waived for CSS, AME,
  maternity and minors, capped at €4 per day and €50 per calendar year;
- without tiers payant both are deducted from what the AMO reimburses; with tiers
  payant the AMO pays the professional the whole covered amount and the deductions
  become a debt the patient settles later (`deferred`);
- patient share: base − AMO − complementary; paid now: that share with tiers payant,
  else the base.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from bsp_tui.domain.professions import INFIRMIER, MEDECIN

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
PF_AMOUNT = Decimal("2.00")
PF_DAILY_CAP = Decimal("4.00")
PF_YEARLY_CAP = Decimal("50.00")
FRANCHISE_AMOUNT = Decimal("1.00")
FRANCHISE_DAILY_CAP = Decimal("4.00")
FRANCHISE_YEARLY_CAP = Decimal("50.00")

ALD = "ALD"
CSS = "CSS"
AME = "AME"
MATERNITE = "MATERNITE"
EXEMPTIONS = (ALD, CSS, AME, MATERNITE)
EXEMPTION_LABELS = {
    "": "aucune",
    ALD: "affection de longue durée",
    CSS: "complémentaire santé solidaire",
    AME: "aide médicale de l'État",
    MATERNITE: "maternité",
}
REGIMES = {"01": "régime général", "02": "régime agricole", "03": "indépendants"}
SOURCE_LABELS = {"carte": "carte Vitale", "en_ligne": "lus en ligne", "saisie": "saisis"}
# The same exemptions waive the participation forfaitaire and the franchise.
DEDUCTIONS_WAIVED = frozenset({CSS, AME, MATERNITE})
FULL_RATE_EXEMPTIONS = frozenset({AME, MATERNITE})
TIERS_PAYANT_REQUIRED = frozenset({CSS, AME})
FULL_RATE = 100
PARAMEDICAL_RATE = 60
OUT_OF_PATHWAY_RATE = 30
CARD_RATE = 70
MAX_ACTS = 20
# No sheet comes near it (20 acts at the dearest tariff make €1,200): the platform refuses
# larger amounts before computing with them.
MAX_AMOUNT = Decimal("100000.00")


def euros(value: Decimal | str) -> str:
    """An amount as the JSON carries it: a decimal string with two decimals ("30.00")."""
    return str(Decimal(value).quantize(CENT))


def french_euros(value: Decimal) -> str:
    """An amount as people read it: "30,00 €"."""
    return f"{value.quantize(CENT)} €".replace(".", ",")


@dataclass(frozen=True)
class Act:
    """An act of the NGAP catalogue: its code, label, tariff and who may bill it."""

    code: str
    label: str
    tariff: Decimal
    profession: str
    under_six: Decimal | None = None
    supplement: bool = False

    @property
    def paramedical(self) -> bool:
        """Paramedical acts: 60 %, a franchise instead of the participation forfaitaire."""
        return self.profession != MEDECIN

    @property
    def pf_due(self) -> bool:
        """The participation forfaitaire is due on physician acts, not on supplements."""
        return not self.paramedical and not self.supplement

    @property
    def franchise_due(self) -> bool:
        """The franchise is due on paramedical acts, not on the travel indemnity."""
        return self.paramedical and not self.supplement

    def price(self, age: int) -> Decimal:
        """The tariff for a patient of that age (in whole years) on the day of care."""
        return self.under_six if self.under_six is not None and age < 6 else self.tariff


# Tariffs of 2025 (metropolitan France); nurse letter keys: AMI €3.15, AIS €2.65; the
# home visit is VG plus the travel majoration MD, billed as two lines.
CATALOGUE: dict[str, Act] = {
    act.code: act
    for act in (
        Act("G", "Consultation de médecine générale", Decimal("30.00"), MEDECIN, Decimal("35.00")),
        Act(
            "GS",
            "Consultation du spécialiste en médecine générale",
            Decimal("30.00"),
            MEDECIN,
            Decimal("35.00"),
        ),
        Act("VG", "Visite à domicile de médecine générale", Decimal("30.00"), MEDECIN),
        Act("MD", "Majoration de déplacement (visite)", Decimal("10.00"), MEDECIN, None, True),
        Act("APC", "Avis ponctuel de consultant", Decimal("60.00"), MEDECIN),
        Act("AMI1", "Acte médico-infirmier (injection, AMI 1)", Decimal("3.15"), INFIRMIER),
        Act("AMI2", "Acte médico-infirmier (pansement simple, AMI 2)", Decimal("6.30"), INFIRMIER),
        Act("AIS3", "Séance de soins infirmiers (AIS 3)", Decimal("7.95"), INFIRMIER),
        Act("IFD", "Indemnité forfaitaire de déplacement", Decimal("2.75"), INFIRMIER, None, True),
    )
}


def act_problem(code: str) -> str | None:
    """Why `code` is not an act of the catalogue, in French, or None."""
    if code in CATALOGUE:
        return None
    return f"acte inconnu « {code[:20]} » ; actes connus : {', '.join(CATALOGUE)}"


def age_on(birthdate: str, day: str) -> int:
    """Age in whole years on `day` (both YYYY-MM-DD)."""
    born, on = date.fromisoformat(birthdate), date.fromisoformat(day)
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@dataclass(frozen=True)
class Used:
    """The participation forfaitaire and franchise already taken from a patient, that
    calendar year and that day: what the caps leave for a new sheet."""

    pf_year: Decimal = ZERO
    pf_day: Decimal = ZERO
    franchise_year: Decimal = ZERO
    franchise_day: Decimal = ZERO

    def __add__(self, other: Used) -> Used:
        return Used(
            self.pf_year + other.pf_year,
            self.pf_day + other.pf_day,
            self.franchise_year + other.franchise_year,
            self.franchise_day + other.franchise_day,
        )


NOTHING_USED = Used()


@dataclass(frozen=True)
class Rights:
    """A beneficiary's insurance rights, as the Vitale card (or the online service) gives them.

    `source` is `carte` (card read), `en_ligne` (read online, no card) or `saisie`
    (typed from a paper certificate). `pf_used` and `franchise_used` are what the
    patient has already been charged this calendar year, `pf_today` and
    `franchise_today` on the day of care, as far as the platform knows.
    """

    ins: str
    birthdate: str
    regime: str = "01"
    rate: int = CARD_RATE
    exemption: str = ""
    coordinated: bool = True
    family: str = ""
    given: str = ""
    serial: str = ""
    rank: int = 0
    source: str = "saisie"
    closed_on: str = ""
    pf_used: Decimal = ZERO
    pf_today: Decimal = ZERO
    franchise_used: Decimal = ZERO
    franchise_today: Decimal = ZERO

    @property
    def used(self) -> Used:
        """What the caps already count for this patient."""
        return Used(self.pf_used, self.pf_today, self.franchise_used, self.franchise_today)

    def open_on(self, day: str) -> bool:
        """True when the rights are open on that day."""
        return not self.closed_on or day < self.closed_on

    def without_card(self) -> Rights:
        """The same rights read online, no card in the reader (degraded mode)."""
        return replace(self, serial="", rank=0, source="en_ligne")

    def summary(self) -> str:
        """The rights in one French line: where from, regime, rate, exemption, pathway."""
        pathway = "parcours coordonné" if self.coordinated else "hors parcours coordonné"
        return (
            f"Droits ({SOURCE_LABELS.get(self.source, self.source)}) : "
            f"{REGIMES.get(self.regime, self.regime)}, taux {self.rate} %, exonération "
            f"{EXEMPTION_LABELS.get(self.exemption, self.exemption)}, {pathway}"
        )

    @property
    def patient(self) -> str:
        """The patient's name, or "" when the rights were typed."""
        return f"{self.family} {self.given}".strip()

    def as_json(self) -> dict:
        """The JSON shape (amounts as decimal strings)."""
        return asdict(self) | {name: euros(getattr(self, name)) for name in _USED_FIELDS}

    @classmethod
    def from_json(cls, data: dict) -> Rights:
        """Rights from their JSON shape."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        used = {name: Decimal(str(data.get(name, "0"))) for name in _USED_FIELDS}
        return cls(**known | used)


_USED_FIELDS = ("pf_used", "pf_today", "franchise_used", "franchise_today")


@dataclass(frozen=True)
class Line:
    """One act of a sheet, priced: `amo` is what the AMO pays for it, `complementary`
    what the CSS pays, `ald` whether the act is related to the patient's ALD."""

    code: str
    label: str
    price: Decimal
    rate: int
    amo: Decimal
    pf: Decimal
    franchise: Decimal = ZERO
    complementary: Decimal = ZERO
    ald: bool = False

    def as_json(self) -> dict:
        """The JSON shape."""
        return {
            "code": self.code,
            "label": self.label,
            "price": euros(self.price),
            "rate": self.rate,
            "amo": euros(self.amo),
            "participation_forfaitaire": euros(self.pf),
            "franchise": euros(self.franchise),
            "complementary": euros(self.complementary),
            "ald": self.ald,
        }

    @classmethod
    def from_json(cls, data: dict) -> Line:
        """A line from its JSON shape."""
        return cls(
            data["code"],
            data["label"],
            Decimal(data["price"]),
            int(data["rate"]),
            Decimal(data["amo"]),
            Decimal(data["participation_forfaitaire"]),
            Decimal(data.get("franchise", "0")),
            Decimal(data.get("complementary", "0")),
            bool(data.get("ald", False)),
        )


AMOUNT_FIELDS = (
    "base",
    "amo",
    "complementary",
    "participation_forfaitaire",
    "franchise",
    "patient",
    "due_now",
    "deferred",
)


@dataclass(frozen=True)
class Amounts:
    """What a sheet costs and who pays: base = AMO + complementary + patient share, exact
    to the cent; `deferred` is the participation and franchise the AMO recovers later
    from the patient (tiers payant)."""

    base: Decimal = ZERO
    amo: Decimal = ZERO
    pf: Decimal = ZERO
    patient: Decimal = ZERO
    due_now: Decimal = ZERO
    lines: tuple[Line, ...] = field(default_factory=tuple)
    complementary: Decimal = ZERO
    franchise: Decimal = ZERO
    deferred: Decimal = ZERO

    def as_decimals(self) -> tuple[Decimal, ...]:
        """The amounts, in the order of `AMOUNT_FIELDS`."""
        return (
            self.base,
            self.amo,
            self.complementary,
            self.pf,
            self.franchise,
            self.patient,
            self.due_now,
            self.deferred,
        )

    def as_json(self) -> dict:
        """The JSON shape: decimal strings in euros."""
        return {
            name: euros(value)
            for name, value in zip(AMOUNT_FIELDS, self.as_decimals(), strict=True)
        }

    @classmethod
    def from_json(cls, data: dict, lines: tuple[Line, ...] = ()) -> Amounts:
        """Amounts from their JSON shape (absent ones are zero)."""
        value = {name: Decimal(data.get(name, "0")) for name in AMOUNT_FIELDS}
        return cls(
            value["base"],
            value["amo"],
            value["participation_forfaitaire"],
            value["patient"],
            value["due_now"],
            lines,
            value["complementary"],
            value["franchise"],
            value["deferred"],
        )


def rate_for(act: Act, rights: Rights, age: int, ald: bool = False) -> int:
    """The AMO rate of one act for this patient (see the module's rules); `ald` when the
    act is related to the patient's ALD."""
    if rights.exemption in FULL_RATE_EXEMPTIONS or (ald and rights.exemption == ALD):
        return FULL_RATE
    if act.paramedical:
        return PARAMEDICAL_RATE
    if rights.coordinated or age < 16:
        return rights.rate
    return OUT_OF_PATHWAY_RATE


def deductions_apply(rights: Rights, age: int) -> bool:
    """True when the participation forfaitaire and the franchise are due from this patient."""
    return rights.exemption not in DEDUCTIONS_WAIVED and age >= 18


def compute(
    codes: list[str],
    rights: Rights,
    care_date: str,
    tiers_payant: bool,
    used: Used = NOTHING_USED,
    ald: tuple[bool, ...] = (),
) -> Amounts:
    """The amounts of a sheet; `used` is what the caps already count, `ald` flags the
    acts related to the patient's ALD (one per act; missing ones are unrelated)."""
    age = age_on(rights.birthdate, care_date)
    deducted = deductions_apply(rights, age)
    pf_left = max(min(PF_YEARLY_CAP - used.pf_year, PF_DAILY_CAP - used.pf_day), ZERO)
    franchise_left = max(
        min(FRANCHISE_YEARLY_CAP - used.franchise_year, FRANCHISE_DAILY_CAP - used.franchise_day),
        ZERO,
    )
    lines = []
    for index, code in enumerate(codes):
        act = CATALOGUE[code]
        related = index < len(ald) and ald[index]
        price = act.price(age)
        rate = rate_for(act, rights, age, related)
        covered = (price * rate / 100).quantize(CENT, ROUND_HALF_UP)
        complementary = price - covered if rights.exemption == CSS else ZERO
        pf = min(PF_AMOUNT, pf_left, covered) if deducted and act.pf_due else ZERO
        franchise = (
            min(FRANCHISE_AMOUNT, franchise_left, covered - pf)
            if deducted and act.franchise_due
            else ZERO
        )
        pf_left -= pf
        franchise_left -= franchise
        # Under tiers payant the professional gets the whole covered amount; the patient
        # owes the deductions to the AMO instead.
        amo = covered if tiers_payant else covered - pf - franchise
        lines.append(Line(code, act.label, price, rate, amo, pf, franchise, complementary, related))
    total = {
        name: sum((getattr(line, name) for line in lines), ZERO)
        for name in ("price", "amo", "pf", "franchise", "complementary")
    }
    base = total["price"]
    patient = base - total["amo"] - total["complementary"]
    deferred = total["pf"] + total["franchise"] if tiers_payant else ZERO
    return Amounts(
        base=base,
        amo=total["amo"],
        pf=total["pf"],
        patient=patient,
        due_now=patient if tiers_payant else base,
        lines=tuple(lines),
        complementary=total["complementary"],
        franchise=total["franchise"],
        deferred=deferred,
    )


_RPPS = re.compile(r"\d{11}")
_SCAN = re.compile(r"[A-Za-z0-9-]{1,64}")


@dataclass(frozen=True)
class Prescription:
    """The prescription a nursing act executes: the prescriber's RPPS number, the date
    it was made, and the reference of its scanned copy (SCOR-like)."""

    prescriber: str
    prescribed_on: str
    scan: str

    def problem(self, care_date: str) -> str | None:
        """What is wrong with it for care on `care_date`, in French, or None."""
        if not isinstance(self.prescriber, str) or not _RPPS.fullmatch(self.prescriber):
            return "numéro RPPS du prescripteur : 11 chiffres attendus"
        if not isinstance(self.prescribed_on, str) or not _is_iso_day(self.prescribed_on):
            return "date de prescription AAAA-MM-JJ attendue"
        if self.prescribed_on > care_date:
            return "prescription postérieure aux soins"
        if not isinstance(self.scan, str) or not _SCAN.fullmatch(self.scan):
            return "référence de la copie numérisée : lettres, chiffres et tirets (64 au plus)"
        return None

    def as_json(self) -> dict:
        """The JSON shape."""
        return asdict(self)


def _is_iso_day(value: str) -> bool:
    try:
        return date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


@dataclass(frozen=True)
class Sheet:
    """A care sheet as it is queued and sent: its content and its amounts.

    `fingerprint` identifies the content: the platform refuses the same number with
    another fingerprint, and acknowledges the same number and fingerprint again
    without billing it twice.
    """

    number: str
    care_date: str
    rights: Rights
    acts: tuple[str, ...]
    tiers_payant: bool
    degraded: bool
    amounts: Amounts
    ald: tuple[bool, ...] = ()
    prescription: Prescription | None = None
    ame_number: str = ""  # the AME admission document's, for a holder (no Vitale card)

    @property
    def ins(self) -> str:
        """The patient's INS."""
        return self.rights.ins

    def content(self) -> dict:
        """What travels to the platform (and what the fingerprint covers); the AME
        number only when there is one, so that other sheets keep their fingerprint."""
        content = {
            "number": self.number,
            "care_date": self.care_date,
            "ins": self.ins,
            "acts": list(self.acts),
            "ald": list(self.ald),
            "tiers_payant": self.tiers_payant,
            "degraded": self.degraded,
            "rights": self.rights.as_json(),
            "amounts": self.amounts.as_json(),
            "lines": [line.as_json() for line in self.amounts.lines],
            "prescription": self.prescription.as_json() if self.prescription else None,
        }
        if self.ame_number:
            content["ame_number"] = self.ame_number
        return content

    def fingerprint(self) -> str:
        """The content's fingerprint (SHA-256 of its canonical JSON)."""
        return fingerprint(self.content())

    def with_number(self, number: str) -> Sheet:
        """The same sheet under another number."""
        return replace(self, number=number)


def fingerprint(content: dict) -> str:
    """SHA-256 of a sheet's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def sheet_of(content: dict) -> Sheet:
    """A sheet from the content it travels as, amounts as written (the platform checks them)."""
    lines = tuple(Line.from_json(line) for line in content.get("lines", []))
    return Sheet(
        number=content["number"],
        care_date=content["care_date"],
        rights=Rights.from_json(content["rights"]),
        acts=tuple(content["acts"]),
        tiers_payant=bool(content["tiers_payant"]),
        degraded=bool(content["degraded"]),
        amounts=Amounts.from_json(content["amounts"], lines),
        ald=tuple(content.get("ald", ())),
        prescription=Prescription(**prescribed)
        if (prescribed := content.get("prescription"))
        else None,
        ame_number=content.get("ame_number", ""),
    )


# Sheet numbers (the emulation's own format): FSE-YYYYMMDD-XXXXXXXX, the day the sheet
# was made and 8 random characters of Crockford's base 32 (40 bits: no coordination
# needed between launchers, and the outbox refuses a collision).
NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NUMBER_RE = re.compile(rf"FSE-\d{{8}}-[{NUMBER_ALPHABET}]{{8}}")


def new_number(day: str) -> str:
    """A fresh sheet number for a sheet made on `day` (YYYY-MM-DD)."""
    suffix = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
    return f"FSE-{day.replace('-', '')}-{suffix}"


def number_problem(value: str) -> str | None:
    """Why `value` is not a sheet number, in French, or None."""
    if _NUMBER_RE.fullmatch(value):
        return None
    return f"numéro de feuille invalide « {value[:40]} » (attendu FSE-AAAAMMJJ-XXXXXXXX)"


def build_sheet(
    rights: Rights,
    acts: list[str],
    care_date: str,
    tiers_payant: bool,
    degraded: bool,
    used: Used = NOTHING_USED,
    number: str = "",
    ald: tuple[bool, ...] = (),
    prescription: Prescription | None = None,
) -> Sheet:
    """A priced sheet under a fresh number (or `number`); `used` and `ald` as for `compute`;
    `prescription` the one its nursing acts execute."""
    return Sheet(
        number=number or new_number(care_date),
        care_date=care_date,
        rights=rights,
        acts=tuple(acts),
        tiers_payant=tiers_payant,
        degraded=degraded,
        amounts=compute(acts, rights, care_date, tiers_payant, used, ald),
        ald=ald,
        prescription=prescription,
    )
