"""How commands speak: data on stdout (plain or JSON), one-sentence errors on stderr."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

import click
import httpx

from bsp_tui.exitcodes import ExitCode
from bsp_tui.sso.errors import SsoError


class CommandError(Exception):
    """An expected failure: a French sentence for people and an exit code for scripts."""

    def __init__(self, message: str, exit_code: ExitCode, code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.code = code


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def fail(error: CommandError, as_json: bool) -> NoReturn:
    """Report an expected failure and exit with its code."""
    if as_json:
        print_json({"error": {"code": error.code, "message": error.message}})
    click.echo(f"bsp: {error.message}", err=True)
    sys.exit(int(error.exit_code))


def run_async(func: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Run an async command body; expected failures become a sentence and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return asyncio.run(func(*args, **kwargs))
        except (CommandError, SsoError) as error:
            fail(CommandError(error.message, error.exit_code, error.code), as_json)
        except httpx.TransportError:
            fail(
                CommandError(
                    "Plateforme injoignable : lancez `bsp platform serve` "
                    "ou vérifiez BSP_PLATFORM_URL.",
                    ExitCode.UNREACHABLE,
                    "unreachable",
                ),
                as_json,
            )

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
