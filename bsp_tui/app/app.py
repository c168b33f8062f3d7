"""The launcher application: screens, session, idle lock, patient context, themes."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from bsp_tui.app.keymap import load_keymap
from bsp_tui.app.prefs import Prefs
from bsp_tui.app.screens.signin import SignInScreen
from bsp_tui.app.typeahead import TypeAhead
from bsp_tui.config import ConfigError, write_setting
from bsp_tui.domain.patients import PatientContext
from bsp_tui.sso.errors import NoSessionError, SsoError, StoreUnavailableError
from bsp_tui.sso.profile import Profile, load_profile
from themes import DEFAULT_THEME, THEMES

# Only the sign-in screen is imported up front: the session (httpx, JOSE, file lock),
# the connector registry and the other screens are imported when first needed, after
# the first paint.
if TYPE_CHECKING:
    from bsp_tui.sso.session import Session
    from bsp_tui.sso.trace import Tracer
    from connectors.base import Connector
    from connectors.view import SessionEnded

RENEW_EVERY = 20
RENEW_AHEAD = 45
IDLE_CHECK_EVERY = 5

SessionFactory = Callable[[Profile | None], "Session"]


def open_default_session(profile: Profile | None) -> Session:
    """The launcher's session (`bsp_tui.launcher.open_session`), imported on first use."""
    from bsp_tui.launcher import open_session

    return open_session(profile)


