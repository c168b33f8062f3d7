"""The virtual e-CPS phone, docked beside the launcher for trainers."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Digits, Input, Static

from bsp_tui.phone import PendingRequest, PhoneError, VirtualPhone

POLL_SECONDS = 1.0


class PhonePanel(Vertical):
    """Shows the oldest pending request with its binding number; approve with the PIN, or deny."""

    DEFAULT_CSS = """
    PhonePanel { height: auto; border: round $primary; border-title-color: $primary; padding: 0 1; }
    PhonePanel #phone-binding { width: auto; color: $primary; }
    PhonePanel Input { width: 1fr; }
    PhonePanel .actions { height: auto; }
    PhonePanel Button { min-width: 10; margin-right: 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="phone")
        self.border_title = "Téléphone e-CPS"
        self.request: PendingRequest | None = None
        self._personas: dict[str, dict] = {}

    def compose(self) -> ComposeResult:
        yield Static("Aucune demande en attente.", id="phone-status")
        yield Digits("", id="phone-binding")
        yield Input(
            placeholder="Code PIN", password=True, max_length=4, restrict=r"[0-9]*", id="phone-pin"
        )
        with Horizontal(classes="actions"):
            yield Button("Valider", variant="success", id="phone-approve")
            yield Button("Refuser", variant="error", id="phone-deny")
        yield Static("", id="phone-result", classes="hint")

    def on_mount(self) -> None:
        self.show_request(None)
        self.set_interval(POLL_SECONDS, self.poll)
        self.poll()

    @property
    def phone(self) -> VirtualPhone:
        return VirtualPhone(self.app.session.http)  # type: ignore[attr-defined]

    @work(exclusive=True, group="phone-poll", exit_on_error=False)
    async def poll(self) -> None:
        """Look for the oldest pending request (only the visible screen's panel asks)."""
        if not self.screen.is_current:
            return
        if not self._personas:
            self._personas = {p["national_id"]: p for p in await self.phone.personas()}
        waiting = await self.phone.pending()
        current = waiting[0] if waiting else None
        if not self.is_attached:
            return  # the screen went away while the platform answered
        if (current and current.id) != (self.request and self.request.id):
            self.show_request(current)

    def show_request(self, request: PendingRequest | None) -> None:
        self.request = request
        for widget in ("#phone-binding", "#phone-pin", ".actions"):
            self.query_one(widget).display = request is not None
        status = self.query_one("#phone-status", Static)
        if request is None:
            status.update("Aucune demande en attente.")
            return
        who = self._personas.get(request.national_id, {}).get("display_name", request.national_id)
        status.update(f"« {request.client_name} » demande une connexion pour {who}.")
        self.query_one("#phone-binding", Digits).update(request.binding)
        pin = self.query_one("#phone-pin", Input)
        pin.value = ""
        pin.focus()

    @on(Input.Submitted, "#phone-pin")
    @on(Button.Pressed, "#phone-approve")
    def approve(self) -> None:
        self.answer(True, self.query_one("#phone-pin", Input).value)

    @on(Button.Pressed, "#phone-deny")
    def deny(self) -> None:
        self.answer(False, "")

    @work(exclusive=True, group="phone-answer", exit_on_error=False)
    async def answer(self, approve: bool, pin: str) -> None:
        request = self.request
        if request is None:
            return
        result = self.query_one("#phone-result", Static)
        name = self._personas.get(request.national_id, {}).get("name", "")
        try:
            await self.phone.answer(request.id, approve, name, pin)
        except PhoneError as error:
            result.update(error.message)
            self.query_one("#phone-pin", Input).value = ""
            return
        result.update("Connexion validée." if approve else "Connexion refusée.")
        self.show_request(None)
