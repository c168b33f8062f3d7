"""What the connectors' tests share.

In process: the real platform behind an ASGI transport, with an API token per demo
professional and service, each signed in once through e-CPS. End to end: one launcher
per professional signed in once on a served platform, and the checks every command's
outcome gets (exit code, one French sentence on stderr, never a traceback).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bsp_tui.platform.app import create_app
from bsp_tui.platform.population import ensure_population, generate
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from connectors.kit.identities import IdentityStore, identities_path
from tests.conftest import Clock, Emulation
from tests.e2e.conftest import ServedPlatform
from tests.e2e.test_sso_cli import Launcher


@dataclass
class Harness:
    """The platform in process, with API tokens per persona and audience, signed in once.

    `service` is the connector whose service the tests drive (its default audience).
    """

    emu: Emulation
    transport: httpx.ASGITransport
    service: str
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def db(self) -> Any:
        return self.emu.platform.db

    async def token(self, persona: str, audience: str = "") -> str:
        """An API token of `persona` for `audience` (the harness's service by default)."""
        audience = audience or self.service
        if (persona, audience) not in self.tokens:
            signed = await self.emu.sign_in(persona)
            exchanged = await self.emu.exchange(signed["access_token"], audience)
            assert exchanged.status_code == 200, exchanged.text
            self.tokens[persona, audience] = exchanged.json()["access_token"]
        return self.tokens[persona, audience]

    async def http(self, persona: str) -> httpx.AsyncClient:
        """An httpx client as a connector gets it: base URL the service's, its token added."""
        return httpx.AsyncClient(
            transport=self.transport,
            base_url=f"{EMBEDDED_BASE_URL}/api/{self.service}",
            headers={"Authorization": f"Bearer {await self.token(persona)}"},
        )

    def national_id(self, persona: str) -> str:
        return self.emu.persona(persona)["national_id"]

    def patient(self, index: int) -> str:
        """The INS of a scenario patient: 0 DUPONT, 1 LEROY (closed DMP), 2 BERNARD (blocks
        the urgentiste in her DMP); docs/emulation.md lists the nine."""
        ensure_population(self.db)
        return self.db.all("SELECT ins FROM patients ORDER BY seq LIMIT 9")[index]["ins"]


H = TypeVar("H", bound=Harness)


@asynccontextmanager
async def in_process(
    kind: type[H], service: str, settings: PlatformSettings, clock: Clock
) -> AsyncIterator[H]:
    """A harness of `kind` on a fresh platform, closed afterwards."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as client:
        yield kind(Emulation(app.state.platform, client, clock), transport, service)
    app.state.platform.db.close()


def signed_in(
    served: ServedPlatform,
    personas: dict[str, dict],
    home: Path,
    names: Iterable[str],
    qualified: Iterable[str] = (),
) -> dict[str, Launcher]:
    """One launcher per persona, each with its own home under `home`, signed in once,
    with the `qualified` patients' identities qualified (see `qualify`).

    The sign-ins run at once: each waits on the e-CPS poll interval, not on the CPU.
    """
    launchers = {}
    for name in names:
        (home / name).mkdir()
        launchers[name] = Launcher(served, home / name)
    with ThreadPoolExecutor(len(launchers)) as pool:
        list(pool.map(lambda name: launchers[name].login(personas[name]), launchers))
    for launcher in launchers.values():
        qualify(launcher.home, *qualified)
    return launchers


def scenario_ins() -> list[str]:
    """The nine scenario patients' INS, in the order of docs/emulation.md."""
    return [person.ins for person in generate().people[:9]]


def qualify(home: Path, *ins: str) -> None:
    """Record these patients' identities as qualified in the identity store of the
    launcher whose BSP_HOME is `home`, as `bsp ins lookup` then `bsp ins qualify` do (the
    INS tests run those): the DMP and prescription commands then accept their INS."""
    people = {person.ins: person for person in generate().people}
    store = IdentityStore(identities_path(home / "data", "default"))
    try:
        for number in ins:
            store.retrieved(people[number], "Test (INSi)")
            store.validated(number, "cni", "Test (pièce vérifiée)")
    finally:
        store.close()


def valid_fhir(body: Any) -> None:
    """Fail unless `body` is a FHIR R4 resource (a Bundle's entries validated with it), by
    the `fhir.resources` package's R4B models, loaded on first use (a third of a second)."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(body["resourceType"]).model_validate(body)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """The command succeeded, without a traceback."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def data(result: subprocess.CompletedProcess[str]) -> Any:
    """The JSON document a successful command printed."""
    return json.loads(ok(result).stdout)


def refused(
    result: subprocess.CompletedProcess[str], code: int, words: str, alone: bool = False
) -> None:
    """Exit `code` with a French sentence on stderr containing `words`, no traceback;
    `alone`: and nothing else on stderr."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    if alone:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def json_error(result: subprocess.CompletedProcess[str], code: int) -> dict:
    """The `{"error": …}` document a failed command printed with --json."""
    assert result.returncode == code, result.stderr
    return json.loads(result.stdout)["error"]
