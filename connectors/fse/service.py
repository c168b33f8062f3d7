"""The emulated FSE reception: rights, batches of care sheets, ARL and the billing ledger.

The real SESAM-Vitale exchanges (card reading, ADRi, batch files, ARL) are not public in
a reusable form: this JSON interface is the emulation's own, mounted under `/api/fse`.

    POST /api/fse/rights   {ins, care_date?}    → the beneficiary's rights (like ADRi)
    POST /api/fse/batches  {batch_id, sheets}   → the ARL of the batch
    GET  /api/fse/billing                       → the caller's sheets as the platform holds them
    GET  /api/fse/returns                       → the returns of the caller's settled sheets

A batch is acknowledged by an ARL: *negative* (`L01` empty or more than 100 sheets,
`L02` one number twice in the batch, `L03` a batch or sheet that cannot be identified)
and nothing in it is processed; or *positive*, with each sheet accepted (billed) or
rejected with a code (`R01`…`R07`, see `REJECTIONS`). Every sheet received is kept by
its number: the same sheet sent again is answered as before with `already_received`
and is never billed twice; the same number with another content is rejected `R04`.
A whole batch is processed in one transaction, so a billing and its ARL are one fact.

The ARL only acknowledges: the payment or the rejection of each accepted sheet comes
back later as a *return* (RSP/NOEMIE-like), `paid` with the amount the AMO pays and the
date, or `rejected` with a motive (`P01`…, see `SETTLEMENT_REJECTIONS`). The emulation
settles a sheet in the transaction that accepts it; the launcher fetches the returns
whenever it likes, as often as it likes (they are the same each time).

Errors are FHIR OperationOutcome: 400 for a body that is not a JSON object, 401 without
a valid token, 403 for a profession that does not make care sheets, 404 for a patient
without known rights, 422 for a malformed field (the issue's `expression` names it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.exc import IntegrityError

from bsp_tui.domain.fhir import Issue
from bsp_tui.domain.patients import Identity, ins_problem
from bsp_tui.platform.api import (
    Beneficiary,
    Body,
    Professional,
    ServiceContext,
    ServiceError,
    Tx,
    field_error,
    service_context,
)
from bsp_tui.platform.idempotency import Idempotency, is_race
from connectors import fse as fse_package
from connectors.fse.models import (
    AMOUNT_FIELDS,
    CATALOGUE,
    EXEMPTIONS,
    MAX_ACTS,
    MAX_AMOUNT,
    ZERO,
    Rights,
    Sheet,
    Used,
    compute,
    euros,
    fingerprint,
    number_problem,
    sheet_of,
)

router = APIRouter(tags=["FSE"])
Context = Annotated[ServiceContext, Depends(service_context("fse"))]
REFUSAL_SYSTEM = "urn:bsp:fse:refusal"  # the emulation's own codes
MAX_SHEETS = 100
_BATCH_ID = re.compile(r"[A-Za-z0-9-]{1,64}")

BATCH_EMPTY = "L01"
BATCH_DUPLICATE = "L02"
BATCH_MALFORMED = "L03"
RIGHTS_CLOSED = "R01"
UNKNOWN_ACT = "R02"
AMOUNTS_DIFFER = "R03"
NUMBER_REUSED = "R04"
UNKNOWN_PATIENT = "R05"
ACT_NOT_ALLOWED = "R06"
MALFORMED_SHEET = "R07"
NO_AME_ADMISSION = "R08"
REJECTIONS = {
    RIGHTS_CLOSED: "droits fermés à la date des soins",
    UNKNOWN_ACT: "acte inconnu de la nomenclature",
    AMOUNTS_DIFFER: "montants différents du recalcul de la plateforme",
    NUMBER_REUSED: "numéro déjà utilisé pour une autre feuille",
    UNKNOWN_PATIENT: "patient inconnu (INS)",
    ACT_NOT_ALLOWED: "acte non facturable par votre profession",
    MALFORMED_SHEET: "feuille incomplète ou mal formée",
    NO_AME_ADMISSION: "AME sans le numéro de l'admission du patient",
}
NO_PRESCRIPTION = "P01"
SETTLEMENT_REJECTIONS = {NO_PRESCRIPTION: "acte infirmier sans prescription"}
NEGATIVE = {
    BATCH_EMPTY: f"lot vide ou de plus de {MAX_SHEETS} feuilles",
    BATCH_DUPLICATE: "le même numéro de feuille figure deux fois dans le lot",
    BATCH_MALFORMED: "lot ou feuille sans identifiant valide",
}


def _refusal(status: int, code: str, message: str, refusal: str, field: str = "") -> ServiceError:
    """An OperationOutcome with the emulation's code, and the field when one is at fault."""
    return ServiceError(status, Issue(code, message, "", refusal, REFUSAL_SYSTEM, field))


