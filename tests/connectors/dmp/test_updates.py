"""Updates of a document's metadata by JSON Patch (the PDSm guide's TD3.3a–d): mask and
unmask, invisible to the patient or to a minor's legal representatives, archive, delete by
the author only; each rule, each bad input, each update in the patient's history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.dmp.access import parse_action
from connectors.dmp.models import UPDATES
from tests.connectors.dmp.conftest import DMP, Harness, checked_fhir, entries, outcome, refusal
from tests.connectors.dmp.test_service import (
    authorize_access,
    documents_of,
    history_rows,
    labels,
    outside_the_team,
    pid,
    report,
)

pytestmark = pytest.mark.anyio
JSON_PATCH = "application/json-patch+json"
VISIBILITY = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
    "TRE-A07-StatutVisibiliteDocument"
)
V3 = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ARCHIVED = (
    "/extension[url:'https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/"
    "pdsm-ext-is-archived']/valueBoolean"
)
PETIT = 3  # PETIT Lucas, born 2012: a minor


def label(code: str, system: str = VISIBILITY) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def set_label(code: str, index: str = "0", op: str = "replace") -> list[dict]:
    return [{"op": op, "path": f"/securityLabel/{index}", "value": label(code)}]


NORMAL = [{"op": "replace", "path": "/securityLabel/0", "value": label("N", V3)}]
DELETE = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]


async def patch(
    dmp: Harness,
    persona: str,
    body: Any,
    content_type: str = JSON_PATCH,
    **params: str,
) -> httpx.Response:
    headers = await dmp.headers(persona) | {"Content-Type": content_type}
    content = body if isinstance(body, bytes) else httpx.Request("P", "/", json=body).content
    return checked_fhir(
        await dmp.emu.http.patch(
            DMP + "/DocumentReference", content=content, params=params, headers=headers
        )
    )


async def added(dmp: Harness, persona: str = "generaliste", patient: int = 0) -> dict:
    """A document `persona` adds (they are its author) to a scenario patient's DMP."""
    answer = await dmp.post(persona, report(dmp.patient(patient)))
    assert answer.status_code == 201, answer.text
    return answer.json()


def by_master(document: dict) -> dict[str, str]:
    master = document["masterIdentifier"]
    return {"identifier": f"{master['system']}|{master['value']}"}


async def listed_ids(dmp: Harness, persona: str, ins: str, **params: str) -> list[str]:
    query = {"patient.identifier": pid(ins), **params}
    return [d["id"] for d in entries(await dmp.get(persona, "/DocumentReference", **query))]


def actions(dmp: Harness, ins: str, document_id: str) -> list[str]:
    """The updates of a document in the patient's history, granted or refused, in order."""
    verbs = {*UPDATES, "update"}
    return [
        row["action"]
        for row in history_rows(dmp, ins)
        if row["action"].endswith(f":{document_id}") and parse_action(row["action"])[0] in verbs
    ]


async def test_a_document_is_masked_by_its_master_identifier_and_unmasked(dmp: Harness) -> None:
    """TD3.3a, the guide's own patches: masked, professionals other than its author and the
    médecin traitant no longer see it; unmasked (`N`), they see it again."""
    ins = dmp.patient(0)
    document = await added(dmp)
    assert labels(document) == {"N"}  # a document without restriction is normal
    masked = await patch(dmp, "generaliste", set_label("MASQUE_PS"), **by_master(document))
    assert masked.status_code == 200, masked.text
    assert labels(masked.json()) == {"MASQUE_PS"}
    assert masked.json()["masterIdentifier"] == document["masterIdentifier"]
    assert document["id"] not in await listed_ids(dmp, "infirmier", ins)
    hidden = await dmp.get("infirmier", f"/DocumentReference/{document['id']}")
    assert hidden.status_code == 404
    assert document["id"] in await listed_ids(dmp, "urgentiste", ins)  # médecin traitant
    assert document["id"] in await listed_ids(dmp, "generaliste", ins)  # its author
    # Someone who no longer sees it cannot unmask it either.
    denied = await patch(dmp, "infirmier", NORMAL, _id=document["id"])
    assert (denied.status_code, refusal(denied)) == (404, "masked")
    shown = await patch(dmp, "urgentiste", NORMAL, **by_master(document))
    assert shown.status_code == 200, shown.text
    assert labels(shown.json()) == {"N"}
    assert document["id"] in await listed_ids(dmp, "infirmier", ins)
    assert actions(dmp, ins, document["id"]) == [
        f"mask:{document['id']}",
        f"refused:masked:update:{document['id']}",
        f"unmask:{document['id']}",
    ]


