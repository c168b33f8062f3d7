"""The outbox: durable across reopenings, claim and acknowledgement states, failures that
put sheets back, and two senders at once that never send a sheet twice."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectors.fse import sender
from connectors.fse.client import FseClient
from connectors.fse.models import ZERO, build_sheet
from connectors.fse.outbox import ACCEPTED, PENDING, REJECTED, SENDING, Outbox, outbox_path
from connectors.fse.sender import SendBusyError, send_outbox
from tests.connectors.fse.conftest import TODAY, Harness, rights

pytestmark = pytest.mark.anyio


def queued(outbox: Outbox, acts: tuple[str, ...] = ("G",), **changes: object) -> str:
    sheet = build_sheet(rights(**changes), list(acts), TODAY, False, False)
    return outbox.add(sheet).number


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    box = Outbox(outbox_path(tmp_path, "default"))
    yield box
    box.close()


def test_sheets_survive_a_reopening(tmp_path: Path) -> None:
    path = outbox_path(tmp_path, "default")
    first = Outbox(path)
    number = queued(first)
    first.close()
    again = Outbox(path)
    (entry,) = again.entries()
    assert (entry.number, entry.state, entry.state_label) == (number, PENDING, "en attente")
    assert entry.sheet.amounts.amo == Decimal("19.00")
    assert again.db.one("PRAGMA journal_mode")[0] == "wal"
    assert again.db.one("PRAGMA synchronous")[0] == 2  # FULL
    assert path.stat().st_mode & 0o777 == 0o600
    again.close()


def test_claim_release_and_record(outbox: Outbox) -> None:
    numbers = [queued(outbox) for _ in range(3)]
    claimed = outbox.claim("LOT-A", limit=2)
    assert [e.number for e in claimed] == numbers[:2]
    assert {e.state for e in claimed} == {SENDING} and {e.batch_id for e in claimed} == {"LOT-A"}
    assert outbox.waiting() == 3
    outbox.release([numbers[0]])
    assert outbox.get(numbers[0]).state == PENDING
    outbox.record(numbers[1], accepted=True)
    outbox.record(numbers[2], accepted=False, code="R01", reason="droits fermés")
    assert outbox.get(numbers[1]).state == ACCEPTED
    rejected = outbox.get(numbers[2])
    assert rejected.state == REJECTED
    assert rejected.state_label == "rejetée (R01 : droits fermés)"
    assert outbox.waiting() == 1
    # A sheet left `sending` by a dead sender is claimed again by the next one.
    outbox.claim("LOT-B", limit=10)
    assert [e.number for e in outbox.claim("LOT-C", limit=10)] == [numbers[0]]
    assert outbox.get("FSE-20250101-00000000") is None


def test_a_number_collision_draws_another(outbox: Outbox) -> None:
    sheet = build_sheet(rights(), ["G"], TODAY, False, False)
    first = outbox.add(sheet)
    second = outbox.add(sheet)
    assert first.number == sheet.number != second.number
    assert second.content["number"] == second.number


def test_the_participation_of_waiting_sheets_counts(outbox: Outbox) -> None:
    queued(outbox, ("G", "G"))
    other = queued(outbox)
    queued(outbox, ins="189127511100174")
    used = outbox.queued("262037511122263", TODAY)
    assert (used.pf_year, used.pf_day, used.franchise_year) == (Decimal(6), Decimal(6), ZERO)
    outbox.record(other, accepted=True)
    assert outbox.queued("262037511122263", TODAY).pf_year == Decimal("4.00")
    nursing = build_sheet(rights(), ["AMI1", "AMI1"], TODAY, False, False)
    outbox.add(nursing)
    used = outbox.queued("262037511122263", TODAY)
    assert (used.franchise_year, used.franchise_day) == (Decimal(2), Decimal(2))


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


async def test_a_failed_send_puts_the_sheets_back(outbox: Outbox) -> None:
    numbers = [queued(outbox) for _ in range(2)]
    client = FseClient(
        httpx.AsyncClient(base_url="http://x", transport=httpx.MockTransport(unreachable))
    )
    with pytest.raises(httpx.ConnectError):
        await send_outbox(outbox, client)
    assert [outbox.get(n).state for n in numbers] == [PENDING, PENDING]


async def test_a_busy_outbox_is_said(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    queued(outbox)
    lock = outbox.send_lock()
    await lock.acquire()
    said: list[str] = []
    monkeypatch.setattr(sender, "LOCK_WAIT", 0.01)  # the lock is never released here
    try:
        with pytest.raises(SendBusyError):
            await send_outbox(outbox, FseClient(httpx.AsyncClient()), wait=False)
        with pytest.raises(SendBusyError):
            await send_outbox(outbox, FseClient(httpx.AsyncClient()), said.append, wait=True)
    finally:
        await lock.release()
    assert said == ["Un autre envoi est en cours : attente de sa fin…"]
    assert outbox.get(outbox.entries()[0].number).state == PENDING


async def test_two_senders_at_once_send_each_sheet_once(fse: Harness, tmp_path: Path) -> None:
    path = outbox_path(tmp_path, "default")
    one, two = Outbox(path), Outbox(path)
    patient = "262037511122263"
    read = await (await fse.client("generaliste")).rights(patient, TODAY)
    for _ in range(6):
        # Priced as the launcher does, counting the sheets already waiting (€4 a day).
        used = read.used + one.queued(patient, TODAY)
        one.add(build_sheet(read, ["APC"], TODAY, False, False, used))
    sent: list[int] = []

    class Counting(FseClient):
        async def send_batch(self, batch_id: str, contents: list[dict]):  # type: ignore[override]
            sent.append(len(contents))
            return await super().send_batch(batch_id, contents)

    client = await fse.client("generaliste")
    first, second = await asyncio.gather(
        send_outbox(one, Counting(client._http)), send_outbox(two, Counting(client._http))
    )
    assert first.accepted + second.accepted == 6
    assert sorted(sent) == [6]  # one batch of six; the other sender found nothing left
    assert first.already_received + second.already_received == 0
    assert fse.billed() == 6
    assert {e.state for e in one.entries()} == {ACCEPTED}
    one.close()
    two.close()


async def test_a_negative_arl_puts_the_batch_back(outbox: Outbox) -> None:
    numbers = [queued(outbox) for _ in range(2)]

    def refuse(request: httpx.Request) -> httpx.Response:
        batch = json.loads(request.content)["batch_id"]
        return httpx.Response(
            200, json={"batch_id": batch, "status": "negative", "code": "L02", "reason": "deux"}
        )

    client = FseClient(
        httpx.AsyncClient(base_url="http://x", transport=httpx.MockTransport(refuse))
    )
    report = await send_outbox(outbox, client)
    (arl,) = report.arls
    assert (arl.positive, arl.code, report.sent, report.left) == (False, "L02", 0, 2)
    assert [outbox.get(n).state for n in numbers] == [PENDING, PENDING]
