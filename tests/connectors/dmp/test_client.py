"""The DMP client over the emulated service in process: domain types, input checks, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import orjson
import pytest

from connectors.dmp.client import (
    DmpClient,
    DmpError,
    content_type_of,
)
from connectors.dmp.models import MAX_CONTENT_BYTES, MAX_PAGE_SIZE, READABLE_TYPES
from connectors.kit.errors import BAD_INPUT, FAILURE, NOT_ALLOWED, NOT_FOUND, UNAVAILABLE
from tests.connectors.dmp.conftest import Harness, add_documents
from tests.connectors.dmp.test_service import outside_the_team, without_dmp

pytestmark = pytest.mark.anyio


def no_request(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.method} {request.url}")


@pytest.fixture
async def offline() -> AsyncIterator[DmpClient]:
    """A client whose every request fails the test."""
    transport = httpx.MockTransport(no_request)
    async with httpx.AsyncClient(transport=transport, base_url="http://dmp.invalid") as http:
        yield DmpClient(http)


async def test_check_list_show_add_and_history(dmp: Harness, tmp_path: Path) -> None:
    ins = dmp.patient(0)
    async with await dmp.http("generaliste") as http:
        client = DmpClient(http)
        record = await client.patient(ins)
        assert (record.ins, record.family, record.sex, record.dmp_status) == (
            ins,
            "DUPONT",
            "F",
            "open",
        )
        assert set(record.readable_types) == set(READABLE_TYPES["10"])
        documents = await client.list(ins)
        assert len(documents) == 11
        assert all(d.ins == ins and d.author_name and d.size > 0 for d in documents)
        assert [d.date for d in documents] == sorted((d.date for d in documents), reverse=True)
        invisible = [d for d in documents if d.invisible_to_patient]
        assert len(invisible) == 1 and not invisible[0].masked
        kind = documents[0].loinc
        assert {d.loinc for d in await client.list(ins, type=kind)} == {kind}
        since = documents[3].date[:10]
        assert [d.id for d in await client.list(ins, since=since)] == [
            d.id for d in documents if d.date[:10] >= since
        ]
        shown = await client.show(documents[0].id)
        assert shown.info == documents[0]
        assert shown.is_text and "DUPONT MARIE LOUISE" in shown.text()
        report = tmp_path / "cr.txt"
        report.write_text("Consultation : examen normal, pas de traitement.\n", encoding="utf-8")
        added = await client.add(ins, report, "11488-4", "Consultation de suivi")
        assert (added.loinc, added.title, added.author_id) == (
            "11488-4",
            "Consultation de suivi",
            dmp.national_id("generaliste"),
        )
        assert (await client.show(added.id)).content == report.read_bytes()
        history = await client.history(ins)
        assert history[0].action == "history" and not history[0].refused
        assert [e.action for e in history[1:4]] == ["read", "metadata", "add"]
        assert history[1].document_id == added.id


async def test_a_list_longer_than_a_page_follows_the_pages_to_the_last(dmp: Harness) -> None:
    ins = dmp.patient(0)
    add_documents(dmp, ins, 2 * MAX_PAGE_SIZE + 89)  # 11 seeded: three pages, the last of 100
    seen: list[str | None] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.params.get("_cursor"))

    async with await dmp.http("generaliste") as http:
        http.event_hooks["request"].append(record)
        documents = await DmpClient(http).list(ins)
    assert len(seen) == 3 and seen[0] is None and len(set(seen)) == 3  # each page's own cursor
    assert len(documents) == 2 * MAX_PAGE_SIZE + 100
    assert len({d.id for d in documents}) == len(documents)
    assert documents[0].date > documents[-1].date
    # The 11 seeded first, then the added ones newest (highest number) first.
    added = [d.id for d in documents[11:]]
    assert added == [f"PAGE{n:06d}" for n in reversed(range(2 * MAX_PAGE_SIZE + 89))]
    assert documents[MAX_PAGE_SIZE].id == "PAGE001099"  # the second page's first


async def test_a_page_link_off_the_service_is_refused_and_not_followed() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.host)
        link = {"relation": "next", "url": "http://elsewhere.invalid/api/dmp/DocumentReference"}
        return httpx.Response(200, json={"resourceType": "Bundle", "link": [link], "entry": []})

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://dmp.invalid/api/dmp"
    ) as http:
        with pytest.raises(DmpError) as refused:
            await DmpClient(http).list("262037511122263")
    assert refused.value.kind == FAILURE
    assert asked == ["dmp.invalid"]


GOOD = {
    "resourceType": "DocumentReference",
    "id": "DOC1",
    "status": "current",
    "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
    "subject": {"identifier": {"value": "262037511122263"}},
    "content": [{"attachment": {"contentType": "text/plain", "size": 24}}],
}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"entry": {"resource": 1}}',
        orjson.dumps({"entry": [{"resource": GOOD | {"content": []}}]}),
        orjson.dumps({"entry": [{"resource": GOOD | {"type": {"coding": []}}}]}),
        orjson.dumps({"entry": [{"resource": {k: v for k, v in GOOD.items() if k != "id"}}]}),
        orjson.dumps(
            {"entry": [{"resource": GOOD | {"content": [{"attachment": {"size": "24"}}]}}]}
        ),
    ],
)
async def test_a_page_the_client_cannot_read_is_a_failure_not_a_crash(body: bytes) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "application/fhir+json"})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://dmp.invalid/api/dmp"
    ) as http:
        with pytest.raises(DmpError) as failed:
            await DmpClient(http).list("262037511122263")
    assert failed.value.kind == FAILURE
    assert "illisible" in failed.value.message


async def test_an_unreadable_page_stops_the_list_and_the_page_asked_meanwhile() -> None:
    """The next page is asked for as soon as a page's headers are in: when that page turns
    out unreadable, the list fails and goes no further than the page already asked for."""
    asked: list[str] = []
    following = "http://dmp.invalid/api/dmp/DocumentReference?_cursor=next"

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        body = orjson.dumps({"entry": [{"resource": GOOD}]}) if asked[1:] else b"{broken"
        return httpx.Response(200, content=body, headers={"Link": f'<{following}>; rel="next"'})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://dmp.invalid/api/dmp"
    ) as http:
        with pytest.raises(DmpError) as failed:
            await DmpClient(http).list("262037511122263")
    assert failed.value.kind == FAILURE and "illisible" in failed.value.message
    assert len(asked) <= 2 and asked[1:] in ([], [following])


async def test_a_page_read_as_the_dmp_serves_it() -> None:
    served = {"entry": [{"resource": GOOD}], "link": [{"relation": "self", "url": "x"}]}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=served)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://dmp.invalid/api/dmp"
    ) as http:
        (document,) = await DmpClient(http).list("262037511122263")
    assert (document.id, document.loinc, document.size, document.labels) == (
        "DOC1",
        "11488-4",
        24,
        (),
    )
    assert document.type_label == "Compte rendu de consultation" and not document.archived


async def test_break_glass_shows_the_masked_document_and_leaves_its_reason(
    dmp: Harness,
) -> None:
    ins = dmp.patient(0)
    async with await dmp.http("infirmier") as http:
        client = DmpClient(http)
        normal = await client.list(ins)
        glass = await client.list(ins, mode="bris_de_glace", reason="Malaise au domicile")
        masked = [d for d in glass if d.masked]
        assert len(masked) == 1 and masked[0].id not in {d.id for d in normal}
        with pytest.raises(DmpError) as hidden:
            await client.show(masked[0].id)
        assert hidden.value.kind == NOT_FOUND
        document = await client.show(masked[0].id, "bris_de_glace", "Malaise au domicile")
        assert document.info.masked
    async with await dmp.http("generaliste") as http:
        history = await DmpClient(http).history(ins)
    glass_entries = [e for e in history if e.mode == "bris_de_glace"]
    # The break-glass is notified to the patient and to her médecin traitant too.
    assert {e.action for e in glass_entries} == {
        "list",
        "metadata",
        "read",
        "notify_patient",
        "notify_treating",
    }
    assert {e.reason for e in glass_entries} == {"Malaise au domicile"}
    assert {e.national_id for e in glass_entries} == {dmp.national_id("infirmier")}
    refused = [e for e in history if e.refused]
    assert [(e.action, e.refusal, e.document_id) for e in refused] == [
        ("metadata", "masked", masked[0].id)
    ]


async def test_refusals_carry_a_kind_and_the_reason_in_both_languages(dmp: Harness) -> None:
    ins = dmp.patient(0)
    async with await dmp.http("secretaire") as http:
        with pytest.raises(DmpError) as refused:
            await DmpClient(http).list(ins)
    error = refused.value
    assert (error.kind, error.status, error.code) == (NOT_ALLOWED, 403, "profession")
    assert error.message == "Votre profession (Secrétaire médicale) n'a pas accès au DMP."
    assert error.message_en == "Your profession (SECR) has no access to the DMP."
    async with await dmp.http("generaliste") as http:
        client = DmpClient(http)
        with pytest.raises(DmpError) as closed:
            await client.patient(dmp.patient(1))
        assert (closed.value.kind, closed.value.code) == (NOT_ALLOWED, "closed")
        with pytest.raises(DmpError) as missing:
            await client.show("0123456789abcdef")
        assert (missing.value.kind, missing.value.status) == (NOT_FOUND, 404)


async def test_a_patient_without_dmp_is_not_found_from_the_empty_check(dmp: Harness) -> None:
    """The check answers an empty searchset; the client says there is no DMP (exit 5)."""
    (ins,) = without_dmp(dmp)[:1]
    async with await dmp.http("generaliste") as http:
        with pytest.raises(DmpError) as missing:
            await DmpClient(http).patient(ins)
    error = missing.value
    assert (error.kind, error.status, error.code) == (NOT_FOUND, 200, "not-found")
    assert error.message == "Ce patient n'a pas de DMP."
    assert error.message_en == "This patient has no DMP."
    assert error.exit_code == 5


async def test_a_file_over_the_limit_is_bad_input_from_the_service(
    dmp: Harness, tmp_path: Path
) -> None:
    big = tmp_path / "gros.txt"
    big.write_bytes(b"x" * (MAX_CONTENT_BYTES + 1))
    async with await dmp.http("generaliste") as http:
        with pytest.raises(DmpError) as refused:
            await DmpClient(http).add(dmp.patient(0), big, "11488-4")
    assert (refused.value.kind, refused.value.status, refused.value.code) == (
        BAD_INPUT,
        413,
        "too_large",
    )
    assert "limite est de 1024 Kio" in refused.value.message


async def test_a_service_down_is_unavailable(dmp: Harness) -> None:
    down = await dmp.emu.http.put("/demo/faults", json={"down": ["dmp"]})
    assert down.status_code == 200, down.text
    async with await dmp.http("generaliste") as http:
        with pytest.raises(DmpError) as refused:
            await DmpClient(http).list(dmp.patient(0))
    assert (refused.value.kind, refused.value.status) == (UNAVAILABLE, 503)
    assert "indisponible" in refused.value.message


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda c: c.list("262037511122200"), "clé de l'INS"),
        (lambda c: c.list("12345"), "15 caractères"),
        (lambda c: c.list("262037511122263", mode="bris_de_glace"), "exige un motif"),
        (lambda c: c.list("262037511122263", mode="bris_de_glace", reason=" "), "exige un motif"),
        (lambda c: c.list("262037511122263", mode="urgence"), "mode d'accès inconnu"),
        (lambda c: c.list("262037511122263", type="1234-5"), "type de document inconnu"),
        (lambda c: c.show("../Patient"), "identifiant de document invalide"),
        (lambda c: c.history("2620375111222"), "15 caractères"),
        (lambda c: c.add("262037511122263", "/nonexistent/cr.txt"), "fichier illisible"),
        (lambda c: c.add("262037511122263", "cr.exe"), "non pris en charge"),
        (lambda c: c.add("262037511122263", "cr.txt", "0000-0"), "type de document inconnu"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    offline: DmpClient, call: Callable[[DmpClient], Awaitable[object]], words: str
) -> None:
    with pytest.raises(DmpError) as refused:
        await call(offline)
    assert refused.value.kind == BAD_INPUT
    assert refused.value.status == 0
    assert words.lower() in refused.value.message.lower()


def test_content_types_come_from_the_file_name() -> None:
    assert content_type_of(Path("cr.txt")) == "text/plain"
    assert content_type_of(Path("CR.PDF")) == "application/pdf"
    assert content_type_of(Path("lettre.html")) == "text/html"
    with pytest.raises(DmpError):
        content_type_of(Path("archive.zip"))


async def test_an_authorisation_recorded_opens_the_dmp_outside_the_care_team(
    dmp: Harness,
) -> None:
    ins = outside_the_team(dmp)
    async with await dmp.http("pharmacien") as http:
        client = DmpClient(http)
        assert (await client.patient(ins)).access_authorization == "non_autorisee"
        with pytest.raises(DmpError) as refused:
            await client.list(ins)
        assert (refused.value.kind, refused.value.code) == (NOT_ALLOWED, "authorization_required")
        assert (await client.authorize(ins)).access_authorization == "autorisee"
        assert await client.list(ins)
        assert "authorize" in [entry.action for entry in await client.history(ins)]


async def test_each_update_changes_the_document_and_says_so(dmp: Harness, tmp_path: Path) -> None:
    """The client's updates over the service: each sets what it says on a document of the
    généraliste's, the one it is already in changes nothing; deletion is its author's."""
    ins = dmp.patient(3)  # PETIT Lucas, a minor: every update applies
    report = tmp_path / "cr.txt"
    report.write_text("Consultation : examen normal.\n", encoding="utf-8")
    async with await dmp.http("generaliste") as http:
        client = DmpClient(http)
        document = await client.add(ins, report)
        steps = [
            ("mask", lambda d: d.masked),
            ("hide_patient", lambda d: d.masked and d.invisible_to_patient),
            ("hide_legal", lambda d: "INVISIBLE_REPRESENTANTS_LEGAUX" in d.labels),
            ("unmask", lambda d: not d.masked and d.invisible_to_patient),
            ("show_patient", lambda d: not d.invisible_to_patient),
            ("show_legal", lambda d: d.labels == ()),
            ("archive", lambda d: d.archived),
            ("archive", lambda d: d.archived),  # already: nothing sent
            ("unarchive", lambda d: not d.archived),
        ]
        for action, check in steps:
            info = await client.update(document.id, action)
            assert check(info), (action, info)
        async with await dmp.http("urgentiste") as other:
            with pytest.raises(DmpError) as refused:
                await DmpClient(other).update(document.id, "delete")
        assert (refused.value.kind, refused.value.code) == (NOT_ALLOWED, "not_author")
        deleted = await client.update(document.id, "delete")
        assert deleted.status == "entered-in-error"
        assert document.id not in {d.id for d in await client.list(ins)}
        with pytest.raises(DmpError) as gone:
            await client.update(document.id, "mask")
        assert gone.value.kind == NOT_FOUND
    actions = [
        row["action"].split(":")[0]
        for row in dmp.db.all(
            "SELECT action FROM dmp_access_log WHERE ins = :ins ORDER BY id", {"ins": ins}
        )
        if row["action"].endswith(document.id) and not row["action"].startswith(("metadata", "add"))
    ]
    assert actions == [
        "mask",
        "hide_patient",
        "hide_legal",
        "unmask",
        "show_patient",
        "show_legal",
        "archive",
        "unarchive",
        "refused",
        "delete",
    ]


async def test_an_update_is_checked_before_any_request(offline: DmpClient) -> None:
    for document_id, action in (("abc", "hide"), ("a b", "mask"), ("", "delete")):
        with pytest.raises(DmpError) as error:
            await offline.update(document_id, action)
        assert error.value.kind == BAD_INPUT


async def test_the_patients_authorisation_is_withdrawn_then_given_again(dmp: Harness) -> None:
    ins = dmp.patient(0)
    async with await dmp.http("infirmier") as http:
        client = DmpClient(http)
        withdrawn = await client.withdraw_authorization(ins)
        assert withdrawn.access_authorization == "non_autorisee"
        with pytest.raises(DmpError) as refused:
            await client.list(ins)
        assert (refused.value.kind, refused.value.code) == (NOT_ALLOWED, "authorization_required")
        with pytest.raises(DmpError) as again:
            await client.withdraw_authorization(ins)
        assert (again.value.kind, again.value.code) == (NOT_ALLOWED, "no_authorization")
        assert (await client.authorize(ins)).access_authorization == "autorisee"
        assert await client.list(ins)
