"""A third party's connector, installed beside bsp: it knows bsp only by its public
API (the Connector contract and the connector kit: its screen base, its
client on the launcher's session).

Its service is its own, at `BSP_HELLO_URL`, not one the emulated platform hosts.
"""

from __future__ import annotations

import os

from connectors.base import Connector

CONNECTOR = Connector(
    name="hello",
    title="Bonjour",
    description="Le service d'un éditeur tiers",
    order=90,
    screen="bsp_hello.screen:HelloView",
    cli="bsp_hello.cli:hello",
    base_url=os.environ.get("BSP_HELLO_URL", "http://127.0.0.1:9"),
)
