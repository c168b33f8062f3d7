"""The `bsp` command: parses, calls the platform, sign-in or connectors, and prints."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import AbstractAsyncContextManager
from importlib import import_module
from typing import TYPE_CHECKING

import click

from bsp_tui import __version__, clickfr
from bsp_tui.exitcodes import ExitCode
from bsp_tui.output import echo

if TYPE_CHECKING:
    import httpx

clickfr.install()  # before the decorators below: some of click's words are taken there

# Subcommands are imported when asked for: `bsp` alone starts the interface without
# loading the HTTP, JOSE and platform stacks that the commands need; `bsp --help` lists
# them by the summary here (the first line of each one's help, a test keeps them equal).
LAZY_COMMANDS = {
    "platform": (
        "bsp_tui.commands.platform:platform_group",
        "La plateforme nationale émulée (PSC, e-CPS, services).",
    ),
    "phone": (
        "bsp_tui.commands.phone:phone_group",
        "Le téléphone e-CPS virtuel (interactif sans sous-commande).",
    ),
    "login": (
        "bsp_tui.commands.session:login",
        "Se connecter une fois, à deux facteurs ; chaque connecteur utilise ensuite la session.",
    ),
    "status": (
        "bsp_tui.commands.session:status",
        "Qui est connecté, avec quel niveau, jusqu'à quand ; code 3 si personne ne l'est.",
    ),
    "token": (
        "bsp_tui.commands.session:token",
        "Écrire un jeton d'accès au service d'un connecteur (pour curl et les scripts).",
    ),
    "logout": (
        "bsp_tui.commands.session:logout",
        "Révoquer la session chez le fournisseur et effacer le stockage local.",
    ),
    "config": (
        "bsp_tui.commands.config:config_group",
        "Réglages de config.toml : où il est, ce qui s'applique, écrire ou retirer une clé.",
    ),
    "completion": (
        "bsp_tui.commands.completion:completion",
        "Écrire le script de complétion d'un shell (bash, zsh, fish).",
    ),
}


def _connector_commands() -> dict[str, tuple[str, str]]:
    """`bsp COMMAND …` for each installed connector that declares a click group (`cli`),
    with the connector's description as its summary."""
    from connectors.base import registry

    return {
        c.command_name: (c.cli, f"{c.description}.")
        for c in registry()
        if c.cli and c.command_name not in LAZY_COMMANDS
    }


def session_client(
    audience: str, base_url: str = "", *, signed_in: bool = False
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The connectors' client factory (`ctx.obj`): a client on the signed-in session,
    whose HTTP and sign-in stacks are imported only when a command asks for one."""
    from bsp_tui.commands.session import connector_client

    return connector_client(audience, base_url, signed_in=signed_in)


class LazyGroup(click.Group):
    """A group whose `LAZY_COMMANDS` and connectors' groups are imported on first use."""

    def _lazy(self) -> dict[str, tuple[str, str]]:
        return LAZY_COMMANDS | _connector_commands()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            path, _ = self._lazy().get(cmd_name, ("", ""))
            if path:
                module, _, name = path.partition(":")
                self.add_command(getattr(import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the summaries, without importing a single command."""
        lazy = self._lazy()
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            # A command not loaded yet stands in by its summary, shortened as click does.
            shown = self.commands.get(name) or click.Command(name, help=lazy[name][1])
            rows.append((name, shown.get_short_help_str(limit)))
        with formatter.section(click.core._("Commands")):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--demo", is_flag=True, help="Mode formateur : téléphone virtuel, trace SSO, pannes.")
@click.option(
    "--profile",
    metavar="NAME",
    help="Profil de config.toml pour cette exécution (comme BSP_PROFILE ; sinon default).",
)
@click.version_option(__version__, prog_name="bsp")
@click.pass_context
def cli(ctx: click.Context, demo: bool, profile: str | None) -> None:
    """bsp — le Bouquet de Services aux Professionnels, dans le terminal.

    Sans commande : l'interface du lanceur.
    """
    ctx.obj = session_client
    if profile:
        # The one place every part reads the profile from, child processes included.
        os.environ["BSP_PROFILE"] = profile
    if ctx.invoked_subcommand is not None:
        # The command's name only: its arguments may hold a PIN or a patient's identity.
        logging.getLogger("bsp.cli").info("Commande : bsp %s.", ctx.invoked_subcommand)
    else:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            echo(ctx.get_help())
            echo("\nbsp: l'interface demande un terminal.", err=True)
            ctx.exit(int(ExitCode.USAGE))
        from bsp_tui.app.app import run  # Textual is imported only for the interface

        run(demo=demo)
