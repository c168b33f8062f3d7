"""How commands speak: data on stdout (plain or JSON), one-sentence errors on stderr."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

import click
import httpx
import orjson

from bsp_tui.exitcodes import ExitCode
from bsp_tui.printable import UNSAFE, printable
from bsp_tui.sso.errors import SsoError


class CommandError(Exception):
    """An expected failure: a French sentence for people and an exit code for scripts."""

    def __init__(self, message: str, exit_code: ExitCode, code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.code = code


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Print a line of text (stdout, or stderr with `err`), every control character in it
    shown, never obeyed (bsp_tui.printable): all the CLI prints as text comes here."""
    click.echo(printable(str(message)), err=err, nl=nl)


def json_text(data: Any, indent: int | None = None) -> str:
    """`data` as JSON text that is safe on a terminal and decodes to exactly `data`.

    json.dumps already escapes C0 controls; the other characters a terminal may obey
    (they can only be inside strings) are written as JSON `\\uXXXX` escapes.
    """
    if indent == 2:
        return json_bytes(data).decode()
    return _escaped(json.dumps(data, ensure_ascii=False, indent=indent))


# The first UTF-8 byte of each character UNSAFE names that orjson writes as it is (it
# escapes C0 controls and refuses lone surrogates): DEL, the C1 controls (C2 80–9F),
# U+061C (D8 9C), U+200E–U+2069 (E2 80, E2 81). A text with none of them, the usual
# case, is not decoded and searched: a 10,000-document list is 4 MB of JSON.
_UNSAFE_LEADS = (b"\x7f", b"\xc2", b"\xd8", b"\xe2")


def json_bytes(data: Any) -> bytes:
    """`json_text(data, indent=2)` in UTF-8: json.dumps(…, indent=2)'s text, in orjson's
    time (a fifteenth on a long DMP list). The text is the same but for the figures of a
    float, written shortest (`0.00001` where Python writes `1e-05`: the same number); an
    integer beyond 64 bits and a lone surrogate, which orjson refuses, take the standard
    library's way."""
    try:
        raw = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return _escaped(json.dumps(data, ensure_ascii=False, indent=2)).encode()
    if any(lead in raw for lead in _UNSAFE_LEADS):
        return _escaped(raw.decode()).encode()
    return raw


def _escaped(text: str) -> str:
    return UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json_bytes(data))


def fail(error: CommandError, as_json: bool) -> NoReturn:
    """Report an expected failure and exit with its code."""
    logging.getLogger("bsp.cli").warning(
        "%s (%s, code %d)", error.message, error.code, error.exit_code
    )
    if as_json:
        print_json({"error": {"code": error.code, "message": error.message}})
    echo(f"bsp: {error.message}", err=True)
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


json_option = click.option("--json", "as_json", is_flag=True, help="Écrire un document JSON.")
