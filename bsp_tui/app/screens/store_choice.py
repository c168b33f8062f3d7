"""Asked once when no secure keyring exists: where may the session be kept?"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class StoreChoiceScreen(ModalScreen[str]):
    """Never a silent plaintext file: the person chooses, or quits (Échap, q, Ctrl+Q)."""

    BINDINGS = [
        Binding("escape", "leave", "Quitter", id="store-quit"),
        Binding("q", "leave", "Quitter", show=False, id="store-q"),
        Binding("ctrl+q", "leave", "Quitter", show=False, priority=True, id="store-ctrl-q"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="store-choice"):
            yield Static("Aucun trousseau sécurisé", classes="title")
            yield Static(
                "Ce poste n'a pas de trousseau sécurisé pour garder la session. Choisissez :\n"
                "• en mémoire : rien n'est écrit, la session s'arrête avec bsp ;\n"
                "• fichier : un fichier lisible par vous seul, mais en clair sur le disque.\n"
                "Votre choix est retenu pour ce profil (bsp config set token_store pour le "
                "changer)."
            )
            with Horizontal(classes="actions"):
                yield Button("En mémoire", variant="primary", id="memory")
                yield Button("Fichier en clair", id="file")
                yield Button("Quitter", id="quit")

    @on(Button.Pressed)
    def chosen(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "quit")

    def action_leave(self) -> None:
        """Quit bsp without choosing: nothing is kept."""
        self.dismiss("quit")
