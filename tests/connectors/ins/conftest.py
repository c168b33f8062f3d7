"""Fixtures for the INS connector: API tokens on the in-process platform, the scenario
patients, and the served-platform fixtures of tests/e2e for the CLI's end-to-end tests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator

import httpx
import pytest

from bsp_tui.domain.patients import Identity
from bsp_tui.platform.app import create_app
from bsp_tui.platform.population import Beneficiary, generate
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from tests.conftest import Emulation
from tests.e2e.conftest import personas, served  # noqa: F401 - fixtures for test_cli_e2e

PEOPLE, CARDS, _, _ = generate()
BY_INS = {person.ins: person for person in PEOPLE}


def scenario(family: str, given: str) -> Identity:
    """The scenario patient of that (normalised) name."""
    return next(p for p in PEOPLE[:9] if p.family == family and p.given == given)


def cards() -> dict[str, list[Beneficiary]]:
    """Every Vitale card of the population, by serial, ranks in order."""
    by_serial: dict[str, list[Beneficiary]] = defaultdict(list)
    for beneficiary in CARDS:
        by_serial[beneficiary.serial].append(beneficiary)
    return by_serial


def family_card() -> tuple[str, list[Beneficiary]]:
    """The first card with several beneficiaries (a parent and children)."""
    return next((s, b) for s, b in cards().items() if len(b) > 1)


def unknown_ins() -> str:
    """A well-formed INS (valid key) that no patient has."""
    from bsp_tui.domain.patients import ins_key

    for order in range(1, 999):
        body = f"1991275111{order:03d}"
        if body + ins_key(body) not in BY_INS:
            return body + ins_key(body)
    raise AssertionError("no free INS")  # pragma: no cover


async def api_token(emu: Emulation, persona: str = "generaliste", audience: str = "ins") -> str:
    """An API token for `audience`, after a complete e-CPS sign-in of the persona."""
    tokens = await emu.sign_in(persona)
    response = await emu.exchange(tokens["access_token"], audience)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
async def ins_http(emu: Emulation, settings: PlatformSettings) -> AsyncIterator[httpx.AsyncClient]:
    """What a connector receives: a client whose base URL is the INS service's, with a token.

    A second app over the same database and clock as `emu`, as a served and an embedded
    platform share one.
    """
    token = await api_token(emu)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(
        transport=transport,
        base_url=f"{EMBEDDED_BASE_URL}/api/ins",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client
