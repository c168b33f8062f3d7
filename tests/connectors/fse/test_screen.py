"""The FSE screen with Textual's Pilot: the editor's amounts follow the acts, a sheet goes to
the outbox, the outbox view sends it and shows the ARL and each state; and snapshots.
The service answers from a mock transport (fixed data); every wait polls with a deadline.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Select, Static, TabbedContent

from bsp_tui.app.app import BspApp
from bsp_tui.domain.patients import PatientContext
from connectors.fse.models import Rights, Used, build_sheet
from connectors.fse.outbox import ACCEPTED, PENDING, REJECTED, profile_outbox
from connectors.fse.screen import NO_PATIENT, RIGHTS_UNREAD, FseView
from tests.app.conftest import (  # noqa: F401 - autouse fixtures of the launcher's tests
    app_environment,
    shared_keyring,
    sign_in_outside,
    wait_for,
)
from tests.connectors.dmp.test_screen import choose_dupont
from tests.connectors.screens import SIZE, HostApp, fake_context, open_tile, still_cursors

pytestmark = pytest.mark.anyio
PATIENT = PatientContext(
    ins="262037511122263",
    oid="1.2.250.1.213.1.4.10",
    family="DUPONT",
    given="MARIE LOUISE",
    sex="F",
    birthdate="1962-03-14",
)
RIGHTS = Rights(
    ins=PATIENT.ins,
    birthdate=PATIENT.birthdate,
    family="DUPONT",
    given="MARIE LOUISE",
    serial="1000000000",
    rank=1,
    source="carte",
)


def platform(rejects: dict[str, str] | None = None, rights: Rights = RIGHTS):
    """A mock FSE service: the card's rights, and an ARL accepting all but `rejects`."""
    rejects = rejects or {}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/rights"):
            return httpx.Response(200, json=rights.as_json())
        body = json.loads(request.content)
        sheets = [
            {
                "number": s["number"],
                "status": "rejected" if s["acts"][0] in rejects else "accepted",
                "code": rejects.get(s["acts"][0], ""),
                "reason": "droits fermés à la date des soins" if s["acts"][0] in rejects else "",
                "already_received": False,
            }
            for s in body["sheets"]
        ]
        arl = {"batch_id": body["batch_id"], "status": "positive", "sheets": sheets}
        return httpx.Response(200, json=arl | {"received_at": "2025-06-15T10:00:00Z"})

    return answer


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def shown(view: FseView, selector: str) -> str:
    return str(view.query_one(selector, Static).render())


async def add(pilot: Pilot, view: FseView, code: str) -> None:
    view.query_one("#fse-act", Select).value = code
    await pilot.press("a")


async def test_the_doctor_bills_the_context_patient_from_the_launcher() -> None:
    """Tile 1 chooses DUPONT; tile 4 reads her card, prices a G, queues it and sends it."""
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        await choose_dupont(pilot)
        screen = await open_tile(pilot, 4, "fse")
        view = screen.query_one(FseView)
        await wait_for(pilot, lambda: "carte Vitale" in shown(view, "#fse-rights"), what="rights")
        await add(pilot, view, "G")
        await wait_for(pilot, lambda: "AMO 19,00 €" in shown(view, "#fse-amounts"))
        await pilot.press("m")
        await wait_for(pilot, lambda: "mise en boîte d'envoi" in shown(view, "#fse-status"))
        await pilot.press("e")
        status = "#fse-send-status"
        await wait_for(pilot, lambda: "ARL positif" in shown(view, status), what="the ARL")
        (entry,) = view.outbox.entries()
        assert entry.state == ACCEPTED and entry.patient == "DUPONT MARIE LOUISE"


async def test_amounts_follow_the_acts_and_the_sheet_is_queued() -> None:
    app = HostApp(FseView, fake_context("fse", platform(), PATIENT))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(FseView)
        await wait_for(pilot, lambda: "carte Vitale" in shown(view, "#fse-rights"))
        assert "DUPONT MARIE LOUISE" in shown(view, "#fse-patient")
        await add(pilot, view, "G")
        await wait_for(pilot, lambda: "AMO 19,00 €" in shown(view, "#fse-amounts"))
        assert "Participation forfaitaire 2,00 €" in shown(view, "#fse-amounts")
        await add(pilot, view, "APC")
        await wait_for(pilot, lambda: "Base 90,00 €" in shown(view, "#fse-amounts"))
        assert view.query_one("#fse-lines", DataTable).row_count == 2
        assert "À payer maintenant : 90,00 €" in shown(view, "#fse-amounts")
        await pilot.press("t")  # tiers payant: the AMO pays €63, the €4 of PF are deferred
        await wait_for(pilot, lambda: "À payer maintenant : 27,00 €" in shown(view, "#fse-amounts"))
        await pilot.press("d")  # the act under the cursor: the first, G
        await wait_for(pilot, lambda: "Base 60,00 €" in shown(view, "#fse-amounts"))
        assert view.acts == ["APC"]
        await pilot.press("m")
        await wait_for(pilot, lambda: "mise en boîte d'envoi" in shown(view, "#fse-status"))
        assert view.acts == []
        (entry,) = view.outbox.entries()
        assert (entry.state, entry.sheet.acts, entry.sheet.tiers_payant) == (
            PENDING,
            ("APC",),
            True,
        )
        assert entry.sheet.amounts.amo.to_eng_string() == "42.00"
        assert view.query_one("#fse-outbox", DataTable).row_count == 1


