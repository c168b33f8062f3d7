"""The emulated e-prescription service in process: the access matrix, single use, cancel,
the DMP copy, and bad input (400, never 500).

Scenario patients (bsp_tui.platform.population): DUPONT (index 0, open DMP), LEROY (1,
closed DMP), BERNARD (2, blocks the urgentiste).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import httpx
import pytest

from bsp_tui.platform.population import make_ins
from connectors.eprescription.models import (
    CIP13_SYSTEM,
    PRESCRIPTION_LOINC,
    add_months,
    check_character,
    format_number,
)
from tests.connectors.eprescription.conftest import (
    AMOXICILLINE,
    IBUPROFENE,
    NOT_IN_CATALOGUE,
    PARACETAMOL,
    Harness,
    refusal,
)

pytestmark = pytest.mark.anyio
OID_TEST = "urn:oid:1.2.250.1.213.1.4.10"


def line(
    ins: str, cip13: str = PARACETAMOL, dosage: str = "1 comprimé 3 fois par jour", **dispense: Any
) -> dict:
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"identifier": {"system": OID_TEST, "value": ins}},
        "medicationCodeableConcept": {"coding": [{"system": CIP13_SYSTEM, "code": cip13}]},
        "dosageInstruction": [{"text": dosage}],
        "dispenseRequest": dispense or {"quantity": {"value": 2}},
    }


def three_months_after(instant: str) -> str:
    return add_months(date.fromisoformat(instant[:10]), 3).isoformat()


def bundle(*resources: dict) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def given(number: str, index: int, status: str = "completed", substitute: str = "") -> dict:
    resource: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "status": status,
        "authorizingPrescription": [{"reference": f"MedicationRequest/{number}-{index}"}],
        "substitution": {"wasSubstituted": bool(substitute)},
    }
    if substitute:
        resource["medicationCodeableConcept"] = {
            "coding": [{"system": CIP13_SYSTEM, "code": substitute}]
        }
    return resource


def resources(response: httpx.Response, kind: str) -> list[dict]:
    return [
        e["resource"] for e in response.json()["entry"] if e["resource"]["resourceType"] == kind
    ]


async def create(
    rx: Harness, persona: str = "generaliste", ins: str | None = None, *lines: dict
) -> httpx.Response:
    ins = ins or rx.patient(0)
    return await rx.request(
        persona,
        "POST",
        "/MedicationRequest",
        bundle(*(lines or (line(ins), line(ins, AMOXICILLINE)))),
    )


async def number_of(rx: Harness, persona: str = "generaliste", ins: str | None = None) -> str:
    response = await create(rx, persona, ins)
    assert response.status_code == 201, response.text
    return response.json()["identifier"]["value"]


async def read(rx: Harness, persona: str, number: str) -> httpx.Response:
    return await rx.request(persona, "GET", "/MedicationRequest", **{"group-identifier": number})


async def dispense(rx: Harness, persona: str, number: str, *items: dict | None) -> httpx.Response:
    """Dispense these lines (both as prescribed by default; `None` for no line at all)."""
    compact = number.replace("-", "")
    items = items or (given(compact, 1), given(compact, 2))
    items = tuple(item for item in items if item is not None)
    return await rx.request(
        persona, "POST", "/MedicationDispense", bundle(*items), **{"group-identifier": number}
    )


async def cancel(rx: Harness, persona: str, number: str) -> httpx.Response:
    return await rx.request(
        persona, "POST", "/MedicationRequest/$cancel", **{"group-identifier": number}
    )


# -- creating -----------------------------------------------------------------------------


async def test_the_doctor_prescribes_and_the_copy_is_filed_in_the_dmp(rx: Harness) -> None:
    ins = rx.patient(0)
    response = await create(
        rx,
        "generaliste",
        ins,
        line(ins),
        line(
            ins,
            IBUPROFENE,
            "1 comprimé si douleur",
            expectedSupplyDuration={"value": 5, "unit": "jour"},
        ),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    number = body["identifier"]["value"]
    assert len(number) == 16 and number == format_number(number.replace("-", ""))
    requests = resources(response, "MedicationRequest")
    assert [r["id"] for r in requests] == [f"{number.replace('-', '')}-{n}" for n in (1, 2)]
    assert {r["groupIdentifier"]["value"] for r in requests} == {number}
    assert requests[0]["dispenseRequest"]["quantity"] == {"value": 2, "unit": "boîte"}
    # First dispensed within three months of its date (R. 5132-22).
    assert requests[0]["dispenseRequest"]["validityPeriod"]["end"] == three_months_after(
        requests[0]["authoredOn"]
    )
    assert requests[1]["dispenseRequest"]["expectedSupplyDuration"]["value"] == 5
    assert requests[0]["subject"]["display"] == "DUPONT MARIE LOUISE"
    assert requests[0]["requester"]["identifier"]["value"] == rx.national_id("generaliste")
    assert "PARACÉTAMOL 1 g" in requests[0]["medicationCodeableConcept"]["coding"][0]["display"]
    (copy,) = resources(response, "OperationOutcome")
    issue = copy["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "filed"
    document_id = issue["expression"][0].removeprefix("DocumentReference/")
    stored = rx.db.one("SELECT * FROM dmp_documents WHERE id = :id", {"id": document_id})
    assert (stored["ins"], stored["loinc"]) == (ins, PRESCRIPTION_LOINC)
    assert number in stored["content"].decode() and "IBUPROFÈNE" in stored["content"].decode()
    trace = rx.db.one(
        "SELECT * FROM dmp_access_log WHERE ins = :ins ORDER BY id DESC", {"ins": ins}
    )
    assert trace["action"] == f"add:{document_id}"
    assert trace["national_id"] == rx.national_id("generaliste")


@pytest.mark.parametrize(
    ("patient", "persona", "code", "words"),
    [
        (1, "generaliste", "closed", "Ce DMP est fermé"),
        (2, "urgentiste", "blocked", "Le patient vous a bloqué"),
    ],
)
async def test_a_closed_or_blocking_dmp_leaves_the_prescription_valid(
    rx: Harness, patient: int, persona: str, code: str, words: str
) -> None:
    ins = rx.patient(patient)
    response = await create(rx, persona, ins)
    assert response.status_code == 201, response.text
    issue = resources(response, "OperationOutcome")[0]["issue"][0]
    assert issue["severity"] == "warning"
    assert issue["details"]["coding"][0]["code"] == code
    assert words in issue["diagnostics"]
    assert not rx.db.all(
        "SELECT 1 FROM dmp_documents WHERE ins = :ins AND loinc = :loinc"
        " AND author_id = :author AND title LIKE 'Ordonnance %'",
        {"ins": ins, "loinc": PRESCRIPTION_LOINC, "author": rx.national_id(persona)},
    )
    refused = rx.db.value(
        "SELECT action FROM dmp_access_log WHERE ins = :ins ORDER BY id DESC", {"ins": ins}
    )
    assert refused == f"refused:{code}:add"
    number = response.json()["identifier"]["value"]
    assert (await dispense(rx, "pharmacien", number)).status_code == 201


async def test_a_patient_without_dmp_gets_a_prescription_and_no_copy(rx: Harness) -> None:
    response = await create(rx, ins=rx.without_dmp())
    assert response.status_code == 201, response.text
    issue = resources(response, "OperationOutcome")[0]["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "no_dmp"
    assert "n'a pas de DMP" in issue["diagnostics"]


@pytest.mark.parametrize(
    ("persona", "code", "words"),
    [
        ("pharmacien", "not_prescriber", "Votre profession (Pharmacien) ne peut pas prescrire"),
        ("infirmier", "not_prescriber", "Votre profession (Infirmier) ne peut pas prescrire"),
        ("secretaire", "profession", "n'a pas accès à l'ordonnance numérique"),
    ],
)
async def test_only_doctors_prescribe(rx: Harness, persona: str, code: str, words: str) -> None:
    status, refused, reason = refusal(await create(rx, persona))
    assert (status, refused) == (403, code)
    assert words in reason
    assert rx.count("rx_prescriptions") == 0


async def test_a_token_for_another_service_is_refused(rx: Harness) -> None:
    headers = {"Authorization": f"Bearer {await rx.token('generaliste', 'dmp')}"}
    response = await rx.emu.http.get(
        "/api/eprescription/MedicationRequest", params={"group-identifier": "x"}, headers=headers
    )
    assert response.status_code == 401


# -- reading ------------------------------------------------------------------------------


async def test_doctor_pharmacist_and_nurse_read_the_secretary_does_not(rx: Harness) -> None:
    number = await number_of(rx)
    for persona in ("generaliste", "urgentiste", "pharmacien", "infirmier"):
        response = await read(rx, persona, number)
        assert response.status_code == 200, (persona, response.text)
        assert len(resources(response, "MedicationRequest")) == 2
    # Only the author sees the DMP copy's outcome.
    assert resources(await read(rx, "generaliste", number), "OperationOutcome")
    assert not resources(await read(rx, "infirmier", number), "OperationOutcome")
    status, code, reason = refusal(await read(rx, "secretaire", number))
    assert (status, code) == (403, "profession")
    assert "Secrétaire médicale" in reason


async def test_typed_and_scanned_forms_of_the_number_find_it(rx: Harness) -> None:
    number = await number_of(rx)
    compact = number.replace("-", "")
    for form in (compact, compact.lower(), f"RX1:{compact}", f" {number.lower()} "):
        assert (await read(rx, "pharmacien", form)).status_code == 200, form


async def test_unknown_and_mistyped_numbers(rx: Harness) -> None:
    number = await number_of(rx)
    last = number[-1]
    other = "0" if last != "0" else "1"
    status, _, reason = refusal(await read(rx, "pharmacien", number[:-1] + other))
    assert status == 400 and "caractère de contrôle" in reason
    unknown = format_number("000000000001" + check_character("000000000001"))  # never issued
    status, _, reason = refusal(await read(rx, "pharmacien", unknown))
    assert status == 404 and "Aucune ordonnance" in reason
    status, _, _ = refusal(await rx.request("pharmacien", "GET", "/MedicationRequest"))
    assert status == 400


# -- dispensing ---------------------------------------------------------------------------


async def test_the_pharmacist_dispenses_once_and_a_second_time_is_refused(rx: Harness) -> None:
    number = await number_of(rx)
    compact = number.replace("-", "")
    response = await dispense(
        rx, "pharmacien", number, given(compact, 1), given(compact, 2, substitute=search_other())
    )
    assert response.status_code == 201, response.text
    handed = resources(response, "MedicationDispense")
    assert [d["status"] for d in handed] == ["completed", "completed"]
    assert [d["substitution"]["wasSubstituted"] for d in handed] == [False, True]
    assert handed[1]["medicationCodeableConcept"]["coding"][0]["code"] == search_other()
    assert handed[0]["location"]["display"] == "Pharmacie de l'Hôtel de Ville"
    assert {r["status"] for r in resources(response, "MedicationRequest")} == {"completed"}

    rx.emu.clock.advance(3600)
    status, code, reason = refusal(await dispense(rx, "pharmacien", number))
    assert (status, code) == (409, "already_dispensed")
    assert "Pharmacie de l'Hôtel de Ville" in reason
    day = handed[0]["whenHandedOver"][:10]
    assert f"{day[8:10]}/{day[5:7]}/{day[:4]}" in reason
    status, code, _ = refusal(await cancel(rx, "generaliste", number))
    assert (status, code) == (409, "already_dispensed")


def search_other() -> str:
    from connectors.eprescription.catalogue import search

    return search("amoxicilline 500 gelule 24")[0].cip13


async def test_a_line_not_dispensed_is_declined(rx: Harness) -> None:
    number = await number_of(rx)
    compact = number.replace("-", "")
    response = await dispense(
        rx, "pharmacien", number, given(compact, 2, "declined"), given(compact, 1)
    )
    assert response.status_code == 201, response.text
    assert [d["status"] for d in resources(response, "MedicationDispense")] == [
        "completed",
        "declined",
    ]


@pytest.mark.parametrize(
    ("persona", "code"),
    [
        ("generaliste", "not_pharmacist"),
        ("infirmier", "not_pharmacist"),
        ("secretaire", "profession"),
    ],
)
async def test_only_pharmacists_dispense(rx: Harness, persona: str, code: str) -> None:
    number = await number_of(rx)
    status, refused, _ = refusal(await dispense(rx, persona, number))
    assert (status, refused) == (403, code)
    assert rx.count("rx_deliveries") == 0


async def test_every_line_once(rx: Harness) -> None:
    number = await number_of(rx)
    compact = number.replace("-", "")
    cases = [
        (None,),
        (given(compact, 1), given(compact, 1)),
        (given(compact, 1), given(compact, 3)),
        (given(compact, 1), given("0000000000000", 2)),
        (given(compact, 1), given(compact, 2, "in-progress")),
        (given(compact, 1), given(compact, 2, substitute=NOT_IN_CATALOGUE)),
    ]
    for items in cases:
        status, _, reason = refusal(await dispense(rx, "pharmacien", number, *items))
        assert status == 400, (items, reason)
    assert (await dispense(rx, "pharmacien", number)).status_code == 201


# -- cancelling ---------------------------------------------------------------------------


async def test_the_prescriber_cancels_before_dispensing_and_no_one_else(rx: Harness) -> None:
    number = await number_of(rx)
    status, code, reason = refusal(await cancel(rx, "urgentiste", number))
    assert (status, code) == (403, "not_author")
    assert "Seul le prescripteur" in reason
    status, code, _ = refusal(await cancel(rx, "pharmacien", number))
    assert (status, code) == (403, "not_prescriber")
    response = await cancel(rx, "generaliste", number)
    assert response.status_code == 200, response.text
    assert {r["status"] for r in resources(response, "MedicationRequest")} == {"cancelled"}
    status, code, reason = refusal(await dispense(rx, "pharmacien", number))
    assert (status, code) == (409, "cancelled")
    assert "annulée" in reason
    status, code, _ = refusal(await cancel(rx, "generaliste", number))
    assert (status, code) == (409, "cancelled")


# -- bad input ----------------------------------------------------------------------------


async def test_bad_input_is_a_400_never_a_500(rx: Harness) -> None:
    ins = rx.patient(0)
    token = await rx.token("generaliste")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    for raw in (
        b"",
        b"{",
        b"[]",
        b"null",
        b'"x"',
        b"[" * 5000,
        b'{"resourceType": "Bundle"}',
        b'{"resourceType": "Bundle", "entry": [1]}',
        b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "X"}}]}',
    ):
        response = await rx.emu.http.post(
            "/api/eprescription/MedicationRequest", content=raw, headers=headers
        )
        assert response.status_code == 400, (raw[:40], response.text)
        assert response.json()["resourceType"] == "OperationOutcome"
    bad_lines = [
        line(ins, "3400955000010"),  # wrong key
        line(ins, NOT_IN_CATALOGUE),
        line(ins, dosage="  "),
        line(ins, dosage="x" * 201),
        line(ins, quantity={"value": 0}),
        line(ins, quantity={"value": "2"}),
        line(ins, quantity={"value": True}),
        line(ins, expectedSupplyDuration={"value": 400}),
        line(ins, quantity={"value": 1}, expectedSupplyDuration={"value": 5}),
        line(ins) | {"medicationCodeableConcept": "paracétamol"},
        line(ins) | {"dosageInstruction": []},
        line(ins) | {"subject": {"identifier": {"value": ins[:-2] + "00"}}},
        line(ins) | {"subject": None},
    ]
    for bad in bad_lines:
        response = await create(rx, "generaliste", ins, bad)
        assert response.status_code == 400, (bad, response.text)
    huge = await rx.emu.http.post(
        "/api/eprescription/MedicationRequest", content=b" " * 300_000, headers=headers
    )
    assert huge.status_code == 413
    two = await create(rx, "generaliste", ins, line(ins), line(rx.patient(3)))
    assert two.status_code == 400
    too_many = await create(rx, "generaliste", ins, *[line(ins)] * 21)
    assert too_many.status_code == 400
    unknown = make_ins("M", date(1999, 1, 1), "75111", 999, nia=False)
    assert (await create(rx, "generaliste", unknown, line(unknown))).status_code == 404
    assert rx.count("rx_prescriptions") == 0


async def test_two_dispensings_at_once_one_wins(rx: Harness) -> None:
    number = await number_of(rx)
    await rx.token("pharmacien")
    answers = await asyncio.gather(*(dispense(rx, "pharmacien", number) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert rx.count("rx_deliveries") == 1
