"""The emulated FSE reception in process, with an API token per demo professional.

The served-platform fixtures of tests/e2e are imported here so that the end-to-end CLI
and crash tests of this folder can use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from bsp_tui.platform.population import ensure_population
from bsp_tui.platform.settings import PlatformSettings
from connectors.fse.client import FseClient
from connectors.fse.models import Rights, Sheet, build_sheet
from connectors.fse.seed import SCHEMA
from tests.conftest import Clock
from tests.connectors import harness
from tests.connectors.dmp.conftest import outcome, refusal  # noqa: F401 - the same OperationOutcome shape
from tests.e2e.conftest import personas, served  # noqa: F401 - fixtures for the e2e tests

FSE = "/api/fse"
TODAY = date.today().isoformat()


class Harness(harness.Harness):
    """The platform in process, with an FSE API token per persona, signed in on first use."""

    @property
    def db(self) -> Any:
        self.emu.platform.db.ensure(SCHEMA)
        ensure_population(self.emu.platform.db)
        return self.emu.platform.db

    async def post(self, persona: str, path: str, body: Any = None, **extra: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self.token(persona)}"}
        if body is None:
            return await self.emu.http.post(FSE + path, headers=headers, **extra)
        return await self.emu.http.post(FSE + path, json=body, headers=headers)

    async def client(self, persona: str) -> FseClient:
        """The FSE client as the connector makes it, on the persona's token."""
        return FseClient(await self.http(persona))

    def beneficiary(self, where: str) -> str:
        """The INS of the first card beneficiary matching a SQL condition on `c` and `p`."""
        sql = "SELECT c.ins FROM card_beneficiaries c JOIN patients p ON p.ins = c.ins WHERE "
        ins = self.db.value(sql + where + " ORDER BY p.seq LIMIT 1")
        assert ins is not None, where
        return ins

    def billed(self, number: str | None = None) -> int:
        """How many sheets the platform billed (accepted), all or of one number."""
        if number is None:
            return self.db.value("SELECT COUNT(*) FROM fse_sheets WHERE status = 'accepted'")
        return self.db.value(
            "SELECT COUNT(*) FROM fse_sheets WHERE status = 'accepted' AND number = :number",
            {"number": number},
        )

    async def sheet(
        self, persona: str, ins: str, acts: list[str], tiers_payant: bool = False
    ) -> Sheet:
        """A sheet priced on the rights the platform reads for that patient today."""
        rights = await (await self.client(persona)).rights(ins, TODAY)
        return build_sheet(rights, acts, TODAY, tiers_payant, False, rights.used)


@pytest.fixture
async def fse(settings: PlatformSettings, clock: Clock) -> AsyncIterator[Harness]:
    async with harness.in_process(Harness, "fse", settings, clock) as platform:
        yield platform


def rights(birthdate: str = "1970-01-01", **changes: Any) -> Rights:
    """Typed rights for the amounts tests."""
    return Rights(**{"ins": "262037511122263", "birthdate": birthdate} | changes)
