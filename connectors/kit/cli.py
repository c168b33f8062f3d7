"""The click helpers of a connector's commands: `bsp NAME …` speaks like every command.

- `say` prints a line (stdout, or stderr with `err`), `json_option` adds `--json`,
  `print_json` prints one JSON document (`json_text` is its text, for NDJSON): data on
  stdout, one-sentence errors on stderr; control characters are shown, never obeyed.
- `command` runs an async command body: a `ConnectorError` (or a `CommandError`, a
  session's failure, an unreachable platform) ends it with one sentence and its exit code.
- `client(NAME)` is an HTTP client for the connector's service on the signed-in session,
  from the factory that `bsp` hands every connector's group in the click context
  (`ctx.obj`, a `ClientFactory`); a connector never opens the session itself.

    @group.command("list")
    @kit.json_option
    @kit.command
    async def list_documents(as_json: bool) -> None:
        async with kit.client("dmp") as http:
            documents = await DmpClient(http).list(…)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import click

from bsp_tui.output import CommandError, echo, fail, json_option, json_text, print_json, run_async
from connectors.kit.errors import ConnectorError, SsoError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ClientFactory",
    "CommandError",
    "client",
    "command",
    "exit_with",
    "failure",
    "json_option",
    "json_text",
    "print_json",
    "say",
]

say = echo


class ClientFactory(Protocol):
    """What `bsp` hands a connector's group as `ctx.obj`: clients on the session."""

    def __call__(
        self, audience: str, base_url: str = "", *, signed_in: bool = False
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        """A client for the service of `audience` (the platform's, or `base_url`).

        With `signed_in`, the session is asked for the service's token first: nobody
        signed in fails now (exit 3), before any work.
        """


def client(
    audience: str, base_url: str = "", *, signed_in: bool = False
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """A client for the connector's service, from the click context's `ClientFactory`."""
    factory = click.get_current_context().obj
    if not callable(factory):
        raise RuntimeError("no client factory in the click context: run the group under `bsp`")
    clients: ClientFactory = factory
    return clients(audience, base_url, signed_in=signed_in)


def failure(error: ConnectorError | SsoError, prefix: str = "", suffix: str = "") -> CommandError:
    """The command failure a ConnectorError (or the session's) ends on: its sentence
    (between `prefix` and `suffix` when given), its exit code, its reason code."""
    message = " ".join(part for part in (prefix, error.message, suffix) if part)
    return CommandError(message, error.exit_code, error.code)


def exit_with(error: ConnectorError | CommandError, as_json: bool) -> NoReturn:
    """End a command that is not async on `error` (its sentence, and JSON with --json)."""
    fail(failure(error) if isinstance(error, ConnectorError) else error, as_json)


def command(func: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Run an async command body; a ConnectorError ends it with its exit code."""

    @functools.wraps(func)
    async def converted(*args: Any, **kwargs: Any) -> Any:
        try:
            return await func(*args, **kwargs)
        except ConnectorError as error:
            raise failure(error) from None

    return run_async(converted)
