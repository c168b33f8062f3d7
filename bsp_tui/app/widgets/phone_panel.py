"""The virtual e-CPS phone, docked beside the launcher for trainers."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Digits, Input, OptionList, Static
from textual.widgets.option_list import Option

from bsp_tui.launcher import virtual_phone
from bsp_tui.phone import PendingRequest, PhoneError, VirtualPhone
from connectors.view import literal

POLL_SECONDS = 1.0


class PhonePanel(Vertical):
    """Every pending request with its binding number and software; the chosen one is answered.

    Two trainees signed in as the same professional each see both numbers and answer the
    one their own screen shows: the panel never picks for them.
    """

    DEFAULT_CSS = """
    PhonePanel { height: auto; border: round $primary; border-title-color: $primary; padding: 0 1; }
    PhonePanel #phone-binding { width: auto; color: $primary; }
    PhonePanel #phone-requests { height: auto; max-height: 6; }
    PhonePanel Input { width: 1fr; }
    PhonePanel .actions { height: auto; }
    PhonePanel Button { min-width: 10; margin-right: 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="phone")
        self.border_title = "Téléphone e-CPS"
        self.request: PendingRequest | None = None
        self.requests: list[PendingRequest] = []
        self._personas: dict[str, dict] = {}

    def compose(self) -> ComposeResult:
        yield Static("Aucune demande en attente.", id="phone-status")
        yield OptionList(id="phone-requests")
        yield Digits("", id="phone-binding")
        yield Input(
            placeholder="Code PIN", password=True, max_length=4, restrict=r"[0-9]*", id="phone-pin"
        )
        with Horizontal(classes="actions"):
            yield Button("Valider", variant="success", id="phone-approve")
            yield Button("Refuser", variant="error", id="phone-deny")
        yield Static("", id="phone-result", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#phone-requests").display = False  # shown when several wait
        self.show_request(None)
        self.set_interval(POLL_SECONDS, self.poll)
        self.poll()

    @property
    def phone(self) -> VirtualPhone:
        return virtual_phone(self.app.session.http)  # type: ignore[attr-defined]

    @work(exclusive=True, group="phone-poll", exit_on_error=False)
    async def poll(self) -> None:
        """Look for pending requests (only the visible screen's panel asks)."""
        if not self.screen.is_current:
            return
        if not self._personas:
            self._personas = {p["national_id"]: p for p in await self.phone.personas()}
        # Newest first: the sign-in just started on this launcher is usually on top.
        try:
            waiting = list(reversed(await self.phone.pending()))
        except PhoneError as error:
            if self.is_attached and error.code == "not_enrolled":
                self.query_one("#phone-status", Static).update(literal(error.message))
            return
        if not self.is_attached:
            return  # the screen went away while the platform answered
        if [r.id for r in waiting] != [r.id for r in self.requests]:
            self.show_requests(waiting)

    def _who(self, request: PendingRequest) -> str:
        return self._personas.get(request.national_id, {}).get("display_name", request.national_id)

    def show_requests(self, waiting: list[PendingRequest]) -> None:
        """List `waiting`, keeping the chosen request chosen while it still waits."""
        self.requests = waiting
        options = self.query_one("#phone-requests", OptionList)
        options.clear_options()
        options.add_options(
            Option(literal(f"{r.binding}  {self._who(r)} — {r.client_name}"), id=r.id)
            for r in waiting
        )
        options.display = len(waiting) > 1
        kept = next((r for r in waiting if self.request and r.id == self.request.id), None)
        chosen = kept or (waiting[0] if waiting else None)
        if chosen is not None:
            options.highlighted = waiting.index(chosen)
        self.show_request(chosen, fresh=chosen is not kept)

    @on(OptionList.OptionHighlighted, "#phone-requests")
    def choose(self, event: OptionList.OptionHighlighted) -> None:
        # Moving through the list shows each number; the focus stays in the list.
        chosen = next((r for r in self.requests if r.id == event.option_id), None)
        if chosen is not None and (self.request is None or chosen.id != self.request.id):
            self.show_request(chosen, take_focus=False)

    @on(OptionList.OptionSelected, "#phone-requests")
    def chosen(self) -> None:
        self.query_one("#phone-pin", Input).focus()

    def show_request(
        self, request: PendingRequest | None, fresh: bool = True, take_focus: bool = True
    ) -> None:
        """Show the request the PIN will answer (its number, its software), or none.

        `fresh` is a newly chosen request: the PIN field is emptied (and focused, with
        `take_focus`); otherwise what the person is typing stays.
        """
        self.request = request
        for widget in ("#phone-binding", "#phone-pin", ".actions"):
            self.query_one(widget).display = request is not None
        status = self.query_one("#phone-status", Static)
        if request is None:
            status.update("Aucune demande en attente.")
            return
        count = len(self.requests)
        intro = f"{count} demandes en attente. " if count > 1 else ""
        # Names come from the platform: shown literally, never read as markup.
        status.update(
            literal(
                f"{intro}« {request.client_name} » demande une connexion pour {self._who(request)}."
            )
        )
        self.query_one("#phone-binding", Digits).update(request.binding)
        if fresh:
            pin = self.query_one("#phone-pin", Input)
            pin.value = ""
            if take_focus:
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
        if approve and not pin:
            # Refused here: sent, an empty PIN would count as a wrong attempt.
            result.update("Saisissez le code PIN avant de valider.")
            return
        name = self._personas.get(request.national_id, {}).get("name", "")
        try:
            await self.phone.answer(request.id, approve, name, pin)
        except PhoneError as error:
            result.update(literal(error.message))
            self.query_one("#phone-pin", Input).value = ""
            return
        result.update("Connexion validée." if approve else "Connexion refusée.")
        self.show_requests([r for r in self.requests if r.id != request.id])
