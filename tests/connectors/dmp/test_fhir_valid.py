"""Every FHIR resource the DMP service answers is valid FHIR R4 (the `fhir.resources`
package's R4B models, accurate for these resources): the capability statement, the
Patient check, the document searches and reads, an added document, the history, and
each kind of refusal."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.connectors.dmp.conftest import Harness
from tests.connectors.dmp.test_service import pid, report, without_dmp
from tests.connectors.harness import valid_fhir

pytestmark = pytest.mark.anyio


def checked(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The answer's resource, of the expected status and valid FHIR."""
    assert response.status_code == status, response.text
    body = response.json()
    valid_fhir(body)
    return body


async def test_the_capability_statement_and_the_patient_check_are_valid(dmp: Harness) -> None:
    body = checked(await dmp.get("generaliste", "/metadata"))
    assert body["resourceType"] == "CapabilityStatement"
    (patient, *_) = body["rest"][0]["resource"]
    assert patient["operation"][0]["name"] == "autorisation-acces"
    ins = dmp.patient(0)
    bundle = checked(await dmp.get("generaliste", "/Patient", identifier=pid(ins)))
    assert bundle["entry"][0]["resource"]["resourceType"] == "Patient"
    empty = checked(await dmp.get("generaliste", "/Patient", identifier=pid(without_dmp(dmp)[0])))
    assert empty["total"] == 0


@pytest.mark.parametrize("persona", ["generaliste", "pharmacien", "infirmier"])
async def test_every_search_page_and_document_is_valid(dmp: Harness, persona: str) -> None:
    ins = dmp.patient(0)
    params = {"patient.identifier": pid(ins), "_count": "5"}
    page = checked(await dmp.get(persona, "/DocumentReference", **params))
    assert page["resourceType"] == "Bundle" and page["entry"]
    first, *_, last = page["entry"]
    for entry in (first, last):
        read = await dmp.get(persona, f"/DocumentReference/{entry['resource']['id']}")
        document = checked(read)
        assert document["resourceType"] == "DocumentReference"
        # The PDSm metadata, present and valid FHIR R4 too.
        attachment = document["content"][0]["attachment"]
        assert len(base64.b64decode(attachment["hash"])) == 20  # a SHA-1
        assert attachment["size"] > 0
        context = document["context"]
        assert context["period"]["start"] == document["date"]
        assert context["facilityType"]["coding"][0]["system"].endswith("TRE-R02-SecteurActivite")
        assert context["practiceSetting"]["coding"][0]["system"].endswith("TRE-A01-CadreExercice")
        # A person by the IdNat_PS, or a laboratory or imaging centre by its structure id.
        assert document["contained"][0]["resourceType"] in {"Practitioner", "Organization"}
        assert document["author"][0]["reference"] == "#author"
    emergency = await dmp.get(
        "generaliste",
        "/DocumentReference",
        mode="bris_de_glace",
        reason="Patiente inconsciente",
        **params,
    )
    assert checked(emergency)["resourceType"] == "Bundle"


async def test_an_added_document_and_the_history_are_valid(dmp: Harness) -> None:
    ins = dmp.patient(0)
    added = checked(await dmp.post("generaliste", report(ins)), 201)
    assert added["resourceType"] == "DocumentReference"
    # A break-glass access: its notifications are AuditEvents of the history too.
    glass = {"patient.identifier": pid(ins), "mode": "bris_de_glace", "reason": "Coma"}
    assert (await dmp.get("generaliste", "/DocumentReference", **glass)).status_code == 200
    history = checked(
        await dmp.get("generaliste", "/AuditEvent", **{"patient.identifier": pid(ins)})
    )
    assert history["resourceType"] == "Bundle"
    assert {e["resource"]["resourceType"] for e in history["entry"]} == {"AuditEvent"}
    codes = {e["resource"]["subtype"][0]["code"] for e in history["entry"]}
    assert {"notify_patient", "notify_treating"} <= codes


async def test_each_kind_of_refusal_is_a_valid_operation_outcome(dmp: Harness) -> None:
    ins = dmp.patient(0)
    answers = [
        (
            await dmp.get("secretaire", "/DocumentReference", **{"patient.identifier": pid(ins)}),
            403,
        ),
        (await dmp.get("generaliste", "/DocumentReference/nope"), 404),
        (
            await dmp.get(
                "generaliste",
                "/DocumentReference",
                mode="inconnu",
                **{"patient.identifier": pid(ins)},
            ),
            400,
        ),
        (await dmp.post("generaliste", {"resourceType": "DocumentReference"}), 400),
    ]
    for response, status in answers:
        assert checked(response, status)["resourceType"] == "OperationOutcome"