async def test_hidden_from_the_patient_professionals_still_see_it_labelled(
    dmp: Harness,
) -> None:
    """TD3.3b: invisible to the patient, then visible again; the labels' indexes count as
    the document is served (a masked one keeps its mask)."""
    ins = dmp.patient(0)
    document = await added(dmp)
    both = set_label("INVISIBLE_PATIENT", "-", "add") + set_label("MASQUE_PS", "-", "add")
    answer = await patch(dmp, "generaliste", both, _id=document["id"])
    assert labels(answer.json()) == {"MASQUE_PS", "INVISIBLE_PATIENT"}
    served = [c["coding"][0]["code"] for c in answer.json()["securityLabel"]]
    assert served == ["MASQUE_PS", "INVISIBLE_PATIENT"]  # N goes once a code restricts it
    visible = [{"op": "remove", "path": "/securityLabel/1"}]
    again = await patch(dmp, "generaliste", visible, _id=document["id"])
    assert labels(again.json()) == {"MASQUE_PS"}
    assert actions(dmp, ins, document["id"]) == [
        f"mask:{document['id']}",
        f"hide_patient:{document['id']}",
        f"show_patient:{document['id']}",
    ]


async def test_invisible_to_legal_representatives_only_for_a_minor(dmp: Harness) -> None:
    """INVISIBLE_REPRESENTANTS_LEGAUX: a minor's document (PETIT Lucas, born 2012) can be
    hidden from his legal representatives; an adult's cannot (422, traced)."""
    child = await added(dmp, patient=PETIT)
    hide = set_label("INVISIBLE_REPRESENTANTS_LEGAUX")
    answer = await patch(dmp, "generaliste", hide, _id=child["id"])
    assert answer.status_code == 200, answer.text
    assert labels(answer.json()) == {"INVISIBLE_REPRESENTANTS_LEGAUX"}
    stored = dmp.db.one("SELECT invisible_legal FROM dmp_documents WHERE id = :id", child)
    assert stored["invisible_legal"] == 1
    adult = await added(dmp)
    refused = await patch(dmp, "generaliste", hide, _id=adult["id"])
    assert (refused.status_code, refusal(refused)) == (422, "not_minor")
    assert "majeur" in outcome(refused)["diagnostics"]
    assert actions(dmp, dmp.patient(0), adult["id"]) == [f"refused:not_minor:update:{adult['id']}"]


async def test_an_archived_document_keeps_its_status_and_is_still_listed(dmp: Harness) -> None:
    """TD3.3d: archiving sets PDSm_isArchived, without changing the status."""
    ins = dmp.patient(0)
    document = await added(dmp)
    archive = [{"op": "replace", "path": ARCHIVED, "value": True}]
    answer = (await patch(dmp, "generaliste", archive, _id=document["id"])).json()
    assert answer["status"] == "current"
    (extension,) = answer["extension"]
    assert extension["valueBoolean"] is True and extension["url"].endswith("is-archived")
    assert document["id"] in await listed_ids(dmp, "infirmier", ins)
    unarchive = [{"op": "replace", "path": ARCHIVED, "value": False}]
    assert "extension" not in (await patch(dmp, "infirmier", unarchive, _id=document["id"])).json()
    assert actions(dmp, ins, document["id"]) == [
        f"archive:{document['id']}",
        f"unarchive:{document['id']}",
    ]


