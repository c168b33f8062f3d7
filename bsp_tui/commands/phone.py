"""`bsp phone …`: the virtual e-CPS phone."""

from __future__ import annotations

import asyncio
import sys

import click
import segno

from bsp_tui.commands.pin import PIN_ENV, pin_options, read_pin
from bsp_tui.config import platform_url
from bsp_tui.exitcodes import ExitCode
from bsp_tui.launcher import platform_client
from bsp_tui.output import CommandError, echo, json_option, print_json, run_async
from bsp_tui.phone import PhoneError, VirtualPhone

_EXIT_FOR = {
    "unknown_persona": ExitCode.USAGE,
    "no_request": ExitCode.NOT_FOUND,
    "unknown_request": ExitCode.NOT_FOUND,
    "expired": ExitCode.NOT_FOUND,
    "answered": ExitCode.FAILURE,
    "wrong_pin": ExitCode.NOT_ALLOWED,
    "wrong_otp": ExitCode.NOT_ALLOWED,
    "replayed_otp": ExitCode.NOT_ALLOWED,
    "locked": ExitCode.NOT_ALLOWED,
}


def _as_command_error(error: PhoneError) -> CommandError:
    return CommandError(error.message, _EXIT_FOR.get(error.code, ExitCode.FAILURE), error.code)


persona_option = click.option("--persona", "name", required=True, help="Demo professional.")


@click.group("phone", invoke_without_command=True)
@click.option("--persona", "name", help="Only this professional's requests.")
@click.pass_context
def phone_group(ctx: click.Context, name: str | None) -> None:
    """The virtual e-CPS phone (interactive without a subcommand)."""
    if ctx.invoked_subcommand is None:
        _interactive(name)


@run_async
async def _interactive(name: str | None) -> None:
    if not sys.stdin.isatty():
        raise CommandError(
            "Le téléphone interactif demande un terminal : utilisez "
            "`bsp phone approve --persona NOM --pin-stdin`.",
            ExitCode.USAGE,
            "no_terminal",
        )
    async with platform_client(platform_url()) as client:
        phone = VirtualPhone(client)
        persona = await phone.persona(name) if name else None
        echo("Téléphone e-CPS virtuel — Ctrl+C pour quitter.")
        try:
            await _serve_requests(phone, persona)
        except PhoneError as error:
            raise _as_command_error(error) from None
        except (KeyboardInterrupt, asyncio.CancelledError):
            echo("\nAu revoir.")


async def _serve_requests(phone: VirtualPhone, persona: dict | None) -> None:
    personas = {p["national_id"]: p for p in await phone.personas()}
    seen: set[str] = set()
    announced = False
    while True:
        waiting = [
            r for r in await phone.pending(persona and persona["national_id"]) if r.id not in seen
        ]
        if not waiting:
            if not announced:
                echo("En attente d'une demande de connexion…")
                announced = True
            await asyncio.sleep(1)
            continue
        announced = False
        request = waiting[0]
        seen.add(request.id)
        who = personas[request.national_id]
        echo(
            f"\n{who['display_name']} — « {request.client_name} » demande une connexion."
            f"\nNombre affiché : {request.binding}"
        )
        pin = click.prompt(
            "Code PIN (vide pour refuser)", default="", hide_input=True, show_default=False
        )
        try:
            if pin:
                await phone.answer(request.id, True, who["name"], pin)
                echo("Connexion approuvée.")
            else:
                await phone.answer(request.id, False)
                echo("Connexion refusée.")
        except PhoneError as error:
            echo(error.message, err=True)


@phone_group.command("approve")
@persona_option
@pin_options
@click.option("--deny", is_flag=True, help="Refuse the request instead.")
@json_option
@run_async
async def approve(name: str, pin: str | None, pin_stdin: bool, deny: bool, as_json: bool) -> None:
    """Answer that professional's oldest pending request."""
    pin = None if deny else read_pin(pin, pin_stdin)
    if not deny and not pin:
        raise CommandError(
            f"Le PIN est obligatoire pour approuver (--pin-stdin, ou {PIN_ENV}), "
            "ou --deny pour refuser.",
            ExitCode.USAGE,
            "usage",
        )
    async with platform_client(platform_url()) as client:
        try:
            request = await VirtualPhone(client).answer_oldest(name, pin or "", not deny)
        except PhoneError as error:
            raise _as_command_error(error) from None
    outcome = "denied" if deny else "approved"
    if as_json:
        print_json(
            {
                "request": request.id,
                "binding": request.binding,
                "client": request.client_name,
                "outcome": outcome,
            }
        )
        return
    verb = "refusée" if deny else "approuvée"
    echo(f"Demande {request.binding} de « {request.client_name} » {verb}.")


@phone_group.command("enrol")
@persona_option
@json_option
@run_async
async def enrol(name: str, as_json: bool) -> None:
    """Print the device's otpauth:// URI and its QR code, for an authenticator app."""
    async with platform_client(platform_url()) as client:
        try:
            uri = await VirtualPhone(client).enrol(name)
        except PhoneError as error:
            raise _as_command_error(error) from None
    if as_json:
        print_json({"otpauth_uri": uri})
        return
    echo(uri)
    segno.make(uri, error="m").terminal(compact=True)


@phone_group.command("code")
@persona_option
@json_option
@run_async
async def code(name: str, as_json: bool) -> None:
    """Print the device's current one-time code."""
    async with platform_client(platform_url()) as client:
        try:
            value = await VirtualPhone(client).code(name)
        except PhoneError as error:
            raise _as_command_error(error) from None
    if as_json:
        print_json({"code": value})
    else:
        echo(value)
