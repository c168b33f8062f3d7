"""Housekeeping: rows past their time are deleted, so that tables stay bounded.

A room's platform runs for days; every sign-in leaves a pending grant, an e-CPS
request, device proofs, a session and its refresh tokens. Once nothing can use a row
any more it is deleted, `RETAIN_SECONDS` after that moment (a client polling a grant
just expired still hears "expired", not "unknown"):

- pending grants (CIBA, device, authorization codes), e-CPS requests, device proofs'
  `jti`s, revoked tokens' `jti`s: past their own expiry;
- sessions, ended or not, and their refresh tokens: once no token naming them can
  still be valid (the last refresh token's expiry, plus an access token's and the
  longest token's lifetime); codes' replay records go with their session or code;
- idempotency keys: past `idempotency.KEPT_SECONDS`.

It runs after a request has been answered, at most every `EVERY_SECONDS` of the
platform's clock: each worker looks no more often than that, and the database decides
which one purges (a conditional update of `housekeeping`'s one row, under an
advisory lock on PostgreSQL), so that several workers or processes over one database
purge once, not each.
"""

from __future__ import annotations

import logging

import anyio

from bsp_tui.platform.bodies import ASGIApp, Receive, Scope, Send
from bsp_tui.platform.db import Database
from bsp_tui.platform.idempotency import KEPT_SECONDS
from bsp_tui.platform.settings import PlatformSettings

EVERY_SECONDS = 60
RETAIN_SECONDS = 3600
_JOB = "purge"
log = logging.getLogger("bsp.platform.housekeeping")

# Each: the table, and the condition of its dead rows (`:before` = now - retention).
_PURGES = (
    ("pending_grants", "expires < :before"),
    ("ecps_requests", "expires < :before"),
    ("ecps_proofs", "expires < :before"),
    ("revoked_tokens", "expires < :before"),
    ("idempotency_keys", "created < :keys_before"),
    (
        "sessions",
        "auth_time < :sessions_before AND (ended < :sessions_before OR NOT EXISTS ("
        "SELECT 1 FROM refresh_tokens r WHERE r.sid = sessions.sid"
        " AND r.expires >= :sessions_before))",
    ),
    ("refresh_tokens", "sid NOT IN (SELECT sid FROM sessions)"),
    (
        "code_sessions",
        "sid NOT IN (SELECT sid FROM sessions) OR code_hash NOT IN"
        " (SELECT code_hash FROM pending_grants WHERE code_hash IS NOT NULL)",
    ),
)


def purge(db: Database, settings: PlatformSettings, force: bool = False) -> dict[str, int] | None:
    """Delete the dead rows, unless another worker did less than `EVERY_SECONDS` ago
    (`force`: whatever the last time); the rows deleted per table, or None."""
    now = settings.now()
    # A token minted by the last refresh lives an access token's time, and what it was
    # exchanged for the longest token's.
    grace = settings.psc_access_ttl + settings.longest_token_ttl
    params = {
        "before": now - RETAIN_SECONDS,
        "keys_before": now - KEPT_SECONDS,
        "sessions_before": now - grace - RETAIN_SECONDS,
    }
    with db.write() as tx:
        tx.serialize("housekeeping")
        tx.execute(
            "INSERT INTO housekeeping (name, last) VALUES (:job, 0) ON CONFLICT DO NOTHING",
            {"job": _JOB},
        )
        due = now + 1 if force else now - EVERY_SECONDS
        if not tx.execute(
            "UPDATE housekeeping SET last = :now WHERE name = :job AND last <= :due",
            {"now": now, "job": _JOB, "due": due},
        ):
            return None
        return {
            table: tx.execute(f"DELETE FROM {table} WHERE {condition}", params)  # noqa: S608
            for table, condition in _PURGES
        }


class Housekeeper:
    """The ASGI middleware that purges after an answer, when it is time."""

    def __init__(self, app: ASGIApp, db: Database, settings: PlatformSettings) -> None:
        self.app = app
        self.db = db
        self.settings = settings
        self.next_look = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        now = self.settings.now()
        if scope["type"] != "http" or now < self.next_look:
            return
        self.next_look = now + EVERY_SECONDS
        try:
            purged = await anyio.to_thread.run_sync(purge, self.db, self.settings)
        except Exception:
            # A busy or unreachable database: the rows wait for the next purge.
            log.warning("Purge reportée : base de données indisponible.", exc_info=True)
            return
        if purged is not None and any(purged.values()):
            log.info("Purge : %s.", ", ".join(f"{t} {n}" for t, n in purged.items() if n))
