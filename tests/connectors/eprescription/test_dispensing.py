"""Dispensing in several visits: quantities per line per visit, renewals, the validity,
"non substituable", the prescriber's agreement to a modification, the patient's
opposition, and single use of each quantity under racing requests (both engines)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from connectors.eprescription.catalogue import search
from connectors.eprescription.models import AGREEMENT_URL, OPPOSITION_SYSTEM
from tests.connectors.eprescription.conftest import PARACETAMOL, Harness, refusal, valid_fhir
from tests.connectors.eprescription.test_service import (
    bundle,
    create,
    dispense,
    given,
    line,
    read,
    resources,
)

pytestmark = pytest.mark.anyio
DAY = 86400
MONTH = {"expectedSupplyDuration": {"value": 30, "unit": "jour"}}
AMOXICILLINE_12 = search("amoxicilline 500 gelule 12")[0].cip13
AMOXICILLINE_24 = search("amoxicilline 500 gelule 24")[0].cip13  # same molecule and strength
IBUPROFENE = search("ibuprofene 400 20")[0].cip13  # another molecule


async def prescribe(rx: Harness, *lines: dict) -> tuple[str, str]:
    """(printed number, compact number) of a new prescription of these lines."""
    response = await create(rx, "generaliste", rx.patient(0), *lines)
    assert response.status_code == 201, response.text
    number = response.json()["identifier"]["value"]
    return number, number.replace("-", "")


def later(rx: Harness, days: int) -> None:
    """Move the clock on by `days`; the professionals sign in again (tokens expire)."""
    rx.emu.clock.advance(days * DAY)
    rx.tokens.clear()


def with_(resource: dict, **fields: Any) -> dict:
    return resource | fields


def agreed(resource: dict, day: str) -> dict:
    return with_(resource, extension=[{"url": AGREEMENT_URL, "valueDate": day}])


def delivered(response) -> list[tuple[str, int, int]]:
    """(line reference, visit, quantity) of every MedicationDispense of an answer."""
    return [
        (
            d["authorizingPrescription"][0]["reference"].rpartition("-")[2],
            int(d["identifier"][0]["value"]),
            (d.get("quantity") or d.get("daysSupply") or {}).get("value", 0),
        )
        for d in resources(response, "MedicationDispense")
    ]


async def test_one_month_at_a_time_then_the_fourth_is_refused_with_the_three_dates(
    rx: Harness,
) -> None:
    ins = rx.patient(0)
    number, compact = await prescribe(rx, line(ins, numberOfRepeatsAllowed=2, **MONTH))
    days = []
    for visit in (1, 2, 3):
        response = await dispense(rx, "pharmacien", number, given(compact, 1))
        assert response.status_code == 201, response.text
        assert delivered(response)[-1] == ("1", visit, 30)
        (request,) = resources(response, "MedicationRequest")
        assert request["dispenseRequest"]["numberOfRepeatsAllowed"] == 2
        assert request["status"] == ("completed" if visit == 3 else "active")
        days.append(resources(response, "MedicationDispense")[-1]["whenHandedOver"][:10])
        later(rx, 30)
    status, code, reason = refusal(await dispense(rx, "pharmacien", number, given(compact, 1)))
    assert (status, code) == (409, "already_dispensed")
    for day in days:
        assert f"{day[8:10]}/{day[5:7]}/{day[:4]}" in reason
    assert rx.count("rx_deliveries") == 3


async def test_each_visit_gives_a_quantity_per_line_until_all_is_delivered(rx: Harness) -> None:
    ins = rx.patient(0)
    three_months = {"expectedSupplyDuration": {"value": 90, "unit": "jour"}}
    number, compact = await prescribe(
        rx, line(ins, **three_months), line(ins, AMOXICILLINE_12, quantity={"value": 2})
    )
    first = await dispense(
        rx,
        "pharmacien",
        number,
        with_(given(compact, 1), daysSupply={"value": 30}),
        with_(given(compact, 2), quantity={"value": 1}),
    )
    assert first.status_code == 201, first.text
    assert delivered(first) == [("1", 1, 30), ("2", 1, 1)]
    # More than remains is refused, naming what remains; nothing is recorded.
    status, code, reason = refusal(
        await dispense(rx, "pharmacien", number, with_(given(compact, 2), quantity={"value": 2}))
    )
    assert (status, code) == (409, "exceeds_remaining")
    assert "reste 1 boîte" in reason and "accord du prescripteur" in reason
    # With no quantity, a line gives what remains of it.
    second = await dispense(rx, "pharmacien", number)
    assert second.status_code == 201, second.text
    assert delivered(second)[2:] == [("1", 2, 60), ("2", 2, 1)]
    assert {r["status"] for r in resources(second, "MedicationRequest")} == {"completed"}


async def test_a_line_fully_delivered_is_not_given_again(rx: Harness) -> None:
    ins = rx.patient(0)
    number, compact = await prescribe(rx, line(ins), line(ins, numberOfRepeatsAllowed=1, **MONTH))
    assert (await dispense(rx, "pharmacien", number)).status_code == 201
    status, code, reason = refusal(await dispense(rx, "pharmacien", number))
    assert (status, code) == (409, "already_dispensed") and "Ligne 1" in reason
    last = await dispense(rx, "pharmacien", number, given(compact, 2))
    assert last.status_code == 201, last.text
    assert delivered(last)[-1] == ("2", 2, 30)


async def test_non_substituable_is_honoured_with_its_reason(rx: Harness) -> None:
    ins = rx.patient(0)
    mention = {
        "allowedBoolean": False,
        "reason": {
            "coding": [{"system": "urn:bsp:eprescription:non-substitutable", "code": "MTE"}]
        },
    }
    number, compact = await prescribe(rx, with_(line(ins, AMOXICILLINE_12), substitution=mention))
    (request,) = resources(await read(rx, "pharmacien", number), "MedicationRequest")
    assert request["substitution"]["allowedBoolean"] is False
    assert request["substitution"]["reason"]["coding"][0]["code"] == "MTE"
    for substitute in (AMOXICILLINE_24, IBUPROFENE):
        status, code, reason = refusal(
            await dispense(rx, "pharmacien", number, given(compact, 1, substitute=substitute))
        )
        assert (status, code) == (409, "non_substitutable")
        assert "non substituable" in reason and "marge thérapeutique étroite" in reason
    assert rx.count("rx_deliveries") == 0
    assert (await dispense(rx, "pharmacien", number, given(compact, 1))).status_code == 201
    bad = with_(line(ins), substitution=mention | {"reason": {"coding": [{"code": "XYZ"}]}})
    assert (await create(rx, "generaliste", ins, bad)).status_code == 400


async def test_a_modification_records_the_prescribers_agreement_when_required(
    rx: Harness,
) -> None:
    ins = rx.patient(0)
    number, compact = await prescribe(
        rx, line(ins, AMOXICILLINE_12, quantity={"value": 1}, numberOfRepeatsAllowed=2)
    )
    today = resources(await read(rx, "pharmacien", number), "MedicationRequest")[0]["authoredOn"]
    today = today[:10]
    # Another pack of the same molecule and strength: the pharmacist's own right.
    same = await dispense(rx, "pharmacien", number, given(compact, 1, substitute=AMOXICILLINE_24))
    assert same.status_code == 201, same.text
    assert "extension" not in resources(same, "MedicationDispense")[0]
    # Another molecule: the prescriber's agreement, dated, is required and recorded.
    other = given(compact, 1, substitute=IBUPROFENE)
    status, code, reason = refusal(await dispense(rx, "pharmacien", number, other))
    assert (status, code) == (409, "agreement_required") and "IBUPROFÈNE" in reason
    for day in ("2020-01-01", "2999-01-01", "hier"):
        status, _, _ = refusal(await dispense(rx, "pharmacien", number, agreed(other, day)))
        assert status == 400, day
    done = await dispense(rx, "pharmacien", number, agreed(other, today))
    assert done.status_code == 201, done.text
    second = resources(done, "MedicationDispense")[-1]
    assert second["extension"] == [{"url": AGREEMENT_URL, "valueDate": today}]
    assert second["medicationCodeableConcept"]["coding"][0]["code"] == IBUPROFENE
    # A quantity beyond what remains, with the agreement: given, and the line is closed.
    beyond = agreed(with_(given(compact, 1), quantity={"value": 4}), today)
    last = await dispense(rx, "pharmacien", number, beyond)
    assert last.status_code == 201, last.text
    assert {r["status"] for r in resources(last, "MedicationRequest")} == {"completed"}


async def test_validity_three_months_to_start_twelve_in_all(rx: Harness) -> None:
    ins = rx.patient(0)
    late, late_compact = await prescribe(rx, line(ins))
    started, started_compact = await prescribe(rx, line(ins, numberOfRepeatsAllowed=3, **MONTH))
    assert (await dispense(rx, "pharmacien", started, given(started_compact, 1))).status_code == 201
    later(rx, 95)
    status, code, reason = refusal(await dispense(rx, "pharmacien", late, given(late_compact, 1)))
    assert (status, code) == (409, "expired") and "trois mois" in reason
    assert {
        r["status"] for r in resources(await read(rx, "infirmier", late), "MedicationRequest")
    } == {"stopped"}
    assert (await dispense(rx, "pharmacien", started, given(started_compact, 1))).status_code == 201
    later(rx, 280)
    status, code, _ = refusal(await dispense(rx, "pharmacien", started, given(started_compact, 1)))
    assert (status, code) == (409, "expired")


async def test_the_prescriber_sees_the_dispensing_unless_the_patient_opposed(
    rx: Harness,
) -> None:
    ins = rx.patient(0)
    number, compact = await prescribe(rx, line(ins, numberOfRepeatsAllowed=1, **MONTH))
    assert (await dispense(rx, "pharmacien", number, given(compact, 1))).status_code == 201
    opposed = with_(given(compact, 1), extension=[{"url": OPPOSITION_SYSTEM, "valueBoolean": True}])
    assert (await dispense(rx, "pharmacien", number, opposed)).status_code == 201
    seen = await read(rx, "generaliste", number)
    assert [visit for _, visit, _ in delivered(seen)] == [1]
    withheld = [
        issue
        for outcome in resources(seen, "OperationOutcome")
        for issue in outcome["issue"]
        if issue["details"]["coding"][0]["system"] == OPPOSITION_SYSTEM
    ]
    assert [issue["details"]["coding"][0]["code"] for issue in withheld] == ["1"]
    assert "opposé" in withheld[0]["diagnostics"]
    assert [visit for _, visit, _ in delivered(await read(rx, "pharmacien", number))] == [1, 2]
    assert [visit for _, visit, _ in delivered(await read(rx, "infirmier", number))] == [1]


async def test_racing_visits_give_each_quantity_once(rx: Harness) -> None:
    ins = rx.patient(0)
    number, compact = await prescribe(rx, line(ins, numberOfRepeatsAllowed=3, **MONTH))
    await rx.token("pharmacien")
    answers = await asyncio.gather(
        *(dispense(rx, "pharmacien", number, given(compact, 1)) for _ in range(8))
    )
    assert sorted(a.status_code for a in answers) == [201] * 4 + [409] * 4
    assert rx.db.value("SELECT delivered FROM rx_lines") == 120
    assert rx.db.value("SELECT sum(quantity) FROM rx_given") == 120
    visits = [r["visit"] for r in rx.db.all("SELECT visit FROM rx_deliveries ORDER BY visit")]
    assert visits == [1, 2, 3, 4]


def test_the_fhir_check_refuses_a_dispense_without_its_medication() -> None:
    resource = {"resourceType": "MedicationDispense", "status": "completed"}
    with pytest.raises(ValueError, match="medicationCodeableConcept"):
        valid_fhir(resource)
    with pytest.raises(ValueError, match="medicationCodeableConcept"):
        valid_fhir(bundle(resource))
    valid_fhir(resource | {"medicationCodeableConcept": {"coding": [{"code": PARACETAMOL}]}})
