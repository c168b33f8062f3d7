"""Sign-in: national id (its key checked as it is typed), the flow, and in demo a persona."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Select, Static

from bsp_tui.app.screens.base import BspScreen
from bsp_tui.domain.identifiers import NATIONAL_ID_MAX, national_id_problem
from bsp_tui.sso.errors import SsoError
from bsp_tui.sso.profile import EMBEDDED_CIBA_ONLY, FLOWS, load_profile

FLOW_LABELS = {
    "ciba": "Notification sur mon e-CPS",
    "device": "Code à saisir sur un autre appareil",
    "browser": "Navigateur",
}


class SignInScreen(BspScreen):
    """The first screen: who are you, and how do you want to confirm."""

    def compose_body(self) -> ComposeResult:
        with Vertical(id="signin"):
            yield Static("Connexion avec votre e-CPS", classes="title")
            if self.app.demo:  # type: ignore[attr-defined]
                yield Select([], prompt="Professionnel de démonstration", id="persona")
            yield Label("Identifiant national (8 + RPPS)", classes="label")
            yield Input(
                placeholder="8 suivi des 11 chiffres du RPPS",
                # Visible ASCII: a structure's staff type `5` + SIRET + `/` + their id.
                restrict=r"[!-~]*",
                max_length=NATIONAL_ID_MAX,
                id="national-id",
            )
            yield Static("", id="id-check", classes="hint")
            flows = _person_flows()
            with RadioSet(id="flow"):
                for flow in flows:
                    yield RadioButton(FLOW_LABELS[flow], value=flow == "ciba", id=f"flow-{flow}")
            if len(flows) < len(FLOW_LABELS):
                yield Static(EMBEDDED_CIBA_ONLY, id="flows-hint", classes="hint")
            with Horizontal(classes="actions"):
                yield Button("Se connecter", variant="primary", id="start")
            yield Static("", id="signin-error", classes="error")

    def on_mount(self) -> None:
        self.personas_asked = False
        self.query_one("#national-id", Input).focus()
        if self.app.demo and self.app._session is not None:  # type: ignore[attr-defined]
            self.load_personas()

    def load_personas(self) -> None:
        """Fill the persona picker, once, from the platform's demo directory (as soon as
        the session store is open: after the store choice, when there is no keyring)."""
        if not self.personas_asked:
            self.personas_asked = True
            self.fill_personas()

    @work(exit_on_error=False, group="personas")
    async def fill_personas(self) -> None:
        personas = await self.app.demo_personas()  # type: ignore[attr-defined]
        options = [(f"{p['display_name']} — {p['profession']}", p["national_id"]) for p in personas]
        self.query_one("#persona", Select).set_options(options)

    @on(Select.Changed, "#persona")
    def persona_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#national-id", Input).value = event.value

    @property
    def flow(self) -> str:
        """The chosen flow."""
        pressed = self.query_one("#flow", RadioSet).pressed_button
        return (pressed.id or "flow-ciba").removeprefix("flow-") if pressed else "ciba"

    @on(Input.Changed, "#national-id")
    def check_key(self, event: Input.Changed) -> None:
        """Say at once whether the id is well formed (its RPPS Luhn key included)."""
        check = self.query_one("#id-check", Static)
        if not event.value:
            check.update("")
            return
        problem = national_id_problem(event.value)
        check.update(problem or "✓ Identifiant valide")
        check.set_class(problem is not None and len(event.value) >= 10, "error")

    @on(Input.Submitted, "#national-id")
    @on(Button.Pressed, "#start")
    def start(self) -> None:
        """Start the chosen flow (CIBA needs a valid national id)."""
        national_id = self.query_one("#national-id", Input).value.strip()
        error = self.query_one("#signin-error", Static)
        if self.flow == "ciba":
            problem = national_id_problem(national_id)
            if problem:
                error.update(problem)
                self.query_one("#national-id", Input).focus()
                return
        error.update("")
        self.app.start_sign_in(self.flow, national_id)  # type: ignore[attr-defined]


def _person_flows() -> tuple[str, ...]:
    try:
        return load_profile().person_flows
    except SsoError:
        return FLOWS  # a broken profile is said when the session opens
