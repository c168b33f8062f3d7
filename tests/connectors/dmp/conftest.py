"""The emulated DMP in process, with an API token per demo professional.

The served-platform fixtures of tests/e2e are imported here so that the end-to-end CLI
tests of this folder can use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bsp_tui.platform.settings import PlatformSettings
from connectors.dmp.seed import INSERT_DOCUMENT, content_hash, master_id
from tests.conftest import Clock
from tests.connectors import harness
from tests.e2e.conftest import personas, served  # noqa: F401 - fixtures for the e2e tests

DMP = "/api/dmp"
FHIR_JSON = "application/fhir+json"


def checked_fhir(response: httpx.Response) -> httpx.Response:
    """The response, its FHIR resource (if it answered one) checked valid FHIR R4."""
    if response.headers.get("content-type", "").startswith(FHIR_JSON):
        harness.valid_fhir(response.json())
    return response


class Harness(harness.Harness):
    """The platform in process, with a DMP API token per persona, signed in on first use.
    Every FHIR resource the DMP answers is checked valid FHIR R4."""

    async def headers(self, persona: str, accept: str = FHIR_JSON) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(persona)}", "Accept": accept}

    async def get(
        self, persona: str, path: str, accept: str = FHIR_JSON, **params: Any
    ) -> httpx.Response:
        return checked_fhir(
            await self.emu.http.get(
                DMP + path, params=params, headers=await self.headers(persona, accept)
            )
        )

    async def post(self, persona: str, body: Any, **params: Any) -> httpx.Response:
        headers = await self.headers(persona) | {"Content-Type": FHIR_JSON}
        return checked_fhir(
            await self.emu.http.post(
                DMP + "/DocumentReference", json=body, params=params, headers=headers
            )
        )


@pytest.fixture
async def dmp(settings: PlatformSettings, clock: Clock) -> AsyncIterator[Harness]:
    async with harness.in_process(Harness, "dmp", settings, clock) as platform:
        yield platform


def outcome(response: httpx.Response) -> dict:
    """The single issue of an OperationOutcome answer."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    (issue,) = body["issue"]
    return issue


def refusal(response: httpx.Response) -> str:
    """The emulation's refusal code of an OperationOutcome."""
    return outcome(response)["details"]["coding"][0]["code"]


def entries(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    assert body["total"] == len(body.get("entry", []))
    return [e["resource"] for e in body.get("entry", [])]


def add_documents(harness: Harness, ins: str, count: int) -> None:
    """`count` more consultation reports in the patient's DMP, older than any seeded one
    (a DMP as long as a chronic patient's); the higher the number, the newer."""
    rows = [
        {
            "id": f"PAGE{number:06d}",
            "ins": ins,
            "loinc": "11488-4",
            "title": f"Consultation {number}",
            "author_id": "810000099991",
            "author_name": "Dr Paul Rivière",
            "author_kind": "Practitioner",
            "created": (
                f"1990-01-01T{number // 3600 % 24:02d}:{number // 60 % 60:02d}:{number % 60:02d}Z"
            ),
            "content_type": "text/plain",
            "content": b"Examen clinique normal.\n",
            "hash": content_hash(b"Examen clinique normal.\n"),
            "master_id": master_id(f"PAGE{number:06d}"),
            "masked": 0,
            "invisible_patient": 0,
            "invisible_legal": 0,
        }
        for number in range(count)
    ]
    with harness.db.write() as tx:
        tx.execute(INSERT_DOCUMENT, rows)
