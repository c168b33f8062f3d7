"""The ordonnance numérique screen: what it offers depends on who signed in.

A prescriber (médecin) gets the prescription editor on the context patient; a
pharmacist, the dispensing view; a nurse, the same lookup read-only. Anyone else is
told why there is nothing here (the service would refuse them anyway).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from connectors.base import ConnectorContext
from connectors.eprescription.client import RxClient
from connectors.eprescription.editor import PrescriptionEditor
from connectors.eprescription.models import DISPENSERS, PRESCRIBERS, READERS
from connectors.eprescription.pharmacy import PrescriptionLookup
from connectors.kit.identities import IdentityStore, professional_label
from connectors.view import ConnectorView, literal

NO_ACCESS = "Votre profession n'a pas accès à l'ordonnance numérique."
TITLES = {
    "editor": "Ordonnance numérique — nouvelle ordonnance",
    "dispense": "Ordonnance numérique — délivrance",
    "read": "Ordonnance numérique — consultation",
}


def role_of(profession_code: str) -> str:
    """`editor`, `dispense`, `read` or `none`: what this profession's screen offers."""
    if profession_code in PRESCRIBERS:
        return "editor"
    if profession_code in DISPENSERS:
        return "dispense"
    if profession_code in READERS:
        return "read"
    return "none"


class PrescriptionView(ConnectorView):
    """The editor, the dispensing view or the read-only lookup, by profession."""

    DEFAULT_CSS = """
    PrescriptionView .title { text-style: bold; }
    PrescriptionView #rx-patient { height: auto; margin-bottom: 1; }
    """

    def __init__(self, context: ConnectorContext) -> None:
        super().__init__(context)
        self.role = role_of(str(context.who.get("profession_code", "")))

    def compose(self) -> ComposeResult:
        if self.role == "none":
            yield Static("Ordonnance numérique", classes="title")
            yield Static(NO_ACCESS, id="rx-no-access")
            return
        yield Static(TITLES[self.role], classes="title")
        client = RxClient(self.context.client)
        if self.role == "editor":
            patient = self.context.get_patient()
            who = f"Patient : {patient.label}" if patient else "Aucun patient choisi."
            yield Static(literal(who), id="rx-patient")
            who_signed = self.context.who
            by = professional_label(
                str(who_signed.get("name", "")), str(who_signed.get("national_id", ""))
            )
            yield PrescriptionEditor(client, patient, IdentityStore.of_profile(), by)
        else:
            yield PrescriptionLookup(client, can_dispense=self.role == "dispense")
