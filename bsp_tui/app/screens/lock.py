"""The idle lock: the screen underneath stays as it was; a new e-CPS approval lifts it."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from bsp_tui.app.screens.base import BspScreen
from bsp_tui.app.screens.waiting import WaitingScreen


class LockScreen(BspScreen):
    """Shown after the idle time, or on request; nothing of the work below is lost."""

    def compose_body(self) -> ComposeResult:
        with Vertical(id="lock"):
            yield Static("Session verrouillée", classes="title")
            yield Static(
                "Pour reprendre, validez à nouveau sur votre e-CPS. "
                "Votre travail en cours est conservé."
            )
            with Horizontal(classes="actions"):
                yield Button("Déverrouiller avec l'e-CPS", variant="primary", id="unlock")
                yield Button("Se déconnecter", id="logout")

    def on_mount(self) -> None:
        self.query_one("#unlock").focus()

    @on(Button.Pressed, "#unlock")
    def unlock(self) -> None:
        national_id = self.app.session_facts["who"]["national_id"]  # type: ignore[attr-defined]
        self.app.push_screen(WaitingScreen("ciba", national_id, relock=True))

    @on(Button.Pressed, "#logout")
    def logout(self) -> None:
        self.app.action_logout()
