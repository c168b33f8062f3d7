"""The emulated e-prescription service (ordonnance numérique): FHIR R4, the emulation's own API.

Mounted by the platform at `/api/eprescription`. The national API is not published; these
operations are the emulation's own (docs/emulation.md):

- `POST MedicationRequest` — a Bundle (type `collection`) of MedicationRequests, one per
  line, for one patient: the service numbers the prescription (`groupIdentifier`), files
  a copy in the patient's DMP when it can, and answers 201 with a Bundle of the stored
  lines and an OperationOutcome saying whether the copy was filed and why not;
- `GET MedicationRequest?group-identifier=NUMBER` — the prescription: its lines and,
  once dispensed, a MedicationDispense per line;
- `POST MedicationDispense?group-identifier=NUMBER` — a Bundle of MedicationDispenses,
  one per line (completed, substituted or declined): the number is then used up;
- `POST MedicationRequest/$cancel?group-identifier=NUMBER` — its prescriber cancels it.

Refusals are 403 (the access matrix, someone else's prescription) or 409 (already
dispensed, cancelled) OperationOutcomes with the reason in French and the emulation's
refusal code in `details.coding` (system `urn:bsp:eprescription:refusal`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from bsp_tui.domain.patients import ins_problem
from bsp_tui.failpoints import failpoint
from bsp_tui.platform.api import (
    Body,
    Database,
    Professional,
    ServiceContext,
    ServiceError,
    Tx,
    fhir_response,
    invalid,
    not_found,
    refused,
    service_context,
)
from bsp_tui.platform.idempotency import Idempotency, is_race
from connectors.dmp.filing import NewDocument, file_copy
from connectors.eprescription.catalogue import medication
from connectors.eprescription.models import (
    ACTIVE,
    AGREEMENT_URL,
    CANCELLED,
    CIP13_SYSTEM,
    COMPLETED,
    DISPENSED,
    DISPENSERS,
    DISPENSING_SYSTEM,
    DMP_COPY_SYSTEM,
    EXPIRED,
    FIRST_DISPENSING_MONTHS,
    MAX_DURATION_DAYS,
    MAX_LINES,
    NON_SUBSTITUTABLE,
    NON_SUBSTITUTABLE_SYSTEM,
    NOT_DISPENSED,
    NUMBER_SYSTEM,
    OPPOSITION_SYSTEM,
    PRESCRIBERS,
    PRESCRIPTION_LOINC,
    READERS,
    REFUSAL_SYSTEM,
    REFUSALS,
    SUBSTITUTED,
    VALIDITY_MONTHS,
    LineRequest,
    add_months,
    amount,
    format_number,
    line_problem,
    new_number,
    parse_number,
)

PATIENT_SYSTEM = "urn:oid:"
AUTHOR_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"  # national id of a professional (IdNat_PS)
# Crash tests stop the served platform here, the prescription committed, its copy not.
FAILPOINT_ENV = "BSP_PLATFORM_FAILPOINT"

router = APIRouter(tags=["Ordonnance numérique"])
Context = Annotated[ServiceContext, Depends(service_context("eprescription"))]
NumberParam = Annotated[
    str | None,
    Query(alias="group-identifier", description="The prescription number (check included)."),
]


def _refused(refusal: str, french: str) -> ServiceError:
    """A refusal: 403 for the matrix and ownership, 409 for the prescription's state."""
    return refused(REFUSALS[refusal], french, refusal, REFUSAL_SYSTEM)


