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
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from bsp_tui.domain.fhir import FHIR_JSON
from bsp_tui.domain.patients import ins_problem
from bsp_tui.failpoints import failpoint
from bsp_tui.platform.api import (
    Body,
    Database,
    Professional,
    ServiceContext,
    ServiceError,
    Tx,
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
    CANCELLED,
    CIP13_SYSTEM,
    COMPLETED,
    DISPENSED,
    DISPENSERS,
    DMP_COPY_SYSTEM,
    MAX_LINES,
    NOT_DISPENSED,
    NUMBER_SYSTEM,
    PRESCRIBERS,
    PRESCRIPTION_LOINC,
    READERS,
    REFUSAL_SYSTEM,
    REFUSALS,
    SUBSTITUTED,
    LineRequest,
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


def _fhir(body: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


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


def _request_resource(row: Any, line: Any) -> dict:
    number = row["number"]
    dispense: dict[str, Any] = {}
    if line["boxes"] is not None:
        dispense["quantity"] = {"value": line["boxes"], "unit": "boîte"}
    else:
        dispense["expectedSupplyDuration"] = {
            "value": line["duration_days"],
            "unit": "jour",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        }
    return {
        "resourceType": "MedicationRequest",
        "id": f"{number}-{line['line']}",
        "status": row["status"],
        "intent": "order",
        "groupIdentifier": {"system": NUMBER_SYSTEM, "value": format_number(number)},
        "identifier": [{"system": f"{NUMBER_SYSTEM}:line", "value": str(line["line"])}],
        "subject": {
            "identifier": {"system": f"{PATIENT_SYSTEM}{row['oid']}", "value": row["ins"]},
            "display": row["patient"],
        },
        "requester": {
            "identifier": {"system": AUTHOR_SYSTEM, "value": row["prescriber_id"]},
            "display": row["prescriber"],
        },
        "authoredOn": _instant(row["created"]),
        "medicationCodeableConcept": _medication_concept(line["cip13"]),
        "dosageInstruction": [{"sequence": 1, "text": line["dosage"]}],
        "dispenseRequest": dispense,
    }


def _dispense_resource(row: Any, line: Any, dispensing: Any) -> dict:
    outcome = line["outcome"]
    return {
        "resourceType": "MedicationDispense",
        "id": f"{row['number']}-{line['line']}-d",
        "status": "declined" if outcome == NOT_DISPENSED else "completed",
        "authorizingPrescription": [
            {"reference": f"MedicationRequest/{row['number']}-{line['line']}"}
        ],
        "medicationCodeableConcept": _medication_concept(line["dispensed_cip13"] or line["cip13"]),
        "substitution": {"wasSubstituted": outcome == SUBSTITUTED},
        "performer": [
            {
                "actor": {
                    "identifier": {"system": AUTHOR_SYSTEM, "value": dispensing["pharmacist_id"]},
                    "display": dispensing["pharmacist"],
                }
            }
        ],
        "location": {"display": dispensing["pharmacy"]},
        "whenHandedOver": _instant(dispensing["at"]),
    }


def _bundle(db: Database, row: Any, kind: str = "searchset", copy: dict | None = None) -> dict:
    number = {"number": row["number"]}
    lines = db.all("SELECT * FROM rx_lines WHERE number = :number ORDER BY line", number)
    dispensing = db.one("SELECT * FROM rx_dispensings WHERE number = :number", number)
    resources = [_request_resource(row, line) for line in lines]
    if dispensing is not None:
        resources += [_dispense_resource(row, line, dispensing) for line in lines]
    if copy is not None:
        resources.append(copy)
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
    line = LineRequest(cip13, text.strip(), boxes, days)
    problem = line_problem(line)
    if problem:
        raise invalid(f"Ligne {index + 1} : {problem}.")
    return line


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
    quantity = {True: "{} boîte(s)", False: "{} jour(s)"}
    body = [
        "Ordonnance numérique",
        f"Numéro : {format_number(number)}",
        f"Prescripteur : {who.name} ({who.national_id}), {who.organisation}",
        f"Patient : {patient}",
        "",
    ]
    for index, line in enumerate(lines, start=1):
        found = medication(line.cip13)
        amount = quantity[line.boxes is not None].format(line.boxes or line.duration_days)
        body.append(f"{index}. {found.label if found else line.cip13} — {line.dosage} — {amount}")
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
        LineRequest(line["cip13"], line["dosage"], line["boxes"], line["duration_days"])
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
    return _fhir(_bundle(db, row, "collection", _copy_outcome(row)), 201)


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
                "INSERT INTO rx_lines (number, line, cip13, dosage, boxes, duration_days)"
                " VALUES (:number, :line, :cip13, :dosage, :boxes, :duration_days)",
                [
                    {
                        "number": number,
                        "line": index,
                        "cip13": line.cip13,
                        "dosage": line.dosage,
                        "boxes": line.boxes,
                        "duration_days": line.duration_days,
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
    return _fhir(_bundle(db, row, copy=copy))


# -- dispensing ---------------------------------------------------------------------------


def _already_dispensed(db: Database, number: str) -> ServiceError:
    first = db.one("SELECT * FROM rx_dispensings WHERE number = :number", {"number": number})
    when = _french_date(first["at"]) if first else "une date inconnue"
    pharmacy = first["pharmacy"] if first else "une pharmacie inconnue"
    return _refused(
        "already_dispensed",
        f"Ordonnance déjà délivrée le {when} par {pharmacy} : son numéro ne sert qu'une fois.",
    )


def _cancelled(row: Any) -> ServiceError:
    return _refused(
        "cancelled", f"Ordonnance annulée par son prescripteur le {_french_date(row['changed'])}."
    )


def _choices(resources: list[dict], number: str, count: int) -> dict[int, tuple[str, str]]:
    """{line: (outcome, dispensed CIP13)} for every line, each exactly once."""
    choices: dict[int, tuple[str, str]] = {}
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
        choices[int(tail)] = (outcome, cip13)
    missing = sorted(set(range(1, count + 1)) - set(choices))
    if missing:
        raise invalid(
            "Chaque ligne doit être délivrée, substituée ou refusée : manque la ligne "
            + ", ".join(map(str, missing))
            + "."
        )
    return choices


def _move(conn: Tx, number: str, status: str, now: float) -> str:
    """Inside a write transaction: an active prescription takes `status`; the one it had.

    Read under the write lock, so that of two pharmacies dispensing one number (or a
    pharmacy and the prescriber cancelling), exactly one finds it active.
    """
    # Held until the move is written: of a dispensing and a cancelling at once, the
    # second one reads what the first one left.
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


@router.post("/MedicationDispense", name="rx_dispense", status_code=201)
def dispense(body: Body, context: Context, number: NumberParam = None) -> JSONResponse:
    """Record the dispensing of every line; the number is used up."""
    who = context.caller
    _require(who, DISPENSERS, "délivrer (réservé aux pharmaciens)", "not_pharmacist")
    number = _number(number)
    resources = _entries(_parsed(body, "MedicationDispense"), "MedicationDispense")
    db, now = context.db, context.now
    _prescription(db, number)
    count = db.value("SELECT count(*) FROM rx_lines WHERE number = :number", {"number": number})
    choices = _choices(resources, number, count)
    with db.write() as conn:
        status = _move(conn, number, COMPLETED, now)
        if status == ACTIVE:
            conn.execute(
                "INSERT INTO rx_dispensings (number, at, pharmacist_id, pharmacist, pharmacy)"
                " VALUES (:number, :now, :pharmacist_id, :pharmacist, :pharmacy)",
                {
                    "number": number,
                    "now": now,
                    "pharmacist_id": who.national_id,
                    "pharmacist": who.name,
                    "pharmacy": who.organisation,
                },
            )
            conn.execute(
                "UPDATE rx_lines SET outcome = :outcome, dispensed_cip13 = :cip13"
                " WHERE number = :number AND line = :line",
                [
                    {"outcome": outcome, "cip13": cip13, "number": number, "line": line}
                    for line, (outcome, cip13) in choices.items()
                ],
            )
    if status == COMPLETED:
        raise _already_dispensed(db, number)
    if status == CANCELLED:
        raise _cancelled(_prescription(db, number))
    return _fhir(_bundle(db, _prescription(db, number)), 201)


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
    return _fhir(_bundle(db, _prescription(db, number)))
