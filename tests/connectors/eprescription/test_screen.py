"""The ordonnance numérique screens driven with Textual's Pilot on the signed-in launcher
(tile 1 to choose the patient, then tile 3), and snapshots on fixed data.
Every wait polls with a deadline; nothing sleeps.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Select, Static

from bsp_tui.app.app import BspApp
from bsp_tui.domain.patients import PatientContext
from bsp_tui.launcher import open_session
from connectors.eprescription.catalogue import medication, search
from connectors.eprescription.client import RxClient
from connectors.eprescription.editor import (
    NO_PATIENT,
    SIGNED,
    PrescriptionEditor,
    quantity_label,
)
from connectors.eprescription.models import (
    CIP13_SYSTEM,
    DMP_COPY_SYSTEM,
    NUMBER_SYSTEM,
    LineRequest,
    Prescription,
    check_character,
    format_number,
    qr_text,
)
from connectors.eprescription.pharmacy import PrescriptionLookup
from connectors.eprescription.screen import NO_ACCESS, PrescriptionView
from connectors.kit.identities import IdentityStore
from connectors.kit.vigilance import NOT_RETRIEVED, QualifyModal
from tests.app.conftest import (  # noqa: F401 - autouse fixtures of the launcher's tests
    app_environment,
    shared_keyring,
    sign_in_outside,
    wait_for,
)
from tests.app.test_journey import focus, press_button
from tests.connectors.dmp.test_screen import choose_dupont
from tests.connectors.eprescription.conftest import AMOXICILLINE, IBUPROFENE, PARACETAMOL
from tests.connectors.screens import (
    SIZE,
    HostApp,
    fake_context,
    open_tile,
    qualified_here,
    still_cursors,
)

pytestmark = pytest.mark.anyio
NUMBER_SHAPE = re.compile(r"N° ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z])")


def shown(root, selector: str) -> str:
    return str(root.query_one(selector, Static).render())


async def choose_medication(pilot: Pilot, editor: PrescriptionEditor, text: str) -> None:
    """Type a search, then choose the first result with Enter."""
    editor.query_one("#rx-search", Input).value = text
    results = editor.query_one("#rx-results", DataTable)
    await wait_for(pilot, lambda: results.row_count > 0, what=f"results for {text}")
    await focus(pilot, "#rx-results")
    results.move_cursor(row=0)
    await pilot.press("enter")
    await wait_for(pilot, lambda: editor.query_one("#rx-dosage", Input).has_focus)


async def add_line(pilot: Pilot, editor: PrescriptionEditor, dosage: str, quantity: str) -> None:
    editor.query_one("#rx-dosage", Input).value = dosage
    editor.query_one("#rx-quantity", Input).value = quantity
    await focus(pilot, "#rx-quantity")
    await pilot.press("enter")


async def test_the_doctor_searches_adds_lines_signs_and_exports_the_qr(tmp_path: Path) -> None:
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        await choose_dupont(pilot)
        screen = await open_tile(pilot, 3, "eprescription")
        view = screen.query_one(PrescriptionView)
        editor = view.query_one(PrescriptionEditor)
        assert "DUPONT" in shown(view, "#rx-patient")
        lines = editor.query_one("#rx-lines", DataTable)

        # Accents optional: "paracetamol" finds PARACÉTAMOL.
        await choose_medication(pilot, editor, "paracetamol 1 g")
        assert editor.chosen is not None and editor.chosen.molecule == "Paracétamol"
        # A bad quantity: said next to the fields, which keep what was typed.
        await add_line(pilot, editor, "1 comprimé 3 fois par jour", "beaucoup")
        await wait_for(pilot, lambda: "quantité" in shown(editor, "#rx-line-error").lower())
        assert lines.row_count == 0
        assert editor.query_one("#rx-dosage", Input).value == "1 comprimé 3 fois par jour"
        assert editor.query_one("#rx-quantity", Input).has_focus
        editor.query_one("#rx-quantity", Input).value = "2"
        await pilot.press("enter")
        await wait_for(pilot, lambda: lines.row_count == 1, what="the first line")
        search = editor.query_one("#rx-search", Input)
        assert search.has_focus and search.value == ""  # ready for the next medication

        await choose_medication(pilot, editor, "amoxicilline 500 gelule 12")
        await add_line(pilot, editor, "1 gélule matin et soir", "7j")
        await wait_for(pilot, lambda: lines.row_count == 2, what="the second line")
        assert [line.cip13 for line in editor.lines] == [
            editor.lines[0].cip13,
            AMOXICILLINE,
        ]

        await press_button(pilot, "#rx-sign")
        await wait_for(
            pilot, lambda: editor.query_one("#rx-signed").has_class("-shown"), what="signed"
        )
        match = NUMBER_SHAPE.search(shown(editor, "#rx-number"))
        assert match is not None
        number = match.group(1)
        assert shown(editor, "#rx-qr") == qr_text(number)
        assert "Copie déposée dans le DMP" in shown(editor, "#rx-dmp")
        # A signed prescription takes no more lines: the search gives its room to the QR.
        await wait_for(pilot, lambda: not editor.query_one("#rx-search").display)
        assert not editor.query_one("#rx-line-form").display and lines.row_count == 2
        editor.add_line()
        await wait_for(pilot, lambda: SIGNED in shown(editor, "#rx-status"))
        assert lines.row_count == 2

        svg, png = tmp_path / "ordonnance.svg", tmp_path / "ordonnance.png"
        for path in (svg, png):
            editor.query_one("#rx-export-path", Input).value = str(path)
            await press_button(pilot, "#rx-export")
            await wait_for(pilot, lambda p=path: p.exists(), what=f"{path.name} written")
        assert ET.fromstring(svg.read_bytes()).tag.endswith("svg")  # noqa: S314 - our own file
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        editor.query_one("#rx-export-path", Input).value = str(tmp_path / "qr.gif")
        await press_button(pilot, "#rx-export")
        await wait_for(pilot, lambda: ".svg ou .png" in shown(editor, "#rx-status"))

        async with app.session.client_for("eprescription") as http:
            stored = await RxClient(http).show(number)
        assert stored.ins == app.patient.ins
        assert [(line.cip13, line.boxes, line.duration_days) for line in stored.lines] == [
            (editor.lines[0].cip13, 2, None),
            (AMOXICILLINE, None, 7),
        ]


async def prescribe_outside(*lines: LineRequest) -> list[str]:
    """As the doctor, in another terminal: prescriptions for DUPONT; their numbers."""
    await sign_in_outside("generaliste")
    async with open_session() as session, session.client_for("eprescription") as http:
        client = RxClient(http)
        return [(await client.create("262037511122263", [line])).display_number for line in lines]


async def dispense_outside(number: str) -> None:
    async with open_session() as session, session.client_for("eprescription") as http:
        await RxClient(http).dispense(number)


async def test_the_pharmacist_retrieves_dispenses_and_is_refused_a_second_time() -> None:
    first, second = await prescribe_outside(
        LineRequest(PARACETAMOL, "1 comprimé 3 fois par jour", 2),
        LineRequest(IBUPROFENE, "1 comprimé si douleur", None, 5),
    )
    await sign_in_outside("pharmacien")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tile(pilot, 3, "eprescription")
        lookup = screen.query_one(PrescriptionLookup)
        table = lookup.query_one("#rx-dispense-lines", DataTable)
        validate = lookup.query_one("#rx-validate", Button)

        # A mistyped number is caught before any request; the field keeps it.
        typed = lookup.query_one("#rx-number-input", Input)
        typed.value = first[:-1] + ("0" if first[-1] != "0" else "1")
        await focus(pilot, "#rx-number-input")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "caractère de contrôle" in shown(lookup, "#rx-lookup-status"))
        assert typed.value.startswith(first[:-1])

        typed.value = "RX1:" + first.replace("-", "")  # as a scanner types the QR code
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 1, what="the lines")
        assert "DUPONT MARIE LOUISE" in shown(lookup, "#rx-summary")
        assert not validate.disabled

        # Line 1 substituted (s, then the CIP13): a bad CIP13 first, refused in place.
        await focus(pilot, "#rx-dispense-lines")
        await pilot.press("s")
        substitute = lookup.query_one("#rx-substitute", Input)
        await wait_for(pilot, lambda: substitute.has_focus, what="the substitute's field")
        substitute.value = "3400955"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "13 chiffres" in shown(lookup, "#rx-lookup-status"))
        other = medication(search("paracetamol 1 g comprime 16")[0].cip13)
        assert other is not None
        substitute.value = other.cip13
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                (lookup.choices[1].outcome, lookup.choices[1].cip13) == ("substituted", other.cip13)
            ),
        )
        assert "substitué par PARACÉTAMOL 1 g" in str(table.get_row_at(0)[1])

        await press_button(pilot, "#rx-validate")
        await wait_for(
            pilot, lambda: "Délivrance enregistrée" in shown(lookup, "#rx-lookup-status")
        )
        assert lookup.prescription is not None and lookup.prescription.status == "completed"
        assert "Pharmacie de l'Hôtel de Ville" in shown(lookup, "#rx-summary")
        assert validate.disabled

        # The same number again: already dispensed, with the date and the pharmacy.
        typed.value = first
        await press_button(pilot, "#rx-find")
        await wait_for(
            pilot, lambda: "déjà entièrement délivrée (le" in shown(lookup, "#rx-lookup-status")
        )
        assert "Pharmacie de l'Hôtel de Ville" in shown(lookup, "#rx-lookup-status")
        assert validate.disabled

        # Dispensed elsewhere while it was on screen: the validation is refused.
        typed.value = second
        await press_button(pilot, "#rx-find")
        await wait_for(pilot, lambda: not validate.disabled, what="the second one, dispensable")
        await dispense_outside(second)
        await press_button(pilot, "#rx-validate")
        await wait_for(
            pilot,
            lambda: (
                "Délivrance refusée : Ordonnance déjà entièrement délivrée (le"
                in shown(lookup, "#rx-lookup-status")
            ),
        )
        assert "Pharmacie de l'Hôtel de Ville" in shown(lookup, "#rx-lookup-status")


async def test_a_month_at_a_time_and_non_substituable_on_the_screen() -> None:
    (number,) = await prescribe_outside(
        LineRequest(PARACETAMOL, "1 comprimé 3 fois par jour", None, 30, 2, "MTE")
    )
    await sign_in_outside("pharmacien")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tile(pilot, 3, "eprescription")
        lookup = screen.query_one(PrescriptionLookup)
        table = lookup.query_one("#rx-dispense-lines", DataTable)
        lookup.query_one("#rx-number-input", Input).value = number
        await press_button(pilot, "#rx-find")
        await wait_for(pilot, lambda: table.row_count == 1, what="the line")
        assert "non substituable (MTE)" in str(table.get_row_at(0)[3])
        assert "30 jours, à renouveler 2 fois" in str(table.get_row_at(0)[5])
        # "Non substituable": the substitution is refused at once, with its reason.
        await focus(pilot, "#rx-dispense-lines")
        await pilot.press("s")
        await wait_for(
            pilot, lambda: "marge thérapeutique étroite" in shown(lookup, "#rx-lookup-status")
        )
        assert not lookup.query_one("#rx-substitute", Input).has_focus
        for visit in (1, 2):
            assert "délivré (30 jours)" in str(table.get_row_at(0)[1])
            await press_button(pilot, "#rx-validate")
            await wait_for(
                pilot,
                lambda visit=visit: (
                    f"Délivrance {visit} enregistrée" in shown(lookup, "#rx-lookup-status")
                ),
            )
            assert f"{30 * visit} / 90 jours" in str(table.get_row_at(0)[2])
        assert "Délivrance 2 le" in shown(lookup, "#rx-summary")
        # A smaller quantity for the last month (q): what remains stays owed.
        await focus(pilot, "#rx-dispense-lines")
        await pilot.press("q")
        quantity = lookup.query_one("#rx-quantity", Input)
        await wait_for(pilot, lambda: quantity.has_focus, what="the quantity's field")
        quantity.value = "10"
        await pilot.press("enter")
        await wait_for(pilot, lambda: lookup.choices[1].quantity == 10)
        await press_button(pilot, "#rx-validate")
        await wait_for(
            pilot, lambda: "Délivrance 3 enregistrée" in shown(lookup, "#rx-lookup-status")
        )
        assert "70 / 90 jours" in str(table.get_row_at(0)[2])


# -- on fixed data ----------------------------------------------------------------------------

PATIENT = PatientContext(
    "262037511122263", "1.2.250.1.213.1.4.10", "DUPONT", "MARIE LOUISE", "F", "1962-03-14"
)
FIXED = "7QK2M9DX4HNB"
FIXED_NUMBER = FIXED + check_character(FIXED)


def fixed_bundle(request: httpx.Request, dispensed: bool = False) -> dict:
    """What the service answers for FIXED_NUMBER: two lines (and, once dispensed, theirs)."""
    number = format_number(FIXED_NUMBER)
    lines = [(PARACETAMOL, "1 comprimé 3 fois par jour", {"quantity": {"value": 2}})]
    lines += [(AMOXICILLINE, "1 gélule matin et soir", {"expectedSupplyDuration": {"value": 7}})]
    entries = []
    for index, (cip13, dosage, dispense) in enumerate(lines, start=1):
        entries.append(
            {
                "resourceType": "MedicationRequest",
                "id": f"{FIXED_NUMBER}-{index}",
                "status": "active",
                "groupIdentifier": {"system": NUMBER_SYSTEM, "value": number},
                "identifier": [{"value": str(index)}],
                "subject": {
                    "identifier": {"value": PATIENT.ins},
                    "display": "DUPONT MARIE LOUISE",
                },
                "requester": {
                    "identifier": {"value": "810000012301"},
                    "display": "Élise Martin-Dubois",
                },
                "authoredOn": "2026-03-02T09:30:00Z",
                "medicationCodeableConcept": {"coding": [{"system": CIP13_SYSTEM, "code": cip13}]},
                "dosageInstruction": [{"text": dosage}],
                "dispenseRequest": dispense,
            }
        )
    if request.method == "POST" and request.url.path.endswith("/MedicationRequest"):
        copy = {"system": DMP_COPY_SYSTEM, "code": "filed"}
        entries.append(
            {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "information",
                        "diagnostics": "Copie de l'ordonnance déposée dans le DMP du patient.",
                        "details": {"coding": [copy]},
                        "expression": ["DocumentReference/0123456789abcdef"],
                    }
                ],
            }
        )
    return {
        "resourceType": "Bundle",
        "identifier": {"system": NUMBER_SYSTEM, "value": number},
        "entry": [{"resource": r} for r in entries],
    }


def fixed_service(request: httpx.Request) -> httpx.Response:
    status = 201 if request.method == "POST" else 200
    return httpx.Response(status, json=fixed_bundle(request))


def context(profession: str, patient: PatientContext | None = PATIENT):
    ctx = fake_context("eprescription", fixed_service, patient)
    ctx.who = {"profession_code": profession}
    return ctx


async def test_without_a_patient_the_editor_says_to_choose_one() -> None:
    app = HostApp(PrescriptionView, context("10", None))
    async with app.run_test(size=SIZE) as pilot:
        editor = app.query_one(PrescriptionEditor)
        await wait_for(pilot, lambda: NO_PATIENT in shown(editor, "#rx-status"))
        assert editor.query_one("#rx-sign", Button).disabled
        assert editor.query_one("#rx-search", Input).disabled


async def test_the_editor_takes_renewals_and_non_substituable() -> None:
    app = HostApp(PrescriptionView, context("10"))
    async with app.run_test(size=(80, 24)) as pilot:
        editor = app.query_one(PrescriptionEditor)
        await choose_medication(pilot, editor, "paracetamol 1 g comprime 8")
        editor.query_one("#rx-dosage", Input).value = "1 comprimé 3 fois par jour"
        editor.query_one("#rx-quantity", Input).value = "30j"
        editor.query_one("#rx-renewals", Input).value = "2"
        mention = editor.query_one("#rx-mention", Input)
        mention.value = "XYZ"
        await focus(pilot, "#rx-mention")
        await pilot.press("enter")
        error = editor.query_one("#rx-line-error", Static)
        await wait_for(pilot, lambda: "MTE, EFG, CIF" in str(error.render()))
        assert mention.has_focus and editor.lines == []
        mention.value = "mte"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(editor.lines) == 1)
        assert editor.lines[0] == LineRequest(
            PARACETAMOL, "1 comprimé 3 fois par jour", None, 30, 2, "MTE"
        )
        row = editor.query_one("#rx-lines", DataTable).get_row_at(0)
        assert "à renouveler 2 fois, non substituable (MTE)" in str(row[3])


async def test_signing_for_a_patient_not_qualified_asks_for_the_document_first() -> None:
    app = HostApp(PrescriptionView, context("10"))
    async with app.run_test(size=SIZE) as pilot:
        editor = app.query_one(PrescriptionEditor)
        editor.lines = [LineRequest(PARACETAMOL, "1 comprimé 3 fois par jour", 2)]
        await press_button(pilot, "#rx-sign")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, QualifyModal) and app.screen.is_mounted,
            what="the qualification dialog",
        )
        assert "Identité provisoire, non qualifiée" in shown(editor, "#rx-status")
        app.screen.query_one("#qualify-document", Select).value = "cni"
        await press_button(pilot, "#qualify-confirm")
        # Never retrieved by INSi: validée only, and still nothing sent.
        await wait_for(pilot, lambda: NOT_RETRIEVED in shown(editor, "#rx-status"))
        assert not editor.query_one("#rx-signed").has_class("-shown")
        assert IdentityStore.of_profile().status(PATIENT.ins) == "VALI"

        qualified_here(PATIENT)
        await press_button(pilot, "#rx-sign")
        await wait_for(pilot, lambda: editor.query_one("#rx-signed").has_class("-shown"))


async def test_the_nurse_reads_and_the_secretary_gets_nothing() -> None:
    app = HostApp(PrescriptionView, context("60"))
    async with app.run_test(size=SIZE) as pilot:
        lookup = app.query_one(PrescriptionLookup)
        assert not lookup.query("#rx-validate")
        lookup.query_one("#rx-number-input", Input).value = format_number(FIXED_NUMBER)
        await focus(pilot, "#rx-number-input")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "consultation seule" in shown(lookup, "#rx-lookup-status"))
        assert lookup.query_one("#rx-dispense-lines", DataTable).row_count == 2
        await pilot.press("d")
        assert lookup.choices == {}
    app = HostApp(PrescriptionView, context("SECR"))
    async with app.run_test(size=SIZE) as pilot:
        assert NO_ACCESS in shown(app.screen, "#rx-no-access")
        assert not app.query(PrescriptionEditor) and not app.query(PrescriptionLookup)


def test_editor_snapshot_with_lines_and_qr(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        editor = pilot.app.query_one(PrescriptionEditor)
        editor.lines = [
            LineRequest(PARACETAMOL, "1 comprimé 3 fois par jour", 2),
            LineRequest(AMOXICILLINE, "1 gélule matin et soir", None, 7),
        ]
        table = editor.query_one("#rx-lines", DataTable)
        for index, line in enumerate(editor.lines, start=1):
            found = medication(line.cip13)
            label = found.label if found else ""
            table.add_row(str(index), label, line.dosage, quantity_label(line))
        editor.query_one("#rx-search", Input).value = "paracetamol 1 g"
        await press_button(pilot, "#rx-sign")
        await wait_for(pilot, lambda: editor.query_one("#rx-signed").has_class("-shown"))
        await focus(pilot, "#rx-lines")
        still_cursors(pilot.app)
        await pilot.pause()

    qualified_here(PATIENT)
    app = HostApp(PrescriptionView, context("10"))
    assert snap_compare(app, terminal_size=(110, 50), run_before=run_before)


def test_pharmacist_snapshot(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        lookup = pilot.app.query_one(PrescriptionLookup)
        lookup.query_one("#rx-number-input", Input).value = format_number(FIXED_NUMBER)
        await press_button(pilot, "#rx-find")
        table = lookup.query_one("#rx-dispense-lines", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        table.move_cursor(row=1)
        await pilot.press("n")
        await wait_for(pilot, lambda: lookup.choices[2].outcome == "not_dispensed")
        still_cursors(pilot.app)
        await pilot.pause()

    app = HostApp(PrescriptionView, context("21"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_prescription_of_the_fixed_answer() -> None:
    from connectors.eprescription.client import prescription_of

    request = httpx.Request("POST", "http://x/api/eprescription/MedicationRequest")
    prescription: Prescription = prescription_of(fixed_bundle(request))
    assert prescription.number == FIXED_NUMBER
    assert prescription.dmp_copy is not None and prescription.dmp_copy.filed
    assert [line.quantity for line in prescription.lines] == ["2 boîtes", "7 jours"]
