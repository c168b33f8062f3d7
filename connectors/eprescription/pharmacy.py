"""Retrieve a prescription by its number; for a pharmacist, dispense it line by line.

The number is typed or pasted (a scanner types the QR code's payload): its check
character is verified before any request. The pharmacist chooses, per line left to
deliver, délivré (`d`), non délivré (`n`) or substitué (`s`, then the substitute's
CIP13), a quantity (`q`) and the prescriber's agreement's day when a modification
needs it, records the patient's opposition if any, and validates one visit; once all
is delivered, a further dispensing is refused with the day and pharmacy of each visit.
A nurse sees the same prescription, read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, DataTable, Input, Static

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
    EXPIRED,
    NON_SUBSTITUTABLE,
    NOT_DISPENSED,
    OUTCOME_LABELS,
    SUBSTITUTED,
    DispenseRequest,
    Line,
    Prescription,
    amount,
    cip13_problem,
    french_day,
    parse_agreement,
)
from connectors.kit.errors import BAD_INPUT
from connectors.view import StatusLine, literal, literal_row, service_worker

CHOICE_COLUMN = "choice"


@dataclass(frozen=True)
class Choice:
    """What this visit gives of a line: how, the substitute, a quantity, the agreement."""

    outcome: str = DISPENSED
    cip13: str = ""
    quantity: int | None = None
    agreement: str = ""


def choice_label(choice: Choice, line: Line) -> str:
    """A line's choice for this visit, in French (the substitute's name, the quantity)."""
    if choice.outcome == NOT_DISPENSED:
        return OUTCOME_LABELS[NOT_DISPENSED]
    text = OUTCOME_LABELS[DISPENSED]
    if choice.outcome == SUBSTITUTED:
        found = medication(choice.cip13)
        text = f"substitué par {found.label if found else choice.cip13}"
    quantity = choice.quantity or min(line.unit_quantity, line.remaining)
    text += f" ({amount(quantity, line.boxes is not None)})"
    if choice.agreement:
        text += f", accord du {french_day(choice.agreement)}"
    return text


def visits_text(prescription: Prescription) -> str:
    """Each visit's day and pharmacy, in French."""
    return ", ".join(f"le {french_day(d.at)} par {d.pharmacy}" for d in prescription.dispensings)


def found_message(prescription: Prescription, can_dispense: bool) -> tuple[str, bool]:
    """What the status line says of a prescription found, and whether it is a refusal."""
    number = prescription.display_number
    if prescription.status == COMPLETED:
        return (
            f"Ordonnance {number} déjà entièrement délivrée ({visits_text(prescription)}) : "
            "son numéro ne sert plus.",
            can_dispense,
        )
    if prescription.status == CANCELLED:
        return f"Ordonnance {number} annulée par son prescripteur.", can_dispense
    if prescription.status == EXPIRED:
        return f"Ordonnance {number} expirée : le patient doit consulter.", can_dispense
    left = sum(1 for line in prescription.lines if line.remaining)
    what = "à délivrer" if can_dispense else "consultation seule"
    return f"Ordonnance {number} : {left} ligne{'s' if left > 1 else ''} {what}.", False


