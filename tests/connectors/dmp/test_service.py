"""The emulated DMP in process: every access rule, the trace it leaves, and bad input.

Scenario patients (bsp_tui.platform.population): DUPONT (index 0, 12 documents, one
masked from professionals, one invisible to the patient), LEROY (1, closed DMP),
BERNARD (2, blocks the urgentiste).
"""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from connectors.dmp.models import (
    DOCUMENT_TYPES,
    MAX_BODY_BYTES,
    MAX_CONTENT_BYTES,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    READABLE_TYPES,
    readable_types,
)
from tests.connectors.dmp.conftest import (
    DMP,
    FHIR_JSON,
    Harness,
    add_documents,
    checked_fhir,
    entries,
    outcome,
    refusal,
)

pytestmark = pytest.mark.anyio
OID_TEST = "urn:oid:1.2.250.1.213.1.4.10"
PHARMACIST_TYPES = READABLE_TYPES["21"]


def pid(ins: str) -> str:
    return f"{OID_TEST}|{ins}"


def documents_of(dmp: Harness, ins: str) -> list[dict]:
    rows = dmp.db.all(
        "SELECT id, loinc, masked, invisible_patient, content_type, author_id, created"
        " FROM dmp_documents WHERE ins = :ins ORDER BY created DESC, id",
        {"ins": ins},
    )
    return [dict(r) for r in rows]


def labels(resource: dict) -> set[str]:
    return {c["code"] for label in resource.get("securityLabel", []) for c in label["coding"]}


def history_rows(dmp: Harness, ins: str) -> list[dict]:
    rows = dmp.db.all("SELECT * FROM dmp_access_log WHERE ins = :ins ORDER BY id", {"ins": ins})
    return [dict(r) for r in rows]


def report(ins: str, text: bytes = b"Examen clinique normal.\n", **extra: object) -> dict:
    body = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
        "subject": {"identifier": {"system": OID_TEST, "value": ins}},
        "description": "Consultation du jour",
        "content": [
            {"attachment": {"contentType": "text/plain", "data": base64.b64encode(text).decode()}}
        ],
    }
    return body | extra


# -- pages ----------------------------------------------------------------------------


