"""The e-prescription client: FHIR requests over an httpx client carrying the service's token.

Input is checked before any request (INS key, CIP13 key and catalogue, dosage, quantity,
the number's check character); the service's refusals come back as `RxError`, the kit's
`ConnectorError`: a `kind` a caller can branch on, the emulation's refusal `code`, the
reason in French (`message`) and the exit code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from bsp_tui.domain.fhir import FHIR_JSON
from bsp_tui.domain.patients import ins_problem, oid_of
from connectors.eprescription.catalogue import medication
from connectors.eprescription.models import (
    AGREEMENT_URL,
    CIP13_SYSTEM,
    DISPENSED,
    DMP_COPY_SYSTEM,
    MAX_LINES,
    NON_SUBSTITUTABLE_SYSTEM,
    NOT_DISPENSED,
    OPPOSITION_SYSTEM,
    REFUSAL_SYSTEM,
    SUBSTITUTED,
    DispenseRequest,
    Dispensing,
    DmpCopy,
    Given,
    Line,
    LineRequest,
    Prescription,
    format_number,
    line_problem,
    parse_number,
)
from connectors.kit.errors import ConnectorError, sentence
from connectors.retry import post_once


class RxError(ConnectorError):
    """A refusal or a failure of the e-prescription service (see `ConnectorError`)."""

    UNREADABLE = "Le service d'ordonnance numérique a répondu {status}."
    REASON_SYSTEM = REFUSAL_SYSTEM


def bad_input(message: str) -> RxError:
    """A `bad_input` RxError: one French sentence, capital first, full stop last."""
    return RxError.bad_input(sentence(message))


def checked_number(text: str) -> str:
    """The compact number from what was typed or scanned, or a `bad_input` RxError."""
    try:
        return parse_number(text)
    except ValueError as error:
        raise bad_input(f"numéro d'ordonnance « {text.strip()} » : {error}") from None


def catalogue_problem(cip13: str) -> str | None:
    """Why a well-formed CIP13 cannot be prescribed or given, in French, or None."""
    if medication(cip13) is None:
        return f"CIP13 « {cip13} » absent du catalogue (bsp rx meds TEXTE)"
    return None


def checked_lines(lines: Iterable[LineRequest]) -> list[LineRequest]:
    """The lines, each well formed and in the catalogue, or a `bad_input` RxError."""
    lines = list(lines)
    if not 1 <= len(lines) <= MAX_LINES:
        raise bad_input(f"une ordonnance compte de 1 à {MAX_LINES} lignes")
    for index, line in enumerate(lines, start=1):
        problem = line_problem(line)
        problem = problem or catalogue_problem(line.cip13)
        if problem:
            raise bad_input(f"ligne {index} : {problem}")
    return lines


def checked_choices(choices: Iterable[DispenseRequest]) -> list[DispenseRequest]:
    """The dispensing choices, one per line at most, substitutes in the catalogue."""
    choices = list(choices)
    seen: set[int] = set()
    for choice in choices:
        if choice.line in seen:
            raise bad_input(f"la ligne {choice.line} est donnée deux fois")
        seen.add(choice.line)
        problem = catalogue_problem(choice.cip13) if choice.outcome == SUBSTITUTED else None
        if problem:
            raise bad_input(f"substitution de la ligne {choice.line} : {problem}")
    return choices


def _cip13(concept: dict) -> str:
    return next(c["code"] for c in concept["coding"] if c.get("system") == CIP13_SYSTEM)


def _codes(issue: dict, system: str) -> list[str]:
    return [c["code"] for c in issue.get("details", {}).get("coding", []) if c["system"] == system]


def _dmp_copy(resources: list[dict]) -> DmpCopy | None:
    issues = [
        issue
        for r in resources
        if r["resourceType"] == "OperationOutcome"
        for issue in r["issue"]
        if _codes(issue, DMP_COPY_SYSTEM)
    ]
    if not issues:
        return None
    issue = issues[0]
    code = _codes(issue, DMP_COPY_SYSTEM)[0]
    if code == "filed":
        document = issue.get("expression", [""])[0].removeprefix("DocumentReference/")
        return DmpCopy(True, document_id=document, code=code)
    reason = issue["diagnostics"].removeprefix("Copie non déposée dans le DMP : ")
    return DmpCopy(False, reason=reason, code=code)


def _withheld(resources: list[dict]) -> int:
    return sum(
        int(code)
        for r in resources
        if r["resourceType"] == "OperationOutcome"
        for issue in r["issue"]
        for code in _codes(issue, OPPOSITION_SYSTEM)
    )


def _given(dispense: dict) -> Given:
    line = int(dispense["authorizingPrescription"][0]["reference"].rpartition("-")[2])
    quantity = (dispense.get("quantity") or dispense.get("daysSupply") or {}).get("value", 0)
    agreement = next(
        (e["valueDate"] for e in dispense.get("extension", []) if e["url"] == AGREEMENT_URL), ""
    )
    if dispense["status"] == "declined":
        return Given(line, NOT_DISPENSED, 0)
    if dispense.get("substitution", {}).get("wasSubstituted", False):
        cip13 = _cip13(dispense["medicationCodeableConcept"])
        found = medication(cip13)
        label = found.label if found else cip13
        return Given(line, SUBSTITUTED, quantity, cip13, label, agreement)
    return Given(line, DISPENSED, quantity, agreement=agreement)


def _dispensings(resources: list[dict]) -> tuple[Dispensing, ...]:
    visits: dict[int, list[dict]] = {}
    for resource in resources:
        if resource["resourceType"] == "MedicationDispense":
            visit = int(resource["identifier"][0]["value"])
            visits.setdefault(visit, []).append(resource)
    dispensings = []
    for visit, dispenses in sorted(visits.items()):
        first = dispenses[0]
        dispensings.append(
            Dispensing(
                rank=visit,
                at=first["whenHandedOver"],
                pharmacy=first["location"]["display"],
                pharmacist_name=first["performer"][0]["actor"].get("display", ""),
                given=tuple(_given(d) for d in dispenses),
            )
        )
    return tuple(dispensings)


def prescription_of(bundle: dict) -> Prescription:
    """A prescription Bundle as the client's domain type."""
    resources = [entry["resource"] for entry in bundle.get("entry", [])]
    requests = [r for r in resources if r["resourceType"] == "MedicationRequest"]
    dispensings = _dispensings(resources)
    delivered: dict[int, int] = {}
    for dispensing in dispensings:
        for given in dispensing.given:
            delivered[given.line] = delivered.get(given.line, 0) + given.quantity
    lines = []
    for request in requests:
        cip13 = _cip13(request["medicationCodeableConcept"])
        found = medication(cip13)
        asked = request["dispenseRequest"]
        quantity = asked.get("quantity") or {}
        duration = asked.get("expectedSupplyDuration") or {}
        substitution = request.get("substitution") or {}
        mention = ""
        if substitution.get("allowedBoolean", True) is False:
            mention = substitution["reason"]["coding"][0]["code"]
        number = int(request["identifier"][0]["value"])
        lines.append(
            Line(
                line=number,
                cip13=cip13,
                label=found.label if found else cip13,
                dosage=request["dosageInstruction"][0]["text"],
                boxes=quantity.get("value"),
                duration_days=duration.get("value"),
                renewals=asked.get("numberOfRepeatsAllowed", 0),
                non_substitutable=mention,
                delivered=delivered.get(number, 0),
            )
        )
    first = requests[0]
    return Prescription(
        number=parse_number(bundle["identifier"]["value"]),
        status=first["status"],
        ins=first["subject"]["identifier"]["value"],
        patient_name=first["subject"].get("display", ""),
        prescriber_id=first["requester"]["identifier"]["value"],
        prescriber_name=first["requester"].get("display", ""),
        created=first["authoredOn"],
        lines=tuple(lines),
        dispensings=dispensings,
        valid_until=first["dispenseRequest"].get("validityPeriod", {}).get("end", ""),
        withheld=_withheld(resources),
        dmp_copy=_dmp_copy(resources),
    )