class PrescriptionLookup(VerticalScroll, StatusLine):
    """Find a prescription by number; dispense it when `can_dispense` (it scrolls)."""

    STATUS_ID = "rx-lookup-status"

    BINDINGS = [
        Binding("d", "choose('dispensed')", "Délivré", id="rx.dispensed"),
        Binding("n", "choose('not_dispensed')", "Non délivré", id="rx.not-dispensed"),
        Binding("s", "substitute", "Substituer", id="rx.substitute"),
        Binding("q", "quantity", "Quantité", id="rx.quantity"),
    ]
    DEFAULT_CSS = """
    PrescriptionLookup { height: 1fr; }
    PrescriptionLookup #rx-find-bar { height: auto; }
    PrescriptionLookup #rx-number-input { width: 1fr; }
    PrescriptionLookup #rx-summary { height: auto; margin: 1 0; }
    PrescriptionLookup #rx-dispense-lines { height: auto; max-height: 12; }
    PrescriptionLookup #rx-choices { height: auto; }
    PrescriptionLookup #rx-substitute { width: 1fr; }
    PrescriptionLookup #rx-modify { height: auto; }
    PrescriptionLookup #rx-quantity { width: 18; }
    PrescriptionLookup #rx-agreement { width: 30; }
    PrescriptionLookup #rx-opposition { border: none; height: 1; padding: 0 1; }
    PrescriptionLookup #rx-lookup-status { height: auto; }
    PrescriptionLookup #rx-lookup-status.-error { color: $error; }
    """

    def __init__(self, client: RxClient, can_dispense: bool) -> None:
        super().__init__(id="rx-lookup")
        self.client = client
        self.can_dispense = can_dispense
        self.prescription: Prescription | None = None
        self.choices: dict[int, Choice] = {}

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
        for label in ("Délivré", "Médicament prescrit", "Posologie", "Quantité"):
            table.add_column(label)
        yield table
        if self.can_dispense:
            with Horizontal(id="rx-choices"):
                yield Button("Délivré (d)", id="rx-choose-dispensed")
                yield Button("Non délivré (n)", id="rx-choose-not")
                yield Input(placeholder="CIP13 du substitut", id="rx-substitute")
                yield Button("Substituer (s)", id="rx-choose-substitute")
            with Horizontal(id="rx-modify"):
                yield Input(placeholder="Quantité (q)", id="rx-quantity", type="integer")
                yield Input(placeholder="Accord prescripteur AAAA-MM-JJ", id="rx-agreement")
                yield Checkbox("Opposition du patient", id="rx-opposition")
            yield Button("Valider la délivrance", id="rx-validate", variant="success")

    def on_mount(self) -> None:
        self.query_one("#rx-number-input", Input).focus()
        self.set_dispensable(False)

    def set_dispensable(self, on: bool) -> None:
        for widget in self.query(
            "#rx-choices Button, #rx-choices Input, #rx-modify *, #rx-validate"
        ):
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
            f"Statut : {prescription.status_label}"
        )
        if prescription.status == ACTIVE and prescription.valid_until:
            text += f", jusqu'au {french_day(prescription.valid_until)}"
        for visit in prescription.dispensings:
            text += f"\nDélivrance {visit.rank} le {french_day(visit.at)} par {visit.pharmacy}"
        if prescription.withheld:
            text += f"\n{prescription.withheld} délivrance(s) non communiquée(s) (opposition)"
        summary.update(literal(text))
        dispensable = prescription.status == ACTIVE and self.can_dispense
        lines = prescription.lines
        self.choices = (
            {line.line: Choice() for line in lines if line.remaining} if dispensable else {}
        )
        for line in lines:
            table.add_row(*literal_row(self.row(line)), key=str(line.line))
        self.set_dispensable(dispensable)

    def row(self, line: Line) -> tuple[str, ...]:
        choice = self.choices.get(line.line)
        given = choice_label(choice, line) if choice else ""
        label = line.label
        if line.non_substitutable:
            label += f" — non substituable ({line.non_substitutable})"
        return (str(line.line), given, line.progress, label, line.dosage, line.quantity)

    # -- choosing -----------------------------------------------------------------------

    def current_line(self) -> Line | None:
        """The line under the cursor (its row is keyed by the line's number)."""
        table = self.query_one("#rx-dispense-lines", DataTable)
        if self.prescription is None or not self.choices or not table.row_count:
            return None
        row_key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key
        line = next(line for line in self.prescription.lines if str(line.line) == row_key.value)
        return line if line.line in self.choices else None

    def set_choice(self, **changes: object) -> None:
        """Change the current line's choice (`outcome`, `cip13`, `quantity`, `agreement`)."""
        line = self.current_line()
        if line is None:
            self.say("Cette ligne est déjà entièrement délivrée.", error=True)
            return
        self.choices[line.line] = replace(self.choices[line.line], **changes)  # type: ignore[arg-type]
        choice = self.row(line)[1]
        self.query_one("#rx-dispense-lines", DataTable).update_cell(
            str(line.line), CHOICE_COLUMN, literal(choice)
        )

    def action_choose(self, outcome: str) -> None:
        if self.can_dispense:
            self.set_choice(outcome=outcome, cip13="")

    @on(Button.Pressed, "#rx-choose-dispensed")
    def choose_dispensed(self) -> None:
        self.set_choice(outcome=DISPENSED, cip13="")

    @on(Button.Pressed, "#rx-choose-not")
    def choose_not(self) -> None:
        self.set_choice(outcome=NOT_DISPENSED, cip13="", quantity=None)

    def refused_substitution(self, line: Line) -> bool:
        """Say so, and True, when the line is "non substituable"."""
        mention = line.non_substitutable
        if mention:
            self.say(
                f"Ligne {line.line} « non substituable » ({mention} : "
                f"{NON_SUBSTITUTABLE[mention]}) : la substitution est refusée.",
                error=True,
            )
        return bool(mention)

    def action_substitute(self) -> None:
        line = self.current_line() if self.can_dispense else None
        if line is not None and not self.refused_substitution(line):
            self.query_one("#rx-substitute", Input).focus()

    def action_quantity(self) -> None:
        if self.can_dispense and self.current_line() is not None:
            self.query_one("#rx-quantity", Input).focus()

    @on(Input.Submitted, "#rx-quantity")
    def quantity(self) -> None:
        typed = self.query_one("#rx-quantity", Input).value.strip()
        if not typed.isdigit() or int(typed) < 1:
            self.say("Quantité : un nombre de boîtes ou de jours, 1 au moins.", error=True)
            return
        self.set_choice(quantity=int(typed))
        self.say("")
        self.query_one("#rx-dispense-lines", DataTable).focus()

    @on(Input.Submitted, "#rx-agreement")
    def agreement(self) -> None:
        typed = self.query_one("#rx-agreement", Input).value.strip()
        line = self.current_line()
        try:
            _, day = parse_agreement(f"{line.line if line else 1}={typed}")
        except ValueError:
            self.say("Accord du prescripteur : une date AAAA-MM-JJ.", error=True)
            return
        self.set_choice(agreement=day)
        self.say("")
        self.query_one("#rx-dispense-lines", DataTable).focus()

    @on(Input.Submitted, "#rx-substitute")
    @on(Button.Pressed, "#rx-choose-substitute")
    def substitute(self) -> None:
        cip13 = self.query_one("#rx-substitute", Input).value.strip()
        line = self.current_line()
        if line is not None and self.refused_substitution(line):
            return
        problem = cip13_problem(cip13) or catalogue_problem(cip13)
        if problem:
            self.say(f"Substitut « {cip13} » : {problem}.", error=True)
            self.query_one("#rx-substitute", Input).focus()
            return
        self.set_choice(outcome=SUBSTITUTED, cip13=cip13)
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
            DispenseRequest(line, c.outcome, c.cip13, c.quantity, c.agreement)
            for line, c in sorted(self.choices.items())
        ]
        opposed = self.query_one("#rx-opposition", Checkbox).value
        self.record(self.prescription.number, requests, opposed)

    @service_worker(group="rx-dispense", unreachable=UNREACHABLE)
    async def record(self, number: str, requests: list[DispenseRequest], opposed: bool) -> None:
        try:
            prescription = await self.client.dispense(number, requests, opposed)
        except RxError as error:
            self.say(f"Délivrance refusée : {error.message}", error=True)
            self.set_dispensable(error.kind == BAD_INPUT)
            return
        except BaseException:
            self.set_dispensable(True)  # unreachable, or lost: the choices may be sent again
            raise
        self.show(prescription)
        number = prescription.display_number
        if prescription.status == COMPLETED:
            self.say(f"Délivrance enregistrée : l'ordonnance {number} est entièrement délivrée.")
        else:
            rank = len(prescription.dispensings)
            self.say(f"Délivrance {rank} enregistrée : l'ordonnance {number} reste à délivrer.")
