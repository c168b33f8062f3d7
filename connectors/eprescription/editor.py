"""The prescriber's editor: search the catalogue, add lines, sign; the number and its QR code.

The catalogue is searched locally as one types (accents optional). A bad dosage or
quantity is reported next to the fields, which keep what was typed. Signing sends the
prescription in a worker; the answer's number and QR code (half-block characters from
segno's matrix) are shown, with the DMP copy's outcome, and the QR code can be exported
as SVG or PNG for printing.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Static

from bsp_tui.domain.patients import PatientContext
from connectors.eprescription.catalogue import Medication, medication, search
from connectors.eprescription.client import RxClient, RxError
from connectors.eprescription.models import (
    LineRequest,
    Prescription,
    line_problem,
    qr_text,
    quantity_of,
    save_qr,
)
from connectors.kit.identities import (
    QUALIFIEE,
    STATUS_LABELS,
    IdentityStore,
    not_qualified_reason,
)
from connectors.kit.vigilance import NOT_RETRIEVED, QualifyModal, record_document
from connectors.view import StatusLine, literal, literal_row, service_worker

NO_PATIENT = "Choisissez d'abord un patient dans INS : l'ordonnance est faite pour lui."
CHOOSE_MEDICATION = "Choisissez d'abord un médicament dans la liste (Entrée)."
NO_LINES = "Ajoutez au moins une ligne avant de signer."
SIGNED = "Cette ordonnance est signée : Ctrl+N ou « Nouvelle ordonnance » pour en commencer une."
UNREACHABLE = "Le service d'ordonnance numérique est injoignable : réessayez dans un instant."


def quantity_label(line: LineRequest) -> str:
    """The quantity or the duration of a line, its renewals and mention, in French."""
    if line.boxes is not None:
        text = f"{line.boxes} boîte{'s' if line.boxes > 1 else ''}"
    else:
        text = f"{line.duration_days} j"
    if line.renewals:
        text += f", à renouveler {line.renewals} fois"
    if line.non_substitutable:
        text += f", non substituable ({line.non_substitutable})"
    return text


class PrescriptionEditor(VerticalScroll, StatusLine):
    """A new prescription for the context patient (it scrolls in a short terminal)."""

    STATUS_ID = "rx-status"

    BINDINGS = [
        Binding("delete", "remove_line", "Retirer la ligne", id="rx.remove-line"),
        Binding("ctrl+n", "new", "Nouvelle", id="rx.new"),
    ]
    DEFAULT_CSS = """
    PrescriptionEditor { height: 1fr; }
    PrescriptionEditor #rx-results { height: 7; }
    PrescriptionEditor #rx-line-form { height: auto; }
    PrescriptionEditor #rx-dosage { width: 2fr; }
    PrescriptionEditor #rx-quantity { width: 1fr; }
    PrescriptionEditor #rx-renewals { width: 12; }
    PrescriptionEditor #rx-mention { width: 14; }
    PrescriptionEditor #rx-line-error { color: $error; height: auto; }
    PrescriptionEditor #rx-lines { height: auto; max-height: 8; }
    PrescriptionEditor #rx-actions { height: auto; }
    PrescriptionEditor #rx-status { height: auto; }
    PrescriptionEditor #rx-status.-error { color: $error; }
    PrescriptionEditor #rx-signed { height: auto; display: none; }
    PrescriptionEditor #rx-signed.-shown { display: block; }
    /* A signed prescription takes no more lines: the search gives its room to the QR. */
    PrescriptionEditor.-signed #rx-search, PrescriptionEditor.-signed #rx-results,
    PrescriptionEditor.-signed #rx-line-form, PrescriptionEditor.-signed #rx-line-error {
        display: none;
    }
    /* Light modules white, dark ones black, whatever the theme: a scanner needs it. */
    PrescriptionEditor #rx-qr {
        width: auto; height: auto; margin-right: 2; color: #ffffff; background: #000000;
    }
    PrescriptionEditor #rx-signed-side { width: 1fr; height: auto; padding-left: 2; }
    PrescriptionEditor #rx-number { text-style: bold; }
    PrescriptionEditor #rx-export-actions { height: auto; }
    """

    def __init__(
        self,
        client: RxClient,
        patient: PatientContext | None,
        identities: IdentityStore,
        by: str,
    ) -> None:
        super().__init__(id="rx-editor")
        self.client = client
        self.patient = patient
        self.identities = identities
        self.by = by
        self.found: list[Medication] = []
        self.chosen: Medication | None = None
        self.lines: list[LineRequest] = []
        self.signed: Prescription | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Rechercher un médicament (ex. paracetamol 1 g)", id="rx-search")
        results: DataTable = DataTable(id="rx-results", cursor_type="row")
        # The name first: its strength, form and box size must show however narrow.
        results.add_columns("Médicament", "CIP13")
        yield results
        with Horizontal(id="rx-line-form"):
            yield Input(placeholder="Posologie (ex. 1 comprimé 3 fois par jour)", id="rx-dosage")
            yield Input(placeholder="Quantité : 2 ou 30j", id="rx-quantity")
            yield Input(placeholder="Renouv. 0", id="rx-renewals", type="integer")
            yield Input(placeholder="NS MTE|EFG|CIF", id="rx-mention")
            yield Button("Ajouter", id="rx-add")
        yield Static("", id="rx-line-error")
        lines: DataTable = DataTable(id="rx-lines", cursor_type="row", zebra_stripes=True)
        lines.add_columns("N°", "Médicament", "Posologie", "Quantité")
        yield lines
        with Horizontal(id="rx-actions"):
            yield Button("Signer et transmettre", id="rx-sign", variant="primary")
            yield Button("Nouvelle ordonnance", id="rx-new")
        yield Static("", id="rx-status")
        with Horizontal(id="rx-signed"):
            yield Static("", id="rx-qr")
            with Vertical(id="rx-signed-side"):
                yield Static("", id="rx-number")
                yield Static("", id="rx-dmp")
                yield Input(id="rx-export-path")
                with Horizontal(id="rx-export-actions"):
                    yield Button("Exporter le QR code", id="rx-export")

    def on_mount(self) -> None:
        if self.patient is None:
            self.say(NO_PATIENT, error=True)
            for widget in self.query("Input, Button, DataTable"):
                widget.disabled = True
            return
        self.query_one("#rx-search", Input).focus()

    # -- the catalogue ------------------------------------------------------------------

    @on(Input.Changed, "#rx-search")
    def searched(self, event: Input.Changed) -> None:
        self.found = search(event.value, limit=30)
        table = self.query_one("#rx-results", DataTable)
        table.clear()
        table.add_rows([literal_row((m.label, m.cip13)) for m in self.found])

    @on(Input.Submitted, "#rx-search")
    def to_results(self) -> None:
        if self.found:
            self.query_one("#rx-results", DataTable).focus()

    @on(DataTable.RowSelected, "#rx-results")
    def medication_chosen(self, event: DataTable.RowSelected) -> None:
        self.chosen = self.found[event.cursor_row]
        self.query_one("#rx-line-error", Static).update(literal(f"Choisi : {self.chosen.label}"))
        self.query_one("#rx-dosage", Input).focus()

    # -- the lines ----------------------------------------------------------------------

    @on(Input.Submitted, "#rx-dosage")
    def to_quantity(self) -> None:
        self.query_one("#rx-quantity", Input).focus()

    def line_error(self, message: str, field: str) -> None:
        self.query_one("#rx-line-error", Static).update(literal(f"⚠ {message}"))
        self.query_one(field).focus()

    @on(Input.Submitted, "#rx-quantity")
    @on(Input.Submitted, "#rx-renewals")
    @on(Input.Submitted, "#rx-mention")
    @on(Button.Pressed, "#rx-add")
    def add_line(self) -> None:
        if self.signed is not None:
            self.say(SIGNED, error=True)
            return
        if self.chosen is None:
            self.line_error(CHOOSE_MEDICATION, "#rx-search")
            return
        dosage = self.query_one("#rx-dosage", Input).value.strip()
        try:
            boxes, days = quantity_of(self.query_one("#rx-quantity", Input).value)
        except ValueError as error:
            self.line_error(str(error).capitalize() + ".", "#rx-quantity")
            return
        renewals = self.query_one("#rx-renewals", Input).value.strip() or "0"
        mention = self.query_one("#rx-mention", Input).value.strip().upper()
        if not renewals.isdigit():
            self.line_error("Renouvellements : un nombre, de 0 à 11.", "#rx-renewals")
            return
        line = LineRequest(self.chosen.cip13, dosage, boxes, days, int(renewals), mention)
        problem = line_problem(line)
        if problem:
            field = {"renouvellements": "#rx-renewals", "« non substituable »": "#rx-mention"}
            where = next((f for word, f in field.items() if problem.startswith(word)), None)
            self.line_error(problem[0].upper() + problem[1:] + ".", where or "#rx-dosage")
            return
        self.lines.append(line)
        self.query_one("#rx-lines", DataTable).add_row(
            *literal_row((len(self.lines), self.chosen.label, line.dosage, quantity_label(line)))
        )
        self.query_one("#rx-line-error", Static).update("")
        for field in ("#rx-dosage", "#rx-quantity", "#rx-renewals", "#rx-mention"):
            self.query_one(field, Input).value = ""
        self.chosen = None
        self.say(f"{len(self.lines)} ligne{'s' if len(self.lines) > 1 else ''} sur l'ordonnance.")
        search = self.query_one("#rx-search", Input)
        search.value = ""  # ready for the next medication
        search.focus()

    def action_remove_line(self) -> None:
        table = self.query_one("#rx-lines", DataTable)
        if not table.has_focus or not self.lines or self.signed is not None:
            return
        del self.lines[table.cursor_row]
        table.clear()
        for index, line in enumerate(self.lines, start=1):
            found = medication(line.cip13)
            label = found.label if found else line.cip13
            table.add_row(*literal_row((index, label, line.dosage, quantity_label(line))))

    # -- signing ------------------------------------------------------------------------

    @on(Button.Pressed, "#rx-sign")
    def sign(self) -> None:
        if self.patient is None or self.signed is not None:
            return
        if not self.lines:
            self.say(NO_LINES, error=True)
            return
        status = self.identities.status(self.patient.ins)
        if status != QUALIFIEE:
            # The INS goes out only qualified: the professional may qualify it here.
            self.say(not_qualified_reason(self.patient.ins, status), error=True)
            modal = QualifyModal(self.patient, STATUS_LABELS[status])
            self.app.push_screen(modal, self.qualify_answered)
            return
        self.say("Transmission de l'ordonnance…")
        self.query_one("#rx-sign", Button).disabled = True
        self.send(self.patient.ins, list(self.lines))

    def qualify_answered(self, document: str | None) -> None:
        if self.patient is None:
            return
        recorded = record_document(self.identities, self.patient.ins, document, self.by)
        if recorded is None:
            return  # cancelled: the reason stays shown
        if recorded.status != QUALIFIEE:
            self.say(NOT_RETRIEVED, error=True)
            return
        self.sign()

    @service_worker(group="rx-sign", unreachable=UNREACHABLE)
    async def send(self, ins: str, lines: list[LineRequest]) -> None:
        try:
            prescription = await self.client.create(ins, lines)
        except RxError as error:
            self.say(f"Ordonnance refusée : {error.message}", error=True)
            return
        finally:
            # Refused, unreachable or lost: nothing was signed, signing can be tried again.
            self.query_one("#rx-sign", Button).disabled = False
        self.show_signed(prescription)

    def show_signed(self, prescription: Prescription) -> None:
        """The number, the QR code and the DMP copy's outcome."""
        self.signed = prescription
        self.query_one("#rx-sign", Button).disabled = True
        self.say("Ordonnance signée et transmise.")
        self.query_one("#rx-qr", Static).update(qr_text(prescription.number))
        self.query_one("#rx-number", Static).update(
            literal(f"N° {prescription.display_number}\n{prescription.patient_name}")
        )
        copy = prescription.dmp_copy
        notice = ""
        if copy is not None:
            notice = (
                "Copie déposée dans le DMP du patient."
                if copy.filed
                else f"Copie non déposée dans le DMP : {copy.reason}"
            )
        self.query_one("#rx-dmp", Static).update(literal(notice))
        self.query_one("#rx-export-path", Input).value = f"ordonnance-{prescription.number}.svg"
        signed = self.query_one("#rx-signed")
        signed.add_class("-shown")
        self.add_class("-signed")
        self.query_one("#rx-export", Button).focus(scroll_visible=False)
        # The number and the QR code from their top, however short the terminal.
        self.call_after_refresh(signed.scroll_visible, top=True, animate=False)

    @on(Input.Submitted, "#rx-export-path")
    @on(Button.Pressed, "#rx-export")
    def export(self) -> None:
        if self.signed is None:
            return
        path = Path(self.query_one("#rx-export-path", Input).value.strip()).expanduser()
        try:
            save_qr(self.signed.number, path)
        except ValueError as error:
            self.say(str(error).capitalize() + ".", error=True)
            return
        except OSError as error:
            self.say(f"Impossible d'écrire {path} : {error.strerror or error}.", error=True)
            return
        self.say(f"QR code exporté dans {path}.")

    @on(Button.Pressed, "#rx-new")
    def action_new(self) -> None:
        self.lines.clear()
        self.signed = None
        self.chosen = None
        self.query_one("#rx-lines", DataTable).clear()
        self.query_one("#rx-signed").remove_class("-shown")
        self.remove_class("-signed")
        self.query_one("#rx-sign", Button).disabled = self.patient is None
        self.say("Nouvelle ordonnance.")
        self.query_one("#rx-search", Input).focus()
