"""Waiting for the professional: the binding number (or code), a countdown, cancel, outcome."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Digits, Static

from bsp_tui.app.format import duration
from bsp_tui.app.screens.base import BspScreen
from bsp_tui.sso import flows
from bsp_tui.sso.errors import SsoError


class WaitingScreen(BspScreen):
    """Runs one sign-in flow; shows what to look for on the phone and how it ended."""

    BINDINGS = [Binding("escape", "cancel", "Annuler", id="cancel-sign-in")]

    def __init__(self, flow: str, national_id: str, relock: bool = False) -> None:
        super().__init__()
        self.flow = flow
        self.national_id = national_id
        self.relock = relock
        self.deadline: float | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="waiting"):
            yield Static("Connexion en cours…", id="headline", classes="title")
            yield Digits("", id="binding")
            yield Static("", id="code", classes="code")
            yield Static("", id="instructions")
            yield Static("", id="countdown", classes="hint")
            yield Static("", id="outcome", classes="error")
            with Horizontal(classes="actions"):
                yield Button("Annuler", id="cancel")
                yield Button("Réessayer", id="retry", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#retry").display = False
        self.set_interval(1, self.tick)
        self.run_flow()

    def tick(self) -> None:
        """Count down to the request's expiry."""
        if self.deadline is None:
            return
        left = self.deadline - self.app.clock()  # type: ignore[attr-defined]
        self.query_one("#countdown", Static).update(f"La demande expire dans {duration(left)}.")

    def on_flow_event(self, event: flows.FlowEvent) -> None:
        """What the flow says, as it happens."""
        now = self.app.clock()  # type: ignore[attr-defined]
        if isinstance(event, flows.Binding):
            self.query_one("#headline", Static).update("Validez sur votre e-CPS")
            self.query_one("#binding", Digits).update(event.number)
            self.query_one("#instructions", Static).update(
                "Le même nombre s'affiche sur votre téléphone : vérifiez-le, puis saisissez "
                "votre code PIN."
            )
            self.deadline = now + event.expires_in
        elif isinstance(event, flows.UserCode):
            self.query_one("#headline", Static).update("Validez depuis un autre appareil")
            self.query_one("#code", Static).update(event.code)
            self.query_one("#instructions", Static).update(
                f"Ouvrez {event.verification_uri} et saisissez ce code."
            )
            self.deadline = now + event.expires_in
        elif isinstance(event, flows.BrowserOpened):
            self.query_one("#headline", Static).update("Poursuivez dans le navigateur")
            self.query_one("#instructions", Static).update(
                f"Si aucun navigateur ne s'ouvre, ouvrez : {event.url}"
            )
        self.tick()

    @work(exclusive=True, group="sign-in", exit_on_error=False)
    async def run_flow(self) -> None:
        """The flow itself, in a worker: the interface stays live."""
        try:
            await self.app.session.sign_in(  # type: ignore[attr-defined]
                self.flow, self.on_flow_event, national_id=self.national_id or None
            )
        except SsoError as error:
            self.show_outcome(error.message)
            return
        self.app.signed_in(relock=self.relock)  # type: ignore[attr-defined]

    def show_outcome(self, message: str) -> None:
        """The sign-in ended without a session: say why, offer to try again."""
        self.deadline = None
        self.query_one("#countdown", Static).update("")
        self.query_one("#outcome", Static).update(message)
        self.query_one("#retry").display = True
        self.query_one("#retry").focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Stop waiting and go back."""
        self.workers.cancel_group(self, "sign-in")
        self.dismiss()

    @on(Button.Pressed, "#retry")
    def retry(self) -> None:
        """Back to the sign-in form."""
        self.dismiss()
