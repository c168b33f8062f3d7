"""FSE domain: the act catalogue, the patient's rights, and the amounts of a care sheet.

Shared by the client (which computes the amounts before queuing a sheet) and the
emulated platform (which recomputes them and rejects a sheet whose amounts differ).
Every amount is a `Decimal` in euros, rounded to the cent; never a float.

The amounts rules are the emulation's reading of the public rules, written down in
docs/emulation.md:

- base: the sum of the acts' tariffs; G and GS cost €35 for a child under 6 (the €5
  child majoration folded into the tariff);
- rate: 100 % for ALD, CSS, AME and maternity; otherwise 60 % for paramedical acts;
  otherwise the card's rate (70 %) in the coordinated-care pathway or for a minor
  under 16, and 30 % out of the pathway;
- participation forfaitaire: €2 per physician act, deducted from the AMO share,
  waived for CSS, AME and maternity, for minors (under 18) and for paramedical acts,
  and capped at €50 per patient and calendar year;
- AMO share: base × rate, rounded to the cent per act, minus the participation;
  patient share: base − AMO; paid now: the patient share with tiers payant, else the base.
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
PF_YEARLY_CAP = Decimal("50.00")

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
PF_WAIVED = frozenset({CSS, AME, MATERNITE})
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

    @property
    def paramedical(self) -> bool:
        """Paramedical acts: 60 %, and no participation forfaitaire."""
        return self.profession != MEDECIN

    def price(self, age: int) -> Decimal:
        """The tariff for a patient of that age (in whole years) on the day of care."""
        return self.under_six if self.under_six is not None and age < 6 else self.tariff


# Tariffs of 2025 (metropolitan France); nurse letter keys: AMI €3.15, AIS €2.65.
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
        Act("VG", "Visite à domicile de médecine générale", Decimal("40.00"), MEDECIN),
        Act("APC", "Avis ponctuel de consultant", Decimal("60.00"), MEDECIN),
        Act("AMI1", "Acte médico-infirmier (injection, AMI 1)", Decimal("3.15"), INFIRMIER),
        Act("AMI2", "Acte médico-infirmier (pansement simple, AMI 2)", Decimal("6.30"), INFIRMIER),
        Act("AIS3", "Séance de soins infirmiers (AIS 3)", Decimal("7.95"), INFIRMIER),
        Act("IFD", "Indemnité forfaitaire de déplacement", Decimal("2.50"), INFIRMIER),
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
class Rights:
    """A beneficiary's insurance rights, as the Vitale card (or the online service) gives them.

    `source` is `carte` (card read), `en_ligne` (read online, no card) or `saisie`
    (typed from a paper certificate). `pf_used` is the participation forfaitaire the
    patient has already paid this calendar year, as far as the platform knows.
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
        return asdict(self) | {"pf_used": euros(self.pf_used)}

    @classmethod
    def from_json(cls, data: dict) -> Rights:
        """Rights from their JSON shape."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known | {"pf_used": Decimal(str(data.get("pf_used", "0")))})


@dataclass(frozen=True)
class Line:
    """One act of a sheet, priced."""

    code: str
    label: str
    price: Decimal
    rate: int
    amo: Decimal
    pf: Decimal

    def as_json(self) -> dict:
        """The JSON shape."""
        return {
            "code": self.code,
            "label": self.label,
            "price": euros(self.price),
            "rate": self.rate,
            "amo": euros(self.amo),
            "participation_forfaitaire": euros(self.pf),
        }


@dataclass(frozen=True)
class Amounts:
    """What a sheet costs and who pays: base = AMO + patient share, exact to the cent."""

    base: Decimal = ZERO
    amo: Decimal = ZERO
    pf: Decimal = ZERO
    patient: Decimal = ZERO
    due_now: Decimal = ZERO
    lines: tuple[Line, ...] = field(default_factory=tuple)

    def as_decimals(self) -> tuple[Decimal, ...]:
        """The five amounts: base, AMO, participation, patient share, paid now."""
        return (self.base, self.amo, self.pf, self.patient, self.due_now)

    def as_json(self) -> dict:
        """The JSON shape: decimal strings in euros."""
        return {
            "base": euros(self.base),
            "amo": euros(self.amo),
            "participation_forfaitaire": euros(self.pf),
            "patient": euros(self.patient),
            "due_now": euros(self.due_now),
        }


def rate_for(act: Act, rights: Rights, age: int) -> int:
    """The AMO rate of one act for this patient (see the module's rules)."""
    if rights.exemption in EXEMPTIONS:
        return FULL_RATE
    if act.paramedical:
        return PARAMEDICAL_RATE
    if rights.coordinated or age < 16:
        return rights.rate
    return OUT_OF_PATHWAY_RATE


def pf_applies(act: Act, rights: Rights, age: int) -> bool:
    """True when the participation forfaitaire is due on this act."""
    return not act.paramedical and rights.exemption not in PF_WAIVED and age >= 18


def compute(
    codes: list[str], rights: Rights, care_date: str, tiers_payant: bool, pf_used: Decimal = ZERO
) -> Amounts:
    """The amounts of a sheet; `pf_used` is the participation already paid this year."""
    age = age_on(rights.birthdate, care_date)
    lines = []
    left = max(PF_YEARLY_CAP - pf_used, ZERO)
    for code in codes:
        act = CATALOGUE[code]
        price = act.price(age)
        rate = rate_for(act, rights, age)
        covered = (price * rate / 100).quantize(CENT, ROUND_HALF_UP)
        pf = min(PF_AMOUNT, left, covered) if pf_applies(act, rights, age) else ZERO
        left -= pf
        lines.append(Line(code, act.label, price, rate, covered - pf, pf))
    base = sum((line.price for line in lines), ZERO)
    amo = sum((line.amo for line in lines), ZERO)
    pf = sum((line.pf for line in lines), ZERO)
    patient = base - amo
    return Amounts(base, amo, pf, patient, patient if tiers_payant else base, tuple(lines))


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

    @property
    def ins(self) -> str:
        """The patient's INS."""
        return self.rights.ins

    def content(self) -> dict:
        """What travels to the platform (and what the fingerprint covers)."""
        return {
            "number": self.number,
            "care_date": self.care_date,
            "ins": self.ins,
            "acts": list(self.acts),
            "tiers_payant": self.tiers_payant,
            "degraded": self.degraded,
            "rights": self.rights.as_json(),
            "amounts": self.amounts.as_json(),
            "lines": [line.as_json() for line in self.amounts.lines],
        }

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
    amounts = content["amounts"]
    lines = tuple(
        Line(
            line["code"],
            line["label"],
            Decimal(line["price"]),
            int(line["rate"]),
            Decimal(line["amo"]),
            Decimal(line["participation_forfaitaire"]),
        )
        for line in content.get("lines", [])
    )
    return Sheet(
        number=content["number"],
        care_date=content["care_date"],
        rights=Rights.from_json(content["rights"]),
        acts=tuple(content["acts"]),
        tiers_payant=bool(content["tiers_payant"]),
        degraded=bool(content["degraded"]),
        amounts=Amounts(
            Decimal(amounts["base"]),
            Decimal(amounts["amo"]),
            Decimal(amounts["participation_forfaitaire"]),
            Decimal(amounts["patient"]),
            Decimal(amounts["due_now"]),
            lines,
        ),
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
    pf_used: Decimal = ZERO,
    number: str = "",
) -> Sheet:
    """A priced sheet under a fresh number (or `number`); `pf_used` as for `compute`."""
    return Sheet(
        number=number or new_number(care_date),
        care_date=care_date,
        rights=rights,
        acts=tuple(acts),
        tiers_payant=tiers_payant,
        degraded=degraded,
        amounts=compute(acts, rights, care_date, tiers_payant, pf_used),
    )