def _request_resource(ins: str, line: LineRequest) -> dict:
    found = medication(line.cip13)
    dispense: dict[str, Any] = (
        {"quantity": {"value": line.boxes, "unit": "boîte"}}
        if line.boxes is not None
        else {
            "expectedSupplyDuration": {
                "value": line.duration_days,
                "unit": "jour",
                "system": "http://unitsofmeasure.org",
                "code": "d",
            }
        }
    )
    if line.renewals:
        dispense["numberOfRepeatsAllowed"] = line.renewals
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"identifier": {"system": f"urn:oid:{oid_of(ins)}", "value": ins}},
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": CIP13_SYSTEM,
                    "code": line.cip13,
                    "display": found.label if found else line.cip13,
                }
            ]
        },
        "dosageInstruction": [{"sequence": 1, "text": line.dosage}],
        "dispenseRequest": dispense,
    }
    if line.non_substitutable:
        resource["substitution"] = {
            "allowedBoolean": False,
            "reason": {
                "coding": [{"system": NON_SUBSTITUTABLE_SYSTEM, "code": line.non_substitutable}]
            },
        }
    return resource


def _dispense_resource(number: str, line: Line, choice: DispenseRequest, opposed: bool) -> dict:
    """One line of a dispensing: always its medication (the prescribed one, or the
    substitute), the quantity when chosen, the agreement and the opposition when given."""
    cip13 = choice.cip13 if choice.outcome == SUBSTITUTED else line.cip13
    resource: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "status": "declined" if choice.outcome == NOT_DISPENSED else "completed",
        "medicationCodeableConcept": {"coding": [{"system": CIP13_SYSTEM, "code": cip13}]},
        "authorizingPrescription": [{"reference": f"MedicationRequest/{number}-{line.line}"}],
        "substitution": {"wasSubstituted": choice.outcome == SUBSTITUTED},
    }
    if choice.quantity is not None:
        key = "quantity" if line.boxes is not None else "daysSupply"
        resource[key] = {"value": choice.quantity}
    extensions = []
    if choice.agreement:
        extensions.append({"url": AGREEMENT_URL, "valueDate": choice.agreement})
    if opposed:
        extensions.append({"url": OPPOSITION_SYSTEM, "valueBoolean": True})
    if extensions:
        resource["extension"] = extensions
    return resource