def page_of(response: httpx.Response) -> tuple[list[str], int, dict[str, str]]:
    """The ids of one page, the total of matches, and the page's links by relation."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    links = {link["relation"]: link["url"] for link in body["link"]}
    return [e["resource"]["id"] for e in body.get("entry", [])], body["total"], links


async def test_a_long_list_comes_in_pages_linked_first_to_last(dmp: Harness) -> None:
    ins = dmp.patient(0)
    add_documents(dmp, ins, 139)
    visible = [d["id"] for d in documents_of(dmp, ins) if not d["masked"]]
    assert len(visible) == 150
    query = {"patient.identifier": pid(ins)}
    ids, total, links = page_of(await dmp.get("generaliste", "/DocumentReference", **query))
    assert (len(ids), total) == (PAGE_SIZE, 150)
    assert ids == visible[:PAGE_SIZE]
    assert set(links) == {"self", "next"}
    first, total, links = page_of(
        await dmp.get("generaliste", "/DocumentReference", **query, _count="60")
    )
    assert first == visible[:60] and total == 150
    assert "_count=60" in links["next"] and "_cursor=" in links["next"]
    assert links["self"].endswith("_count=60")
    headers = await dmp.headers("generaliste")
    middle, total, links = page_of(await dmp.emu.http.get(links["next"], headers=headers))
    assert middle == visible[60:120] and total == 150
    assert "_cursor=" in links["next"] and "_offset" not in links["next"]
    last, total, links = page_of(await dmp.emu.http.get(links["next"], headers=headers))
    assert last == visible[120:] and len(last) == 30
    assert set(links) == {"self"}  # no next after the last page
    beyond, total, links = page_of(
        await dmp.get("generaliste", "/DocumentReference", **query, _offset="150")
    )
    assert (beyond, total, set(links)) == ([], 150, {"self"})
    tail, total, links = page_of(  # the last match on this page: the total without a count
        await dmp.get("generaliste", "/DocumentReference", **query, _offset="140")
    )
    assert (tail, total, set(links)) == (visible[140:], 150, {"self"})
    skipped, total, links = page_of(
        await dmp.get("generaliste", "/DocumentReference", **query, _count="60", _offset="30")
    )
    assert skipped == visible[30:90] and total == 150
    middle, _, _ = page_of(await dmp.emu.http.get(links["next"], headers=headers))
    assert middle == visible[90:150]  # a page asked by _offset is followed by its cursor


async def test_a_document_filed_between_two_pages_neither_repeats_nor_hides_one(
    dmp: Harness,
) -> None:
    """The `next` link starts after the page's last document, not after a number of
    matches: a document filed meanwhile (the newest, so listed first) shifts nothing."""
    ins = dmp.patient(0)
    add_documents(dmp, ins, 89)
    visible = [d["id"] for d in documents_of(dmp, ins) if not d["masked"]]
    query = {"patient.identifier": pid(ins), "_count": "40"}
    first, total, links = page_of(await dmp.get("generaliste", "/DocumentReference", **query))
    added = await dmp.post("generaliste", report(ins))
    assert added.status_code == 201
    headers = await dmp.headers("generaliste")
    pages = [first]
    while "next" in links:
        ids, _, links = page_of(await dmp.emu.http.get(links["next"], headers=headers))
        pages.append(ids)
    assert [len(ids) for ids in pages] == [40, 40, 20] and total == 100
    assert [i for ids in pages for i in ids] == visible


async def test_the_page_links_come_in_the_link_header_too(dmp: Harness) -> None:
    ins = dmp.patient(0)
    add_documents(dmp, ins, 139)
    query = {"patient.identifier": pid(ins), "_count": "60"}
    answer = await dmp.get("generaliste", "/DocumentReference", **query)
    _, _, links = page_of(answer)
    assert {rel: link["url"] for rel, link in answer.links.items()} == links
    headers = await dmp.headers("generaliste")
    middle = await dmp.emu.http.get(answer.links["next"]["url"], headers=headers)
    last = await dmp.emu.http.get(middle.links["next"]["url"], headers=headers)
    assert set(last.links) == {"self"}  # no next after the last page


async def test_pages_leave_out_what_the_caller_may_not_see(dmp: Harness) -> None:
    ins = dmp.patient(0)
    stored = documents_of(dmp, ins)
    query = {"patient.identifier": pid(ins), "_count": "5"}
    pages, url, headers = [], None, await dmp.headers("generaliste")
    while True:
        answer = (
            await dmp.emu.http.get(url, headers=headers)
            if url
            else await dmp.get("generaliste", "/DocumentReference", **query)
        )
        ids, total, links = page_of(answer)
        pages.append(ids)
        url = links.get("next")
        if url is None:
            break
    assert [len(ids) for ids in pages] == [5, 5, 1]
    assert total == 11  # the masked one is neither listed nor counted
    assert [i for ids in pages for i in ids] == [d["id"] for d in stored if not d["masked"]]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_count", "0"),
        ("_count", "-1"),
        ("_count", "abc"),
        ("_count", str(MAX_PAGE_SIZE + 1)),
        ("_count", "١٠"),  # digits, but not ASCII ones
        ("_count", "9" * 40),
        ("_offset", "-5"),
        ("_offset", "x"),
    ],
)
async def test_a_bad_page_size_or_offset_is_a_clear_400(
    dmp: Harness, name: str, value: str
) -> None:
    ins = dmp.patient(0)
    answer = await dmp.get(
        "generaliste", "/DocumentReference", **{"patient.identifier": pid(ins), name: value}
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    issue = outcome(answer)
    assert issue["code"] == "value"
    assert issue["diagnostics"].startswith(f"{name} : un nombre entier")
    assert issue["details"]["text"].startswith(f"{name}: a whole number")
    if name == "_count":
        assert f"de 1 à {MAX_PAGE_SIZE}" in issue["diagnostics"]


async def test_the_largest_page_is_accepted(dmp: Harness) -> None:
    ins = dmp.patient(0)
    query = {"patient.identifier": pid(ins), "_count": str(MAX_PAGE_SIZE)}
    ids, total, links = page_of(await dmp.get("generaliste", "/DocumentReference", **query))
    assert len(ids) == total == 11 and set(links) == {"self"}


async def test_elements_keep_what_is_named_and_what_a_document_must_have(dmp: Harness) -> None:
    ins = dmp.patient(0)
    query = {"patient.identifier": pid(ins), "_count": "4"}
    whole = (await dmp.get("generaliste", "/DocumentReference", **query)).json()["entry"]
    answer = await dmp.get(
        "generaliste", "/DocumentReference", **query, _elements="date,securityLabel"
    )
    assert answer.status_code == 200
    subset = answer.json()["entry"]
    assert [e["fullUrl"] for e in subset] == [e["fullUrl"] for e in whole]
    for full, part in zip(whole, subset, strict=True):
        resource = part["resource"]
        named = {"resourceType", "id", "meta", "status", "content", "date", "securityLabel"}
        assert set(resource) == named
        assert [tag["code"] for tag in resource["meta"]["tag"]] == ["SUBSETTED"]
        for name in named - {"meta"}:
            assert resource[name] == full["resource"][name]
    assert "masterIdentifier" in whole[0]["resource"] and "context" in whole[0]["resource"]


@pytest.mark.parametrize("value", ["date,colour", "", "Date", "subject.identifier"])
async def test_an_element_a_document_has_not_is_a_clear_400(dmp: Harness, value: str) -> None:
    ins = dmp.patient(0)
    query = {"patient.identifier": pid(ins), "_elements": value}
    answer = await dmp.get("generaliste", "/DocumentReference", **query)
    assert answer.status_code == 400
    issue = outcome(answer)
    assert issue["code"] == "value"
    assert "n'est pas un élément de DocumentReference" in issue["diagnostics"]


# -- professions ----------------------------------------------------------------------


async def test_the_doctor_lists_every_document_but_the_masked_one(dmp: Harness) -> None:
    ins = dmp.patient(0)
    stored = documents_of(dmp, ins)
    assert len(stored) == 12 and sum(d["masked"] for d in stored) == 1
    listed = entries(
        await dmp.get(
            "generaliste",
            "/DocumentReference",
            **{"patient.identifier": pid(ins), "status": "current"},
        )
    )
    assert [d["id"] for d in listed] == [d["id"] for d in stored if not d["masked"]]
    first = listed[0]
    assert first["type"]["coding"][0]["system"] == "http://loinc.org"
    assert first["type"]["coding"][0]["code"] in DOCUMENT_TYPES
    assert first["author"][0]["reference"] == "#author"
    (author,) = first["contained"]
    assert author["resourceType"] == "Practitioner"
    assert author["identifier"][0]["system"] == "urn:oid:1.2.250.1.71.4.2.1"
    assert first["subject"]["identifier"] == {"system": OID_TEST, "value": ins}
    attachment = first["content"][0]["attachment"]
    assert attachment["url"].endswith(f"{DMP}/Binary/{first['id']}")
    assert attachment["size"] > 0
    invisible = [d for d in listed if "INVISIBLE_PATIENT" in labels(d)]
    assert [d["id"] for d in invisible] == [d["id"] for d in stored if d["invisible_patient"]]
    assert not any("MASQUE_PS" in labels(d) for d in listed)


PROFESSION_OF = {"generaliste": "10", "pharmacien": "21", "infirmier": "60", "secretaire": "SECR"}


@pytest.mark.parametrize("loinc", list(DOCUMENT_TYPES))
@pytest.mark.parametrize("persona", list(PROFESSION_OF))
async def test_the_access_matrix_cell_by_cell(dmp: Harness, persona: str, loinc: str) -> None:
    """Each cell of docs/emulation.md's matrix (the arrêté of 26 Oct 2023): a list of that
    type, and a document of that type read by id, granted or refused."""
    ins = dmp.patient(0)
    query = {"patient.identifier": pid(ins), "type": loinc}
    listed = await dmp.get(persona, "/DocumentReference", **query)
    own = [d for d in documents_of(dmp, ins) if d["loinc"] == loinc and not d["masked"]]
    allowed = loinc in readable_types(PROFESSION_OF[persona])
    if allowed:
        assert listed.status_code == 200, listed.text
        assert {d["type"]["coding"][0]["code"] for d in entries(listed)} <= {loinc}
        assert len(entries(listed)) == len(own)
    else:
        assert listed.status_code == 403, listed.text
        any_type = readable_types(PROFESSION_OF[persona])
        assert refusal(listed) == ("document_type" if any_type else "profession")
    if own:
        read = await dmp.get(persona, f"/Binary/{own[0]['id']}", accept="*/*")
        assert read.status_code == (200 if allowed else 403), read.text


async def test_the_pharmacist_sees_fewer_types_than_the_doctor(dmp: Harness) -> None:
    ins = dmp.patient(0)
    query = {"patient.identifier": pid(ins)}
    doctor = entries(await dmp.get("generaliste", "/DocumentReference", **query))
    pharmacist = entries(await dmp.get("pharmacien", "/DocumentReference", **query))
    seen = {d["type"]["coding"][0]["code"] for d in pharmacist}
    assert seen <= PHARMACIST_TYPES
    expected = [d["id"] for d in doctor if d["type"]["coding"][0]["code"] in PHARMACIST_TYPES]
    assert [d["id"] for d in pharmacist] == expected
    assert len(pharmacist) < len(doctor)


async def test_a_type_the_pharmacist_may_not_see_is_refused_in_french_and_english(
    dmp: Harness,
) -> None:
    ins = dmp.patient(0)
    answer = await dmp.get(
        "pharmacien", "/DocumentReference", **{"patient.identifier": pid(ins), "type": "11488-4"}
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    issue = outcome(answer)
    assert issue["code"] == "forbidden"
    assert "Votre profession (Pharmacien) n'a pas accès" in issue["diagnostics"]
    assert issue["details"]["text"].startswith("Your profession has no access")
    assert refusal(answer) == "document_type"


async def test_the_pharmacist_cannot_read_a_document_of_another_type(dmp: Harness) -> None:
    ins = dmp.patient(0)
    other = next(d for d in documents_of(dmp, ins) if d["loinc"] not in PHARMACIST_TYPES)
    answer = await dmp.get("pharmacien", f"/Binary/{other['id']}", accept="*/*")
    assert answer.status_code == 403
    assert refusal(answer) == "document_type"
    last = history_rows(dmp, ins)[-1]
    assert last["action"] == f"refused:document_type:read:{other['id']}"


async def test_the_nurse_sees_everything_but_imaging(dmp: Harness) -> None:
    ins = dmp.patient(0)
    listed = entries(
        await dmp.get("infirmier", "/DocumentReference", **{"patient.identifier": pid(ins)})
    )
    expected = [
        d["id"] for d in documents_of(dmp, ins) if not d["masked"] and d["loinc"] != "18748-4"
    ]
    assert [d["id"] for d in listed] == expected
    assert any(d["loinc"] == "18748-4" for d in documents_of(dmp, ins))


async def test_the_secretary_gets_nothing_and_her_attempts_are_traced(dmp: Harness) -> None:
    ins = dmp.patient(0)
    document = documents_of(dmp, ins)[0]["id"]
    attempts = [
        await dmp.get("secretaire", "/Patient", identifier=pid(ins)),
        await dmp.get("secretaire", "/DocumentReference", **{"patient.identifier": pid(ins)}),
        await dmp.get("secretaire", f"/DocumentReference/{document}"),
        await dmp.get("secretaire", f"/Binary/{document}", accept="*/*"),
        await dmp.get("secretaire", "/AuditEvent", **{"patient.identifier": pid(ins)}),
        await dmp.post("secretaire", report(ins)),
    ]
    for answer in attempts:
        assert answer.status_code == 403, answer.text
        assert refusal(answer) == "profession"
        assert "Secrétaire médicale" in outcome(answer)["diagnostics"]
    secretary = dmp.national_id("secretaire")
    traced = [r for r in history_rows(dmp, ins) if r["national_id"] == secretary]
    assert [r["action"].split(":")[2] for r in traced] == [
        "check",
        "list",
        "metadata",
        "read",
        "history",
        "add",
    ]
    assert all(r["action"].startswith("refused:profession:") for r in traced)
    assert len(documents_of(dmp, ins)) == 12  # nothing was added


# -- the patient's choices --------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{}, {"mode": "bris_de_glace", "reason": "Détresse respiratoire"}, {"mode": "centre_15"}],
    ids=["normal", "bris_de_glace", "centre_15"],
)
async def test_a_blocked_professional_is_refused_in_every_mode(dmp: Harness, params: dict) -> None:
    ins = dmp.patient(2)
    blocked = dmp.national_id("urgentiste")
    assert dmp.db.one(
        "SELECT 1 FROM dmp_blocks WHERE ins = :ins AND national_id = :id",
        {"ins": ins, "id": blocked},
    )
    query = {"patient.identifier": pid(ins)} | params
    answer = await dmp.get("urgentiste", "/DocumentReference", **query)
    assert answer.status_code == 403
    assert refusal(answer) == "blocked"
    assert "vous a bloqué" in outcome(answer)["diagnostics"]
    assert "blocked you" in outcome(answer)["details"]["text"]
    added = await dmp.post("urgentiste", report(ins), **params)
    assert added.status_code == 403 and refusal(added) == "blocked"
    # The block is the urgentiste's only: the doctor of the same patient reads the DMP.
    assert entries(
        await dmp.get("generaliste", "/DocumentReference", **{"patient.identifier": pid(ins)})
    )


async def test_a_closed_dmp_can_be_neither_read_nor_added_to(dmp: Harness) -> None:
    ins = dmp.patient(1)
    assert dmp.db.value("SELECT status FROM dmps WHERE ins = :ins", {"ins": ins}) == "closed"
    before = len(documents_of(dmp, ins))
    for answer in (
        await dmp.get("generaliste", "/Patient", identifier=pid(ins)),
        await dmp.get("generaliste", "/DocumentReference", **{"patient.identifier": pid(ins)}),
        await dmp.get(
            "generaliste",
            "/DocumentReference",
            **{"patient.identifier": pid(ins), "mode": "bris_de_glace", "reason": "Urgence"},
        ),
        await dmp.post("generaliste", report(ins)),
    ):
        assert answer.status_code == 403, answer.text
        assert refusal(answer) == "closed"
        assert "DMP est fermé" in outcome(answer)["diagnostics"]
    assert len(documents_of(dmp, ins)) == before


async def test_masked_documents_are_hidden_in_normal_mode_and_shown_by_break_glass(
    dmp: Harness,
) -> None:
    ins = dmp.patient(0)
    masked = next(d for d in documents_of(dmp, ins) if d["masked"])["id"]
    query = {"patient.identifier": pid(ins)}
    normal = entries(await dmp.get("generaliste", "/DocumentReference", **query))
    assert masked not in {d["id"] for d in normal}
    hidden = await dmp.get("generaliste", f"/Binary/{masked}", accept="*/*")
    assert hidden.status_code == 404
    assert refusal_of_last(dmp, ins) == f"refused:masked:read:{masked}"
    emergency = {"mode": "bris_de_glace", "reason": "Patiente inconsciente aux urgences"}
    glass = entries(await dmp.get("generaliste", "/DocumentReference", **query | emergency))
    shown = {d["id"]: d for d in glass}
    assert masked in shown and "MASQUE_PS" in labels(shown[masked])
    assert len(glass) == len(normal) + 1
    content = await dmp.get("generaliste", f"/Binary/{masked}", accept="*/*", **emergency)
    assert content.status_code == 200
    assert "DUPONT" in content.text


def refusal_of_last(dmp: Harness, ins: str) -> str:
    return history_rows(dmp, ins)[-1]["action"]


async def test_a_masked_document_stays_visible_to_its_author(dmp: Harness) -> None:
    ins = dmp.patient(3)
    label = [{"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": "MASQUE_PS"}]}]
    added = await dmp.post("generaliste", report(ins, securityLabel=label))
    assert added.status_code == 201, added.text
    new = added.json()["id"]
    assert labels(added.json()) == {"MASQUE_PS"}
    query = {"patient.identifier": pid(ins)}
    author = entries(await dmp.get("generaliste", "/DocumentReference", **query))
    other = entries(await dmp.get("infirmier", "/DocumentReference", **query))
    assert new in {d["id"] for d in author}
    assert new not in {d["id"] for d in other}


# -- modes -----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   "], ids=["absent", "empty", "blank"])
async def test_break_glass_without_a_reason_is_refused(dmp: Harness, reason: str | None) -> None:
    ins = dmp.patient(0)
    query = {"patient.identifier": pid(ins), "mode": "bris_de_glace"}
    if reason is not None:
        query["reason"] = reason
    answer = await dmp.get("generaliste", "/DocumentReference", **query)
    assert answer.status_code == 400
    assert refusal(answer) == "reason_required"
    assert "exige un motif" in outcome(answer)["diagnostics"]
    assert refusal_of_last(dmp, ins) == "refused:reason_required:list"


async def test_break_glass_is_refused_to_the_pharmacist(dmp: Harness) -> None:
    ins = dmp.patient(0)
    query = {"patient.identifier": pid(ins), "mode": "bris_de_glace", "reason": "Urgence"}
    answer = await dmp.get("pharmacien", "/DocumentReference", **query)
    assert answer.status_code == 403
    assert refusal(answer) == "mode_profession"
    assert "réservé aux médecins et aux infirmiers" in outcome(answer)["diagnostics"]
    nurse = await dmp.get("infirmier", "/DocumentReference", **query)
    assert nurse.status_code == 200


@pytest.mark.parametrize(
    ("persona", "status"),
    [("urgentiste", 200), ("generaliste", 403), ("infirmier", 403), ("pharmacien", 403)],
)
async def test_centre_15_is_for_the_regulating_emergency_doctor_only(
    dmp: Harness, persona: str, status: int
) -> None:
    ins = dmp.patient(0)
    query = {"patient.identifier": pid(ins), "mode": "centre_15"}
    answer = await dmp.get(persona, "/DocumentReference", **query)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert refusal(answer) == "mode_profession"
        assert "médecins régulateurs" in outcome(answer)["diagnostics"]
    else:
        masked = next(d for d in documents_of(dmp, ins) if d["masked"])["id"]
        assert masked in {d["id"] for d in entries(answer)}


async def test_an_unknown_mode_is_bad_input(dmp: Harness) -> None:
    ins = dmp.patient(0)
    answer = await dmp.get(
        "generaliste", "/DocumentReference", **{"patient.identifier": pid(ins), "mode": "urgence"}
    )
    assert answer.status_code == 400
    assert outcome(answer)["code"] == "value"
    assert history_rows(dmp, ins) == []  # bad input is not an access


# -- the access history ------------------------------------------------------------------


async def test_the_history_shows_the_break_glass_with_its_reason(dmp: Harness) -> None:
    ins = dmp.patient(0)
    reason = "Patiente inconsciente, SAMU sur place"
    query = {"patient.identifier": pid(ins), "mode": "bris_de_glace", "reason": reason}
    assert (await dmp.get("infirmier", "/DocumentReference", **query)).status_code == 200
    refused = await dmp.get("pharmacien", "/DocumentReference", **query)
    assert refused.status_code == 403
    events = entries(
        await dmp.get("generaliste", "/AuditEvent", **{"patient.identifier": pid(ins)})
    )
    # Most recent first: the doctor's own consultation of the history, then the others,
    # the nurse's break-glass notified to the patient and her médecin traitant.
    assert [e["subtype"][0]["code"] for e in events] == [
        "history",
        "list",
        "list",
        "notify_treating",
        "notify_patient",
    ]
    mine, pharmacist, nurse = events[:3]
    assert mine["agent"][0]["who"]["identifier"]["value"] == dmp.national_id("generaliste")
    assert nurse["agent"][0]["who"]["identifier"] == {
        "system": "urn:oid:1.2.250.1.71.4.2.1",
        "value": dmp.national_id("infirmier"),
    }
    assert nurse["agent"][0]["who"]["display"] == "Amandine N'Diaye"
    assert nurse["agent"][0]["role"][0]["coding"][0]["code"] == "60"
    assert nurse["purposeOfEvent"][0]["coding"][0]["code"] == "bris_de_glace"
    assert nurse["purposeOfEvent"][0]["text"] == reason
    assert nurse["outcome"] == "0"
    assert nurse["entity"][0]["what"]["identifier"]["value"] == ins
    assert pharmacist["outcome"] == "4"
    assert pharmacist["outcomeDesc"] == "mode_profession"
    assert pharmacist["purposeOfEvent"][0]["text"] == reason
    assert nurse["recorded"].endswith("Z")


async def test_reading_a_document_is_traced_with_the_document(dmp: Harness) -> None:
    ins = dmp.patient(0)
    document = documents_of(dmp, ins)[0]["id"]
    assert (await dmp.get("generaliste", f"/Binary/{document}", accept="*/*")).status_code == 200
    events = entries(
        await dmp.get("generaliste", "/AuditEvent", **{"patient.identifier": pid(ins)})
    )
    read = events[1]
    assert read["subtype"][0]["code"] == "read"
    assert read["entity"][1]["what"]["reference"] == f"DocumentReference/{document}"
    assert read["purposeOfEvent"][0]["coding"][0]["code"] == "normal"
    assert "text" not in read["purposeOfEvent"][0]


# -- the check, adding, reading ------------------------------------------------------------


async def test_the_check_answers_the_patient_and_the_callers_rights(dmp: Harness) -> None:
    ins = dmp.patient(0)
    (patient,) = entries(await dmp.get("pharmacien", "/Patient", identifier=pid(ins)))
    assert patient["resourceType"] == "Patient"
    assert patient["identifier"] == [{"system": OID_TEST, "value": ins}]
    assert patient["name"][0]["family"] == "DUPONT"
    assert patient["name"][0]["given"] == ["MARIE", "LOUISE"]
    assert patient["gender"] == "female"
    facts = patient["extension"][0]["extension"]
    assert {"url": "dmpStatus", "valueCode": "open"} in facts
    readable = {e["valueCode"] for e in facts if e["url"] == "readableType"}
    assert readable == set(READABLE_TYPES["21"])
    assert refusal_of_last(dmp, ins) == "check"


def without_dmp(dmp: Harness) -> list[str]:
    """The INS of the population's patients who have no DMP, in seed order."""
    rows = dmp.db.all(
        "SELECT p.ins FROM patients p LEFT JOIN dmps d ON d.ins = p.ins WHERE d.ins IS NULL"
        " AND p.oid = '1.2.250.1.213.1.4.10' ORDER BY p.seq"
    )
    return [row["ins"] for row in rows]


