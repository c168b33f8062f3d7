"""Settings of the emulated platform: token lifetimes, polling pace, lockout."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bsp_tui.config import folders

DATABASE_URL_ENV = "BSP_DATABASE_URL"
# A served platform's trainer token, as `bsp platform serve` hands it to its workers.
TRAINER_TOKEN_ENV = "BSP_TRAINER_TOKEN"  # noqa: S105 - a variable name


def _env_seconds(name: str, default: int, unit: str = "secondes") -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} doit être un nombre entier de {unit} (reçu {raw!r}).") from None
    if value <= 0:
        raise ValueError(f"{name} doit être strictement positif (reçu {value}).")
    return value


PUBLIC_URL_ENV = "BSP_PUBLIC_URL"


def public_url(raw: str) -> str:
    """The platform's address as clients reach it (behind a reverse proxy), without its
    trailing slash; "" for none. ValueError (French) when it is no http(s) URL."""
    raw = raw.strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"Adresse publique invalide {raw!r} : attendu http(s)://hôte[:port][/chemin], "
            "sans requête ni fragment."
        )
    return raw.rstrip("/")


@dataclass
class PlatformSettings:
    """Everything about the platform that a trainer or a test may want to change."""

    # A SQLite file, or a `postgresql://` URL (a served platform's, `--database`).
    database: Path | str
    psc_access_ttl: int = 120
    psc_refresh_ttl: int = 10 * 3600
    api_token_ttl: int = 4 * 3600
    id_token_ttl: int = 300
    ecps_request_ttl: int = 120
    poll_interval: int = 2
    # A CIBA or device poll that finds the e-CPS request pending is held until it is
    # answered, up to the interval (long polling); False answers pending at once.
    long_poll: bool = True
    lockout_after: int = 5
    lockout_seconds: int = 15 * 60
    code_ttl: int = 60
    activation_ttl: int = 7 * 24 * 3600
    # Push bombing: at most this many prompts waiting on one professional's phone, and
    # this many sign-ins started by one client software per minute (a room shares one).
    ecps_max_pending: int = 10
    ecps_client_per_minute: int = 120
    proof_leeway: int = 60
    # The room this platform is, served under /rooms/ROOM/ ("": the platform's root).
    room: str = ""
    # None: the embedded platform, whose trainer is whoever runs it.
    trainer_token: str | None = field(default=None, repr=False)
    # How long a write waits for another's lock before the platform answers 503. The wait
    # holds one handler thread, not the event loop: long enough for a room's sign-in wave
    # queued on one persona's row, short enough that a lock held elsewhere is told soon.
    db_busy_seconds: float = 2.0
    clock: Callable[[], float] = field(default=time.time, repr=False)
    # Behind a reverse proxy: the address clients use (issuer, links), instead of the
    # request's own host. "": the request's.
    public_url: str = ""

    def now(self) -> float:
        """The platform's current time, in seconds since the epoch."""
        return self.clock()

    @property
    def longest_token_ttl(self) -> int:
        """How long a signing key must keep verifying after it is retired."""
        return max(self.psc_access_ttl, self.api_token_ttl, self.id_token_ttl)

    @classmethod
    def from_env(cls, database: Path | str | None = None) -> PlatformSettings:
        """Settings from the `BSP_*` environment variables, with the real-life defaults.

        The database: `database`, else `BSP_DATABASE_URL` (a served platform's
        PostgreSQL), else the SQLite file in the data folder.
        """
        return cls(
            database=database
            or os.environ.get(DATABASE_URL_ENV)
            or folders().data / "platform.sqlite3",
            psc_access_ttl=_env_seconds("BSP_PSC_ACCESS_TTL", 120),
            psc_refresh_ttl=_env_seconds("BSP_PSC_REFRESH_TTL", 10 * 3600),
            api_token_ttl=_env_seconds("BSP_API_TOKEN_TTL", 4 * 3600),
            ecps_request_ttl=_env_seconds("BSP_ECPS_REQUEST_TTL", 120),
            poll_interval=_env_seconds("BSP_POLL_INTERVAL", 2),
            lockout_seconds=_env_seconds("BSP_ECPS_LOCKOUT", 15 * 60),
            activation_ttl=_env_seconds("BSP_ECPS_ACTIVATION_TTL", 7 * 24 * 3600),
            ecps_max_pending=_env_seconds("BSP_ECPS_MAX_PENDING", 10, "demandes"),
            ecps_client_per_minute=_env_seconds("BSP_ECPS_CLIENT_PER_MINUTE", 120, "connexions"),
            public_url=public_url(os.environ.get(PUBLIC_URL_ENV, "")),
        )
