"""Idempotency-Key on DMP additions, prescriptions and FSE batches: a retry gets the first
answer and creates nothing twice; the key with another request is refused; the clients
send a key and, after a transport error, send the same request once more."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from connectors.dmp.client import DmpClient
from connectors.eprescription.client import RxClient
from connectors.eprescription.models import LineRequest
from connectors.fse.client import FseClient
from connectors.fse.models import Rights, build_sheet
from connectors.retry import IDEMPOTENCY_HEADER
from tests.conftest import Clock
from tests.connectors import harness
from tests.connectors.eprescription.conftest import AMOXICILLINE, PARACETAMOL
from tests.connectors.eprescription.test_service import bundle, line
from tests.connectors.fse.conftest import TODAY

pytestmark = pytest.mark.anyio
RX = "/api/eprescription/MedicationRequest"


class LosingTransport(httpx.AsyncBaseTransport):
    """The platform for real, but the first answer is lost after the request was carried
    out (as when a connection drops): the client sees a transport error."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.keys: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.keys.append(request.headers.get(IDEMPOTENCY_HEADER))
        if len(self.keys) == 1:
            await response.aread()
            raise httpx.ReadError("connexion perdue avant la réponse", request=request)
        return response


@pytest.fixture
async def platform(settings: PlatformSettings, clock: Clock) -> AsyncIterator[harness.Harness]:
    async with harness.in_process(harness.Harness, "eprescription", settings, clock) as found:
        yield found


async def losing_client(
    platform: harness.Harness, service: str, persona: str = "generaliste"
) -> tuple[httpx.AsyncClient, LosingTransport]:
    transport = LosingTransport(platform.transport)
    client = httpx.AsyncClient(
        transport=transport,
        base_url=f"{EMBEDDED_BASE_URL}/api/{service}",
        headers={"Authorization": f"Bearer {await platform.token(persona, service)}"},
    )
    return client, transport


def count(platform: harness.Harness, sql: str) -> int:
    return platform.db.value(sql)


async def test_a_prescription_whose_answer_was_lost_is_made_once(
    platform: harness.Harness,
) -> None:
    client, transport = await losing_client(platform, "eprescription")
    made = await RxClient(client).create(
        platform.patient(0), [LineRequest(PARACETAMOL, "1 comprimé le soir", 2, None)]
    )
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1] is not None
    assert count(platform, "SELECT count(*) FROM rx_prescriptions") == 1
    assert made.dmp_copy is not None and made.dmp_copy.filed
    assert count(platform, "SELECT count(*) FROM dmp_documents WHERE title LIKE 'Ordonnance %'")
    assert made.number == platform.db.value("SELECT number FROM rx_prescriptions")


async def test_a_dmp_document_whose_answer_was_lost_is_added_once(
    platform: harness.Harness, tmp_path: Path
) -> None:
    ins = platform.patient(0)  # the population seeded first
    before = count(platform, "SELECT count(*) FROM dmp_documents")
    client, transport = await losing_client(platform, "dmp")
    report = tmp_path / "cr.txt"
    report.write_text("Consultation : rien à signaler.\n", encoding="utf-8")
    added = await DmpClient(client).add(ins, report, title="Suivi")
    assert transport.keys[0] == transport.keys[1] is not None
    assert count(platform, "SELECT count(*) FROM dmp_documents") == before + 1
    title = platform.db.value("SELECT title FROM dmp_documents WHERE id = :id", {"id": added.id})
    assert title == "Suivi"


async def test_an_fse_batch_whose_answer_was_lost_is_billed_once_and_answered_the_same(
    platform: harness.Harness,
) -> None:
    client, _ = await losing_client(platform, "fse")
    fse = FseClient(client)
    rights = await fse.rights(platform.patient(0), TODAY)  # the first request's answer is lost
    sheet = build_sheet(rights, ["G"], TODAY, False, False, rights.used)
    arl = await fse.send_batch("LOT-P", [sheet.content()])
    (result,) = arl.sheets
    assert result.accepted and not result.already_received  # the first answer, not a replay
    billed = "SELECT count(*) FROM fse_sheets WHERE status = 'accepted'"
    assert count(platform, billed) == 1


