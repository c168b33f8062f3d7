"""The platform's parts, built once over one database."""

from __future__ import annotations

from dataclasses import dataclass

from bsp_tui.platform.db import Database
from bsp_tui.platform.psc.clients import Clients, seed_clients
from bsp_tui.platform.psc.ecps import Ecps, seed_personas
from bsp_tui.platform.psc.flows import Flows
from bsp_tui.platform.psc.tokens import Tokens
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.platform.signing import SigningKeys
from connectors.base import registry

# The service audiences a PSC access token can be exchanged for: one per connector.
AUDIENCES = tuple(connector.audience for connector in registry())

_STATE_TABLES = (
    # The population is generated again on first use after a reset.
    "patients",
    "card_beneficiaries",
    "dmps",
    "dmp_blocks",
    "dmp_documents",
    "dmp_access_log",
    "ecps_requests",
    "pending_grants",
    "sessions",
    "refresh_tokens",
    "revoked_tokens",
    "faults",
)


@dataclass
class Platform:
    """Everything behind the platform's HTTP endpoints."""

    settings: PlatformSettings
    db: Database
    keys: SigningKeys
    ecps: Ecps
    tokens: Tokens
    clients: Clients
    flows: Flows

    @classmethod
    def open(cls, settings: PlatformSettings) -> Platform:
        """Open (and on first start, seed) the platform stored at `settings.database`."""
        db = Database(settings.database)
        seed_personas(db)
        seed_clients(db, settings)
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
        )

    def reset(self) -> None:
        """Back to the seeded state: no session, request, lockout or fault; only the launcher.

        Signing keys and enrolled devices stay, so that enrolled authenticators keep working.
        """
        with self.db.write() as conn:
            for table in _STATE_TABLES:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            conn.execute("DELETE FROM clients WHERE secret_hash IS NOT NULL")
            conn.execute("UPDATE personas SET failures = 0, locked_until = 0")