async def test_the_check_of_a_patient_without_dmp_is_an_empty_searchset(dmp: Harness) -> None:
    """PDSm: no DMP is a search that matches nothing, not an error (first, middle, last
    of the patients without one); nothing is traced, as no DMP is named."""
    patients = without_dmp(dmp)
    assert len(patients) >= 3
    for ins in (patients[0], patients[len(patients) // 2], patients[-1]):
        answer = await dmp.get("generaliste", "/Patient", identifier=pid(ins))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["resourceType"], body["type"], body["total"]) == ("Bundle", "searchset", 0)
        assert "entry" not in body
        assert dmp.db.one("SELECT 1 FROM dmp_access_log WHERE ins = :ins", {"ins": ins}) is None
        # The documents of a DMP that does not exist are still not found.
        listed = await dmp.get(
            "generaliste", "/DocumentReference", **{"patient.identifier": pid(ins)}
        )
        assert listed.status_code == 404
        assert "pas de DMP" in outcome(listed)["diagnostics"]


async def test_an_unknown_patient_is_not_found(dmp: Harness) -> None:
    ins = dmp.patient(0)
    unknown = "1" + ins[1:13]
    from bsp_tui.domain.patients import ins_key

    unknown = unknown[:13] + ins_key(unknown[:13])
    assert dmp.db.one("SELECT 1 FROM patients WHERE ins = :ins", {"ins": unknown}) is None
    answer = await dmp.get("generaliste", "/Patient", identifier=pid(unknown))
    assert answer.status_code == 404
    assert "Aucun patient" in outcome(answer)["diagnostics"]


async def test_an_ins_under_another_oid_is_not_found(dmp: Harness) -> None:
    ins = dmp.patient(0)
    answer = await dmp.get(
        "generaliste", "/Patient", identifier=f"urn:oid:1.2.250.1.213.1.4.8|{ins}"
    )
    assert answer.status_code == 404
    bare = await dmp.get("generaliste", "/Patient", identifier=ins)
    assert bare.status_code == 200


async def test_each_document_carries_its_hash_size_context_and_contained_author(
    dmp: Harness,
) -> None:
    """PDSm metadata on the first, a middle and the last document of a list: the hash and
    size of the content served, the context by where the type is made, the author."""
    ins = dmp.patient(0)
    listed = entries(
        await dmp.get("generaliste", "/DocumentReference", **{"patient.identifier": pid(ins)})
    )
    assert len(listed) == 11
    for document in (listed[0], listed[len(listed) // 2], listed[-1]):
        content = await dmp.get("generaliste", f"/Binary/{document['id']}", accept="*/*")
        attachment = document["content"][0]["attachment"]
        assert attachment["size"] == len(content.content)
        digest = base64.b64encode(
            hashlib.sha1(content.content, usedforsecurity=False).digest()
        ).decode()
        assert attachment["hash"] == digest
        context = document["context"]
        assert context["period"]["start"] == document["date"]
        hospital = document["type"]["coding"][0]["code"] in {"34133-9", "11490-0"}
        facility = context["facilityType"]["coding"][0]
        setting = context["practiceSetting"]["coding"][0]
        assert (facility["code"], setting["code"]) == (
            ("SA01", "ETABLISSEMENT") if hospital else ("SA07", "AMBULATOIRE")
        )
        (author,) = document["contained"]
        assert document["author"][0]["reference"] == f"#{author['id']}"
        assert author["resourceType"] in ("Practitioner", "Organization")
        name = author["name"] if author["resourceType"] == "Organization" else author["name"][0]
        assert (name if isinstance(name, str) else name["text"]) == document["author"][0]["display"]
    kinds = {d["context"]["facilityType"]["coding"][0]["code"] for d in listed}
    assert kinds == {"SA01", "SA07"}  # both kinds are in this DMP


async def test_a_laboratory_or_imaging_centre_authors_as_an_organisation(dmp: Harness) -> None:
    """PDSm: an author that is a structure is an Organization by its structure id
    (IdNat_Struct), never a person's IdNat_PS; a professional, a Practitioner by IdNat_PS."""
    authors: dict[str, set[tuple[str, str, str]]] = {}
    for index in range(4):
        query = {"patient.identifier": pid(dmp.patient(index)), "_count": "100"}
        answer = await dmp.get(
            "generaliste",
            "/DocumentReference",
            mode="bris_de_glace",
            reason="Test des auteurs",
            **query,
        )
        if answer.status_code != 200:
            continue  # a closed DMP, a blocked professional
        for document in entries(answer):
            (author,) = document["contained"]
            (identifier,) = author["identifier"]
            authors.setdefault(author["resourceType"], set()).add(
                (identifier["system"], identifier["value"], document["author"][0]["display"])
            )
    assert {system for system, _, _ in authors["Organization"]} == {"urn:oid:1.2.250.1.71.4.2.2"}
    assert {value[0] for _, value, _ in authors["Organization"]} == {"1"}  # FINESS-based
    assert {name for _, _, name in authors["Organization"]} <= {
        "Laboratoire Biomédical du Centre",
        "Centre d'imagerie Saint-Louis",
    }
    assert {system for system, _, _ in authors["Practitioner"]} == {"urn:oid:1.2.250.1.71.4.2.1"}
    assert all(name.startswith("Dr ") for _, _, name in authors["Practitioner"])


async def test_adding_a_consultation_report_then_reading_it_back(dmp: Harness) -> None:
    ins = dmp.patient(0)
    text = "Compte rendu : tension 12/8, état général conservé. Revoir dans 3 mois.\n".encode()
    added = await dmp.post("generaliste", report(ins, text))
    assert added.status_code == 201, added.text
    resource = added.json()
    assert added.headers["location"].endswith(f"{DMP}/DocumentReference/{resource['id']}")
    assert resource["type"]["coding"][0]["code"] == "11488-4"
    assert resource["description"] == "Consultation du jour"
    (author,) = resource["contained"]
    assert resource["author"] == [{"reference": "#author", "display": "Élise Martin-Dubois"}]
    assert author["identifier"][0]["value"] == dmp.national_id("generaliste")
    assert author["name"] == [{"text": "Élise Martin-Dubois"}]
    attachment = resource["content"][0]["attachment"]
    assert attachment["size"] == len(text)
    # FHIR Attachment.hash: the content's SHA-1, base64 (PDSm: 1..1).
    assert (
        attachment["hash"]
        == base64.b64encode(hashlib.sha1(text, usedforsecurity=False).digest()).decode()
    )
    context = resource["context"]
    assert context["period"] == {"start": resource["date"]}
    assert context["facilityType"]["coding"] == [
        {
            "system": "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite",
            "code": "SA07",
            "display": "Cabinet individuel",
        }
    ]
    assert context["practiceSetting"]["coding"] == [
        {
            "system": "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice",
            "code": "AMBULATOIRE",
            "display": "Ambulatoire",
        }
    ]
    listed = entries(
        await dmp.get("generaliste", "/DocumentReference", **{"patient.identifier": pid(ins)})
    )
    assert listed[0]["id"] == resource["id"]  # the most recent first
    content = await dmp.get("generaliste", f"/Binary/{resource['id']}", accept="*/*")
    assert content.content == text
    assert content.headers["content-type"].startswith("text/plain")
    assert refusal_of_last(dmp, ins) == f"read:{resource['id']}"
    assert history_rows(dmp, ins)[0]["action"] == f"add:{resource['id']}"


async def test_the_pharmacist_may_not_add_a_consultation_report(dmp: Harness) -> None:
    ins = dmp.patient(0)
    answer = await dmp.post("pharmacien", report(ins))
    assert answer.status_code == 403
    assert refusal(answer) == "document_type"
    body = report(ins)
    body["type"]["coding"][0]["code"] = "57833-6"
    assert (await dmp.post("pharmacien", body)).status_code == 201


async def test_the_upload_limit_is_one_mebibyte(dmp: Harness) -> None:
    ins = dmp.patient(0)
    exact = await dmp.post("generaliste", report(ins, b"a" * MAX_CONTENT_BYTES))
    assert exact.status_code == 201, exact.text
    over = await dmp.post("generaliste", report(ins, b"a" * (MAX_CONTENT_BYTES + 1)))
    assert over.status_code == 413
    issue = outcome(over)
    assert issue["code"] == "too-costly"
    assert "la limite est de 1024 Kio" in issue["diagnostics"]
    assert "limit is 1048576 bytes" in issue["details"]["text"]
    assert refusal_of_last(dmp, ins) == "refused:too_large:add"


async def test_a_body_far_over_the_limit_is_refused_before_it_is_read(dmp: Harness) -> None:
    headers = await dmp.headers("generaliste") | {"Content-Type": FHIR_JSON}
    answer = await dmp.emu.http.post(
        DMP + "/DocumentReference", content=b"{" * (MAX_BODY_BYTES + 1), headers=headers
    )
    assert answer.status_code == 413
    assert outcome(answer)["code"] == "too-costly"


async def test_binary_content_comes_with_its_real_content_type(dmp: Harness) -> None:
    ins = dmp.patient(0)
    html = next(
        d for d in documents_of(dmp, ins) if d["content_type"] == "text/html" and not d["masked"]
    )
    raw = await dmp.get("generaliste", f"/Binary/{html['id']}", accept="*/*")
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("text/html")
    assert raw.text.startswith("<html>")
    resource = await dmp.get("generaliste", f"/Binary/{html['id']}")
    assert resource.headers["content-type"].startswith(FHIR_JSON)
    assert resource.json()["resourceType"] == "Binary"
    assert resource.json()["contentType"] == "text/html"
    assert base64.b64decode(resource.json()["data"]) == raw.content


async def test_an_uploaded_pdf_comes_back_as_a_pdf(dmp: Harness) -> None:
    ins = dmp.patient(0)
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n%%EOF\n"
    body = report(ins, pdf)
    body["content"][0]["attachment"]["contentType"] = "application/pdf"
    added = await dmp.post("generaliste", body)
    assert added.status_code == 201, added.text
    raw = await dmp.get("generaliste", f"/Binary/{added.json()['id']}", accept="*/*")
    assert raw.headers["content-type"] == "application/pdf"
    assert raw.content == pdf


async def test_the_date_filter_follows_fhir_prefixes(dmp: Harness) -> None:
    ins = dmp.patient(0)
    visible = [d for d in documents_of(dmp, ins) if not d["masked"]]
    cut = sorted(d["created"] for d in visible)[len(visible) // 2]
    query = {"patient.identifier": pid(ins)}
    since = entries(
        await dmp.get("generaliste", "/DocumentReference", **query | {"date": f"ge{cut}"})
    )
    before = entries(
        await dmp.get("generaliste", "/DocumentReference", **query | {"date": f"lt{cut}"})
    )
    assert [d["id"] for d in since] == [d["id"] for d in visible if d["created"] >= cut]
    assert [d["id"] for d in before] == [d["id"] for d in visible if d["created"] < cut]
    year = cut[:4]
    that_year = entries(
        await dmp.get("generaliste", "/DocumentReference", **query | {"date": year})
    )
    assert [d["id"] for d in that_year] == [d["id"] for d in visible if d["created"][:4] == year]


async def test_the_type_filter_accepts_the_loinc_system(dmp: Harness) -> None:
    ins = dmp.patient(0)
    stored = [d for d in documents_of(dmp, ins) if not d["masked"]]
    loinc = stored[0]["loinc"]
    query = {"patient.identifier": pid(ins), "type": f"http://loinc.org|{loinc}"}
    listed = entries(await dmp.get("generaliste", "/DocumentReference", **query))
    assert [d["id"] for d in listed] == [d["id"] for d in stored if d["loinc"] == loinc]


# -- bad input: a clear 4xx, never a 500 --------------------------------------------------


async def test_without_a_token_the_dmp_answers_401(dmp: Harness) -> None:
    answer = await dmp.emu.http.get(DMP + "/DocumentReference", params={"patient.identifier": "x"})
    assert answer.status_code == 401
    assert answer.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/Patient", {}, 400),
        ("/Patient", {"identifier": "123"}, 400),
        ("/Patient", {"identifier": "262037511122200"}, 400),
        ("/Patient", {"identifier": "urn:oid:1.2.3|{ins}"}, 400),
        ("/Patient", {"identifier": "|||"}, 400),
        ("/DocumentReference", {}, 400),
        ("/DocumentReference", {"patient.identifier": "{pid}", "status": "perdu"}, 400),
        ("/DocumentReference", {"patient.identifier": "{pid}", "type": "99999-9"}, 400),
        ("/DocumentReference", {"patient.identifier": "{pid}", "type": "urn:x|11488-4"}, 400),
        ("/DocumentReference", {"patient.identifier": "{pid}", "date": "ge2020-13-01"}, 400),
        ("/DocumentReference", {"patient.identifier": "{pid}", "date": "hier"}, 400),
        ("/DocumentReference", {"patient.identifier": "{pid}", "date": "ge2020-02"}, 200),
        ("/DocumentReference", {"patient.identifier": "{pid}", "mode": "x" * 300}, 400),
        ("/DocumentReference", {"patient.identifier": "{pid}", "reason": "é" * 600}, 400),
        ("/DocumentReference/inconnu", {}, 404),
        ("/DocumentReference/'; DROP TABLE dmps; --", {}, 404),
        ("/Binary/0000000000000000", {}, 404),
        ("/AuditEvent", {"patient.identifier": "é"}, 400),
    ],
)
async def test_bad_search_input_is_a_clear_4xx(
    dmp: Harness, path: str, params: dict, status: int
) -> None:
    ins = dmp.patient(0)
    params = {k: v.format(ins=ins, pid=pid(ins)) for k, v in params.items()}
    answer = await dmp.get("generaliste", path, accept="*/*", **params)
    assert answer.status_code == status, answer.text
    if status != 200:
        assert outcome(answer)["diagnostics"]
        assert outcome(answer)["details"]["text"]


def _broken_bodies(ins: str) -> list[object]:
    good = report(ins)

    def changed(**fields: object) -> dict:
        return good | fields

    attachment = good["content"][0]["attachment"]
    return [
        None,
        [],
        "texte",
        {},
        changed(resourceType="Patient"),
        changed(status="entered-in-error"),
        changed(subject="DUPONT"),
        changed(subject={"identifier": {"value": 12}}),
        changed(subject={"identifier": {"system": OID_TEST, "value": "123"}}),
        changed(type={"coding": "11488-4"}),
        changed(type={"coding": [{"system": "http://loinc.org", "code": "00000-0"}]}),
        changed(type={"coding": [{"system": "urn:autre", "code": "11488-4"}]}),
        changed(content=[]),
        changed(content=[good["content"][0], good["content"][0]]),
        changed(content=[{"attachment": attachment | {"data": "pas du base64 !"}}]),
        changed(content=[{"attachment": attachment | {"data": ""}}]),
        changed(content=[{"attachment": attachment | {"contentType": "application/x-msdownload"}}]),
        changed(content=[{"attachment": {"contentType": "text/plain"}}]),
        changed(content=["texte"]),
        changed(description=42),
        changed(description="x" * 201),
        changed(securityLabel=[{"coding": [{"code": "SECRET"}]}]),
        changed(securityLabel="MASQUE_PS"),
        changed(securityLabel=[{"coding": [{"code": {"MASQUE_PS": 1}}]}]),
        changed(type={"coding": [{"system": "http://loinc.org", "code": ["11488-4"]}]}),
        changed(subject={"identifier": {"system": ["x"], "value": "262037511122263"}}),
    ]


async def test_broken_documents_are_refused_with_a_4xx(dmp: Harness) -> None:
    ins = dmp.patient(0)
    before = len(documents_of(dmp, ins))
    for body in _broken_bodies(ins):
        answer = await dmp.post("generaliste", body)
        assert 400 <= answer.status_code < 500, (body, answer.text)
        assert outcome(answer)["diagnostics"], body
    headers = await dmp.headers("generaliste") | {"Content-Type": FHIR_JSON}
    for raw in (b"", b"{", b"\xff\xfe", b'{"resourceType": "DocumentReference"', b"[" * 100_000):
        answer = await dmp.emu.http.post(DMP + "/DocumentReference", content=raw, headers=headers)
        assert answer.status_code == 400, raw
    assert len(documents_of(dmp, ins)) == before


async def test_a_document_s_content_is_a_download_that_cannot_run_on_the_platform(
    dmp: Harness,
) -> None:
    """An author's HTML, served from the platform's origin, would run there (issue 12)."""
    ins = dmp.patient(0)
    page = b"<script>fetch('/demo/faults')</script>"
    body = report(ins, page)
    body["content"][0]["attachment"]["contentType"] = "text/html"
    added = await dmp.post("generaliste", body)
    assert added.status_code == 201, added.text
    content = await dmp.get("generaliste", f"/Binary/{added.json()['id']}", accept="*/*")
    assert content.status_code == 200
    assert content.content == page
    assert content.headers["content-disposition"].startswith("attachment")
    assert content.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in content.headers["content-security-policy"]


# -- the patient's médecin traitant and choices ---------------------------------------------


async def test_the_treating_doctor_sees_masked_documents(dmp: Harness) -> None:
    ins = dmp.patient(0)  # DUPONT: her médecin traitant is Dr Benali, the urgentiste
    label = [{"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": "MASQUE_PS"}]}]
    added = await dmp.post("generaliste", report(ins, securityLabel=label))
    assert added.status_code == 201, added.text
    masked = added.json()["id"]
    query = {"patient.identifier": pid(ins)}
    treating = [
        d["id"] for d in entries(await dmp.get("urgentiste", "/DocumentReference", **query))
    ]
    nurse = [d["id"] for d in entries(await dmp.get("infirmier", "/DocumentReference", **query))]
    assert masked in treating and masked not in nurse
    assert (await dmp.get("urgentiste", f"/Binary/{masked}", accept="*/*")).status_code == 200
    assert (await dmp.get("infirmier", f"/Binary/{masked}", accept="*/*")).status_code == 404
    # Another patient's masked document stays hidden from him.
    other = dmp.patient(3)
    hidden = (await dmp.post("generaliste", report(other, securityLabel=label))).json()["id"]
    assert (await dmp.get("urgentiste", f"/Binary/{hidden}", accept="*/*")).status_code == 404


