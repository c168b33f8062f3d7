"""The emulated e-prescription service in process, with an API token per demo professional.

The served-platform fixtures of tests/e2e, and the DMP's scenario patients on it, are
imported here for the end-to-end CLI tests of this folder.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bsp_tui.platform.population import ensure_population
from bsp_tui.platform.settings import PlatformSettings
from connectors.eprescription.catalogue import search
from connectors.eprescription.models import REFUSAL_SYSTEM, ean13_check_digit
from connectors.eprescription.seed import SCHEMA
from tests.conftest import Clock
from tests.connectors import harness
from tests.connectors.dmp.test_cli_e2e import PERSONAS, patients  # noqa: F401 - e2e fixture
from tests.connectors.harness import valid_fhir
from tests.e2e.conftest import ServedPlatform, personas, served  # noqa: F401 - e2e fixtures
from tests.e2e.test_sso_cli import Launcher

RX = "/api/eprescription"
FHIR_JSON = "application/fhir+json"
PARACETAMOL = search("paracetamol 1 g comprime 8")[0].cip13
AMOXICILLINE = search("amoxicilline 500 gelule 12")[0].cip13
IBUPROFENE = search("ibuprofene 400 20")[0].cip13
# Well formed (valid key) but not in the catalogue.
NOT_IN_CATALOGUE = "340095599999" + ean13_check_digit("340095599999")


async def _valid_request(request: httpx.Request) -> None:
    if request.content:
        valid_fhir(json.loads(request.content))


async def _valid_response(response: httpx.Response) -> None:
    await response.aread()
    valid_fhir(response.json())


class Harness(harness.Harness):
    """The platform in process, with API tokens per persona and service, signed in once.
    Every resource the service answers, and the client sends, is checked valid FHIR R4B."""

    async def request(
        self, persona: str, method: str, path: str, body: Any = None, **params: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self.token(persona)}", "Accept": FHIR_JSON}
        response = await self.emu.http.request(
            method, RX + path, params=params, json=body, headers=headers
        )
        valid_fhir(response.json())
        return response

    async def http(self, persona: str) -> httpx.AsyncClient:
        client = await super().http(persona)
        client.event_hooks = {"request": [_valid_request], "response": [_valid_response]}
        return client

    def without_dmp(self) -> str:
        """A patient who has no DMP."""
        ensure_population(self.db)
        return self.db.one(
            "SELECT p.ins FROM patients p LEFT JOIN dmps d ON d.ins = p.ins"
            " WHERE d.ins IS NULL ORDER BY p.seq LIMIT 1"
        )["ins"]

    def count(self, table: str) -> int:
        """Rows in one of the service's tables (created if no request made them yet)."""
        self.db.ensure(SCHEMA)
        return self.db.one(f"SELECT count(*) AS n FROM {table}")["n"]  # noqa: S608


@pytest.fixture
async def rx(settings: PlatformSettings, clock: Clock) -> AsyncIterator[Harness]:
    async with harness.in_process(Harness, "eprescription", settings, clock) as platform:
        yield platform


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    """(status, refusal code, French reason) of an OperationOutcome answer."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    (issue,) = body["issue"]
    codes = [
        c["code"]
        for c in (issue.get("details") or {}).get("coding", [])
        if c["system"] == REFUSAL_SYSTEM
    ]
    return response.status_code, codes[0] if codes else "", issue["diagnostics"]


@pytest.fixture(scope="module")
def cli(
    served: ServedPlatform,  # noqa: F811 - the fixture imported above
    personas: dict[str, dict],  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Launcher]:
    """One launcher per persona, each signed in once for the whole module, with the
    scenario patients' identities qualified (a prescription carries a qualified INS)."""
    home = tmp_path_factory.mktemp("rx")
    return harness.signed_in(served, personas, home, PERSONAS, qualified=harness.scenario_ins())
