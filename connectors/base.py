"""The connector contract and the registry that finds connectors by entry point.

A connector is found through the `bsp.connectors` entry-point group, so that a
third party's package plugs in exactly as the built-in ones do. This module imports
neither Textual nor the launcher: a connector's screen is named by import path and
loaded only by the interface that shows it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bsp_tui.domain.patients import PatientContext

ENTRY_POINT_GROUP = "bsp.connectors"
DEFAULT_MAX_BODY_BYTES = 256 * 1024  # a request body to a service, unless it says otherwise


@dataclass(frozen=True)
class Connector:
    """What the launcher needs to know of a connector.

    `audience` is the service's OAuth audience (the token exchange target);
    `professions` the profession codes allowed to use it (empty: everyone);
    `refusal` why the others may not; `screen` the `module:Class` of its screen,
    or "" while the connector has none; `service` the `module:attribute` of the
    emulated national service (a FastAPI router the platform mounts at
    `/api/NAME`), or "" when the platform does not emulate it yet; `seed` the
    `module:function` that makes the service's tables and seed data when the platform
    opens (given the platform's `Seeding`), or "" when it keeps nothing; `cli` the
    `module:attribute` of its click group, added to `bsp` as `bsp COMMAND …` where
    COMMAND is `command` when given (a short name such as `rx`) and NAME otherwise, or "";
    `base_url` the absolute URL of a service the platform does not host (a third
    party's own), or "" for the platform's `/api/NAME`; `max_body_bytes` caps every
    request body of its service (the platform answers 413).
    """

    name: str
    title: str
    description: str
    order: int
    professions: frozenset[str] = field(default_factory=frozenset)
    refusal: str = ""
    screen: str = ""
    service: str = ""
    seed: str = ""
    cli: str = ""
    command: str = ""
    base_url: str = ""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @property
    def command_name(self) -> str:
        """The name of its command group: `bsp COMMAND_NAME …`."""
        return self.command or self.name

    @property
    def audience(self) -> str:
        """The OAuth audience of the connector's service."""
        return self.name

    def allows(self, profession_code: str) -> bool:
        """True when a professional of that profession may use the connector."""
        return not self.professions or profession_code in self.professions

    def load_screen(self) -> type | None:
        """The screen class, imported on demand (None while there is none)."""
        screen: type | None = _load(self.screen)
        return screen

    def load_service(self) -> Any:
        """The emulated service's router, imported on demand (None while there is none)."""
        return _load(self.service)

    def load_seed(self) -> Any:
        """The function making the service's tables and seed data, imported on demand
        (None while there is none)."""
        return _load(self.seed)

    def load_cli(self) -> Any:
        """The connector's click group, imported on demand (None while there is none)."""
        return _load(self.cli)


def _load(path: str) -> Any:
    if not path:
        return None
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


def registry() -> list[Connector]:
    """Every installed connector, in display order."""
    found = []
    for entry in _entry_points(tuple(sys.path)):
        connector = entry.load()
        if not isinstance(connector, Connector):
            raise TypeError(f"{entry.value} is not a Connector")
        found.append(connector)
    return sorted(found, key=lambda c: (c.order, c.name))


@cache
def _entry_points(path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    # Reading every distribution's metadata costs milliseconds, and the platform and
    # the launcher ask often: what is installed holds while the import path does.
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def connector_named(name: str) -> Connector | None:
    """The installed connector of that name, if any."""
    return next((c for c in registry() if c.name == name), None)


@dataclass
class ConnectorContext:
    """What the launcher hands a connector's screen.

    `client` is an `httpx.AsyncClient` whose base URL is the service's and whose auth
    adds the connector's own token (renewed once on a 401); `who` describes the
    signed-in professional; the patient context is shared by every connector.
    """

    connector: Connector
    client: Any
    who: dict[str, Any]
    get_patient: Callable[[], PatientContext | None]
    set_patient: Callable[[PatientContext | None], None]