def _caller(context: ServiceContext) -> Professional:
    """The caller, once their profession is checked (403 for one without care sheets)."""
    who = context.caller
    if not fse_package.CONNECTOR.allows(who.profession):
        why = fse_package.CONNECTOR.refusal
        raise _refusal(
            403,
            "forbidden",
            f"Votre profession ({who.label}) ne fait pas de feuilles de soins : "
            + why[:1].lower()
            + why[1:],
            "profession",
        )
    return who


def _object(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _refusal(
            400, "structure", "Le corps de la requête n'est pas du JSON.", "structure"
        ) from None
    if not isinstance(data, dict):
        raise _refusal(
            400, "structure", "Le corps de la requête doit être un objet JSON.", "structure"
        )
    return data


def _field(name: str, message: str) -> ServiceError:
    return field_error(name, f"{message}.", "value", "value", REFUSAL_SYSTEM)


# A sheet the caisse rejected at settlement took nothing from the patient.
_USED_SQL = (
    "SELECT care_date, pf, franchise FROM fse_sheets WHERE ins = :ins AND status = 'accepted'"
    " AND care_date LIKE :year AND number NOT IN"
    " (SELECT number FROM fse_returns WHERE status = 'rejected')"
)


def used_by(conn: Tx, ins: str, day: str) -> Used:
    """The participation forfaitaire and franchise billed to a patient in the calendar
    year of `day`, and on `day` itself."""
    rows = conn.all(_USED_SQL, {"ins": ins, "year": f"{day[:4]}-%"})

    def total(name: str, on_day: bool) -> Decimal:
        return sum((Decimal(r[name]) for r in rows if not on_day or r["care_date"] == day), ZERO)

    return Used(
        total("pf", False), total("pf", True), total("franchise", False), total("franchise", True)
    )


@dataclass(frozen=True)
class OnFile:
    """What the platform knows of a patient: birth date, closure and the card's rights
    (None for a patient no card carries)."""

    identity: Identity
    closed_on: str
    card: Beneficiary | None


def on_file(context: ServiceContext, ins: str) -> OnFile | None:
    """What the platform knows of the patient of `ins`, or None for an unknown INS."""
    identity = context.patients.by_ins(ins)
    if identity is None:
        return None
    closure = context.db.one(
        "SELECT closed_on FROM fse_rights_closures WHERE ins = :ins", {"ins": ins}
    )
    closed_on = closure["closed_on"] if closure is not None else ""
    return OnFile(identity, closed_on, context.patients.card_of(ins))


def rights_of(context: ServiceContext, ins: str, day: str) -> Rights | None:
    """The rights of a beneficiary on `day`, or None when no card carries that INS."""
    known = on_file(context, ins)
    if known is None or known.card is None:
        return None
    with context.db.read() as conn:
        used = used_by(conn, ins, day)
    card = known.card
    return Rights(
        ins=ins,
        birthdate=known.identity.birthdate,
        regime=card.regime,
        rate=card.rate,
        exemption=card.exemption,
        coordinated=card.coordinated,
        family=known.identity.family,
        given=known.identity.given,
        serial=card.serial,
        rank=card.rank,
        source="carte",
        closed_on=known.closed_on,
        pf_used=used.pf_year,
        pf_today=used.pf_day,
        franchise_used=used.franchise_year,
        franchise_today=used.franchise_day,
    )


def _body(properties: dict, required: list[str]) -> dict:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_RIGHTS_BODY = _body(
    {
        "ins": {"type": "string", "description": "The patient's INS (NIR or NIA with its key)."},
        "care_date": {"type": "string", "format": "date", "description": "Default: today."},
    },
    ["ins"],
)
_BATCH_BODY = _body(
    {
        "batch_id": {"type": "string", "description": "The sender's id for the batch."},
        "sheets": {
            "type": "array",
            "items": {"type": "object"},
            "description": f"1 to {MAX_SHEETS} care sheets, as `bsp fse show --json` prints them.",
        },
    },
    ["batch_id", "sheets"],
)


@router.post("/rights", openapi_extra=_RIGHTS_BODY)
def rights(body: Body, context: Context) -> dict:
    """The beneficiary's rights on the day of care (today by default), like ADRi."""
    _caller(context)
    data = _object(body)
    ins = data.get("ins")
    if not isinstance(ins, str) or ins_problem(ins):
        raise _field("ins", ins_problem(ins) if isinstance(ins, str) else "champ obligatoire")
    day = data.get("care_date") or context.today()
    if not isinstance(day, str) or not _is_day(day):
        raise _field("care_date", "date AAAA-MM-JJ attendue")
    found = rights_of(context, ins, day)
    if found is None:
        raise _refusal(
            404,
            "not-found",
            "Aucun droit connu pour ce patient (pas de carte Vitale) : "
            "saisissez les droits de son attestation en mode dégradé.",
            "no_rights",
        )
    return found.as_json() | {"open": found.open_on(day), "care_date": day}


def _is_day(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return datetime.strptime(value, "%Y-%m-%d").date().isoformat() == value
    except ValueError:
        return False


def _negative(batch_id: str, code: str) -> dict:
    return {
        "batch_id": batch_id,
        "status": "negative",
        "code": code,
        "reason": NEGATIVE[code],
        "sheets": [],
    }


def _batch_problem(data: dict) -> tuple[str, str | None]:
    batch_id, sheets = data.get("batch_id"), data.get("sheets")
    if not isinstance(batch_id, str) or not _BATCH_ID.fullmatch(batch_id):
        return "", BATCH_MALFORMED
    if not isinstance(sheets, list) or not 1 <= len(sheets) <= MAX_SHEETS:
        return batch_id, BATCH_EMPTY
    numbers = [s.get("number") if isinstance(s, dict) else None for s in sheets]
    if any(not isinstance(n, str) or number_problem(n) for n in numbers):
        return batch_id, BATCH_MALFORMED
    if len(set(numbers)) != len(numbers):
        return batch_id, BATCH_DUPLICATE
    return batch_id, None


def _outcome(
    number: str, status: str, code: str = "", amounts: dict | None = None, field: str = ""
) -> dict:
    reason = REJECTIONS.get(code, "")
    return {
        "number": number,
        "status": status,
        "code": code,
        "reason": f"{reason} ({field})" if field else reason,
        "already_received": False,
        "amounts": amounts or {},
    }


def _rights_on_file(declared: Rights, known: OnFile) -> Rights:
    """The rights the platform prices with: its own, whatever the sheet declares; the
    declared ones only for a patient no card carries (typed from a certificate)."""
    birthdate = known.identity.birthdate
    if known.card is None:
        return replace(declared, birthdate=birthdate)
    return replace(
        declared,
        birthdate=birthdate,
        regime=known.card.regime,
        rate=known.card.rate,
        exemption=known.card.exemption,
        coordinated=known.card.coordinated,
    )


class MalformedSheetError(ValueError):
    """A sheet field missing or of the wrong type or range: `field` names it."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _valid(content: dict, today: str) -> Sheet:
    """The sheet, every field of the expected type and range; MalformedSheetError otherwise."""
    try:
        sheet = sheet_of(content)
    except KeyError as error:
        raise MalformedSheetError(str(error.args[0])) from None
    except (TypeError, ValueError, AttributeError, InvalidOperation):
        raise MalformedSheetError("contenu") from None
    r = sheet.rights
    checks = (
        ("care_date", _is_day(sheet.care_date) and sheet.care_date <= today),
        ("acts", bool(sheet.acts) and all(isinstance(code, str) for code in sheet.acts)),
        ("acts", len(sheet.acts) <= MAX_ACTS),
        ("ald", len(sheet.ald) <= len(sheet.acts) and all(type(f) is bool for f in sheet.ald)),
        ("rights.ins", isinstance(r.ins, str) and not ins_problem(r.ins)),
        ("rights.birthdate", _is_day(r.birthdate)),
        ("care_date", _is_day(r.birthdate) and r.birthdate <= sheet.care_date),
        ("rights.rate", type(r.rate) is int and 0 <= r.rate <= 100),
        ("rights.exemption", r.exemption in ("", *EXEMPTIONS)),
        ("rights.coordinated", isinstance(r.coordinated, bool)),
        ("ame_number", isinstance(sheet.ame_number, str) and len(sheet.ame_number) <= 40),
    )
    for field, ok in checks:
        if not ok:
            raise MalformedSheetError(field)
    if sheet.prescription is not None and sheet.prescription.problem(sheet.care_date):
        raise MalformedSheetError("prescription")
    for name, value in zip(AMOUNT_FIELDS, sheet.amounts.as_decimals(), strict=True):
        if not (value.is_finite() and -MAX_AMOUNT <= value <= MAX_AMOUNT):
            raise MalformedSheetError(f"amounts.{name}")
    return sheet


def _card_binds(sheet: Sheet) -> bool:
    """True for a sheet made in SESAM-Vitale mode with rights the card showed open on the
    day of care: the caisse is bound by them, whatever it closed since."""
    rights = sheet.rights
    return rights.source == "carte" and not sheet.degraded and rights.open_on(sheet.care_date)


def _check(context: ServiceContext, conn: Tx, content: dict, today: str) -> tuple[dict, str, str]:
    """(outcome, ins, care date) of a sheet never received before, by the platform's rules."""
    number = content["number"]
    try:
        sheet = _valid(content, today)
    except MalformedSheetError as error:
        return _outcome(number, "rejected", MALFORMED_SHEET, field=error.field), "", ""
    ins, day = sheet.ins, sheet.care_date
    if any(code not in CATALOGUE for code in sheet.acts):
        return _outcome(number, "rejected", UNKNOWN_ACT), ins, day
    if any(CATALOGUE[code].profession != context.caller.profession for code in sheet.acts):
        return _outcome(number, "rejected", ACT_NOT_ALLOWED), ins, day
    known = on_file(context, ins)
    if known is None:
        return _outcome(number, "rejected", UNKNOWN_PATIENT), ins, day
    if day < known.identity.birthdate:
        # The birth date the platform holds, not the sheet's: care before birth is a typo.
        return _outcome(number, "rejected", MALFORMED_SHEET, field="care_date"), ins, day
    if known.closed_on and day >= known.closed_on and not _card_binds(sheet):
        return _outcome(number, "rejected", RIGHTS_CLOSED), ins, day
    # An AME holder has no card: the sheet carries the number of the admission document,
    # the one the platform holds for that patient.
    ame = sheet.rights.exemption == "AME" and known.card is None
    if ame and sheet.ame_number != context.patients.ame_of(ins):
        return _outcome(number, "rejected", NO_AME_ADMISSION), ins, day
    # The caps (participation forfaitaire and franchise, per day and per year) are
    # counted one sheet at a time per patient, whichever batch it is in.
    conn.serialize(f"fse pf {ins}")
    used = used_by(conn, ins, day)
    rights = _rights_on_file(sheet.rights, known)
    amounts = compute(list(sheet.acts), rights, day, sheet.tiers_payant, used, sheet.ald)
    expected = amounts.as_json()
    if expected != sheet.amounts.as_json():
        return _outcome(number, "rejected", AMOUNTS_DIFFER, expected), ins, day
    return _outcome(number, "accepted", "", expected), ins, day


def _receive(context: ServiceContext, conn: Tx, content: dict, batch_id: str, today: str) -> dict:
    national_id = context.caller.national_id
    number, print_ = content["number"], fingerprint(content)
    # One number is received once, even when two batches carry it at the same moment.
    conn.serialize(f"fse sheet {number}")
    row = conn.one(
        "SELECT fingerprint, status, code, amounts, national_id FROM fse_sheets"
        " WHERE number = :number",
        {"number": number},
    )
    if row is not None:
        # A number belongs to the professional who first sent it: another one sending it,
        # same content or not, learns nothing of that sheet.
        if row["fingerprint"] != print_ or row["national_id"] != national_id:
            return _outcome(number, "rejected", NUMBER_REUSED)
        already = {"already_received": True}
        return _outcome(number, row["status"], row["code"], json.loads(row["amounts"])) | already
    outcome, ins, care_date = _check(context, conn, content, today)
    accepted = outcome["status"] == "accepted"
    conn.execute(
        "INSERT INTO fse_sheets (number, batch_id, national_id, ins, care_date, fingerprint,"
        " status, code, reason, amounts, pf, franchise, received) VALUES (:number, :batch_id,"
        " :national_id, :ins, :care_date, :fingerprint, :status, :code, :reason, :amounts,"
        " :pf, :franchise, :received)",
        {
            "number": number,
            "batch_id": batch_id,
            "national_id": national_id,
            "ins": ins,
            "care_date": care_date,
            "fingerprint": print_,
            "status": outcome["status"],
            "code": outcome["code"],
            "reason": outcome["reason"],
            "amounts": json.dumps(outcome["amounts"]),
            "pf": outcome["amounts"]["participation_forfaitaire"] if accepted else "0.00",
            "franchise": outcome["amounts"]["franchise"] if accepted else "0.00",
            "received": context.now,
        },
    )
    if accepted:
        _settle(context, conn, sheet_of(content), outcome["amounts"])
    return outcome


def _settle(context: ServiceContext, conn: Tx, sheet: Sheet, amounts: dict) -> None:
    """The return of an accepted sheet: paid what the AMO pays, or rejected with a motive."""
    nursing = any(CATALOGUE[code].franchise_due for code in sheet.acts)
    code = NO_PRESCRIPTION if nursing and sheet.prescription is None else ""
    conn.execute(
        "INSERT INTO fse_returns (number, national_id, status, code, reason, amount, paid_on,"
        " settled) VALUES (:number, :national_id, :status, :code, :reason, :amount, :paid_on,"
        " :settled)",
        {
            "number": sheet.number,
            "national_id": context.caller.national_id,
            "status": "rejected" if code else "paid",
            "code": code,
            "reason": SETTLEMENT_REJECTIONS.get(code, ""),
            "amount": "0.00" if code else amounts["amo"],
            "paid_on": "" if code else context.today(),
            "settled": context.now,
        },
    )


@router.post("/batches", openapi_extra=_BATCH_BODY)
def batches(request: Request, body: Body, context: Context) -> dict:
    """Receive a batch of care sheets; answer its ARL (see the module's docstring)."""
    who = _caller(context)
    idempotency = Idempotency.of(request, body, "fse_batch", who.national_id)
    db = context.db
    stored = idempotency.stored(db)
    if stored is not None:
        return stored.answer  # a retry: the first request's ARL, word for word
    data = _object(body)
    batch_id, problem = _batch_problem(data)
    # A launcher's local day may be ahead of the platform's UTC day: one day of slack.
    today = context.today(ahead=86_400)
    try:
        return _process(context, idempotency, data, batch_id, problem, today)
    except IntegrityError as error:
        if not is_race(error):
            raise
        return idempotency.stored(db).answer  # type: ignore[union-attr]


def _process(
    context: ServiceContext,
    idempotency: Idempotency,
    data: dict,
    batch_id: str,
    problem: str | None,
    today: str,
) -> dict:
    """The batch's ARL; the batch, its sheets and its key recorded in one transaction."""
    db, now, national_id = context.db, context.now, context.caller.national_id
    received = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
    with db.write() as conn:
        if problem:
            arl = _negative(batch_id, problem)
        else:
            outcomes = [
                _receive(context, conn, content, batch_id, today) for content in data["sheets"]
            ]
            arl = {
                "batch_id": batch_id,
                "status": "positive",
                "code": "",
                "reason": "",
                "sheets": outcomes,
            }
        conn.execute(
            "INSERT INTO fse_batches (batch_id, national_id, received, status, code, sheets)"
            " VALUES (:batch_id, :national_id, :now, :status, :code, :sheets)",
            {
                "batch_id": batch_id,
                "national_id": national_id,
                "now": now,
                "status": arl["status"],
                "code": arl["code"],
                "sheets": len(arl["sheets"]),
            },
        )
        arl["received_at"] = received.replace("+00:00", "Z")
        idempotency.record(conn, now, answer=arl)
    return arl


@router.get("/billing")
def billing(context: Context) -> dict:
    """The caller's sheets as the platform holds them: billed (accepted) or rejected."""
    who = _caller(context)
    rows = context.db.all(
        "SELECT number, batch_id, ins, care_date, status, code, reason, amounts FROM fse_sheets"
        " WHERE national_id = :national_id ORDER BY received, number",
        {"national_id": who.national_id},
    )
    sheets = [dict(row) | {"amounts": json.loads(row["amounts"])} for row in rows]
    billed = [s for s in sheets if s["status"] == "accepted"]
    total = sum((Decimal(s["amounts"]["amo"]) for s in billed), ZERO)
    return {"sheets": sheets, "billed": len(billed), "amo_total": euros(total)}


@router.get("/returns")
def returns(context: Context) -> dict:
    """The returns of the caller's settled sheets, oldest first (see the module's docstring)."""
    who = _caller(context)
    rows = context.db.all(
        "SELECT r.number, s.batch_id, s.care_date, r.status, r.code, r.reason, r.amount,"
        " r.paid_on FROM fse_returns r JOIN fse_sheets s ON s.number = r.number"
        " WHERE r.national_id = :national_id ORDER BY r.settled, r.number",
        {"national_id": who.national_id},
    )
    found = [dict(row) for row in rows]
    paid = sum((Decimal(r["amount"]) for r in found if r["status"] == "paid"), ZERO)
    return {"count": len(found), "paid_total": euros(paid), "returns": found}