async def test_a_patient_who_opposes_break_glass_is_refused_even_to_a_doctor(dmp: Harness) -> None:
    ins = dmp.patient(8)  # LEFÈVRE Hélène opposes emergency access
    glass = {"patient.identifier": pid(ins), "mode": "bris_de_glace", "reason": "Coma"}
    answer = await dmp.get("urgentiste", "/DocumentReference", **glass)
    assert answer.status_code == 403
    assert refusal(answer) == "emergency_opposed"
    assert "s'est opposé à l'accès en urgence" in outcome(answer)["diagnostics"]
    assert refusal_of_last(dmp, ins) == "refused:emergency_opposed:list"
    normal = await dmp.get("urgentiste", "/DocumentReference", **{"patient.identifier": pid(ins)})
    assert normal.status_code == 200
    # Another patient's DMP opens in break-glass mode.
    other = {**glass, "patient.identifier": pid(dmp.patient(0))}
    assert (await dmp.get("urgentiste", "/DocumentReference", **other)).status_code == 200


async def test_a_break_glass_access_is_notified_to_the_patient_and_the_treating_doctor(
    dmp: Harness,
) -> None:
    ins = dmp.patient(0)
    glass = {"patient.identifier": pid(ins), "mode": "bris_de_glace", "reason": "Inconsciente"}
    assert (await dmp.get("generaliste", "/DocumentReference", **glass)).status_code == 200
    actions = [r["action"] for r in history_rows(dmp, ins)]
    treating = dmp.national_id("urgentiste")
    assert actions[-3:] == ["notify_patient", f"notify_treating:{treating}", "list"]
    # Within the hour, the same professional's next accesses notify nobody again.
    assert (await dmp.get("generaliste", "/DocumentReference", **glass)).status_code == 200
    assert [r["action"] for r in history_rows(dmp, ins)][-1:] == ["list"]
    assert len(history_rows(dmp, ins)) == len(actions) + 1
    events = entries(await dmp.get("urgentiste", "/AuditEvent", **{"patient.identifier": pid(ins)}))
    told = next(e for e in events if e["subtype"][0]["code"] == "notify_treating")
    assert told["purposeOfEvent"][0]["text"] == "Inconsciente"
    assert told["entity"][1]["what"]["identifier"]["value"] == treating
    assert told["agent"][0]["who"]["identifier"]["value"] == dmp.national_id("generaliste")
    assert any(e["subtype"][0]["code"] == "notify_patient" for e in events)
    # A patient without a médecin traitant is notified alone.
    other = dmp.patient(3)
    alone = {**glass, "patient.identifier": pid(other)}
    assert (await dmp.get("generaliste", "/DocumentReference", **alone)).status_code == 200
    assert [r["action"] for r in history_rows(dmp, other)][-2:] == ["notify_patient", "list"]


