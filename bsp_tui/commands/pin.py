"""Where a command takes the PIN from: standard input, BSP_PIN, or (discouraged) --pin.

A PIN on the command line is visible to every user of the machine in `ps` and stays in
the shell's history: `--pin-stdin` (one line on standard input) and the `BSP_PIN`
variable keep it out of both. `--pin` still works, for the scripts that use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from bsp_tui.exitcodes import ExitCode
from bsp_tui.output import CommandError

PIN_ENV = "BSP_PIN"
F = TypeVar("F", bound=Callable[..., Any])


def pin_options(func: F) -> F:
    """Add `--pin` and `--pin-stdin` to a command (its parameters `pin`, `pin_stdin`)."""
    func = click.option(
        "--pin-stdin", is_flag=True, help="Lire le PIN sur l'entrée standard (une ligne)."
    )(func)
    return click.option(
        "--pin",
        help=f"Le PIN (déconseillé : visible dans ps et l'historique ; --pin-stdin ou {PIN_ENV}).",
    )(func)


def _usage(message: str) -> CommandError:
    return CommandError(message, ExitCode.USAGE, "usage")


def read_pin(pin: str | None, pin_stdin: bool) -> str | None:
    """The PIN: from standard input with `--pin-stdin`, else `--pin`, else BSP_PIN, else None."""
    if pin is not None and pin_stdin:
        raise _usage("--pin et --pin-stdin s'excluent : donnez le PIN d'une seule façon.")
    if pin_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise _usage("--pin-stdin : aucun PIN lu sur l'entrée standard.")
        return line
    return pin if pin is not None else (os.environ.get(PIN_ENV) or None)
