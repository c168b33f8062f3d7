"""Asked in demo mode on a served platform: the trainer token, or the trainee's view."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class TrainerTokenScreen(ModalScreen[str]):
    """The trainer types the token `bsp platform serve` printed; a trainee goes on without.

    Dismissed with the token typed, or "" for the trainee's view (phone and trace only).
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="trainer-token"):
            yield Static("Plateforme servie", classes="title")
            yield Static(
                "Les pannes et la réinitialisation sont réservées au formateur : saisissez "
                "le jeton formateur affiché par `bsp platform serve` (ou lancez bsp avec "
                "BSP_TRAINER_TOKEN). Sans lui, la vue stagiaire montre le téléphone et la trace."
            )
            yield Input(placeholder="Jeton formateur", password=True, id="trainer-token-input")
            with Horizontal(classes="actions"):
                yield Button("Valider", variant="primary", id="trainer")
                yield Button("Vue stagiaire", id="trainee")

    @on(Input.Submitted, "#trainer-token-input")
    @on(Button.Pressed, "#trainer")
    def given(self) -> None:
        self.dismiss(self.query_one("#trainer-token-input", Input).value.strip())

    @on(Button.Pressed, "#trainee")
    def without(self) -> None:
        self.dismiss("")