async def test_only_its_author_deletes_a_document_which_then_leaves_the_lists(
    dmp: Harness,
) -> None:
    """TD3.3c: deletion (`entered-in-error`) by the author only (403 `not_author`); the
    document is kept but no longer listed or read; changing it again is a 409."""
    ins = dmp.patient(0)
    document = await added(dmp)
    other = await patch(dmp, "urgentiste", DELETE, _id=document["id"])
    assert (other.status_code, refusal(other)) == (403, "not_author")
    deleted = await patch(dmp, "generaliste", DELETE, **by_master(document))
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["status"] == "entered-in-error"
    assert document["id"] not in await listed_ids(dmp, "generaliste", ins)
    kept = await listed_ids(dmp, "generaliste", ins, status="entered-in-error")
    assert kept == [document["id"]]
    gone = await dmp.get("generaliste", f"/DocumentReference/{document['id']}")
    assert gone.status_code == 404
    again = await patch(dmp, "generaliste", DELETE, _id=document["id"])
    assert (again.status_code, refusal(again)) == (409, "deleted")
    assert actions(dmp, ins, document["id"]) == [
        f"refused:not_author:update:{document['id']}",
        f"delete:{document['id']}",
        f"refused:deleted:update:{document['id']}",
    ]


async def test_a_seeded_document_is_updated_by_any_professional_who_may_read_it(
    dmp: Harness,
) -> None:
    """The first, a middle and the last of DUPONT's unmasked documents: the nurse (in her
    care team by authorisation) archives each; what she may not read she may not change."""
    ins = dmp.patient(0)
    # What the nurse reads: no imaging, nothing masked.
    documents = [d for d in documents_of(dmp, ins) if not d["masked"] and d["loinc"] != "18748-4"]
    archive = [{"op": "add", "path": ARCHIVED, "value": True}]
    for document in (documents[0], documents[len(documents) // 2], documents[-1]):
        answer = await patch(dmp, "infirmier", archive, _id=document["id"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["extension"][0]["valueBoolean"] is True
    consultation = next(d for d in documents if d["loinc"] == "11488-4")
    refused = await patch(dmp, "pharmacien", archive, _id=consultation["id"])
    assert (refused.status_code, refusal(refused)) == (403, "document_type")
    secretary = await patch(dmp, "secretaire", archive, _id=consultation["id"])
    assert (secretary.status_code, refusal(secretary)) == (403, "profession")


async def test_outside_the_care_team_an_update_needs_the_patients_authorisation(
    dmp: Harness,
) -> None:
    """TD3.3: the access authorisation must be valid: the nurse, outside this patient's
    care team, changes nothing before the patient authorises her."""
    ins = outside_the_team(dmp)
    document = next(d for d in documents_of(dmp, ins) if d["loinc"] != "18748-4")
    archive = [{"op": "replace", "path": ARCHIVED, "value": True}]
    refused = await patch(dmp, "infirmier", archive, _id=document["id"])
    assert (refused.status_code, refusal(refused)) == (403, "authorization_required")
    assert (await authorize_access(dmp, "infirmier", ins)).status_code == 200
    nurse = await patch(dmp, "infirmier", archive, _id=document["id"])
    assert nurse.status_code == 200, nurse.text


async def test_a_closed_dmp_refuses_updates(dmp: Harness) -> None:
    ins = dmp.patient(1)
    (document, *_) = documents_of(dmp, ins)
    refused = await patch(dmp, "generaliste", set_label("MASQUE_PS"), _id=document["id"])
    assert (refused.status_code, refusal(refused)) == (403, "closed")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "structure"),
        ([], 400, "structure"),
        ({"op": "replace"}, 400, "structure"),
        (["replace"], 400, "structure"),
        ([{"op": "replace", "path": "/description", "value": "x"}], 422, "processing"),
        ([{"op": "move", "path": "/securityLabel/0", "from": "/x"}], 422, "processing"),
        ([{"path": "/securityLabel/0"}], 422, "processing"),
        ([{"op": "replace", "path": "/status", "value": "current"}], 422, "processing"),
        ([{"op": "remove", "path": "/status"}], 422, "processing"),
        ([{"op": "replace", "path": "/securityLabel/3", "value": label("MASQUE_PS")}], 422, ""),
        ([{"op": "remove", "path": "/securityLabel/-"}], 422, "processing"),
        ([{"op": "add", "path": "/securityLabel/0", "value": label("SECRET")}], 422, ""),
        ([{"op": "add", "path": "/securityLabel/0", "value": label("N")}], 422, ""),
        ([{"op": "add", "path": "/securityLabel/0", "value": "MASQUE_PS"}], 422, ""),
        ([{"op": "replace", "path": ARCHIVED, "value": "true"}], 422, "processing"),
        ([{"op": "remove", "path": ARCHIVED}], 422, "processing"),
        ([{"op": "replace", "path": "/securityLabel/01", "value": label("MASQUE_PS")}], 422, ""),
        ([{"op": "add", "path": ARCHIVED, "value": True}] * 21, 400, "too-costly"),
    ],
)
async def test_a_patch_the_dmp_does_not_apply_is_a_clear_error(
    dmp: Harness, body: Any, status: int, code: str
) -> None:
    """Nothing a patch carries gives a 500 or changes the document: 400 when it is not a
    JSON Patch, 422 (traced, refusal `patch`) for an operation the DMP does not apply."""
    document = await added(dmp)
    answer = await patch(dmp, "generaliste", body, _id=document["id"])
    assert answer.status_code == status, answer.text
    issue = outcome(answer)
    assert issue["code"] == (code or "processing")
    assert issue["diagnostics"]  # in French
    if status == 422:
        assert refusal(answer) == "patch"
    stored = dmp.db.one(
        "SELECT masked, archived, status FROM dmp_documents WHERE id = :id", document
    )
    assert dict(stored) == {"masked": 0, "archived": 0, "status": "current"}


async def test_the_document_is_named_once_by_a_known_identifier(dmp: Harness) -> None:
    document = await added(dmp)
    master = by_master(document)["identifier"]
    answers = {
        "none": await patch(dmp, "generaliste", NORMAL),
        "both": await patch(dmp, "generaliste", NORMAL, identifier=master, _id=document["id"]),
        "system": await patch(
            dmp, "generaliste", NORMAL, identifier="urn:oid:1.2|" + master.split("|")[1]
        ),
        "unknown": await patch(dmp, "generaliste", NORMAL, identifier="urn:uuid:0"),
        "unknown_id": await patch(dmp, "generaliste", NORMAL, _id="0000000000000000"),
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {"none": 400, "both": 400, "system": 400, "unknown": 404, "unknown_id": 404}
    bare = await patch(dmp, "generaliste", NORMAL, identifier=master.split("|")[1])
    assert bare.status_code == 200  # an identifier without its system


async def test_only_a_json_patch_is_accepted(dmp: Harness) -> None:
    document = await added(dmp)
    for content_type in ("application/json", "application/fhir+json", "text/plain"):
        answer = await patch(dmp, "generaliste", NORMAL, content_type, _id=document["id"])
        assert answer.status_code == 415, content_type
    fine = await patch(
        dmp, "generaliste", NORMAL, f"{JSON_PATCH}; charset=utf-8", _id=document["id"]
    )
    assert fine.status_code == 200


async def test_a_patch_that_changes_nothing_is_traced_as_an_update(dmp: Harness) -> None:
    ins = dmp.patient(0)
    document = await added(dmp)
    answer = await patch(dmp, "generaliste", NORMAL, _id=document["id"])
    assert answer.status_code == 200
    assert actions(dmp, ins, document["id"]) == [f"update:{document['id']}"]
    events = entries(
        await dmp.get("generaliste", "/AuditEvent", **{"patient.identifier": pid(ins)})
    )
    codes = [e["subtype"][0]["code"] for e in events[:3]]
    assert "update" in codes
