"""`bsp phone …`: the virtual e-CPS phone."""

from __future__ import annotations

import asyncio
import sys

import click
import segno

from bsp_tui.commands.pin import PIN_ENV, pin_options, read_pin
from bsp_tui.config import platform_url
from bsp_tui.exitcodes import ExitCode
from bsp_tui.launcher import platform_client, virtual_phone
from bsp_tui.output import CommandError, echo, json_option, print_json, run_async
from bsp_tui.phone import PendingRequest, PhoneError, VirtualPhone

_EXIT_FOR = {
    "unknown_persona": ExitCode.USAGE,
    "no_request": ExitCode.NOT_FOUND,
    "unknown_request": ExitCode.NOT_FOUND,
    "expired": ExitCode.NOT_FOUND,
    "answered": ExitCode.FAILURE,
    "several_requests": ExitCode.USAGE,
    "refused": ExitCode.NOT_ALLOWED,
    "replayed_otp": ExitCode.NOT_ALLOWED,
    "not_enrolled": ExitCode.NOT_ALLOWED,
    "device_refused": ExitCode.NOT_ALLOWED,
    "activation_refused": ExitCode.NOT_ALLOWED,
    "code_required": ExitCode.USAGE,
    "locked": ExitCode.NOT_ALLOWED,
}


def _as_command_error(error: PhoneError) -> CommandError:
    return CommandError(error.message, _EXIT_FOR.get(error.code, ExitCode.FAILURE), error.code)


def _binding(value: str | None) -> str | None:
    if value is None or (len(value) == 2 and value.isdigit()):
        return value
    raise click.BadParameter("le nombre de liaison a deux chiffres (ex. 07).")


persona_option = click.option(
    "--persona", "name", required=True, help="Professionnel de démonstration."
)


@click.group("phone", invoke_without_command=True)
@click.option("--persona", "name", help="Les demandes de ce professionnel seulement.")
@click.pass_context
def phone_group(ctx: click.Context, name: str | None) -> None:
    """Le téléphone e-CPS virtuel (interactif sans sous-commande)."""
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
        phone = virtual_phone(client)
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
        # Every waiting request, with its number: two trainees signed in as the same
        # professional each find the one their own screen shows.
        echo("")
        for request in waiting:
            who = personas[request.national_id]["display_name"]
            echo(f"{request.binding}  {who} — « {request.client_name} » demande une connexion.")
        request = _chosen(waiting)
        seen.add(request.id)
        pin = click.prompt(
            f"Demande {request.binding} — code PIN (vide pour refuser)",
            default="",
            hide_input=True,
            show_default=False,
        )
        try:
            name = personas[request.national_id]["name"]
            if pin:
                await phone.answer(request.id, True, name, pin)
                echo("Connexion approuvée.")
            else:
                await phone.answer(request.id, False, name)
                echo("Connexion refusée.")
        except PhoneError as error:
            echo(error.message, err=True)


def _chosen(waiting: list[PendingRequest]) -> PendingRequest:
    """The request to answer: the only one, or the one whose number the person types."""
    if len(waiting) == 1:
        return waiting[0]
    numbers = [r.binding for r in waiting]
    typed = click.prompt(
        "Nombre affiché sur votre écran",
        type=click.Choice(numbers),
        show_choices=False,
    )
    return next(r for r in waiting if r.binding == typed)


@phone_group.command("approve")
@persona_option
@pin_options
@click.option(
    "--binding",
    callback=lambda _ctx, _param, value: _binding(value),
    help="Le nombre à 2 chiffres affiché à la connexion (nécessaire si plusieurs attendent).",
)
@click.option("--deny", is_flag=True, help="Refuser la demande.")
@json_option
@run_async
async def approve(
    name: str, pin: str | None, pin_stdin: bool, binding: str | None, deny: bool, as_json: bool
) -> None:
    """Répondre à la demande en attente de ce professionnel : celle qui affiche --binding NN."""
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
            request = await virtual_phone(client).answer_for(name, pin or "", not deny, binding)
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
@click.option(
    "--code",
    help="Le code d'activation de la carte (nécessaire sur une plateforme servie).",
)
@json_option
@run_async
async def enrol(name: str, code: str | None, as_json: bool) -> None:
    """Associer ce téléphone au professionnel ; écrit l'URI otpauth:// et son QR code."""
    async with platform_client(platform_url()) as client:
        try:
            uri = await virtual_phone(client).enrol(name, code)
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
    """Écrire le code à usage unique actuel de l'appareil."""
    async with platform_client(platform_url()) as client:
        try:
            value = await virtual_phone(client).code(name)
        except PhoneError as error:
            raise _as_command_error(error) from None
    if as_json:
        print_json({"code": value})
    else:
        echo(value)
