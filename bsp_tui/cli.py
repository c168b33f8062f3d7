"""The `bsp` command: parses, calls the platform, sign-in or connectors, and prints."""

from __future__ import annotations

import logging
import sys
from importlib import import_module

import click

from bsp_tui import __version__
from bsp_tui.exitcodes import ExitCode
from bsp_tui.output import echo

# Subcommands are imported when asked for: `bsp` alone starts the interface without
# loading the HTTP, JOSE and platform stacks that the commands need.
LAZY_COMMANDS = {
    "platform": "bsp_tui.commands.platform:platform_group",
    "phone": "bsp_tui.commands.phone:phone_group",
    "login": "bsp_tui.commands.session:login",
    "status": "bsp_tui.commands.session:status",
    "token": "bsp_tui.commands.session:token",
    "logout": "bsp_tui.commands.session:logout",
}


def _connector_commands() -> dict[str, str]:
    """`bsp COMMAND …` for each installed connector that declares a click group (`cli`)."""
    from connectors.base import registry

    return {
        c.command_name: c.cli for c in registry() if c.cli and c.command_name not in LAZY_COMMANDS
    }


class LazyGroup(click.Group):
    """A group whose `LAZY_COMMANDS` and connectors' groups are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS, *_connector_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            path = LAZY_COMMANDS.get(cmd_name) or _connector_commands().get(cmd_name)
            if path:
                module, _, name = path.partition(":")
                self.add_command(getattr(import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--demo", is_flag=True, help="Trainer mode: virtual phone, SSO trace, faults.")
@click.version_option(__version__, prog_name="bsp")
@click.pass_context
def cli(ctx: click.Context, demo: bool) -> None:
    """bsp — Bouquet de Services aux Professionnels, in the terminal.

    Without a command: the launcher's interface.
    """
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
