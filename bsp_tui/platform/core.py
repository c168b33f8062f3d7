"""The platform's parts, built once over one database."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from bsp_tui.platform.db import Database
from bsp_tui.platform.population import ensure_population
from bsp_tui.platform.psc.backchannel import BackChannel
from bsp_tui.platform.psc.clients import Clients, seed_clients
from bsp_tui.platform.psc.ecps import Ecps, seed_personas
from bsp_tui.platform.psc.flows import Flows
from bsp_tui.platform.psc.tokens import Tokens
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.platform.signing import SigningKeys
from bsp_tui.platform.tables import CLIENTS_TOPIC, FAULTS_TOPIC, PLATFORM, SESSIONS_TOPIC
from connectors.base import registry


@cache
def audiences() -> tuple[str, ...]:
    """The service audiences a PSC access token can be exchanged for: one per installed
    connector (read from the registry when the platform first opens)."""
    return tuple(connector.audience for connector in registry())


# Kept by a reset: keys, personas, their enrolled devices and activation codes (the
# trainer's printed cards and the trainees' phones keep working) and the clients table,
# from which only registered third-party clients are removed; the list of rooms, each
# reset on its own. Every other table, connectors' own included, is emptied, then seeded
# again.
_KEPT_TABLES = frozenset(
    {"signing_keys", "personas", "ecps_devices", "ecps_activations", "clients", "rooms"}
)


@dataclass
class Platform:
    """Everything behind the platform's HTTP endpoints (`audiences`: its services')."""

    settings: PlatformSettings
    db: Database
    keys: SigningKeys
    ecps: Ecps
    tokens: Tokens
    clients: Clients
    flows: Flows
    audiences: tuple[str, ...]

    @property
    def backchannel(self) -> BackChannel:
        """The back-channel logout to the clients that registered for it."""
        return BackChannel(self.tokens, self.clients)

    @classmethod
    def open(cls, settings: PlatformSettings, db: Database | None = None) -> Platform:
        """Open the platform stored at `settings.database` (or in `db`, a room's schema):
        on first start, every table is made and seeded (the population, and each
        connector's own)."""
        db = db or Database(settings.database, settings.db_busy_seconds)
        db.ensure(PLATFORM)
        seed_personas(db)
        seed_clients(db, settings)
        ensure_population(db)
        keys = SigningKeys(db, settings)
        ecps = Ecps(db, settings)
        tokens = Tokens(db, settings, keys)
        return cls(
            settings,
            db,
            keys,
            ecps,
            tokens,
            Clients(db, settings),
            Flows(db, settings, ecps, tokens),
            audiences(),
        )

    def reset(self) -> None:
        """Back to the seeded state: no session, request, lockout or fault; only the launcher.

        Signing keys and enrolled devices stay, so that enrolled authenticators keep working.
        """
        with self.db.write() as conn:
            for table in reversed(self.db.table_names()):
                if table not in _KEPT_TABLES:
                    conn.execute(f'DELETE FROM "{table}"')  # noqa: S608 - declared names
            conn.execute("DELETE FROM clients WHERE secret_hash IS NOT NULL")
            conn.execute("UPDATE personas SET failures = 0, locked_until = 0")
            for topic in (FAULTS_TOPIC, SESSIONS_TOPIC, CLIENTS_TOPIC):
                conn.notify(self.db.topic(topic))
        ensure_population(self.db)
