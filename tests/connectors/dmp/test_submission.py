"""A submission set (ITI-65): a transaction Bundle of one patient's documents, filed all
or none, in process; its bad shapes refused without filing anything."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bsp_tui.platform.api import ServiceError
from connectors.dmp.models import MAX_SUBMISSION_DOCUMENTS, MHD_LIST_TYPES, SUBMISSION_SET
from connectors.dmp.submission import submission
from tests.connectors import harness
from tests.connectors.dmp.conftest import DMP, FHIR_JSON, Harness, checked_fhir, outcome, refusal

pytestmark = pytest.mark.anyio
OID_TEST = "urn:oid:1.2.250.1.213.1.4.10"
IMAGING = "18748-4"


def _subject(ins: str) -> dict:
    return {"identifier": {"system": OID_TEST, "value": ins}}


def _document(ins: str, title: str, attachment: dict, loinc: str = "11488-4") -> dict:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": _subject(ins),
        "description": title,
        "content": [{"attachment": attachment}],
    }


def _entry(url: str, resource: dict) -> dict:
    kind = resource["resourceType"]
    return {"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": kind}}


def bundle(ins: str, texts: list[bytes], inline: set[int] = frozenset(), **loincs: str) -> dict:
    """A submission of one document per text: those numbered in `inline` carry their data,
    the others point to a Binary entry. `loincs` gives a type by number (`d1="…"`)."""
    entries, listed = [], []
    for number, text in enumerate(texts):
        data = base64.b64encode(text).decode()
        loinc = loincs.get(f"d{number}", "11488-4")
        reference = f"urn:uuid:00000000-0000-4000-8000-{number:012d}"
        if number in inline:
            attachment = {"contentType": "text/plain", "data": data}
            entries.append(_entry(reference, _document(ins, f"Pièce {number}", attachment, loinc)))
        else:
            binary = f"urn:uuid:00000000-0000-4000-9000-{number:012d}"
            attachment = {"contentType": "text/plain", "url": binary}
            entries.append(_entry(reference, _document(ins, f"Pièce {number}", attachment, loinc)))
            binary_resource = {"resourceType": "Binary", "contentType": "text/plain", "data": data}
            entries.append(_entry(binary, binary_resource))
        listed.append({"item": {"reference": reference}})
    submission_set = {
        "resourceType": "List",
        "status": "current",
        "mode": "working",
        "code": {"coding": [{"system": MHD_LIST_TYPES, "code": SUBMISSION_SET}]},
        "subject": _subject(ins),
        "entry": listed,
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _entry("urn:uuid:00000000-0000-4000-a000-000000000000", submission_set),
            *entries,
        ],
    }


async def submit(
    dmp: Harness, persona: str, body: Any, path: str = "/", **headers: str
) -> httpx.Response:
    sent = await dmp.headers(persona) | {"Content-Type": FHIR_JSON} | headers
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return checked_fhir(await dmp.emu.http.post(DMP + path, content=content, headers=sent))


def documents(dmp: Harness, ins: str) -> list[dict]:
    rows = dmp.db.all(
        "SELECT id, title, content FROM dmp_documents WHERE ins = :ins ORDER BY title",
        {"ins": ins},
    )
    return [dict(row) for row in rows]


def added_in_history(dmp: Harness, ins: str) -> list[str]:
    rows = dmp.db.all(
        "SELECT action FROM dmp_access_log WHERE ins = :ins ORDER BY id", {"ins": ins}
    )
    return [row["action"] for row in rows if row["action"].startswith("add")]


async def test_a_submission_files_every_document_and_answers_entry_by_entry(dmp: Harness) -> None:
    ins = dmp.patient(0)
    before = {row["id"] for row in documents(dmp, ins)}
    texts = [b"Premier compte rendu.\n", b"Deuxieme, en ligne.\n", b"Troisieme et dernier.\n"]
    sent = bundle(ins, texts, inline={1})
    harness.valid_fhir(sent)  # what a real Document Source would send
    answer = await submit(dmp, "generaliste", sent)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["type"] == "transaction-response"
    kinds = [e["resource"]["resourceType"] for e in sent["entry"]]
    document, binary = "DocumentReference", "Binary"
    assert kinds == ["List", document, binary, document, document, binary]
    assert len(body["entry"]) == len(sent["entry"])
    assert all(e["response"]["status"] == "201 Created" for e in body["entry"])
    assert "location" not in body["entry"][0]["response"]  # the SubmissionSet is not kept
    filed = [e["resource"] for e in body["entry"] if "resource" in e]
    assert [d["description"] for d in filed] == ["Pièce 0", "Pièce 1", "Pièce 2"]
    ids = [d["id"] for d in filed]
    locations = [e["response"]["location"] for e in body["entry"][1:]]
    assert locations == [
        f"DocumentReference/{ids[0]}",
        f"Binary/{ids[0]}",
        f"DocumentReference/{ids[1]}",
        f"DocumentReference/{ids[2]}",
        f"Binary/{ids[2]}",
    ]
    now = {row["id"]: row for row in documents(dmp, ins)}
    assert set(now) - before == set(ids)
    for document_id, text in zip(ids, texts, strict=True):  # first, middle (inline), last
        assert bytes(now[document_id]["content"]) == text
        content = await dmp.get("generaliste", f"/Binary/{document_id}", accept="*/*")
        assert content.content == text
    assert added_in_history(dmp, ins)[-3:] == [f"add:{i}" for i in ids]


async def test_the_base_without_its_slash_takes_a_submission_too(dmp: Harness) -> None:
    ins = dmp.patient(0)
    answer = await submit(dmp, "generaliste", bundle(ins, [b"Sans barre.\n"]), path="")
    assert answer.status_code == 200, answer.text
    assert answer.json()["entry"][1]["resource"]["description"] == "Pièce 0"


async def test_one_refused_document_refuses_the_whole_submission(dmp: Harness) -> None:
    ins = dmp.patient(0)
    before = documents(dmp, ins)
    texts = [b"Soins du jour.\n", b"Cliche.\n", b"Pansement.\n"]
    answer = await submit(dmp, "infirmier", bundle(ins, texts, d1=IMAGING))
    assert answer.status_code == 403, answer.text
    assert refusal(answer) == "document_type"
    assert documents(dmp, ins) == before


async def test_a_retry_with_the_same_key_files_nothing_more(dmp: Harness) -> None:
    ins = dmp.patient(0)
    sent = bundle(ins, [b"Une.\n", b"Deux.\n"])
    first = await submit(dmp, "generaliste", sent, **{"Idempotency-Key": "soumission-1"})
    count = len(documents(dmp, ins))
    again = await submit(dmp, "generaliste", sent, **{"Idempotency-Key": "soumission-1"})
    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert len(documents(dmp, ins)) == count
    other = bundle(ins, [b"Autre.\n"])
    reused = await submit(dmp, "generaliste", other, **{"Idempotency-Key": "soumission-1"})
    assert reused.status_code == 422


def _without_list(body: dict) -> dict:
    return body | {"entry": body["entry"][1:]}


def _with_two_lists(body: dict) -> dict:
    return body | {"entry": [body["entry"][0], *body["entry"]]}


def _unlisted(body: dict) -> dict:
    submission_set = body["entry"][0]["resource"]
    short = submission_set | {"entry": submission_set["entry"][:1]}
    return body | {"entry": [body["entry"][0] | {"resource": short}, *body["entry"][1:]]}


def _stray_binary(body: dict) -> dict:
    stray = {"resourceType": "Binary", "contentType": "text/plain", "data": "eA=="}
    return body | {"entry": [*body["entry"], _entry("urn:uuid:stray", stray)]}


def _dangling_url(body: dict) -> dict:
    entries = [e for e in body["entry"] if e["resource"]["resourceType"] != "Binary"]
    return body | {"entry": entries}


def _other_patient(ins: str) -> Any:
    def change(body: dict) -> dict:
        document = body["entry"][1]["resource"] | {"subject": _subject(ins)}
        return _replaced(body, 1, resource=document)

    return change


def _replaced(body: dict, index: int, **changes: Any) -> dict:
    """The Bundle with its entry `index` changed so."""
    entries = list(body["entry"])
    entries[index] = entries[index] | changes
    return body | {"entry": entries}


def _wrong_content_type(body: dict) -> dict:
    binary = body["entry"][2]["resource"] | {"contentType": "application/pdf"}
    return _replaced(body, 2, resource=binary)


def _method(body: dict) -> dict:
    return _replaced(body, 1, request={"method": "PUT", "url": "DocumentReference"})


def _patient_entry(body: dict) -> dict:
    patient = _entry("urn:uuid:p", {"resourceType": "Patient"})
    return body | {"entry": [*body["entry"], patient]}


def _same_full_url(body: dict) -> dict:
    return _replaced(body, 2, fullUrl=body["entry"][1]["fullUrl"])


def _shared_binary(body: dict) -> dict:
    second = body["entry"][3]["resource"]
    url = body["entry"][2]["fullUrl"]
    shared = second | {"content": [{"attachment": {"contentType": "text/plain", "url": url}}]}
    return _replaced(body, 3, resource=shared)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda b: b | {"type": "batch"}, "type = transaction"),
        (_without_list, "une et une seule List"),
        (_with_two_lists, "une et une seule List"),
        (_unlisted, "nommer chaque DocumentReference"),
        (_stray_binary, "Binary n'est la pièce jointe d'aucun document"),
        (_dangling_url, "ne désigne aucune entrée Binary"),
        (_wrong_content_type, "contentType de la pièce jointe"),
        (_method, "entry.request (POST DocumentReference)"),
        (_patient_entry, "seules List, DocumentReference et Binary"),
        (_same_full_url, "même fullUrl"),
        (_shared_binary, "pièce jointe de deux documents"),
        (lambda b: b | {"entry": "rien"}, "entry manquant ou invalide"),
    ],
)
async def test_a_malformed_submission_is_refused_and_files_nothing(
    dmp: Harness, change: Any, said: str
) -> None:
    ins = dmp.patient(0)
    before = documents(dmp, ins)
    answer = await submit(dmp, "generaliste", change(bundle(ins, [b"Un.\n", b"Deux.\n"])))
    assert answer.status_code == 400, answer.text
    assert said in outcome(answer)["diagnostics"]
    assert documents(dmp, ins) == before


async def test_a_document_of_another_patient_is_refused(dmp: Harness) -> None:
    ins, other = dmp.patient(0), dmp.patient(2)
    before = documents(dmp, ins), documents(dmp, other)
    sent = _other_patient(other)(bundle(ins, [b"Un.\n"], inline={0}))
    answer = await submit(dmp, "generaliste", sent)
    assert answer.status_code == 400
    assert "n'a pas le patient de la List" in outcome(answer)["diagnostics"]
    assert (documents(dmp, ins), documents(dmp, other)) == before


async def test_too_many_documents_and_garbage_are_refused(dmp: Harness) -> None:
    ins = dmp.patient(0)
    before = documents(dmp, ins)
    texts = [b"x"] * (MAX_SUBMISSION_DOCUMENTS + 1)
    many = await submit(dmp, "generaliste", bundle(ins, texts, inline=set(range(len(texts)))))
    assert many.status_code == 400
    assert f"au plus {MAX_SUBMISSION_DOCUMENTS} par soumission" in outcome(many)["diagnostics"]
    garbage = await submit(dmp, "generaliste", b"{pas du json")
    assert garbage.status_code == 400
    assert "ressource Bundle en JSON" in outcome(garbage)["diagnostics"]
    assert documents(dmp, ins) == before


async def test_the_capability_statement_offers_transactions(dmp: Harness) -> None:
    statement = (await dmp.get("generaliste", "/metadata")).json()
    assert {"code": "transaction"} in statement["rest"][0]["interaction"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["resourceType", "type", "entry", "resource", "request", "fullUrl", "code", "url"]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(JSON)
def test_any_json_is_read_or_refused_with_a_service_error(body: Any) -> None:
    for candidate in (body, {"resourceType": "Bundle", "type": "transaction", "entry": body}):
        try:
            submission(candidate)
        except ServiceError as error:
            assert error.status in (400, 415)
