"""Its command, `bsp hello ping`: the same session as every connector."""

from __future__ import annotations

import asyncio

import click

from bsp_hello import CONNECTOR
from bsp_tui.launcher import open_session


@click.group()
def hello() -> None:
    """The third party's service."""


@hello.command()
def ping() -> None:
    """Ask the service who is signed in."""

    async def ask() -> str:
        async with (
            open_session() as session,
            session.client_for(CONNECTOR.audience, CONNECTOR.base_url) as http,
        ):
            return (await http.get("/me")).json()["hello"]

    click.echo(asyncio.run(ask()))