async def test_nothing_to_queue_is_said_and_the_acts_stay() -> None:
    app = HostApp(FseView, fake_context("fse", platform(), PATIENT))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(FseView)
        await wait_for(pilot, lambda: "carte Vitale" in shown(view, "#fse-rights"))
        await pilot.press("m")
        await wait_for(pilot, lambda: "Ajoutez au moins un acte" in shown(view, "#fse-status"))
        await pilot.press("a")  # no act chosen yet
        await wait_for(pilot, lambda: "Choisissez d'abord un acte" in shown(view, "#fse-status"))
        assert view.outbox.entries() == []


async def test_closed_rights_are_shown_and_no_sheet_is_made() -> None:
    closed = replace(RIGHTS, closed_on="2020-01-01")
    app = HostApp(FseView, fake_context("fse", platform(rights=closed), PATIENT))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(FseView)
        await wait_for(pilot, lambda: "FERMÉS depuis le 2020-01-01" in shown(view, "#fse-rights"))
        await add(pilot, view, "G")
        await pilot.press("m")
        await wait_for(pilot, lambda: "feuille non créée" in shown(view, "#fse-status"))
        assert view.outbox.entries() == [] and view.acts == ["G"]


async def test_the_degraded_toggle_drops_the_card_and_keeps_the_rights_read() -> None:
    app = HostApp(FseView, fake_context("fse", platform(), PATIENT))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(FseView)
        await wait_for(pilot, lambda: "carte Vitale" in shown(view, "#fse-rights"))
        view.query_one("#fse-degraded", Checkbox).value = True
        await add(pilot, view, "VG")
        await pilot.press("m")
        await wait_for(pilot, lambda: "mise en boîte d'envoi" in shown(view, "#fse-status"))
        (entry,) = view.outbox.entries()
        rights = entry.sheet.rights
        assert entry.sheet.degraded and (rights.source, rights.serial) == ("en_ligne", "")
        assert entry.sheet.amounts.amo.to_eng_string() == "19.00"  # VG €30


async def test_without_rights_the_sheet_is_made_in_degraded_mode_offline() -> None:
    app = HostApp(FseView, fake_context("fse", down, PATIENT))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(FseView)
        await wait_for(pilot, lambda: RIGHTS_UNREAD in shown(view, "#fse-rights"))
        assert "plateforme injoignable" in shown(view, "#fse-rights")
        assert view.query_one("#fse-degraded", Checkbox).value
        view.query_one("#fse-exemption", Select).value = "ALD"
        view.query_one("#fse-degraded", Checkbox).value = False  # typed rights stay degraded
        await add(pilot, view, "G")  # not related to the ALD: 70 %, less the PF
        await wait_for(pilot, lambda: "AMO 19,00 €" in shown(view, "#fse-amounts"))
        view.query_one("#fse-ald", Checkbox).value = True
        await add(pilot, view, "APC")  # related: 100 %, less the PF
        await wait_for(pilot, lambda: "AMO 77,00 €" in shown(view, "#fse-amounts"))
        assert "Participation forfaitaire 4,00 €" in shown(view, "#fse-amounts")
        await pilot.press("m")
        await wait_for(pilot, lambda: "mise en boîte d'envoi" in shown(view, "#fse-status"))
        (entry,) = view.outbox.entries()
        assert entry.sheet.degraded and entry.sheet.rights.source == "saisie"
        assert entry.sheet.ald == (False, True)


async def test_an_ame_holder_without_a_card_needs_the_admission_number() -> None:
    app = HostApp(FseView, fake_context("fse", down, PATIENT))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(FseView)
        await wait_for(pilot, lambda: RIGHTS_UNREAD in shown(view, "#fse-rights"))
        view.query_one("#fse-exemption", Select).value = "AME"
        view.query_one("#fse-tiers-payant", Checkbox).value = True  # compulsory for AME
        await add(pilot, view, "G")
        await pilot.press("m")
        await wait_for(pilot, lambda: "attestation d'admission" in shown(view, "#fse-status"))
        assert view.outbox.entries() == []
        view.query_one("#fse-ame", Input).value = "ame100000000001"
        await pilot.press("m")
        await wait_for(pilot, lambda: "mise en boîte d'envoi" in shown(view, "#fse-status"))
        (entry,) = view.outbox.entries()
        assert entry.sheet.ame_number == "AME100000000001"
        assert entry.sheet.rights.exemption == "AME" and entry.sheet.degraded


