"""Clinical safety of the connector screens, on the real launcher and platform.

- Every table opens or acts on the row under the cursor: the first, a middle and the
  last row, after sorting where the table sorts.
- A session that ends elsewhere while a screen works sends the launcher back to the
  sign-in screen with one sentence, from every connector screen; the app never fails.
- Text from the platform or typed by someone is shown literally: markup is not read,
  actions are not made clickable, control characters are not obeyed.

Every wait polls with a deadline; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import DataTable, Digits, Input, Select, Static

from bsp_tui.app.app import BspApp
from bsp_tui.app.screens.lock import LockScreen
from bsp_tui.app.screens.signin import SignInScreen
from bsp_tui.app.screens.waiting import WaitingScreen
from bsp_tui.domain.patients import Identity
from bsp_tui.launcher import open_session
from bsp_tui.printable import printable
from connectors.dmp.client import DmpClient
from connectors.dmp.screen import DmpView, DocumentViewer
from connectors.eprescription.client import RxClient
from connectors.eprescription.editor import PrescriptionEditor
from connectors.eprescription.models import LineRequest
from connectors.eprescription.pharmacy import PrescriptionLookup
from connectors.fse.outbox import profile_outbox
from connectors.fse.screen import FseView
from connectors.ins.screen import FIELDS, InsView
from connectors.kit.vigilance import QualifyModal
from tests.app.conftest import (  # noqa: F401 - autouse fixtures of the launcher's tests
    app_environment,
    shared_keyring,
    sign_in_outside,
    wait_for,
)
from tests.app.test_journey import (
    approve_from_test,
    focus,
    notifications,
    on_screen,
    press_button,
    tile,
)
from tests.connectors.dmp.test_screen import choose_dupont
from tests.connectors.eprescription.conftest import AMOXICILLINE, IBUPROFENE, PARACETAMOL
from tests.connectors.eprescription.test_screen import (
    add_line,
    choose_medication,
    prescribe_outside,
)
from tests.connectors.screens import SIZE, open_tile

pytestmark = pytest.mark.anyio

DUPONT = "262037511122263"
# Each would restyle, break or hijack a screen if read as markup or obeyed.
HOSTILE = (
    "[/x]",
    "[@click=app.quit]Cliquez ici[/]",
    "[b red]URGENT[/]",
    "Titre \x1b]0;piège\x07 \x1b[2J fin",
)
ENDED = "Votre session a pris fin"


def text(root, selector: str) -> str:
    return str(root.query_one(selector, Static).render())


def cell_texts(table: DataTable, column: int) -> list[str]:
    return [str(table.get_row_at(row)[column]) for row in range(table.row_count)]


def column_of(table: DataTable, label: str) -> int:
    """The index of the column headed `label` (columns move as screens gain some)."""
    return next(i for i, column in enumerate(table.ordered_columns) if str(column.label) == label)


def first_middle_last(count: int) -> list[int]:
    assert count >= 3
    return [0, count // 2, count - 1]


async def add_documents(titles: tuple[str, ...], tmp_path: Path) -> None:
    """As the doctor in another terminal: one document per title in DUPONT's DMP."""
    async with open_session() as session, session.client_for("dmp") as http:
        client = DmpClient(http)
        for number, title in enumerate(titles):
            path = tmp_path / f"compte-rendu-{number}.txt"
            path.write_text(f"Contenu du document {number} : {title}", encoding="utf-8")
            await client.add(DUPONT, path, title=title)


async def log_out_elsewhere() -> None:
    """`bsp logout` from another terminal: the session ends at PSC and in the store."""
    async with open_session() as session:
        assert await session.logout()


async def back_on_sign_in(pilot: Pilot) -> None:
    app: BspApp = pilot.app  # type: ignore[assignment]
    await wait_for(pilot, lambda: on_screen(app, SignInScreen), what="the sign-in screen")

    def said() -> list[str]:
        return [message for _, message in notifications(app) if ENDED in message]

    # A notification is posted to the app: it is listed once the app has handled it.
    await wait_for(pilot, said, what="the sentence saying the session ended")
    await pilot.pause()
    assert len(said()) == 1, notifications(app)
    assert app.patient is None


# -- rows ---------------------------------------------------------------------------------


