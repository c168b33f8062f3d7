"""The `bsp` command: parses, calls the platform, sign-in or connectors, and prints."""

from __future__ import annotations

import click

from bsp_tui import __version__
from bsp_tui.commands.phone import phone_group
from bsp_tui.commands.platform import platform_group
from bsp_tui.commands.session import login, logout, status, token


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bsp")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """bsp — Bouquet de Services aux Professionnels, in the terminal."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


cli.add_command(platform_group)
cli.add_command(phone_group)
for command in (login, status, token, logout):
    cli.add_command(command)


def main() -> None:
    """Console entry point."""
    cli(prog_name="bsp")