def _instant(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _french_date(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%d/%m/%Y à %H:%M UTC")


# -- who is calling -----------------------------------------------------------------------


def _require(who: Professional, allowed: frozenset[str], what: str, refusal: str) -> None:
    """Refuse (403) unless the profession is allowed; the matrix's first rule first."""
    if who.profession not in READERS:
        raise _refused(
            "profession",
            f"Votre profession ({who.label}) n'a pas accès à l'ordonnance numérique.",
        )
    if who.profession not in allowed:
        raise _refused(refusal, f"Votre profession ({who.label}) ne peut pas {what}.")


def _parsed(body: bytes, kind: str) -> Any:
    # Capped (413) and checked for non-finite numbers by the platform's body guard.
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise invalid(f"Le corps de la requête doit être un Bundle de {kind} en JSON.") from None


def _number(value: str | None) -> str:
    if not value:
        raise invalid("Le paramètre group-identifier (numéro d'ordonnance) est obligatoire.")
    try:
        return parse_number(value.rpartition("|")[2])
    except ValueError as error:
        raise invalid(f"Numéro d'ordonnance invalide : {error}.") from None


def _malformed(where: str) -> ServiceError:
    return invalid(f"Ressource mal formée : {where} manquant ou invalide.")


def _get(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _malformed(where)
    return value


def _entries(body: Any, resource_type: str) -> list[dict]:
    body = _get(body, dict, "la ressource")
    if body.get("resourceType") != "Bundle":
        raise _malformed("resourceType = Bundle")
    entries = _get(body.get("entry"), list, "entry")
    resources = []
    for entry in entries:
        resource = _get(_get(entry, dict, "entry[]").get("resource"), dict, "entry[].resource")
        if resource.get("resourceType") != resource_type:
            raise _malformed(f"entry[].resource (un {resource_type})")
        resources.append(resource)
    return resources


def _cip13_of(concept: Any, where: str) -> str:
    codings = _get(_get(concept, dict, where).get("coding"), list, f"{where}.coding")
    codes = [
        c.get("code")
        for c in codings
        if isinstance(c, dict) and c.get("system", CIP13_SYSTEM) == CIP13_SYSTEM
    ]
    code = _get(codes[0] if codes else None, str, f"{where}.coding (CIP13)")
    if medication(code) is None:
        raise invalid(f"CIP13 « {code[:20]} » absent du catalogue.")
    return code


# -- resources ----------------------------------------------------------------------------


def _prescription(db: Database, number: str) -> Any:
    row = db.one("SELECT * FROM rx_prescriptions WHERE number = :number", {"number": number})
    if row is None:
        raise not_found(f"Aucune ordonnance ne porte le numéro {format_number(number)}.")
    return row


def _medication_concept(cip13: str) -> dict:
    found = medication(cip13)
    return {
        "coding": [
            {"system": CIP13_SYSTEM, "code": cip13, "display": found.label if found else cip13}
        ]
    }


def _quantity(in_boxes: bool, count: int) -> dict:
    """A quantity in its unit: boxes, or days as a UCUM duration."""
    if in_boxes:
        return {"value": count, "unit": "boîte"}
    return {"value": count, "unit": "jour", "system": "http://unitsofmeasure.org", "code": "d"}


def _deadline(row: Any, delivered: bool) -> date:
    """The last day the prescription may be dispensed: within three months of its date
    until a first dispensing, then within twelve (docs/emulation.md)."""
    day = datetime.fromtimestamp(row["created"], UTC).date()
    return add_months(day, VALIDITY_MONTHS if delivered else FIRST_DISPENSING_MONTHS)


def _expired(row: Any, delivered: bool, now: float) -> bool:
    return datetime.fromtimestamp(now, UTC).date() > _deadline(row, delivered)


def _status(row: Any, delivered: bool, now: float) -> str:
    """The lines' FHIR status: an active prescription past its validity is `stopped`."""
    if row["status"] == ACTIVE and _expired(row, delivered, now):
        return EXPIRED
    return row["status"]


def _request_resource(row: Any, line: Any, status: str, until: date) -> dict:
    number = row["number"]
    in_boxes = line["boxes"] is not None
    dispense: dict[str, Any] = {
        "validityPeriod": {"start": _instant(row["created"]), "end": until.isoformat()}
    }
    if in_boxes:
        dispense["quantity"] = _quantity(True, line["boxes"])
    else:
        dispense["expectedSupplyDuration"] = _quantity(False, line["duration_days"])
    if line["renewals"]:
        dispense["numberOfRepeatsAllowed"] = line["renewals"]
    resource = {
        "resourceType": "MedicationRequest",
        "id": f"{number}-{line['line']}",
        "status": status,
        "intent": "order",
        "groupIdentifier": {"system": NUMBER_SYSTEM, "value": format_number(number)},
        "identifier": [{"system": f"{NUMBER_SYSTEM}:line", "value": str(line["line"])}],
        "subject": _subject(row),
        "requester": {
            "identifier": {"system": AUTHOR_SYSTEM, "value": row["prescriber_id"]},
            "display": row["prescriber"],
        },
        "authoredOn": _instant(row["created"]),
        "medicationCodeableConcept": _medication_concept(line["cip13"]),
        "dosageInstruction": [{"sequence": 1, "text": line["dosage"]}],
        "dispenseRequest": dispense,
    }
    mention = line["non_substitutable"]
    if mention:
        resource["substitution"] = {
            "allowedBoolean": False,
            "reason": {
                "coding": [
                    {
                        "system": NON_SUBSTITUTABLE_SYSTEM,
                        "code": mention,
                        "display": NON_SUBSTITUTABLE[mention],
                    }
                ],
                "text": f"non substituable ({mention})",
            },
        }
    return resource


def _subject(row: Any) -> dict:
    return {
        "identifier": {"system": f"{PATIENT_SYSTEM}{row['oid']}", "value": row["ins"]},
        "display": row["patient"],
    }


def _dispense_resource(row: Any, line: Any, delivery: Any, given: Any) -> dict:
    outcome, visit = given["outcome"], delivery["visit"]
    resource: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "id": f"{row['number']}-{line['line']}-{visit}",
        "identifier": [{"system": DISPENSING_SYSTEM, "value": str(visit)}],
        "status": "declined" if outcome == NOT_DISPENSED else "completed",
        "medicationCodeableConcept": _medication_concept(given["cip13"] or line["cip13"]),
        "subject": _subject(row),
        "authorizingPrescription": [
            {"reference": f"MedicationRequest/{row['number']}-{line['line']}"}
        ],
        "substitution": {"wasSubstituted": outcome == SUBSTITUTED},
        "performer": [
            {
                "actor": {
                    "identifier": {"system": AUTHOR_SYSTEM, "value": delivery["pharmacist_id"]},
                    "display": delivery["pharmacist"],
                }
            }
        ],
        "location": {"display": delivery["pharmacy"]},
        "whenHandedOver": _instant(delivery["at"]),
    }
    if outcome != NOT_DISPENSED:
        key = "quantity" if line["boxes"] is not None else "daysSupply"
        resource[key] = _quantity(key == "quantity", given["quantity"])
    if given["agreement"]:
        resource["extension"] = [{"url": AGREEMENT_URL, "valueDate": given["agreement"]}]
    return resource


def _withheld(count: int) -> dict:
    """The dispensings a reader is not shown, the patient having opposed it."""
    issue = {
        "severity": "information",
        "code": "suppressed",
        "diagnostics": f"{count} délivrance(s) non communiquée(s) : le patient s'y est opposé.",
        "details": {"coding": [{"system": OPPOSITION_SYSTEM, "code": str(count)}]},
    }
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def _bundle(
    db: Database | Tx,
    row: Any,
    context: ServiceContext,
    kind: str = "searchset",
    copy: dict | None = None,
) -> dict:
    """The prescription: its lines, then a MedicationDispense per line of each visit the
    caller may see (a pharmacist sees them all; the others not those the patient
    opposed), and the OperationOutcomes (the copy's, the dispensings withheld)."""
    number = {"number": row["number"]}
    lines = db.all("SELECT * FROM rx_lines WHERE number = :number ORDER BY line", number)
    deliveries = db.all("SELECT * FROM rx_deliveries WHERE number = :number ORDER BY visit", number)
    given = db.all("SELECT * FROM rx_given WHERE number = :number ORDER BY visit, line", number)
    delivered = any(line["delivered"] for line in lines)
    status = _status(row, delivered, context.now)
    until = _deadline(row, delivered)
    resources = [_request_resource(row, line, status, until) for line in lines]
    everything = context.caller.profession in DISPENSERS
    shown = [d for d in deliveries if everything or not d["opposed"]]
    by_line = {line["line"]: line for line in lines}
    for delivery in shown:
        resources += [
            _dispense_resource(row, by_line[g["line"]], delivery, g)
            for g in given
            if g["visit"] == delivery["visit"]
        ]
    if copy is not None:
        resources.append(copy)
    if len(shown) < len(deliveries):
        resources.append(_withheld(len(deliveries) - len(shown)))
    return {
        "resourceType": "Bundle",
        "type": kind,
        "identifier": {"system": NUMBER_SYSTEM, "value": format_number(row["number"])},
        "timestamp": _instant(row["changed"] or row["created"]),
        "total": len(lines),
        "entry": [{"resource": resource} for resource in resources],
    }


COPY_PENDING = "pending"  # the copy's outcome until it is known


def _copy_pending(row: Any) -> bool:
    """True while the copy's outcome is unknown (NULL: a prescription made before the
    outcome was recorded with it, whose copy never ran)."""
    return row["dmp_document"] is None and row["dmp_refusal"] in (None, COPY_PENDING)


def _copy_outcome(row: Any) -> dict:
    """Whether the DMP copy was filed: an OperationOutcome the answer carries."""
    if row["dmp_document"]:
        issue = {
            "severity": "information",
            "code": "informational",
            "diagnostics": "Copie de l'ordonnance déposée dans le DMP du patient.",
            "details": {"coding": [{"system": DMP_COPY_SYSTEM, "code": "filed"}]},
            "expression": [f"DocumentReference/{row['dmp_document']}"],
        }
    elif _copy_pending(row):
        issue = {
            "severity": "warning",
            "code": "incomplete",
            "diagnostics": "Copie non déposée dans le DMP : dépôt en attente.",
            "details": {"coding": [{"system": DMP_COPY_SYSTEM, "code": COPY_PENDING}]},
        }
    else:
        issue = {
            "severity": "warning",
            "code": "incomplete",
            "diagnostics": f"Copie non déposée dans le DMP : {row['dmp_reason']}",
            "details": {"coding": [{"system": DMP_COPY_SYSTEM, "code": row["dmp_refusal"]}]},
        }
    return {"resourceType": "OperationOutcome", "issue": [issue]}


# -- creating -----------------------------------------------------------------------------


def _line_of(resource: dict, index: int) -> LineRequest:
    where = f"entry[{index}]"
    cip13 = _cip13_of(resource.get("medicationCodeableConcept"), f"{where}.medication")
    dosages = _get(resource.get("dosageInstruction"), list, f"{where}.dosageInstruction")
    dosage = _get(dosages[0] if dosages else None, dict, f"{where}.dosageInstruction[0]")
    text = _get(dosage.get("text"), str, f"{where}.dosageInstruction[0].text")
    request = _get(resource.get("dispenseRequest"), dict, f"{where}.dispenseRequest")
    boxes = days = None
    if "quantity" in request:
        quantity = _get(request["quantity"], dict, f"{where}.dispenseRequest.quantity")
        boxes = _get(quantity.get("value"), int, f"{where}.dispenseRequest.quantity.value")
    if "expectedSupplyDuration" in request:
        duration = _get(request["expectedSupplyDuration"], dict, f"{where}.expectedSupplyDuration")
        days = _get(duration.get("value"), int, f"{where}.expectedSupplyDuration.value")
    renewals = _get(request.get("numberOfRepeatsAllowed", 0), int, f"{where}.numberOfRepeats")
    line = LineRequest(cip13, text.strip(), boxes, days, renewals, _mention(resource, where))
    problem = line_problem(line)
    if problem:
        raise invalid(f"Ligne {index + 1} : {problem}.")
    return line


def _mention(resource: dict, where: str) -> str:
    """The "non substituable" mention's code, or "" when substitution is allowed."""
    substitution = _get(resource.get("substitution", {}), dict, f"{where}.substitution")
    if substitution.get("allowedBoolean", True) is not False:
        return ""
    reason = _get(substitution.get("reason"), dict, f"{where}.substitution.reason")
    codings = _get(reason.get("coding"), list, f"{where}.substitution.reason.coding")
    coding = _get(codings[0] if codings else None, dict, f"{where}.substitution.reason")
    return _get(coding.get("code"), str, f"{where}.substitution.reason.coding[0].code")


def _subject_ins(resources: list[dict]) -> str:
    values = set()
    for index, resource in enumerate(resources):
        subject = _get(resource.get("subject"), dict, f"entry[{index}].subject")
        identifier = _get(subject.get("identifier"), dict, f"entry[{index}].subject.identifier")
        values.add(_get(identifier.get("value"), str, f"entry[{index}].subject.identifier.value"))
    if len(values) != 1:
        raise invalid("Toutes les lignes d'une ordonnance concernent le même patient.")
    ins = values.pop().strip().upper()
    problem = ins_problem(ins)
    if problem:
        raise invalid(f"INS invalide : {problem}.")
    return ins


def _prescription_text(number: str, who: Professional, patient: str, lines: list) -> bytes:
    body = [
        "Ordonnance numérique",
        f"Numéro : {format_number(number)}",
        f"Prescripteur : {who.name} ({who.national_id}), {who.organisation}",
        f"Patient : {patient}",
        "",
    ]
    for index, line in enumerate(lines, start=1):
        found = medication(line.cip13)
        written = amount(line.boxes or line.duration_days or 0, line.boxes is not None)
        if line.renewals:
            written += f", à renouveler {line.renewals} fois"
        if line.non_substitutable:
            written += f" — non substituable ({line.non_substitutable})"
        label = found.label if found else line.cip13
        body.append(f"{index}. {label} — {line.dosage} — {written}")
    return "\n".join(body).encode()


def _file_copy(context: ServiceContext, row: Any) -> None:
    """File the pending DMP copy of the prescription `row`, and record how it went.

    The prescription stands either way: a DMP that is closed, missing, or that blocks
    the prescriber does not stop the patient from getting the medication. The outcome
    is recorded only while the copy is still pending, in the transaction that adds the
    document: a retry filing it at the same time adds no second copy.
    """
    db, who, number = context.db, context.caller, row["number"]
    lines = [
        LineRequest(
            line["cip13"],
            line["dosage"],
            line["boxes"],
            line["duration_days"],
            line["renewals"],
            line["non_substitutable"],
        )
        for line in db.all(
            "SELECT * FROM rx_lines WHERE number = :number ORDER BY line", {"number": number}
        )
    ]
    text = _prescription_text(number, who, row["patient"], lines)
    recorded = (
        "UPDATE rx_prescriptions SET dmp_document = :document, dmp_refusal = :refusal,"
        " dmp_reason = :reason WHERE number = :number AND dmp_document IS NULL"
        " AND (dmp_refusal IS NULL OR dmp_refusal = :pending)"
    )
    which = {"number": number, "pending": COPY_PENDING}

    def filed(conn: Tx, document_id: str) -> None:
        done = conn.execute(
            recorded, which | {"document": document_id, "refusal": "", "reason": ""}
        )
        if done == 0:
            raise _CopyAlreadyRecordedError

    try:
        document = NewDocument(
            row["ins"],
            PRESCRIPTION_LOINC,
            f"Ordonnance {format_number(number)}",
            "text/plain",
            text,
            frozenset(),
        )
        file_copy(context, row["ins"], document, filed)
    except _CopyAlreadyRecordedError:
        pass
    except ServiceError as error:
        refusal = error.issue.reason or "no_dmp"
        with db.write() as conn:
            outcome = {"document": None, "refusal": refusal, "reason": error.issue.message}
            conn.execute(recorded, which | outcome)


class _CopyAlreadyRecordedError(Exception):
    """Another request recorded the copy's outcome first."""


def _created(context: ServiceContext, number: str) -> JSONResponse:
    """The answer to the prescription's creation: its lines, and its DMP copy filed."""
    db = context.db
    row = _prescription(db, number)
    if _copy_pending(row):
        _file_copy(context, row)
        row = _prescription(db, number)
    return fhir_response(_bundle(db, row, context, "collection", _copy_outcome(row)), 201)


@router.post("/MedicationRequest", name="rx_create", status_code=201)
def create(request: Request, body: Body, context: Context) -> JSONResponse:
    """Record a prescription (one MedicationRequest a line) and number it."""
    who = context.caller
    _require(who, PRESCRIBERS, "prescrire (réservé aux médecins)", "not_prescriber")
    idempotency = Idempotency.of(request, body, "rx_create", who.national_id)
    db, now = context.db, context.now
    stored = idempotency.stored(db)
    if stored is not None:  # a retry: the first request's prescription, its copy finished
        return _created(context, str(stored.resource))
    resources = _entries(_parsed(body, "MedicationRequest"), "MedicationRequest")
    if not 1 <= len(resources) <= MAX_LINES:
        raise invalid(f"Une ordonnance compte de 1 à {MAX_LINES} lignes.")
    ins = _subject_ins(resources)
    lines = [_line_of(resource, index) for index, resource in enumerate(resources)]
    patient = context.patients.by_ins(ins)
    if patient is None:
        raise not_found("Aucun patient ne porte cet INS.")
    name = f"{patient.family} {patient.given}"
    number = new_number()
    try:
        # Number, lines, status and key in one transaction; the copy's outcome is known
        # to be pending from the start, so that a crash before it leaves a true record.
        with db.write() as conn:
            conn.execute(
                "INSERT INTO rx_prescriptions (number, ins, oid, patient, prescriber_id,"
                " prescriber, created, status, dmp_refusal, dmp_reason)"
                " VALUES (:number, :ins, :oid, :patient, :prescriber_id, :prescriber, :created,"
                " :status, :refusal, '')",
                {
                    "number": number,
                    "ins": ins,
                    "oid": patient.oid,
                    "patient": name,
                    "prescriber_id": who.national_id,
                    "prescriber": who.name,
                    "created": now,
                    "status": ACTIVE,
                    "refusal": COPY_PENDING,
                },
            )
            conn.execute(
                "INSERT INTO rx_lines (number, line, cip13, dosage, boxes, duration_days,"
                " renewals, non_substitutable, delivered) VALUES (:number, :line, :cip13,"
                " :dosage, :boxes, :duration_days, :renewals, :mention, 0)",
                [
                    {
                        "number": number,
                        "line": index,
                        "cip13": line.cip13,
                        "dosage": line.dosage,
                        "boxes": line.boxes,
                        "duration_days": line.duration_days,
                        "renewals": line.renewals,
                        "mention": line.non_substitutable,
                    }
                    for index, line in enumerate(lines, start=1)
                ],
            )
            idempotency.record(conn, now, number)
    except IntegrityError as error:
        if not is_race(error):
            raise
        number = str(idempotency.stored(db).resource)  # type: ignore[union-attr]
    failpoint(FAILPOINT_ENV, "rx_before_copy")
    return _created(context, number)


# -- reading ------------------------------------------------------------------------------


@router.get("/MedicationRequest", name="rx_read")
def read(request: Request, context: Context, number: NumberParam = None) -> JSONResponse:
    """A prescription by its number: its lines, and how they were dispensed."""
    who = context.caller
    _require(who, READERS, "consulter une ordonnance", "profession")
    number = _number(number)
    db = context.db
    row = _prescription(db, number)
    copy = _copy_outcome(row) if row["prescriber_id"] == who.national_id else None
    return fhir_response(_bundle(db, row, context, copy=copy))


# -- dispensing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Choice:
    """One line of a dispensing as asked: quantity None for the service's default."""

    outcome: str
    cip13: str
    quantity: int | None
    agreement: str


def _visits(conn: Database | Tx, number: str) -> str:
    """Every dispensing's day and pharmacy, in French: `le 02/12/2026 par …, le …`."""
    rows = conn.all(
        "SELECT at, pharmacy FROM rx_deliveries WHERE number = :number ORDER BY visit",
        {"number": number},
    )
    return ", ".join(f"le {_french_date(r['at'])} par {r['pharmacy']}" for r in rows)


def _already_dispensed(conn: Database | Tx, number: str, what: str = "Ordonnance") -> ServiceError:
    visits = _visits(conn, number) or "à une date inconnue"
    return _refused(
        "already_dispensed",
        f"{what} déjà entièrement délivrée ({visits}) : son numéro ne sert plus.",
    )


def _cancelled(row: Any) -> ServiceError:
    return _refused(
        "cancelled", f"Ordonnance annulée par son prescripteur le {_french_date(row['changed'])}."
    )


def _extension(resource: dict, url: str, key: str, where: str) -> Any:
    """The value of the resource's extension `url`, or None."""
    for extension in _get(resource.get("extension", []), list, f"{where}.extension"):
        if isinstance(extension, dict) and extension.get("url") == url:
            return extension.get(key)
    return None


def _agreement(resource: dict, where: str, row: Any, now: float) -> str:
    """The prescriber's agreement's day (ISO), checked: between the prescription's day
    and today; "" when there is none."""
    value = _extension(resource, AGREEMENT_URL, "valueDate", where)
    if value is None:
        return ""
    try:
        day = date.fromisoformat(_get(value, str, f"{where}.extension (accord)"))
    except ValueError:
        raise invalid(f"{where} : date de l'accord du prescripteur invalide.") from None
    created = datetime.fromtimestamp(row["created"], UTC).date()
    if not created <= day <= datetime.fromtimestamp(now, UTC).date():
        raise invalid(f"{where} : l'accord du prescripteur date d'entre l'ordonnance et ce jour.")
    return day.isoformat()


def _given_quantity(resource: dict, where: str) -> int | None:
    for key in ("quantity", "daysSupply"):
        if key in resource:
            quantity = _get(resource[key], dict, f"{where}.{key}")
            value = _get(quantity.get("value"), int, f"{where}.{key}.value")
            if not 1 <= value <= MAX_DURATION_DAYS:
                raise invalid(f"{where}.{key} : de 1 à {MAX_DURATION_DAYS}.")
            return value
    return None


def _choices(resources: list[dict], row: Any, count: int, now: float) -> dict[int, _Choice]:
    """{line: choice} for the lines this dispensing names, each at most once."""
    number = row["number"]
    if not resources:
        raise invalid("Une délivrance nomme au moins une ligne de l'ordonnance.")
    choices: dict[int, _Choice] = {}
    for index, resource in enumerate(resources):
        where = f"entry[{index}]"
        refs = _get(
            resource.get("authorizingPrescription"), list, f"{where}.authorizingPrescription"
        )
        ref = _get(_get(refs[0] if refs else None, dict, where).get("reference"), str, where)
        prefix = f"MedicationRequest/{number}-"
        tail = ref.removeprefix(prefix)
        if not ref.startswith(prefix) or not tail.isdigit() or not 1 <= int(tail) <= count:
            raise invalid(
                f"{where}.authorizingPrescription ne désigne pas une ligne de cette ordonnance."
            )
        status = resource.get("status")
        substitution = _get(resource.get("substitution", {}), dict, f"{where}.substitution")
        substituted = substitution.get("wasSubstituted") is True
        if status == "declined":
            outcome, cip13 = NOT_DISPENSED, ""
        elif status == "completed" and substituted:
            outcome = SUBSTITUTED
            cip13 = _cip13_of(resource.get("medicationCodeableConcept"), f"{where}.medication")
        elif status == "completed":
            outcome, cip13 = DISPENSED, ""
        else:
            raise _malformed(f"{where}.status (completed ou declined)")
        if int(tail) in choices:
            raise invalid(f"La ligne {tail} est délivrée deux fois.")
        quantity = None if outcome == NOT_DISPENSED else _given_quantity(resource, where)
        agreement = _agreement(resource, where, row, now)
        choices[int(tail)] = _Choice(outcome, cip13, quantity, agreement)
    return choices


def _equivalent(prescribed: str, given: str) -> bool:
    """Whether the pharmacist may give `given` for `prescribed` on their own: the same
    molecule at the same strength (the emulation's stand-in for the generic groups)."""
    first, second = medication(prescribed), medication(given)
    if first is None or second is None:
        return False
    return (first.molecule, first.strength) == (second.molecule, second.strength)


def _quantity_of(line: Any, choice: _Choice) -> int:
    """What this visit gives of the line, refused when the rules do not allow it."""
    number, at = line["number"], line["line"]
    in_boxes = line["boxes"] is not None
    unit_quantity = line["boxes"] if in_boxes else line["duration_days"]
    remaining = unit_quantity * (1 + line["renewals"]) - line["delivered"]
    if remaining <= 0:
        raise _already_dispensed_line(number, at)
    if choice.outcome == SUBSTITUTED:
        mention = line["non_substitutable"]
        if mention:
            raise _refused(
                "non_substitutable",
                f"Ligne {at} prescrite « non substituable » ({mention} : "
                f"{NON_SUBSTITUTABLE[mention]}) : la substitution est refusée, délivrez le "
                "médicament prescrit.",
            )
        if not _equivalent(line["cip13"], choice.cip13) and not choice.agreement:
            found = medication(choice.cip13)
            raise _refused(
                "agreement_required",
                f"Ligne {at} : {found.label if found else choice.cip13} n'est pas le même "
                "médicament au même dosage ; cette modification demande l'accord du "
                "prescripteur (sa date).",
            )
    quantity = choice.quantity or min(unit_quantity, remaining)
    if quantity > remaining and not choice.agreement:
        raise _refused(
            "exceeds_remaining",
            f"Ligne {at} : reste {amount(remaining, in_boxes)} à délivrer, "
            f"{amount(quantity, in_boxes)} demandé(s) ; au-delà, il faut l'accord du "
            "prescripteur (sa date).",
        )
    return quantity


def _already_dispensed_line(number: str, line: int) -> ServiceError:
    return _refused(
        "already_dispensed",
        f"Ligne {line} déjà entièrement délivrée : ne la nommez plus (ordonnance "
        f"{format_number(number)}).",
    )


def _deliver(
    conn: Tx, number: str, choices: dict[int, _Choice], context: ServiceContext, opposed: bool
) -> None:
    """Inside a write transaction: check this visit against the prescription as it is
    now, and record it; a refusal is raised (nothing written).

    The prescription's row is locked first: of two pharmacies dispensing one number (or
    a pharmacy and the prescriber cancelling), the second reads what the first left, so
    that no quantity is given twice; each line's total grows only from the value read.
    """
    who, now = context.caller, context.now
    row = conn.locked("SELECT * FROM rx_prescriptions WHERE number = :number", {"number": number})
    if row is None:
        raise not_found(f"Aucune ordonnance ne porte le numéro {format_number(number)}.")
    if row["status"] == COMPLETED:
        raise _already_dispensed(conn, number)
    if row["status"] == CANCELLED:
        raise _cancelled(row)
    lines = {
        line["line"]: line
        for line in conn.all("SELECT * FROM rx_lines WHERE number = :number", {"number": number})
    }
    delivered = any(line["delivered"] for line in lines.values())
    if _expired(row, delivered, now):
        first = "" if delivered else " (première délivrance dans les trois mois)"
        raise _refused(
            "expired",
            f"Ordonnance expirée depuis le {_deadline(row, delivered):%d/%m/%Y}{first} : "
            "le patient doit consulter son prescripteur.",
        )
    quantities = {
        at: (0 if choice.outcome == NOT_DISPENSED else _quantity_of(lines[at], choice))
        for at, choice in sorted(choices.items())
    }
    if not any(quantities.values()):
        raise invalid("Aucune ligne délivrée : une délivrance donne au moins une ligne.")
    visit = 1 + conn.value(
        "SELECT coalesce(max(visit), 0) FROM rx_deliveries WHERE number = :number",
        {"number": number},
    )
    conn.execute(
        "INSERT INTO rx_deliveries (number, visit, at, pharmacist_id, pharmacist, pharmacy,"
        " opposed) VALUES (:number, :visit, :now, :pharmacist_id, :pharmacist, :pharmacy,"
        " :opposed)",
        {
            "number": number,
            "visit": visit,
            "now": now,
            "pharmacist_id": who.national_id,
            "pharmacist": who.name,
            "pharmacy": who.organisation,
            "opposed": int(opposed),
        },
    )
    conn.execute(
        "INSERT INTO rx_given (number, visit, line, outcome, cip13, quantity, agreement)"
        " VALUES (:number, :visit, :line, :outcome, :cip13, :quantity, :agreement)",
        [
            {
                "number": number,
                "visit": visit,
                "line": at,
                "outcome": choice.outcome,
                "cip13": choice.cip13,
                "quantity": quantities[at],
                "agreement": choice.agreement,
            }
            for at, choice in sorted(choices.items())
        ],
    )
    for at, quantity in quantities.items():
        # Conditional on the total read under the lock: a second writer never adds twice.
        done = conn.execute(
            "UPDATE rx_lines SET delivered = delivered + :quantity"
            " WHERE number = :number AND line = :line AND delivered = :before",
            {"quantity": quantity, "number": number, "line": at, "before": lines[at]["delivered"]},
        )
        if done != 1:
            raise _already_dispensed_line(number, at)
    left = conn.value(
        "SELECT count(*) FROM rx_lines WHERE number = :number"
        " AND delivered < coalesce(boxes, duration_days) * (1 + renewals)",
        {"number": number},
    )
    conn.execute(
        "UPDATE rx_prescriptions SET status = :status, changed = :now WHERE number = :number",
        {"status": ACTIVE if left else COMPLETED, "now": now, "number": number},
    )


@router.post("/MedicationDispense", name="rx_dispense", status_code=201)
def dispense(body: Body, context: Context, number: NumberParam = None) -> JSONResponse:
    """Record one visit's dispensing of some lines; the number is used up once every
    line is delivered in full."""
    who = context.caller
    _require(who, DISPENSERS, "délivrer (réservé aux pharmaciens)", "not_pharmacist")
    number = _number(number)
    resources = _entries(_parsed(body, "MedicationDispense"), "MedicationDispense")
    db, now = context.db, context.now
    row = _prescription(db, number)
    count = db.value("SELECT count(*) FROM rx_lines WHERE number = :number", {"number": number})
    choices = _choices(resources, row, count, now)
    opposed = any(
        _extension(resource, OPPOSITION_SYSTEM, "valueBoolean", "entry[]") is True
        for resource in resources
    )
    with db.write() as conn:
        _deliver(conn, number, choices, context, opposed)
    return fhir_response(_bundle(db, _prescription(db, number), context), 201)


def _move(conn: Tx, number: str, status: str, now: float) -> str:
    """Inside a write transaction: an active prescription takes `status`; the one it had.

    Read under the lock, so that of a pharmacy dispensing and the prescriber cancelling,
    the second one reads what the first one left.
    """
    row = conn.locked(
        "SELECT status FROM rx_prescriptions WHERE number = :number", {"number": number}
    )
    before = row["status"] if row else ""
    if before == ACTIVE:
        conn.execute(
            "UPDATE rx_prescriptions SET status = :status, changed = :now WHERE number = :number",
            {"status": status, "now": now, "number": number},
        )
    return before


# -- cancelling ---------------------------------------------------------------------------


@router.post("/MedicationRequest/$cancel", name="rx_cancel")
def cancel(request: Request, context: Context, number: NumberParam = None) -> JSONResponse:
    """The prescriber cancels their prescription, before it is dispensed."""
    who = context.caller
    _require(
        who, PRESCRIBERS, "annuler une ordonnance (réservé à son prescripteur)", "not_prescriber"
    )
    number = _number(number)
    db, now = context.db, context.now
    row = _prescription(db, number)
    if row["prescriber_id"] != who.national_id:
        raise _refused("not_author", "Seul le prescripteur de cette ordonnance peut l'annuler.")
    with db.write() as conn:
        status = _move(conn, number, CANCELLED, now)
    if status == COMPLETED:
        raise _refused(
            "already_dispensed", "Ordonnance déjà délivrée : elle ne peut plus être annulée."
        )
    if status == CANCELLED:
        raise _cancelled(_prescription(db, number))
    return fhir_response(_bundle(db, _prescription(db, number), context))