async def test_the_same_key_gets_the_first_answer_another_request_is_refused(
    platform: harness.Harness,
) -> None:
    ins = platform.patient(0)

    async def post(persona: str, key: str, body: dict) -> httpx.Response:
        token = await platform.token(persona)
        headers = {"Authorization": f"Bearer {token}", IDEMPOTENCY_HEADER: key.encode()}
        return await platform.emu.http.post(RX, json=body, headers=headers)

    first = await post("generaliste", "cle-1", bundle(line(ins)))
    again = await post("generaliste", "cle-1", bundle(line(ins)))
    assert (first.status_code, again.status_code) == (201, 201)
    assert json.loads(first.content)["identifier"] == json.loads(again.content)["identifier"]
    assert count(platform, "SELECT count(*) FROM rx_prescriptions") == 1

    other = await post("generaliste", "cle-1", bundle(line(ins, AMOXICILLINE)))
    assert other.status_code == 422, other.text
    assert IDEMPOTENCY_HEADER in other.json()["issue"][0]["diagnostics"]
    for bad in ("", "une clé", "x" * 256):
        assert (await post("generaliste", bad, bundle(line(ins)))).status_code == 400
    # A key is the professional's own: another doctor's same key is another request.
    theirs = await post("urgentiste", "cle-1", bundle(line(ins)))
    assert theirs.status_code == 201, theirs.text
    assert count(platform, "SELECT count(*) FROM rx_prescriptions") == 2
    # Without a key, every request creates: the header is the client's choice.
    token = await platform.token("generaliste")
    bare = await platform.emu.http.post(
        RX, json=bundle(line(ins)), headers={"Authorization": f"Bearer {token}"}
    )
    assert bare.status_code == 201
    assert count(platform, "SELECT count(*) FROM rx_prescriptions") == 3


class BusyOnceTransport(httpx.AsyncBaseTransport):
    """The platform for real, its database locked by another connection for the first
    request only: released as soon as the platform has answered it."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: Path) -> None:
        self.inner = inner
        self.other = sqlite3.connect(path, isolation_level=None)
        self.other.execute("BEGIN IMMEDIATE")
        self.statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.statuses.append(response.status_code)
        if self.other.in_transaction:
            self.other.execute("ROLLBACK")
        return response


@pytest.mark.sqlite_only
async def test_a_busy_platform_is_asked_once_more_after_retry_after(
    settings: PlatformSettings, clock: Clock
) -> None:
    quick = replace(settings, db_busy_seconds=0.01)
    async with harness.in_process(harness.Harness, "eprescription", quick, clock) as platform:
        ins = platform.patient(0)
        token = await platform.token("generaliste")
        transport = BusyOnceTransport(platform.transport, platform.db.path)
        async with httpx.AsyncClient(
            transport=transport,
            base_url=f"{EMBEDDED_BASE_URL}/api/eprescription",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            made = await RxClient(client).create(ins, [LineRequest(PARACETAMOL, "1 cp", 2, None)])
        transport.other.close()
        assert transport.statuses == [503, 201]
        assert made.number == platform.db.value("SELECT number FROM rx_prescriptions")


async def test_dmp_additions_and_fse_batches_answer_a_key_as_the_first_time(
    platform: harness.Harness,
) -> None:
    ins = platform.patient(0)
    dmp = {"Authorization": f"Bearer {await platform.token('generaliste', 'dmp')}"}
    report = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
        "subject": {"identifier": {"value": ins}},
        "content": [{"attachment": {"contentType": "text/plain", "data": "UkFT"}}],
    }
    documents = "SELECT count(*) FROM dmp_documents"
    before = count(platform, documents)
    add = "/api/dmp/DocumentReference"
    first = await platform.emu.http.post(add, json=report, headers=dmp | {IDEMPOTENCY_HEADER: "d"})
    again = await platform.emu.http.post(add, json=report, headers=dmp | {IDEMPOTENCY_HEADER: "d"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.headers["Location"] == again.headers["Location"]
    assert count(platform, documents) == before + 1
    other = await platform.emu.http.post(
        add, json=report, params={"mode": "normal"}, headers=dmp | {IDEMPOTENCY_HEADER: "d"}
    )
    assert other.status_code == 422  # the same body, another query: another request

    fse = {"Authorization": f"Bearer {await platform.token('generaliste', 'fse')}"}
    read = await platform.emu.http.post("/api/fse/rights", json={"ins": ins}, headers=fse)
    rights = Rights.from_json(read.json())
    sheet = build_sheet(rights, ["G"], TODAY, False, False, rights.used)
    batch = {"batch_id": "LOT-K", "sheets": [sheet.content()]}
    sent = [
        await platform.emu.http.post(
            "/api/fse/batches", json=batch, headers=fse | {IDEMPOTENCY_HEADER: "f"}
        )
        for _ in range(2)
    ]
    assert sent[0].json() == sent[1].json()  # word for word: not `already_received`
    assert sent[0].json()["sheets"][0]["already_received"] is False
    changed = await platform.emu.http.post(
        "/api/fse/batches",
        json=batch | {"batch_id": "LOT-L"},
        headers=fse | {IDEMPOTENCY_HEADER: "f"},
    )
    assert changed.status_code == 422
