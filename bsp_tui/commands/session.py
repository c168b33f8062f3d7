"""`bsp login / status / token / logout`: the single sign-on session from the shell."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import click
import httpx

from bsp_tui import launcher
from bsp_tui.commands.pin import PIN_ENV, pin_options, read_pin
from bsp_tui.exitcodes import ExitCode
from bsp_tui.output import CommandError, echo, json_option, print_json, run_async
from bsp_tui.sso.errors import UsageError
from bsp_tui.sso.profile import EMBEDDED_CIBA_ONLY, FLOWS
from bsp_tui.sso.session import Session
from connectors.base import registry

if TYPE_CHECKING:
    from bsp_tui.sso import flows

CONNECTOR_NAMES = [connector.name for connector in registry()]
PSC = "psc"  # the identity provider's own access token, beside the connectors' ones


@asynccontextmanager
async def open_session() -> AsyncIterator[Session]:
    """The configured profile's session; its warnings go to stderr first."""
    session = launcher.open_session()
    for warning in session.warnings:
        echo(warning, err=True)
    async with session:
        yield session


@asynccontextmanager
async def connector_client(
    audience: str, base_url: str = "", *, signed_in: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for a connector's service on the session: the `ClientFactory` that `bsp`
    hands every connector's group (connectors.kit.cli)."""
    async with open_session() as session:
        if signed_in:
            await session.connector_token(audience)
        async with session.client_for(audience, base_url) as http:
            yield http


def _clock(timestamp: float) -> str:
    return time.strftime("%d/%m/%Y %H:%M:%S", time.localtime(timestamp))


class Progress:
    """Shows a flow's steps on stderr; the countdown only on a terminal."""

    def __init__(self) -> None:
        self._live = sys.stderr.isatty()
        self._counting = False

    def __call__(self, event: flows.FlowEvent) -> None:
        from bsp_tui.sso import flows  # loaded with the sign-in, not before

        if isinstance(event, flows.Binding):
            echo(
                f"Validez la connexion sur votre e-CPS : le nombre affiché doit être "
                f"{event.number} (la demande expire dans {event.expires_in} s).",
                err=True,
            )
        elif isinstance(event, flows.UserCode):
            echo(
                f"Ouvrez {event.verification_uri} et saisissez le code {event.code}\n"
                f"(ou ouvrez directement {event.verification_uri_complete}).",
                err=True,
            )
        elif isinstance(event, flows.BrowserOpened):
            echo(f"Ouverture du navigateur ; si rien ne s'ouvre : {event.url}", err=True)
        elif isinstance(event, flows.Waiting) and self._live:
            # Our own countdown, rewritten in place: the one line whose CR is meant.
            click.echo(f"\rEn attente de validation… {event.seconds_left:>4} s", nl=False, err=True)  # noqa: TID251
            self._counting = True

    def done(self) -> None:
        """End the countdown line."""
        if self._counting:
            echo("", err=True)


def _persona_approver(session: Session, name: str, pin: str) -> Callable[[str], Awaitable[None]]:
    from bsp_tui.phone import PhoneError

    phone = launcher.virtual_phone(session.http)

    async def approve(binding: str) -> None:
        try:
            await phone.approve_binding(name, pin, binding)
        except PhoneError as error:
            code = ExitCode.NOT_ALLOWED if error.status in (401, 403, 423) else ExitCode.FAILURE
            raise CommandError(error.message, code, error.code) from None

    return approve


def _print_who(status: dict) -> None:
    who = status["who"]
    echo(f"Connecté : {who['name']} — {who['profession'] or 'profession inconnue'}")
    if who["national_id"]:
        rpps = f" (RPPS {who['rpps']})" if who["rpps"] else ""
        echo(f"Identifiant national : {who['national_id']}{rpps}")
    if who["organisation"]:
        echo(f"Structure : {who['organisation']}")


@click.command("login")
@click.option(
    "--flow",
    type=click.Choice(FLOWS),
    help="ciba (notification e-CPS), device (code), browser (navigateur).",
)
@click.option("--id", "national_id", help="Identifiant national : 8 + RPPS (CIBA).")
@click.option("--persona", help="Plateforme émulée seulement : le téléphone virtuel valide.")
@pin_options
@json_option
@run_async
async def login(
    flow: str | None,
    national_id: str | None,
    persona: str | None,
    pin: str | None,
    pin_stdin: bool,
    as_json: bool,
) -> None:
    """Se connecter une fois, à deux facteurs ; chaque connecteur utilise ensuite la session."""
    pin = read_pin(pin, pin_stdin) if persona else pin
    if persona and not pin:
        raise UsageError(f"--persona demande le PIN : --pin-stdin, ou {PIN_ENV}.")
    async with open_session() as session:
        flow = flow or session.profile.flow
        if flow not in session.profile.person_flows:
            raise UsageError(EMBEDDED_CIBA_ONLY)
        approve = None
        if persona:
            from bsp_tui.phone import PhoneError  # the virtual phone: only with --persona

            if not session.emulated or flow != "ciba":
                raise UsageError(
                    "--persona ne fonctionne qu'avec la plateforme émulée et le parcours ciba ; "
                    f"ce profil se connecte à {session.provider.issuer}."
                )
            try:
                national_id = (
                    national_id
                    or (await launcher.virtual_phone(session.http).persona(persona))["national_id"]
                )
            except PhoneError as error:
                raise UsageError(error.message) from None
            approve = _persona_approver(session, persona, pin or "")
        if flow == "ciba" and not national_id:
            if not sys.stdin.isatty():
                raise UsageError("Indiquez votre identifiant national avec --id (8 + RPPS).")
            national_id = click.prompt("Identifiant national (8 + RPPS)").strip()
        progress = Progress()
        try:
            await session.sign_in(flow, progress, national_id=national_id, approve=approve)
        finally:
            progress.done()
        status = await session.status(CONNECTOR_NAMES)
    if as_json:
        print_json(status)
    else:
        _print_who(status)
        echo(f"Session valable jusqu'au {_clock(status['session_expires_at'])}.")


@click.command("status")
@click.option(
    "--check/--no-check",
    default=None,
    help="Demander aussi au fournisseur si la session vit (par défaut : oui sur une "
    "plateforme servie, non sur la plateforme intégrée, que seul ce poste utilise).",
)
@json_option
@run_async
async def status(check: bool | None, as_json: bool) -> None:
    """Qui est connecté, avec quel niveau, jusqu'à quand ; code 3 si personne ne l'est.

    Sur une plateforme servie, la session est vérifiée auprès du fournisseur (une
    révocation n'est connue que de lui) ; sur la plateforme intégrée, le stockage répond
    sans la démarrer, sauf avec --check.
    """
    async with open_session() as session:
        live = check if check is not None else not session.profile.embedded
        report = await session.status(CONNECTOR_NAMES, live=live)
    if as_json:
        print_json(report)
        return
    _print_who(report)
    echo(f"Niveau : {report['acr'] or '—'} depuis le {_clock(report['auth_time'])}")
    echo(f"Session valable jusqu'au {_clock(report['session_expires_at'])}")
    echo(f"Jeton PSC valable jusqu'au {_clock(report['access_token_expires_at'])}")
    for name, connector in report["connectors"].items():
        until = connector["token_expires_at"]
        state = f"jeton jusqu'au {_clock(until)}" if until else "pas de jeton en cache"
        echo(f"  {name:<14} {state}")
    echo(f"Stockage des jetons : {report['store']}")


@click.command("token")
@click.argument("connector", type=click.Choice([PSC, *CONNECTOR_NAMES]))
@click.option(
    "--min-valid",
    type=click.IntRange(0),
    default=60,
    show_default=True,
    help="Secondes pendant lesquelles le jeton doit rester valable.",
)
@json_option
@run_async
async def token(connector: str, min_valid: int, as_json: bool) -> None:
    """Écrire un jeton d'accès au service d'un connecteur (pour curl et les scripts).

    « psc » donne le jeton d'accès Pro Santé Connect lui-même (pour l'échange de jetons).
    """
    async with open_session() as session:
        if connector == PSC:
            value = await session.access_token(min_valid)
            expires_at = session.store.get("access")["expires_at"]
        else:
            value = await session.connector_token(connector, min_valid)
            expires_at = session.store.get(f"api:{connector}")["expires_at"]
    if as_json:
        print_json({"connector": connector, "access_token": value, "expires_at": int(expires_at)})
    else:
        echo(value)


@click.command("logout")
@json_option
@run_async
async def logout(as_json: bool) -> None:
    """Révoquer la session chez le fournisseur et effacer le stockage local."""
    async with open_session() as session:
        ended = await session.logout()
    if as_json:
        print_json({"logged_out": ended})
    else:
        echo("Déconnecté : la session est révoquée." if ended else "Aucune session ouverte.")