# -- PDSm metadata --------------------------------------------------------------------------


async def test_a_document_carries_the_pdsm_metadata(dmp: Harness) -> None:
    ins = dmp.patient(0)
    listed = entries(
        await dmp.get("generaliste", "/DocumentReference", **{"patient.identifier": pid(ins)})
    )
    by_type = {d["type"]["coding"][0]["code"]: d for d in listed}
    classes = {loinc: d["category"][0]["coding"][0]["code"] for loinc, d in by_type.items()}
    expected = {"11488-4": "10", "60591-5": "11", "18748-4": "31", "57833-6": "42", "34133-9": "10"}
    assert {k: v for k, v in classes.items() if k in expected} == {
        k: v for k, v in expected.items() if k in classes
    }
    first = listed[0]
    system = first["category"][0]["coding"][0]["system"]
    assert system.endswith("TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument")
    master = first["masterIdentifier"]
    assert master["system"] == "urn:ietf:rfc:3986" and master["value"].startswith("urn:uuid:")
    assert len({d["masterIdentifier"]["value"] for d in listed}) == len(listed)
    again = (await dmp.get("generaliste", f"/DocumentReference/{first['id']}")).json()
    assert again["masterIdentifier"] == master  # stable
    assert first["custodian"]["display"]
    assert first["content"][0]["format"]["code"] == "urn:ihe:iti:xds:2017:mimeTypeSufficient"


