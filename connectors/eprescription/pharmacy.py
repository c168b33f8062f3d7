"""Retrieve a prescription by its number; for a pharmacist, dispense it line by line.

The number is typed or pasted (a scanner types the QR code's payload): its check
character is verified before any request. The pharmacist chooses, per line, délivré
(`d`), non délivré (`n`) or substitué (`s`, then the substitute's CIP13), and
validates; a second dispensing is refused with the date and pharmacy of the first.
A nurse sees the same prescription, read-only.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Static

from connectors.eprescription.catalogue import medication
from connectors.eprescription.client import (
    RxClient,
    RxError,
    catalogue_problem,
    checked_number,
)
from connectors.eprescription.editor import UNREACHABLE
from connectors.eprescription.models import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    DISPENSED,
    NOT_DISPENSED,
    OUTCOME_LABELS,
    STATUS_LABELS,
    SUBSTITUTED,
    DispenseRequest,
    Line,
    Prescription,
    cip13_problem,
    french_day,
)
from connectors.kit.errors import BAD_INPUT
from connectors.view import StatusLine, literal, literal_row, service_worker

CHOICE_COLUMN = "choice"


def choice_label(outcome: str, cip13: str = "") -> str:
    """A line's dispensing, in French (with the substitute's name)."""
    if outcome != SUBSTITUTED:
        return OUTCOME_LABELS[outcome]
    found = medication(cip13)
    return f"substitué par {found.label if found else cip13}"


def found_message(prescription: Prescription, can_dispense: bool) -> tuple[str, bool]:
    """What the status line says of a prescription found, and whether it is a refusal."""
    number = prescription.display_number
    if prescription.status == COMPLETED:
        return (
            f"Ordonnance {number} déjà délivrée le {french_day(prescription.dispensed_at)} par "
            f"{prescription.pharmacy} : son numéro ne sert qu'une fois.",
            can_dispense,
        )
    if prescription.status == CANCELLED:
        return f"Ordonnance {number} annulée par son prescripteur.", can_dispense
    count = len(prescription.lines)
    what = "à délivrer" if can_dispense else "consultation seule"
    return f"Ordonnance {number} : {count} ligne{'s' if count > 1 else ''}, {what}.", False


class PrescriptionLookup(VerticalScroll, StatusLine):
    """Find a prescription by number; dispense it when `can_dispense` (it scrolls)."""

    STATUS_ID = "rx-lookup-status"

    BINDINGS = [
        Binding("d", "choose('dispensed')", "Délivré", id="rx.dispensed"),
        Binding("n", "choose('not_dispensed')", "Non délivré", id="rx.not-dispensed"),
        Binding("s", "substitute", "Substituer", id="rx.substitute"),
    ]
    DEFAULT_CSS = """
    PrescriptionLookup { height: 1fr; }
    PrescriptionLookup #rx-find-bar { height: auto; }
    PrescriptionLookup #rx-number-input { width: 1fr; }
    PrescriptionLookup #rx-summary { height: auto; margin: 1 0; }
    PrescriptionLookup #rx-dispense-lines { height: auto; max-height: 12; }
    PrescriptionLookup #rx-choices { height: auto; }
    PrescriptionLookup #rx-substitute { width: 1fr; }
    PrescriptionLookup #rx-lookup-status { height: auto; }
    PrescriptionLookup #rx-lookup-status.-error { color: $error; }
    """

    def __init__(self, client: RxClient, can_dispense: bool) -> None:
        super().__init__(id="rx-lookup")
        self.client = client
        self.can_dispense = can_dispense
        self.prescription: Prescription | None = None
        self.choices: dict[int, tuple[str, str]] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="rx-find-bar"):
            yield Input(
                placeholder="Numéro d'ordonnance (saisi ou scanné), ex. ABCD-EFGH-JKMN-P",
                id="rx-number-input",
            )
            yield Button("Rechercher", id="rx-find", variant="primary")
        yield Static("", id="rx-lookup-status")
        yield Static("", id="rx-summary")
        table: DataTable = DataTable(id="rx-dispense-lines", cursor_type="row", zebra_stripes=True)
        # The choice comes second: it is what the pharmacist works on, visible however
        # narrow the terminal.
        table.add_column("N°")
        table.add_column("Délivrance", key=CHOICE_COLUMN)
        for label in ("Médicament prescrit", "Posologie", "Quantité"):
            table.add_column(label)
        yield table
        if self.can_dispense:
            with Horizontal(id="rx-choices"):
                yield Button("Délivré (d)", id="rx-choose-dispensed")
                yield Button("Non délivré (n)", id="rx-choose-not")
                yield Input(placeholder="CIP13 du substitut", id="rx-substitute")
                yield Button("Substituer (s)", id="rx-choose-substitute")
            yield Button("Valider la délivrance", id="rx-validate", variant="success")

    def on_mount(self) -> None:
        self.query_one("#rx-number-input", Input).focus()
        self.set_dispensable(False)

    def set_dispensable(self, on: bool) -> None:
        for widget in self.query("#rx-choices Button, #rx-choices Input, #rx-validate"):
            widget.disabled = not on

    # -- finding ------------------------------------------------------------------------

    @on(Input.Submitted, "#rx-number-input")
    @on(Button.Pressed, "#rx-find")
    def find(self) -> None:
        typed = self.query_one("#rx-number-input", Input).value
        try:
            number = checked_number(typed)
        except RxError as error:
            self.say(error.message, error=True)
            return
        self.say("Recherche de l'ordonnance…")
        self.fetch(number)

    @service_worker(group="rx-find", unreachable=UNREACHABLE)
    async def fetch(self, number: str) -> None:
        try:
            prescription = await self.client.show(number)
        except RxError as error:
            self.show(None)
            self.say(error.message, error=True)
            return
        self.show(prescription)
        self.say(*found_message(prescription, self.can_dispense))
        self.query_one("#rx-dispense-lines", DataTable).focus()

    def show(self, prescription: Prescription | None) -> None:
        """The prescription's summary and lines (its dispensing, once done)."""
        self.prescription = prescription
        table = self.query_one("#rx-dispense-lines", DataTable)
        table.clear()
        summary = self.query_one("#rx-summary", Static)
        if prescription is None:
            summary.update("")
            self.set_dispensable(False)
            return
        day = french_day(prescription.created)
        text = (
            f"Patient : {prescription.patient_name} — INS {prescription.ins}\n"
            f"Prescripteur : {prescription.prescriber_name} — le {day}\n"
            f"Statut : {STATUS_LABELS.get(prescription.status, prescription.status)}"
        )
        if prescription.pharmacy:
            text += f" le {french_day(prescription.dispensed_at)} par {prescription.pharmacy}"
        summary.update(literal(text))
        dispensable = prescription.status == ACTIVE and self.can_dispense
        lines = prescription.lines
        self.choices = {line.line: (DISPENSED, "") for line in lines} if dispensable else {}
        for line in lines:
            table.add_row(*literal_row(self.row(line)), key=str(line.line))
        self.set_dispensable(dispensable)

    def row(self, line: Line) -> tuple[str, str, str, str, str]:
        if line.outcome:
            given = choice_label(line.outcome, line.dispensed_cip13)
        elif line.line in self.choices:
            given = choice_label(*self.choices[line.line])
        else:
            given = ""
        return (str(line.line), given, line.label, line.dosage, line.quantity)

    # -- choosing -----------------------------------------------------------------------

    def current_line(self) -> Line | None:
        """The line under the cursor (its row is keyed by the line's number)."""
        table = self.query_one("#rx-dispense-lines", DataTable)
        if self.prescription is None or not self.choices or not table.row_count:
            return None
        row_key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key
        return next(line for line in self.prescription.lines if str(line.line) == row_key.value)

    def set_choice(self, outcome: str, cip13: str = "") -> None:
        line = self.current_line()
        if line is None:
            return
        self.choices[line.line] = (outcome, cip13)
        choice = self.row(line)[1]
        self.query_one("#rx-dispense-lines", DataTable).update_cell(
            str(line.line), CHOICE_COLUMN, literal(choice)
        )

    def action_choose(self, outcome: str) -> None:
        if self.can_dispense:
            self.set_choice(outcome)

    @on(Button.Pressed, "#rx-choose-dispensed")
    def choose_dispensed(self) -> None:
        self.set_choice(DISPENSED)

    @on(Button.Pressed, "#rx-choose-not")
    def choose_not(self) -> None:
        self.set_choice(NOT_DISPENSED)

    def action_substitute(self) -> None:
        if self.can_dispense and self.current_line() is not None:
            self.query_one("#rx-substitute", Input).focus()

    @on(Input.Submitted, "#rx-substitute")
    @on(Button.Pressed, "#rx-choose-substitute")
    def substitute(self) -> None:
        cip13 = self.query_one("#rx-substitute", Input).value.strip()
        problem = cip13_problem(cip13) or catalogue_problem(cip13)
        if problem:
            self.say(f"Substitut « {cip13} » : {problem}.", error=True)
            self.query_one("#rx-substitute", Input).focus()
            return
        self.set_choice(SUBSTITUTED, cip13)
        self.say("")
        self.query_one("#rx-dispense-lines", DataTable).focus()

    # -- validating ---------------------------------------------------------------------

    @on(Button.Pressed, "#rx-validate")
    def validate(self) -> None:
        if self.prescription is None or not self.choices:
            return
        self.say("Enregistrement de la délivrance…")
        self.set_dispensable(False)
        requests = [
            DispenseRequest(line, outcome, cip13)
            for line, (outcome, cip13) in sorted(self.choices.items())
        ]
        self.record(self.prescription.number, requests)

    @service_worker(group="rx-dispense", unreachable=UNREACHABLE)
    async def record(self, number: str, requests: list[DispenseRequest]) -> None:
        try:
            prescription = await self.client.dispense(number, requests)
        except RxError as error:
            self.say(f"Délivrance refusée : {error.message}", error=True)
            self.set_dispensable(error.kind == BAD_INPUT)
            return
        except BaseException:
            self.set_dispensable(True)  # unreachable, or lost: the choices may be sent again
            raise
        self.show(prescription)
        self.say(f"Délivrance enregistrée : l'ordonnance {prescription.display_number} est close.")