async def test_enter_opens_the_document_under_the_cursor_after_sorting(tmp_path: Path) -> None:
    await sign_in_outside("generaliste")
    titles = ("Zona intercostal", "Angine", "Migraine", "Entorse", *HOSTILE)
    await add_documents(titles, tmp_path)
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        await choose_dupont(pilot)
        screen = await open_tile(pilot, 2, "dmp")
        view = screen.query_one(DmpView)
        table = view.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count >= len(titles), what="the documents")
        view.sort_by("title")
        shown_titles = cell_texts(table, column_of(table, "Titre"))
        assert shown_titles == sorted(shown_titles)
        # Hostile titles are listed literally (markup kept as typed, escapes made visible).
        for title in HOSTILE[:3]:
            assert title in shown_titles
        assert any("␛]0;piège␇" in title for title in shown_titles)

        await focus(pilot, "#dmp-documents")
        for row in first_middle_last(table.row_count):
            table.move_cursor(row=row)
            expected = shown_titles[row]
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, DocumentViewer) and app.screen.is_mounted,
                what=f"the viewer of row {row}",
            )
            assert printable(app.screen.document.info.title) == expected
            assert text(app.screen, "#viewer-title").startswith(expected)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen, what="back on the list")
        assert app.is_running


async def test_prescription_and_dispensing_rows_act_on_the_line_under_the_cursor() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        await choose_dupont(pilot)
        screen = await open_tile(pilot, 3, "eprescription")
        editor = screen.query_one(PrescriptionEditor)
        results = editor.query_one("#rx-results", DataTable)
        # The search results: the medication chosen is the one of the row.
        editor.query_one("#rx-search", Input).value = "paracetamol"
        await wait_for(pilot, lambda: results.row_count >= 3, what="several results")
        await focus(pilot, "#rx-results")
        for row in first_middle_last(results.row_count):
            results.move_cursor(row=row)
            await pilot.press("enter")
            await wait_for(pilot, lambda r=row: editor.chosen == editor.found[r])
            assert editor.chosen.cip13 == str(results.get_row_at(row)[1])
            await focus(pilot, "#rx-results")

        for search in ("paracetamol 1 g", "amoxicilline 500 gelule 12", "ibuprofene 400"):
            await choose_medication(pilot, editor, search)
            await add_line(pilot, editor, f"posologie {search}", "1")
        lines = editor.query_one("#rx-lines", DataTable)
        await wait_for(pilot, lambda: lines.row_count == 3, what="three lines")
        # Delete removes the line under the cursor: the middle, then the last, then the first.
        await focus(pilot, "#rx-lines")
        kept = [line.dosage for line in editor.lines]
        for row in (1, 1, 0):
            lines.move_cursor(row=row)
            await pilot.press("delete")
            del kept[row]
            await wait_for(pilot, lambda: len(editor.lines) == len(kept))
            assert [line.dosage for line in editor.lines] == kept
            assert cell_texts(lines, 2) == kept


async def test_the_pharmacist_chooses_for_the_line_under_the_cursor() -> None:
    await sign_in_outside("generaliste")
    async with open_session() as session, session.client_for("eprescription") as http:
        lines = [
            LineRequest(PARACETAMOL, "1 comprimé", 1, None),
            LineRequest(AMOXICILLINE, "1 gélule", 1, None),
            LineRequest(IBUPROFENE, "[b red]URGENT[/] 1 comprimé", 1, None),
        ]
        number = (await RxClient(http).create(DUPONT, lines)).display_number
    await sign_in_outside("pharmacien")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tile(pilot, 3, "eprescription")
        lookup = screen.query_one(PrescriptionLookup)
        lookup.query_one("#rx-number-input", Input).value = number
        await focus(pilot, "#rx-number-input")
        await pilot.press("enter")
        table = lookup.query_one("#rx-dispense-lines", DataTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="the three lines")
        assert "[b red]URGENT[/] 1 comprimé" in cell_texts(table, column_of(table, "Posologie"))
        await focus(pilot, "#rx-dispense-lines")
        for row in first_middle_last(3):
            table.move_cursor(row=row)
            await pilot.press("n")
            number_of_row = int(str(table.get_row_at(row)[0]))
            await wait_for(
                pilot, lambda n=number_of_row: lookup.choices[n].outcome == "not_dispensed"
            )
            assert str(table.get_row_at(row)[1]) == "non délivré"
        assert all(choice.outcome == "not_dispensed" for choice in lookup.choices.values())