async def test_the_outbox_sends_and_shows_the_arl_and_states() -> None:
    outbox = profile_outbox()
    rights = RIGHTS
    good = outbox.add(build_sheet(rights, ["G"], "2025-06-15", False, False)).number
    bad = outbox.add(
        build_sheet(rights, ["VG"], "2025-06-15", False, False, Used(Decimal(2)))
    ).number
    outbox.close()
    app = HostApp(FseView, fake_context("fse", platform({"VG": "R01"}), PATIENT))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(FseView)
        await pilot.press("o")
        table = view.query_one("#fse-outbox", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert view.query_one(TabbedContent).active == "fse-tab-outbox" and table.has_focus
        assert "en attente" in str(table.get_row_at(0))
        await pilot.press("e")
        await wait_for(pilot, lambda: "ARL positif" in shown(view, "#fse-send-status"))
        assert "1 acceptée(s), 1 rejetée(s), 0 en attente" in shown(view, "#fse-send-status")
        assert view.outbox.get(good).state == ACCEPTED
        assert view.outbox.get(bad).state == REJECTED
        rows = [str(table.get_row_at(n)) for n in range(2)]
        assert "acquittée" in rows[0] and "rejetée (R01 : droits fermés" in rows[1]
        await pilot.press("f")
        assert view.query_one(TabbedContent).active == "fse-tab-sheet"
        other = profile_outbox()  # another terminal queues a sheet meanwhile
        other.add(build_sheet(rights, ["G"], "2025-06-15", False, False))
        other.close()
        await pilot.press("o")
        await wait_for(pilot, lambda: table.row_count == 3, what="the outbox read again")


async def test_an_unreachable_platform_leaves_the_sheets_waiting() -> None:
    outbox = profile_outbox()
    outbox.add(build_sheet(RIGHTS, ["G"], "2025-06-15", False, False))
    outbox.close()
    app = HostApp(FseView, fake_context("fse", down, PATIENT))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(FseView)
        await pilot.press("e")
        message = "Plateforme injoignable. 1 feuille reste dans la boîte d'envoi ; elle partira"
        await wait_for(pilot, lambda: message in shown(view, "#fse-send-status"))
        assert view.outbox.entries()[0].state == PENDING
        assert not view.query_one("#fse-send").disabled


async def test_without_a_patient_the_screen_says_to_choose_one() -> None:
    app = HostApp(FseView, fake_context("fse"))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(FseView)
        await wait_for(pilot, lambda: NO_PATIENT in shown(view, "#fse-status"))
        assert view.query_one("#fse-queue").disabled


# -- snapshots ---------------------------------------------------------------------------------


def test_editor_snapshot(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        view = pilot.app.query_one(FseView)
        await wait_for(pilot, lambda: "carte Vitale" in shown(view, "#fse-rights"))
        for code in ("G", "APC"):
            await add(pilot, view, code)
        await wait_for(pilot, lambda: "Base 90,00 €" in shown(view, "#fse-amounts"))
        still_cursors(pilot.app)
        await pilot.pause()

    app = HostApp(FseView, fake_context("fse", platform(), PATIENT))
    assert snap_compare(app, terminal_size=(120, 34), run_before=run_before)


def test_outbox_snapshot(snap_compare) -> None:
    outbox = profile_outbox()
    for n, (acts, state) in enumerate(((["G"], ACCEPTED), (["VG"], REJECTED), (["APC"], PENDING))):
        sheet = build_sheet(
            RIGHTS, acts, "2025-06-15", False, False, number=f"FSE-20250615-0000000{n}"
        )
        outbox.add(sheet)
        if state != PENDING:
            outbox.record(
                sheet.number,
                state == ACCEPTED,
                "R01" if state == REJECTED else "",
                "droits fermés à la date des soins" if state == REJECTED else "",
            )
    outbox.close()

    async def run_before(pilot: Pilot) -> None:
        view = pilot.app.query_one(FseView)
        await pilot.press("o")
        await wait_for(pilot, lambda: view.query_one("#fse-outbox", DataTable).row_count == 3)
        await pilot.pause()

    app = HostApp(FseView, fake_context("fse", platform(), PATIENT))
    assert snap_compare(app, terminal_size=(120, 20), run_before=run_before)