async def test_the_check_says_active_the_treating_doctor_and_the_opposition(dmp: Harness) -> None:
    dupont, helene = dmp.patient(0), dmp.patient(8)
    (patient,) = entries(await dmp.get("generaliste", "/Patient", identifier=pid(dupont)))
    assert patient["active"] is True
    facts = patient["extension"][0]["extension"]
    treating = next(e for e in facts if e["url"] == "treatingDoctor")["valueIdentifier"]
    assert treating["value"] == dmp.national_id("urgentiste")
    assert {"url": "emergencyOpposed", "valueBoolean": False} in facts
    (opposing,) = entries(await dmp.get("generaliste", "/Patient", identifier=pid(helene)))
    facts = opposing["extension"][0]["extension"]
    assert {"url": "emergencyOpposed", "valueBoolean": True} in facts
    assert not [e for e in facts if e["url"] == "treatingDoctor"]


# -- the patient's authorisation outside the care team ---------------------------------

PHARMACIST_ID = "810000078906"


def authorization(patient: dict) -> str:
    """The check's `accessAuthorization` fact."""
    (access,) = patient["extension"]
    facts = {e["url"]: e.get("valueCode") for e in access["extension"]}
    return facts["accessAuthorization"]


def outside_the_team(dmp: Harness) -> str:
    """A drawn patient's open DMP that the pharmacist is in no way part of."""
    row = dmp.db.one(
        "SELECT d.ins FROM dmps d JOIN patients p ON p.ins = d.ins WHERE d.status = 'open'"
        " AND p.seq >= 9 AND d.ins NOT IN (SELECT ins FROM dmp_blocks)"
        " AND d.ins NOT IN (SELECT ins FROM dmp_authorizations) ORDER BY p.seq"
    )
    assert row is not None
    return row["ins"]