class RxClient:
    """The e-prescription operations over `client` (base URL: the service; auth: its token)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._http = client

    async def _send(self, method: str, path: str, number: str, body: Any = None) -> dict:
        response = await self._http.request(
            method,
            path,
            params={"group-identifier": format_number(number)},
            json=body,
            headers={"Accept": FHIR_JSON},
        )
        if response.status_code not in (200, 201):
            raise RxError.from_response(response)
        return response.json()

    async def create(self, ins: str, lines: Iterable[LineRequest]) -> Prescription:
        """Prescribe these lines to the patient; the answer has the number and the DMP copy."""
        ins = ins.strip().upper()
        problem = ins_problem(ins)
        if problem:
            raise bad_input(f"INS « {ins} » : {problem}")
        lines = checked_lines(lines)
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": _request_resource(ins, line)} for line in lines],
        }
        response = await post_once(
            self._http,
            "/MedicationRequest",
            json=bundle,
            headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
        )
        if response.status_code != 201:
            raise RxError.from_response(response)
        return prescription_of(response.json())

    async def show(self, number: str) -> Prescription:
        """A prescription by its number (typed or scanned)."""
        number = checked_number(number)
        return prescription_of(await self._send("GET", "/MedicationRequest", number))

    async def dispense(
        self,
        number: str,
        choices: Iterable[DispenseRequest] = (),
        opposed: bool = False,
    ) -> Prescription:
        """One visit: the lines in `choices` as chosen, every other line with something
        left to deliver as prescribed (its quantity, or what remains); `opposed` records
        that the patient opposes the prescriber's seeing this dispensing."""
        number = checked_number(number)
        chosen = {choice.line: choice for choice in checked_choices(choices)}
        current = await self.show(number)
        known = {line.line: line for line in current.lines}
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            raise bad_input(f"l'ordonnance n'a pas de ligne {unknown[0]} (lignes 1 à {len(known)})")
        # Nothing left anywhere: every line is named, for the service to say when it went.
        left = [at for at, line in known.items() if line.remaining] or list(known)
        named = sorted(set(chosen) | set(left))
        resources = [
            _dispense_resource(
                number, known[at], chosen.get(at) or DispenseRequest(at, DISPENSED), opposed
            )
            for at in named
        ]
        body = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": resource} for resource in resources],
        }
        return prescription_of(await self._send("POST", "/MedicationDispense", number, body))

    async def cancel(self, number: str) -> Prescription:
        """Cancel a prescription of one's own, before it is dispensed."""
        number = checked_number(number)
        return prescription_of(await self._send("POST", "/MedicationRequest/$cancel", number))
