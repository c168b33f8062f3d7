"""The DMP screen driven with Textual's Pilot on the signed-in launcher (tile 1 to choose
the patient, then tile 2), a table of 10,000 rows, and a snapshot on fixed data.
Every wait polls with a deadline; nothing sleeps.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Select, Static

from bsp_tui.app.app import BspApp
from bsp_tui.domain.patients import PatientContext
from connectors.dmp.client import DmpClient
from connectors.dmp.models import BRIS_DE_GLACE, DocumentInfo
from connectors.dmp.screen import (
    AUTHORIZATION_ASKED,
    NO_PATIENT,
    REASON_REQUIRED,
    TRACED,
    AuthorizeModal,
    BreakGlassModal,
    DmpView,
    DocumentViewer,
    html_text,
    row_of,
)
from connectors.ins.screen import InsView
from connectors.kit.vigilance import QualifyModal
from tests.app.conftest import (  # noqa: F401 - autouse fixtures of the launcher's tests
    app_environment,
    persona,
    platform_database,
    shared_keyring,
    sign_in_outside,
    wait_for,
)
from tests.app.test_journey import focus, press_button
from tests.connectors.screens import (
    SIZE,
    HostApp,
    back_to_dashboard,
    fake_context,
    fill_traits,
    open_tile,
    qualified_here,
    still_cursors,
)

pytestmark = pytest.mark.anyio


def shown(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def choose_dupont(pilot: Pilot, qualify: bool = True) -> None:
    """Tile 1: look DUPONT Marie up (récupérée), qualify her identity on her identity card
    unless told not to, and make her the patient, then back."""
    screen = await open_tile(pilot, 1, "ins")
    view = screen.query_one(InsView)
    fill_traits(view, "DUPONT", "Marie", "F", "1962-03-14")
    await press_button(pilot, "#ins-search")
    await wait_for(pilot, lambda: view.query_one("#ins-result").has_class("-shown"))
    assert "identité récupérée" in shown(view, "#ins-identity")
    if qualify:
        view.query_one("#ins-document", Select).value = "cni"
        await press_button(pilot, "#ins-qualify")
        await wait_for(pilot, lambda: "identité qualifiée" in shown(view, "#ins-identity"))
    await press_button(pilot, "#ins-choose")
    await wait_for(pilot, lambda: pilot.app.patient is not None, what="DUPONT chosen")
    await back_to_dashboard(pilot)


async def test_documents_viewer_and_break_glass() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        await choose_dupont(pilot)
        ins = app.patient.ins
        screen = await open_tile(pilot, 2, "dmp")
        view = screen.query_one(DmpView)
        table = view.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 0, what="the documents listed")
        assert "DUPONT" in shown(view, "#dmp-patient")
        assert "document" in shown(view, "#dmp-status")

        # Sorting: by a header click's handler, and by the key.
        await focus(pilot, "#dmp-documents")
        await pilot.press("s")
        assert view.sorted_by is not None

        # Enter opens the viewer with the text.
        table.move_cursor(row=0)
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, DocumentViewer) and app.screen.is_mounted,
            what="the viewer",
        )
        assert shown(app.screen, "#viewer-text").strip()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the DMP screen")

        # Break-glass: no reason, refused in the modal; with one, the list reloads.
        await press_button(pilot, "#dmp-break-glass")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, BreakGlassModal) and app.screen.is_mounted,
            what="the break-glass modal",
        )
        modal = app.screen
        assert TRACED in shown(modal, "#bg-traced")
        await press_button(pilot, "#bg-confirm")
        await wait_for(pilot, lambda: REASON_REQUIRED in shown(modal, "#bg-error"))
        assert app.screen is modal
        modal.query_one("#bg-reason", Input).value = "Patiente inconsciente aux urgences"
        await press_button(pilot, "#bg-confirm")
        await wait_for(pilot, lambda: app.screen is screen, what="the modal closed")
        await wait_for(
            pilot,
            lambda: "bris de glace" in shown(view, "#dmp-status") and table.row_count > 0,
            what="the list reloaded in break-glass mode",
        )
        assert view.mode == BRIS_DE_GLACE

        async with app.session.client_for("dmp") as http:
            history = await DmpClient(http).history(ins)
        entries = [e for e in history if e.mode == BRIS_DE_GLACE]
        assert entries and entries[0].reason == "Patiente inconsciente aux urgences"


async def test_a_patient_not_qualified_is_offered_the_qualification() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        await choose_dupont(pilot, qualify=False)
        screen = await open_tile(pilot, 2, "dmp")
        view = screen.query_one(DmpView)
        await wait_for(pilot, lambda: "non qualifiée" in shown(view, "#dmp-status"))
        assert "Identité récupérée" in shown(view, "#dmp-status")
        offer = view.query_one("#dmp-qualify", Button)
        assert offer.has_class("-offered") and offer.has_focus
        assert view.query_one(DataTable).row_count == 0
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, QualifyModal) and app.screen.is_mounted,
            what="the qualification dialog",
        )
        app.screen.query_one("#qualify-document", Select).value = "passeport"
        await press_button(pilot, "#qualify-confirm")
        await wait_for(pilot, lambda: app.screen is screen, what="the dialog closed")
        table = view.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 0, what="the documents listed")
        assert not offer.has_class("-offered")


async def test_outside_the_care_team_the_screen_records_the_patients_authorisation() -> None:
    """The pharmacist, of no care team of DUPONT's (her seeded authorisation withdrawn
    here), is refused the list and offered to record the patient's authorisation: a
    cancel records nothing, a confirmation opens the DMP and is traced."""
    await sign_in_outside("pharmacien")
    with sqlite3.connect(platform_database()) as db:
        db.execute(
            "DELETE FROM dmp_authorizations WHERE national_id = ?",
            (persona("pharmacien")["national_id"],),
        )
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        await choose_dupont(pilot)
        ins = app.patient.ins
        screen = await open_tile(pilot, 2, "dmp")
        view = screen.query_one(DmpView)
        table = view.query_one(DataTable)
        offer = view.query_one("#dmp-authorize", Button)
        await wait_for(pilot, lambda: offer.has_class("-offered"), what="the offer")
        assert "équipe de soins" in shown(view, "#dmp-status")
        assert offer.has_focus and table.row_count == 0

        async def answer(button: str) -> None:
            # Back from the dialog, the focus returns to the offer once the screen resumes,
            # and a button ignores Enter while it still shows its last press (`-active`,
            # a fifth of a second by Textual's timer).
            await wait_for(
                pilot,
                lambda: offer.has_focus and not offer.has_class("-active"),
                what="the offer focused and ready",
            )
            await pilot.press("enter")  # on the offer
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, AuthorizeModal) and app.screen.is_mounted,
                what="the authorisation dialog",
            )
            assert AUTHORIZATION_ASKED in shown(app.screen, "#auth-asked")
            assert "DUPONT" in shown(app.screen, "#auth-patient")
            await press_button(pilot, button)
            await wait_for(pilot, lambda: app.screen is screen, what="the dialog closed")

        await answer("#auth-cancel")
        assert offer.has_class("-offered") and table.row_count == 0
        await answer("#auth-confirm")
        await wait_for(pilot, lambda: table.row_count > 0, what="the documents listed")
        assert not offer.has_class("-offered")
        async with app.session.client_for("dmp") as http:
            history = await DmpClient(http).history(ins)
        assert [entry.action for entry in history].count("authorize") == 1


async def test_without_a_patient_the_screen_says_to_choose_one() -> None:
    app = HostApp(DmpView, fake_context("dmp"))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DmpView)
        await wait_for(pilot, lambda: NO_PATIENT in shown(view, "#dmp-status"))
        assert view.query_one("#dmp-break-glass").disabled


def synthetic(count: int) -> list[DocumentInfo]:
    return [
        DocumentInfo(
            id=f"d{n}",
            ins="262037511122263",
            loinc="11488-4",
            type_label="Compte rendu de consultation",
            title=f"Consultation n° {n}",
            date=f"20{n % 25:02d}-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            author_id="",
            author_name=f"Dr Auteur {n % 97}",
            content_type="text/plain",
            size=100,
        )
        for n in range(count)
    ]


def test_a_row_gives_the_labels_and_the_archiving_before_the_title() -> None:
    plain, masked, archived = synthetic(3)
    masked = replace(masked, labels=("MASQUE_PS", "INVISIBLE_PATIENT"))
    archived = replace(archived, archived=True, labels=("INVISIBLE_PATIENT",))
    assert row_of(plain)[2:4] == ("", "Consultation n° 0")
    assert row_of(masked)[2] == "Masqué aux professionnels de santé, Non visible par le patient"
    assert row_of(archived)[2] == "Non visible par le patient, Archivé"


async def test_ten_thousand_rows_mount_and_scroll() -> None:
    app = HostApp(DmpView, fake_context("dmp"))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DmpView)
        table = view.query_one(DataTable)
        view.show_documents(synthetic(10_000))
        assert table.row_count == 10_000
        assert "10000 documents" in shown(view, "#dmp-status")
        await focus(pilot, "#dmp-documents")
        await pilot.press("end", "ctrl+end")  # end of the row, then the last row
        await wait_for(
            pilot,
            lambda: table.cursor_row == 9_999 and table.scroll_y > 0,
            what="the last row, scrolled to",
        )
        await pilot.press("ctrl+home", "pagedown", "pagedown")
        await wait_for(pilot, lambda: 0 < table.cursor_row < 9_999, what="paged down")
        await pilot.press("s")  # sorts 10,000 rows by date
        await wait_for(pilot, lambda: view.sorted_by == ("date", False))


def test_html_is_shown_without_its_tags() -> None:
    markup = "<html><head><style>p{}</style></head><body><h1>Bilan</h1><p>Tout va&nbsp;bien</p>"
    assert html_text(markup) == "Bilan\nTout va bien"


# -- snapshot ---------------------------------------------------------------------------------

PATIENT = PatientContext(
    "262037511100190", "1.2.250.1.213.1.4.10", "DUPONT", "MARIE LOUISE", "F", "1962-03-14"
)
DOCS = [
    ("a1", "2024-05-02", "11488-4", "Compte rendu de consultation", "Consultation de suivi"),
    ("a2", "2023-11-20", "11502-2", "Compte rendu d'examens biologiques", "Bilan sanguin"),
    ("a3", "2022-01-07", "18748-4", "Compte rendu d'imagerie médicale", "Radio du thorax"),
]


def reference(doc: tuple[str, str, str, str, str]) -> dict:
    id_, date, loinc, label, title = doc
    return {
        "resourceType": "DocumentReference",
        "id": id_,
        "status": "current",
        "date": f"{date}T10:00:00+00:00",
        "type": {"coding": [{"system": "http://loinc.org", "code": loinc, "display": label}]},
        "subject": {"identifier": {"value": PATIENT.ins}},
        "description": title,
        "author": [{"display": "Dr Élise Martin-Dubois"}],
        "content": [{"attachment": {"contentType": "text/plain", "size": 120}}],
        "securityLabel": [{"coding": [{"code": "INVISIBLE_PATIENT"}]}] if id_ == "a3" else [],
    }


def dmp(request: httpx.Request) -> httpx.Response:
    """The fixed answer of the snapshot: three documents."""
    entries = [{"resource": reference(doc)} for doc in DOCS]
    return httpx.Response(200, json={"resourceType": "Bundle", "entry": entries})


def test_dmp_screen_snapshot(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        view = pilot.app.query_one(DmpView)
        await wait_for(pilot, lambda: view.query_one(DataTable).row_count == 3)
        still_cursors(pilot.app)
        await pilot.pause()

    qualified_here(PATIENT)
    app = HostApp(DmpView, fake_context("dmp", dmp, PATIENT))
    assert snap_compare(app, terminal_size=(110, 20), run_before=run_before)
