"""`bsp completion bash|zsh|fish`: the shell's completion script, from click's own."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from bsp_tui.output import echo

SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Écrire le script de complétion d'un shell (bash, zsh, fish).

    À charger au démarrage du shell, par exemple eval "$(bsp completion bash)" dans
    ~/.bashrc."""
    root = ctx.find_root().command
    script_class = get_completion_class(shell)
    assert script_class is not None  # one of click's shells, by the choice above
    echo(script_class(root, {}, "bsp", "_BSP_COMPLETE").source())
