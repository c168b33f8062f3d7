"""The screens' offer to qualify an identity before its INS is shared (DMP, prescriptions).

A connector that shares the INS checks the launcher's identity store first
(`connectors.kit.identities`); when the identity is not qualified, its screen says why and
offers this dialog: the professional picks the high-trust document they checked, and the
store records it, with who and when.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Select, Static

from bsp_tui.domain.patients import PatientContext
from connectors.kit.identities import DOCUMENTS, IdentityStore, LocalIdentity

NOT_RETRIEVED = (
    "Identité validée sur pièce, mais pas encore récupérée par INSi : recherchez-la dans "
    "l'écran INS pour la qualifier."
)


class QualifyModal(ModalScreen[str | None]):
    """Which high-trust document was checked: its code, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Annuler", id="qualify.cancel")]
    DEFAULT_CSS = """
    QualifyModal { align: center middle; }
    QualifyModal > Vertical {
        width: 70; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    QualifyModal #qualify-buttons { height: auto; margin-top: 1; }
    QualifyModal #qualify-error { color: $error; height: auto; }
    """

    def __init__(self, patient: PatientContext, status_label: str) -> None:
        super().__init__()
        self.patient = patient
        self.status_label = status_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Identité {self.status_label} : la qualifier", classes="title")
            yield Static(
                f"{self.patient.family} {self.patient.given}, né(e) le "
                f"{self.patient.birthdate}. Quelle pièce d'identité à haut niveau de "
                "confiance avez-vous vérifiée ?",
                markup=False,
            )
            yield Select(
                [(label, code) for code, label in DOCUMENTS.items()],
                prompt="Pièce vérifiée",
                id="qualify-document",
            )
            yield Static("", id="qualify-error")
            with Horizontal(id="qualify-buttons"):
                yield Button("Qualifier", id="qualify-confirm", variant="warning")
                yield Button("Annuler", id="qualify-cancel")

    def on_mount(self) -> None:
        self.query_one("#qualify-document", Select).focus()

    @on(Button.Pressed, "#qualify-confirm")
    def confirm(self) -> None:
        document = self.query_one("#qualify-document", Select).value
        if not isinstance(document, str):
            self.query_one("#qualify-error", Static).update("Choisissez la pièce vérifiée.")
            return
        self.dismiss(document)

    @on(Button.Pressed, "#qualify-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def record_document(
    store: IdentityStore, ins: str, document: str | None, by: str
) -> LocalIdentity | None:
    """What the dialog answered, recorded (None when it was cancelled)."""
    if document is None:
        return None
    return store.validated(ins, document, by)