async def authorize_access(dmp: Harness, persona: str, ins: str) -> httpx.Response:
    headers = await dmp.headers(persona)
    return await dmp.emu.http.post(
        DMP + "/Patient/$autorisation-acces", params={"identifier": pid(ins)}, headers=headers
    )


async def test_outside_the_care_team_reading_needs_the_patients_authorisation(
    dmp: Harness,
) -> None:
    """CSP L.1110-4 and L.1111-15: outside the care team, a professional reads a DMP only
    with the patient's authorisation, which their software records (`autorisee`)."""
    ins = outside_the_team(dmp)
    (patient,) = entries(await dmp.get("pharmacien", "/Patient", identifier=pid(ins)))
    assert authorization(patient) == "non_autorisee"
    listed = await dmp.get("pharmacien", "/DocumentReference", **{"patient.identifier": pid(ins)})
    assert (listed.status_code, refusal(listed)) == (403, "authorization_required")
    assert "autorisation" in outcome(listed)["diagnostics"]
    (document, *_) = documents_of(dmp, ins)
    shown = await dmp.get("pharmacien", f"/DocumentReference/{document['id']}")
    assert (shown.status_code, refusal(shown)) == (403, "authorization_required")
    history = await dmp.get("pharmacien", "/AuditEvent", **{"patient.identifier": pid(ins)})
    assert history.status_code == 403

    recorded = await authorize_access(dmp, "pharmacien", ins)
    (patient,) = entries(recorded)
    assert authorization(patient) == "autorisee"
    stored = dmp.db.one(
        "SELECT 1 FROM dmp_authorizations WHERE ins = :ins AND national_id = :id",
        {"ins": ins, "id": PHARMACIST_ID},
    )
    assert stored is not None
    assert entries(
        await dmp.get("pharmacien", "/DocumentReference", **{"patient.identifier": pid(ins)})
    )
    actions = [row["action"] for row in history_rows(dmp, ins)]
    assert "authorize" in actions
    assert actions.index("authorize") > actions.index("refused:authorization_required:list")