async def test_the_care_sheet_removes_the_act_under_the_cursor() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        await choose_dupont(pilot)
        screen = await open_tile(pilot, 4, "fse")
        view = screen.query_one(FseView)
        await wait_for(pilot, lambda: view.rights is not None, what="the rights read")
        for code in ("G", "VG", "APC", "G"):
            view.query_one("#fse-act", Select).value = code
            view.action_add_act()
        table = view.query_one("#fse-lines", DataTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        kept = ["G", "VG", "APC", "G"]
        for row in (3, 1, 0):  # the last, a middle, the first
            table.move_cursor(row=row)
            await focus(pilot, "#fse-lines")
            await pilot.press("d")
            del kept[row]
            await wait_for(pilot, lambda: view.acts == kept, what=f"{kept} left")
            assert cell_texts(table, 0) == kept


# -- a session that ends elsewhere ----------------------------------------------------------


# What a screen does before the session ends (given the pilot and a prescription's
# number); it returns the request to make once the session has ended.
Steps = Callable[[Pilot, str], Awaitable[Callable[[], Awaitable[None]]]]


async def ins_search(pilot: Pilot, number: str) -> Callable[[], Awaitable[None]]:
    view = (await open_tile(pilot, 1, "ins")).query_one(InsView)
    for field, value in (("family", "DUPONT"), ("given", "Marie"), ("birthdate", "1962-03-14")):
        view.query_one(f"#ins-{field}", Input).value = value
    view.query_one("#ins-sex", Select).value = "F"
    return lambda: press_button(pilot, "#ins-search")


async def dmp_list(pilot: Pilot) -> DataTable:
    await choose_dupont(pilot)
    table = (await open_tile(pilot, 2, "dmp")).query_one(DataTable)
    await wait_for(pilot, lambda: table.row_count > 0, what="the documents")
    return table


async def dmp_reload(pilot: Pilot, number: str) -> Callable[[], Awaitable[None]]:
    await dmp_list(pilot)

    async def reload() -> None:
        await focus(pilot, "#dmp-documents")
        await pilot.press("r")

    return reload


async def dmp_open(pilot: Pilot, number: str) -> Callable[[], Awaitable[None]]:
    await dmp_list(pilot)

    async def open_first() -> None:
        await focus(pilot, "#dmp-documents")
        await pilot.press("enter")

    return open_first


async def rx_sign(pilot: Pilot, number: str) -> Callable[[], Awaitable[None]]:
    await choose_dupont(pilot)
    editor = (await open_tile(pilot, 3, "eprescription")).query_one(PrescriptionEditor)
    await choose_medication(pilot, editor, "paracetamol 1 g")
    await add_line(pilot, editor, "1 comprimé 3 fois par jour", "2")
    await wait_for(pilot, lambda: len(editor.lines) == 1)
    return lambda: press_button(pilot, "#rx-sign")


async def rx_number_typed(pilot: Pilot, number: str) -> PrescriptionLookup:
    lookup = (await open_tile(pilot, 3, "eprescription")).query_one(PrescriptionLookup)
    lookup.query_one("#rx-number-input", Input).value = number
    await focus(pilot, "#rx-number-input")
    return lookup


async def rx_find(pilot: Pilot, number: str) -> Callable[[], Awaitable[None]]:
    await rx_number_typed(pilot, number)
    return lambda: pilot.press("enter")


async def rx_dispense(pilot: Pilot, number: str) -> Callable[[], Awaitable[None]]:
    lookup = await rx_number_typed(pilot, number)
    await pilot.press("enter")
    await wait_for(pilot, lambda: bool(lookup.choices), what="the prescription to dispense")
    return lambda: press_button(pilot, "#rx-validate")


async def fse_open(pilot: Pilot, number: str) -> Callable[[], Awaitable[None]]:
    await choose_dupont(pilot)
    await wait_for(pilot, lambda: tile(pilot.app, "fse").state == "ready", what="tile 4 ready")
    return lambda: pilot.press("4")  # the rights are read as the screen opens


async def fse_send(pilot: Pilot, number: str) -> Callable[[], Awaitable[None]]:
    await choose_dupont(pilot)
    view = (await open_tile(pilot, 4, "fse")).query_one(FseView)
    await wait_for(pilot, lambda: view.rights is not None, what="the rights read")
    view.query_one("#fse-act", Select).value = "G"
    view.action_add_act()
    view.action_queue()
    assert view.outbox.waiting() == 1

    async def send() -> None:
        view.action_send()

    return send


@pytest.mark.parametrize(
    ("persona", "steps"),
    [
        ("generaliste", ins_search),
        ("generaliste", dmp_reload),
        ("generaliste", dmp_open),
        ("generaliste", rx_sign),
        ("pharmacien", rx_find),
        ("pharmacien", rx_dispense),
        ("generaliste", fse_open),
        ("generaliste", fse_send),
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
async def test_a_logout_elsewhere_takes_every_screen_back_to_sign_in(
    persona: str, steps: Steps
) -> None:
    (number,) = await prescribe_outside(LineRequest(PARACETAMOL, "1 comprimé", 1, None))
    await sign_in_outside(persona)
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        request = await steps(pilot, number)
        await log_out_elsewhere()
        await request()
        await back_on_sign_in(pilot)
        assert app.is_running
    outbox = profile_outbox()
    try:
        # A sheet queued before the session ended stays queued for the next sending.
        assert outbox.waiting() == (1 if steps is fse_send else 0)
    finally:
        outbox.close()


# -- literal text ----------------------------------------------------------------------------


async def test_hostile_names_and_dosages_are_shown_literally() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tile(pilot, 1, "ins")
        view = screen.query_one(InsView)
        hostile = Identity(
            family="[@click=app.quit]DUPONT[/]",
            given="[b red]MARIE[/]",
            sex="F",
            birthdate="1962-03-14",
            birthplace="[/x]",
            ins=DUPONT,
            oid="1.2.250.1.213.1.4.8",
        )
        view.show_identity(hostile)
        shown = text(view, "#ins-identity")
        assert "[@click=app.quit]DUPONT[/] [b red]MARIE[/]" in shown and "[/x]" in shown
        await press_button(pilot, "#ins-choose")
        await wait_for(pilot, lambda: app.patient is not None)
        assert "[b red]MARIE[/]" in app.sub_title

        await pilot.press("escape")
        screen = await open_tile(pilot, 3, "eprescription")
        editor = screen.query_one(PrescriptionEditor)
        assert "[@click=app.quit]DUPONT[/]" in text(screen, "#rx-patient")
        await choose_medication(pilot, editor, "paracetamol 1 g")
        await add_line(pilot, editor, "[/x] 1 comprimé \x1b[2J", "2")
        lines = editor.query_one("#rx-lines", DataTable)
        await wait_for(pilot, lambda: lines.row_count == 1)
        assert cell_texts(lines, 2) == ["[/x] 1 comprimé ␛[2J"]

        await pilot.press("escape")
        screen = await open_tile(pilot, 4, "fse")
        assert "[b red]MARIE[/]" in text(screen, "#fse-patient")
        assert app.is_running


# -- the lock ----------------------------------------------------------------------------------


def screen_text(app: BspApp) -> str:
    """Everything the terminal shows, as text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_the_locked_screen_shows_no_patient_until_a_new_approval() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await choose_dupont(pilot)
        ins = app.patient.ins
        await pilot.press("3")  # the prescription editor: clinical data on screen
        await wait_for(pilot, lambda: app.screen.id == "connector-eprescription")
        await wait_for(pilot, lambda: ins in screen_text(app), what="the patient shown")
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: on_screen(app, LockScreen), what="the lock screen")
        await pilot.pause()
        shown = screen_text(app)
        assert "Session verrouillée" in shown
        assert ins not in shown and "DUPONT" not in shown
        assert app.patient is not None  # kept for after the unlock, only not shown
        await pilot.press("delete")  # nothing to do with a patient while locked
        await pilot.pause()
        assert app.patient is not None and "Effacer le patient" not in screen_text(app)

        await press_button(pilot, "#unlock")
        await wait_for(
            pilot,
            lambda: (
                on_screen(app, WaitingScreen) and app.screen.query_one("#binding", Digits).value
            ),
            what="the unlock's waiting screen",
        )
        assert ins not in screen_text(app)
        await approve_from_test(app, "generaliste", app.screen.query_one("#binding", Digits).value)
        await wait_for(pilot, lambda: app.screen.id == "connector-eprescription")
        await wait_for(pilot, lambda: ins in screen_text(app), what="the patient back")
        assert ins in app.sub_title


# -- keys typed ahead ------------------------------------------------------------------------


def type_in_a_burst(app: BspApp, *keys: str) -> None:
    """Keys as a scanner or a paste sends them: all at once, none waiting for the app."""
    for key in keys:
        if len(key) == 1:
            event = events.Key("space" if key == " " else key, key)
        else:
            event = events.Key(key, None)
        event.set_sender(app)
        app._driver.send_message(event)


async def test_a_form_typed_in_one_burst_fills_each_field() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_tile(pilot, 1, "ins")
        view = screen.query_one(InsView)
        type_in_a_burst(app, *"Dupont", "tab", *"Marie", "tab", "tab", *"1962-03-14", "tab")
        birthplace = view.query_one("#ins-birthplace", Input)
        await wait_for(pilot, lambda: birthplace.has_focus, what="the last field focused")
        values = {name: view.query_one(f"#ins-{name}", Input).value for name in FIELDS[:2]}
        assert values == {"family": "Dupont", "given": "Marie"}
        assert view.query_one("#ins-birthdate", Input).value == "1962-03-14"

        await pilot.press("escape")
        await choose_dupont(pilot)
        screen = await open_tile(pilot, 3, "eprescription")
        editor = screen.query_one(PrescriptionEditor)
        type_in_a_burst(
            app,
            *"amoxicilline 500 gelule 12",
            "enter",  # to the results
            "enter",  # the first one is chosen, the dosage field takes the focus
            *"1 gélule matin et soir",
            "enter",  # to the quantity
            *"7j",
            "enter",  # the line is added, the search takes the focus
            *"paracetamol 1 g",
        )
        search = editor.query_one("#rx-search", Input)
        await wait_for(pilot, lambda: search.value == "paracetamol 1 g", what="the next search")
        assert [(line.cip13, line.dosage, line.duration_days) for line in editor.lines] == [
            (AMOXICILLINE, "1 gélule matin et soir", 7)
        ]
        assert editor.query_one("#rx-dosage", Input).value == ""
        assert editor.query_one("#rx-quantity", Input).value == ""


# -- nothing below the fold at 80×24 ----------------------------------------------------------


def wholly_visible(app: BspApp, widget) -> bool:
    """The widget is on screen, none of it clipped by a container or the terminal."""
    placed = app.screen._compositor.visible_widgets.get(widget)
    if placed is None:
        return False
    region, clip = placed
    return clip.contains_region(region) and app.screen.region.contains_region(region)


async def test_at_80x24_each_result_and_the_control_that_acts_on_it_are_on_screen() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_tile(pilot, 1, "ins")
        view = screen.query_one(InsView)
        view.query_one("#ins-sex", Select).value = "F"
        await pilot.press(*"DUPONT", "tab", *"Marie", "tab", "tab", *"1962-03-14", "enter")
        choose = view.query_one("#ins-choose")
        await wait_for(pilot, lambda: choose.has_focus, what="« Choisir comme patient » focused")
        await pilot.pause()
        assert wholly_visible(app, view.query_one("#ins-identity"))
        assert wholly_visible(app, choose)
        assert "INS 262037511122263" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.patient is not None, what="DUPONT chosen")

        await pilot.press("escape", "3")
        await wait_for(pilot, lambda: app.screen.id == "connector-eprescription")
        editor = app.screen.query_one(PrescriptionEditor)
        await pilot.press(*"amoxicilline 500 gelule")
        await wait_for(pilot, lambda: len(editor.found) >= 2, what="the two box sizes")
        await pilot.pause()
        shown = screen_text(app)
        assert "gélule, boîte de 12" in shown and "gélule, boîte de 24" in shown
        await pilot.press("enter", "enter", *"1 gélule matin et soir", "enter", *"7j", "enter")
        await wait_for(pilot, lambda: len(editor.lines) == 1, what="the line")
        await press_button(pilot, "#rx-sign")
        # Her identity is only récupérée: the dialog asks for the document checked.
        await wait_for(pilot, lambda: isinstance(app.screen, QualifyModal), what="the dialog")
        await pilot.pause()
        dialog = app.screen
        assert wholly_visible(app, dialog.query_one("#qualify-document"))
        assert wholly_visible(app, dialog.query_one("#qualify-confirm"))
        dialog.query_one("#qualify-document", Select).value = "cni"
        await press_button(pilot, "#qualify-confirm")
        signed = editor.query_one("#rx-signed")
        await wait_for(pilot, lambda: signed.has_class("-shown"), what="signed")
        await wait_for(pilot, lambda: wholly_visible(app, editor.query_one("#rx-qr")), what="QR")
        assert wholly_visible(app, editor.query_one("#rx-number"))
        assert wholly_visible(app, app.focused)

        await pilot.press("escape", "4")
        await wait_for(pilot, lambda: app.screen.id == "connector-fse")
        fse = app.screen.query_one(FseView)
        await wait_for(pilot, lambda: fse.rights is not None, what="the rights read")
        fse.query_one("#fse-act", Select).value = "G"
        await pilot.press("a")
        await wait_for(pilot, lambda: fse.acts == ["G"])
        await pilot.pause()
        assert wholly_visible(app, fse.query_one("#fse-amounts"))
        queue = fse.query_one("#fse-queue")
        queue.focus()
        await wait_for(pilot, lambda: queue.has_focus)
        await pilot.pause()
        assert wholly_visible(app, queue)


async def test_a_tile_shows_the_platforms_words_literally() -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: tile(app, "dmp").state == "ready", what="the tiles")
        tile(app, "dmp").show("down", "[/x] [@click=app.quit]Cliquez[/]")
        await pilot.pause()
        assert "[/x] [@click=app.quit]Cliquez[/]" in str(tile(app, "dmp").render())
        assert app.is_running