class BspApp(App[None]):
    """bsp in the terminal, for clinicians (and, with `demo`, for trainers)."""

    TITLE = "bsp"
    SUB_TITLE = "Bouquet de services aux professionnels"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("ctrl+l", "lock", "Verrouiller", id="lock"),
        Binding("ctrl+d", "logout", "Déconnexion", id="logout"),
        Binding("delete", "clear_patient", "Effacer le patient", id="clear-patient"),
        Binding("ctrl+q", "quit", "Quitter", id="quit"),
    ]

    patient: reactive[PatientContext | None] = reactive(None)
    session_facts: reactive[dict | None] = reactive(None, always_update=True, init=False)

    def __init__(
        self,
        demo: bool = False,
        session_factory: SessionFactory = open_default_session,
        clock: Callable[[], float] = time.time,
        prefs: Prefs | None = None,
    ) -> None:
        super().__init__()
        self.demo = demo
        self.clock = clock
        self.prefs = prefs or Prefs.load()
        # Themes are set before the first style pass: switching after mount would style
        # and paint every widget twice.
        for theme in THEMES:
            self.register_theme(theme)
        names = {theme.name for theme in THEMES}
        self.theme = self.prefs.theme if self.prefs.theme in names else DEFAULT_THEME
        self.session_factory = session_factory
        self._session: Session | None = None
        self.last_activity = clock()
        self.locked = False  # while locked, the header names no patient
        self.type_ahead = TypeAhead(self)
        # The served platform's trainer token: faults and reset need it there.
        self.trainer_token: str | None = os.environ.get("BSP_TRAINER_TOKEN") or None

    @cached_property
    def connectors(self) -> list[Connector]:
        """Every installed connector, in display order (the registry, read once)."""
        from connectors.base import registry

        return registry()

    @cached_property
    def tracer(self) -> Tracer:
        """The SSO trace of this run (the demo's trace panel shows it)."""
        from bsp_tui.sso.trace import Tracer

        return Tracer()

    # -- start ----------------------------------------------------------------------

    @cached_property
    def served(self) -> bool:
        """The configured platform is served (a room's), not embedded in this process."""
        try:
            return not load_profile().embedded
        except SsoError:
            return False

    @property
    def trainer_view(self) -> bool:
        """Demo mode shows the trainer's powers: embedded, or served with the token."""
        return not self.served or self.trainer_token is not None

    @property
    def trainer_headers(self) -> dict[str, str]:
        """The header of the trainer's calls to the platform (none when embedded)."""
        return {"Authorization": f"Bearer {self.trainer_token}"} if self.trainer_token else {}

    def on_mount(self) -> None:
        self.run_worker(self.type_ahead.run(), name="type-ahead", exit_on_error=False)
        keymap, problems = load_keymap()
        self.set_keymap(keymap)
        for problem in problems:
            self.notify(problem, severity="warning", timeout=10, markup=False)
        self._signin_mounted = self.push_screen(SignInScreen())
        if self.demo and not self.trainer_view:
            from bsp_tui.app.screens.trainer_token import TrainerTokenScreen

            self.push_screen(TrainerTokenScreen(), self.trainer_token_given)
        self.call_after_refresh(self.start_log)
        if self.demo:
            self.open_session()  # the demo's panels ask the platform at once
        else:
            self.call_after_refresh(self.open_session)  # the sign-in screen paints first
        self.set_interval(RENEW_EVERY, self.renew)
        self.set_interval(IDLE_CHECK_EVERY, self.lock_if_idle)

    @work(exit_on_error=False, group="session")
    async def open_session(self, profile: Profile | None = None) -> None:
        """Open the session store; with a live session there, go straight to the dashboard."""
        try:
            self._session = self.session_factory(profile)
            if self.demo:
                self._session.tracer = self.tracer
        except StoreUnavailableError:
            from bsp_tui.app.screens.store_choice import StoreChoiceScreen

            self.push_screen(StoreChoiceScreen(), self.store_chosen)
            return
        except SsoError as error:
            self.notify(error.message, severity="error", timeout=30)
            return
        for warning in self._session.warnings:
            self.notify(warning, severity="warning", timeout=10)
        if self.demo:
            for screen in self.screen_stack:
                if isinstance(screen, SignInScreen) and screen.is_mounted:
                    screen.load_personas()
        if self.load_facts():
            # Replacing a screen whose Header has just mounted crashes Textual 8.2.8: the
            # Header's title callback, queued on the app, finds no HeaderTitle any more.
            # So the sign-in screen mounts first, and the switch queues behind that callback.
            await self._signin_mounted
            self.call_next(self.show_dashboard)

    def store_chosen(self, choice: str | None) -> None:
        if choice not in ("memory", "file"):
            self.exit()
            return
        profile = load_profile()
        try:
            write_setting(("profiles", profile.name), "token_store", choice)
        except (OSError, ConfigError) as error:
            self.notify(f"Choix non retenu pour la prochaine fois : {error}", severity="warning")
        self.open_session(dataclasses.replace(profile, token_store=choice))

    @property
    def session(self) -> Session:
        """The session (opened at start)."""
        if self._session is None:
            raise NoSessionError("La session n'est pas encore ouverte")
        return self._session

    def load_facts(self) -> bool:
        """Refresh the cached facts the session bar shows; False when there is no session."""
        record = self.session.store.get("session")
        access = self.session.store.get("access") or {}
        if not record or record["refresh_expires_at"] <= self.clock():
            self.session_facts = None
            return False
        self.session_facts = {
            "who": record["who"],
            "session_expires_at": record["refresh_expires_at"],
            "access_expires_at": access.get("expires_at", 0),
        }
        return True

    # -- signing in and out -------------------------------------------------------------

    def start_sign_in(self, flow: str, national_id: str) -> None:
        """From the sign-in screen: run the flow on a waiting screen."""
        from bsp_tui.app.screens.waiting import WaitingScreen

        self.push_screen(WaitingScreen(flow, national_id))

    def signed_in(self, relock: bool = False) -> None:
        """A flow ended with a session."""
        self.load_facts()
        self.last_activity = self.clock()
        if relock:
            self.pop_screen()  # the waiting screen
            self.pop_screen()  # the lock
            self.set_locked(False)
            self.notify("Session déverrouillée.")
            return
        self.pop_screen()
        self.show_dashboard()

    def show_dashboard(self) -> None:
        """The dashboard replaces the sign-in screen."""
        from bsp_tui.app.screens.dashboard import DashboardScreen

        self.switch_screen(DashboardScreen())

    def session_lost(self, error: NoSessionError) -> None:
        """The session ended elsewhere (revoked, expired): say so and offer to sign in."""
        self.end_session(error.reason)

    def on_session_ended(self, message: SessionEnded) -> None:
        """A connector screen found the session over (its error boundary said so)."""
        self.end_session(message.reason)

    def start_log(self) -> None:
        """The interface's log, once the first screen is painted (not on the way to it)."""
        from bsp_tui.main import start_log

        start_log()
        logging.getLogger("bsp.app").info(
            "Interface démarrée%s.", " (mode formateur)" if self.demo else ""
        )

    def end_session(self, reason: str) -> None:
        """Back to the sign-in screen, from whatever screen is open, with one sentence."""
        if self.session_facts is None:
            return  # already said, by another of the checks that found out
        self.session_facts = None
        self.patient = None
        self.set_locked(False)
        logging.getLogger("bsp.app").info("Session terminée : %s.", reason)
        self.notify(
            f"Votre session a pris fin : reconnectez-vous avec votre e-CPS ({reason}).",
            severity="error",
            timeout=15,
            markup=False,
        )
        self.back_to_sign_in()

    def back_to_sign_in(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if not isinstance(self.screen, SignInScreen):
            self.switch_screen(SignInScreen())

    def action_logout(self) -> None:
        """Log out from anywhere: revoke, end the PSC session, wipe the store."""
        self.logout()

    @work(exclusive=True, group="session", exit_on_error=False)
    async def logout(self) -> None:
        try:
            await self.session.logout()
        except SsoError as error:
            self.notify(error.message, severity="warning", timeout=10)
        self.session_facts = None
        self.patient = None
        self.set_locked(False)
        self.notify("Vous êtes déconnecté.")
        self.back_to_sign_in()

    @work(exclusive=True, group="renew", exit_on_error=False)
    async def renew(self) -> None:
        """Keep the access token fresh in the background, silently."""
        if self.session_facts is None:
            return
        try:
            await self.session.access_token(min_valid=RENEW_AHEAD)
        except NoSessionError as error:
            self.session_lost(error)
            return
        except SsoError:
            return  # unreachable for now: the next round tries again
        self.load_facts()

    def watch_session_facts(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Lock, logout and the patient key mean nothing before sign-in: hidden until then;
        # a locked launcher shows no patient, so it offers nothing to do with one either.
        if action == "clear_patient" and self.locked:
            return False
        return not (action in ("lock", "logout", "clear_patient") and self.session_facts is None)

    # -- idle lock --------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown | events.MouseScrollDown):
            self.last_activity = self.clock()
        if self.type_ahead.hold(event):
            return  # handed on in its turn, once the keys before it have been handled
        await super().on_event(event)

    def lock_if_idle(self) -> None:
        if self.session_facts is None:
            return
        from bsp_tui.app.screens.lock import LockScreen
        from bsp_tui.app.screens.waiting import WaitingScreen

        if isinstance(self.screen, LockScreen | WaitingScreen):
            return
        if self.clock() - self.last_activity >= self.prefs.lock_after:
            self.action_lock()

    def action_lock(self) -> None:
        """Lock now; a new e-CPS approval unlocks, the screens below stay as they are."""
        from bsp_tui.app.screens.lock import LockScreen

        if self.session_facts is not None and not isinstance(self.screen, LockScreen):
            self.set_locked(True)
            self.push_screen(LockScreen())

    def set_locked(self, locked: bool) -> None:
        """Lock or unlock what the header shows: no patient while the session is locked."""
        self.locked = locked
        self.watch_patient(self.patient)

    # -- connectors and patient -------------------------------------------------------------

    def open_connector(self, connector: Connector) -> None:
        """Open a connector's screen on the shared session and patient context."""
        from bsp_tui.app.screens.connector import ConnectorScreen
        from connectors.base import ConnectorContext

        context = ConnectorContext(
            connector=connector,
            client=self.session.client_for(connector.audience, connector.base_url),
            who=self.session_facts["who"] if self.session_facts else {},
            get_patient=lambda: self.patient,
            set_patient=self.set_patient,
        )
        self.push_screen(ConnectorScreen(context))

    def set_patient(self, patient: PatientContext | None) -> None:
        """Make a patient the context every connector opens on (None clears it)."""
        self.patient = patient

    def watch_patient(self, patient: PatientContext | None) -> None:
        self.refresh_bindings()
        if self.locked:
            self.sub_title = "Session verrouillée"
        elif patient is None:
            self.sub_title = self.SUB_TITLE
        else:
            self.sub_title = f"Patient : {patient.label}"

    def recheck(self) -> None:
        """Check the dashboard's tiles again, wherever the dashboard is in the stack."""
        from bsp_tui.app.screens.dashboard import DashboardScreen

        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                screen.action_recheck()

    def action_clear_patient(self) -> None:
        if self.patient is not None:
            self.patient = None
            self.notify("Contexte patient effacé.")

    @work(exit_on_error=False, group="trainer")
    async def trainer_token_given(self, token: str | None) -> None:
        """Check the typed token with the platform; with it, the fault panels appear."""
        import httpx  # the HTTP stack is loaded after the first paint, not at start-up

        if not token:
            self.notify("Vue stagiaire : téléphone et trace, sans les pannes.")
            return
        try:
            answer = await self.session.http.get(
                "/demo/faults", headers={"Authorization": f"Bearer {token}"}
            )
        except (SsoError, httpx.HTTPError) as error:
            self.notify(f"Jeton formateur non vérifié : {error}", severity="error")
            return
        if answer.status_code != 200:
            self.notify("Jeton formateur refusé : vue stagiaire.", severity="error")
            return
        self.trainer_token = token
        from bsp_tui.app.widgets.demo import DemoDock

        for screen in self.screen_stack:
            for dock in screen.query(DemoDock):
                dock.show_faults()
        self.notify("Vue formateur : les pannes sont disponibles.")

    async def demo_personas(self) -> list[dict]:
        """The emulated platform's demo professionals (no secrets)."""
        from bsp_tui.launcher import virtual_phone

        return await virtual_phone(self.session.http).personas()

    # -- command palette and themes -----------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for theme in THEMES:
            yield SystemCommand(
                f"Thème : {theme.name}",
                "Changer l'apparence (retenu pour les prochaines fois)",
                lambda name=theme.name: self.choose_theme(name),
            )
        if self.session_facts is not None:
            yield SystemCommand("Verrouiller", "Verrouiller la session", self.action_lock)
            yield SystemCommand("Déconnexion", "Fermer la session partout", self.action_logout)
            yield SystemCommand(
                "Effacer le patient", "Vider le contexte patient", self.action_clear_patient
            )
            for number, connector in enumerate(self.connectors, start=1):
                yield SystemCommand(
                    f"Ouvrir {connector.title}",
                    f"{connector.description} (touche {number})",
                    lambda c=connector: self.open_connector(c),
                )

    def choose_theme(self, name: str) -> None:
        """Switch theme and remember it."""
        self.theme = name
        self.prefs.theme = name
        self.prefs.save()


def run(demo: bool = False) -> None:
    """Start the launcher."""
    BspApp(demo=demo).run()