async def test_the_care_team_and_emergencies_need_no_authorisation(dmp: Harness) -> None:
    """A document's author is of the care team; break-glass access needs none either."""
    ins = outside_the_team(dmp)
    authors = {row["author_id"] for row in documents_of(dmp, ins)}
    assert authors & {"810000012301", "810000045608"}
    persona = "generaliste" if "810000012301" in authors else "urgentiste"
    (patient,) = entries(await dmp.get(persona, "/Patient", identifier=pid(ins)))
    assert authorization(patient) == "equipe_de_soins"
    assert entries(await dmp.get(persona, "/DocumentReference", **{"patient.identifier": pid(ins)}))
    urgent = await dmp.get(
        "infirmier",
        "/DocumentReference",
        mode="bris_de_glace",
        reason="Patient inconscient",
        **{"patient.identifier": pid(ins)},
    )
    assert urgent.status_code == 200


async def test_a_blocked_professional_cannot_record_an_authorisation(dmp: Harness) -> None:
    blocked = await authorize_access(dmp, "urgentiste", dmp.patient(2))
    assert (blocked.status_code, refusal(blocked)) == (403, "blocked")


async def withdraw_access(dmp: Harness, persona: str, identifier: str) -> httpx.Response:
    headers = await dmp.headers(persona)
    return checked_fhir(
        await dmp.emu.http.post(
            DMP + "/Patient/$retrait-autorisation-acces",
            params={"identifier": identifier},
            headers=headers,
        )
    )


async def test_the_patient_withdraws_an_authorisation_and_reading_stops(dmp: Harness) -> None:
    """The patient's authorisation withdrawn (the nurse's of DUPONT, seeded): reading needs
    it again, the withdrawal is traced, a second one has nothing to withdraw (409)."""
    ins = dmp.patient(0)
    query = {"patient.identifier": pid(ins)}
    assert (await dmp.get("infirmier", "/DocumentReference", **query)).status_code == 200
    withdrawn = await withdraw_access(dmp, "infirmier", pid(ins))
    assert withdrawn.status_code == 200, withdrawn.text
    (patient,) = entries(withdrawn)
    assert authorization(patient) == "non_autorisee"
    listed = await dmp.get("infirmier", "/DocumentReference", **query)
    assert (listed.status_code, refusal(listed)) == (403, "authorization_required")
    again = await withdraw_access(dmp, "infirmier", pid(ins))
    assert (again.status_code, refusal(again)) == (409, "no_authorization")
    nurse = dmp.national_id("infirmier")
    mine = [r["action"] for r in history_rows(dmp, ins) if r["national_id"] == nurse]
    assert mine[-4:] == [
        "list",
        "withdraw",
        "refused:authorization_required:list",
        "refused:no_authorization:withdraw",
    ]
    assert (await authorize_access(dmp, "infirmier", ins)).status_code == 200
    assert (await dmp.get("infirmier", "/DocumentReference", **query)).status_code == 200


async def test_a_withdrawal_leaves_the_care_team_its_access(dmp: Harness) -> None:
    """The médecin traitant (the urgentiste, for DUPONT) is of the care team: his
    authorisation withdrawn, he still reads the DMP."""
    ins = dmp.patient(0)
    withdrawn = await withdraw_access(dmp, "urgentiste", pid(ins))
    (patient,) = entries(withdrawn)
    assert authorization(patient) == "equipe_de_soins"
    query = {"patient.identifier": pid(ins)}
    assert (await dmp.get("urgentiste", "/DocumentReference", **query)).status_code == 200


async def test_a_withdrawal_names_a_patient_with_a_dmp(dmp: Harness) -> None:
    bad = await withdraw_access(dmp, "infirmier", f"{OID_TEST}|262037511122299")
    assert bad.status_code == 400
    none = await withdraw_access(dmp, "infirmier", pid(without_dmp(dmp)[0]))
    assert none.status_code == 404
    assert "pas de DMP" in outcome(none)["diagnostics"]
