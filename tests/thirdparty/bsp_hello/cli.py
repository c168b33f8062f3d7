"""Its command, `bsp hello ping`: the same session as every connector, through the kit."""

from __future__ import annotations

import click

from bsp_hello import CONNECTOR
from connectors.kit.cli import client, command, say


@click.group()
def hello() -> None:
    """The third party's service."""


@hello.command()
@command
async def ping() -> None:
    """Ask the service who is signed in."""
    async with client(CONNECTOR.audience, CONNECTOR.base_url) as http:
        say((await http.get("/me")).json()["hello"])
