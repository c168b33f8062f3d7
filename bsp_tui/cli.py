"""The `bsp` command: parses, calls the platform, sign-in or connectors, and prints."""

from __future__ import annotations

import sys

import click

from bsp_tui import __version__
from bsp_tui.commands.phone import phone_group
from bsp_tui.commands.platform import platform_group
from bsp_tui.commands.session import login, logout, status, token
from bsp_tui.exitcodes import ExitCode


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--demo", is_flag=True, help="Trainer mode: virtual phone, SSO trace, faults.")
@click.version_option(__version__, prog_name="bsp")
@click.pass_context
def cli(ctx: click.Context, demo: bool) -> None:
    """bsp — Bouquet de Services aux Professionnels, in the terminal.

    Without a command: the launcher's interface.
    """
    if ctx.invoked_subcommand is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            click.echo(ctx.get_help())
            click.echo("\nbsp: l'interface demande un terminal.", err=True)
            ctx.exit(int(ExitCode.USAGE))
        from bsp_tui.app.app import run  # Textual is imported only for the interface

        run(demo=demo)


cli.add_command(platform_group)
cli.add_command(phone_group)
for command in (login, status, token, logout):
    cli.add_command(command)


def main() -> None:
    """Console entry point."""
    cli(prog_name="bsp")
