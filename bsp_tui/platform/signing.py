"""The platform's RS256 signing keys: made on first start, kept, rotated, published."""

from __future__ import annotations

import secrets
import threading
import time

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from bsp_tui.platform.bell import Kept
from bsp_tui.platform.db import Database
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.platform.tables import KEYS_TOPIC

ALGORITHM = "RS256"
ALGORITHMS = [ALGORITHM]
# How long a worker trusts the keys it read: another worker may have rotated them.
RELOAD_SECONDS = 5.0
# How long a worker signs with the active key it read when no rotation rang its bell
# (a notification lost while the listening connection was down).
ACTIVE_SECONDS = 1.0
# Signatures remembered as checked (a client presents its token again and again);
# past that many, all are forgotten at once.
VERIFIED_MAX = 4096


class SigningKeys:
    """The active key signs; retired keys keep verifying until their tokens have expired."""

    def __init__(self, db: Database, settings: PlatformSettings) -> None:
        self._db = db
        self._settings = settings
        self._loaded: dict[str, RSAKey] = {}
        # Reading a PEM costs some 40 ms of CPU (the key is checked): a room's first
        # sign-ins, all at once, would each read it without this lock.
        self._loading = threading.Lock()
        self._cached: tuple[float, list[tuple[RSAKey, float | None]]] | None = None
        # The claims of tokens whose signature was checked. A key is dropped from the
        # verifying ones only once every token it signed has expired, so a remembered
        # signature never outlives what its claims' expiry allows.
        self._verified: dict[str, dict] = {}
        # Every token issued is signed: a room's sign-in read the key four times.
        self._active: Kept[tuple[str, str]] = db.kept(KEYS_TOPIC, ACTIVE_SECONDS)

    def _load(self, kid: str, pem: str) -> RSAKey:
        key = self._loaded.get(kid)
        if key is None:
            with self._loading:
                key = self._loaded.get(kid)
                if key is None:
                    key = RSAKey.import_key(pem, {"kid": kid, "use": "sig", "alg": ALGORITHM})
                    self._loaded[kid] = key
        return key

    def _new_key(self) -> tuple[str, str]:
        kid = secrets.token_urlsafe(12)
        key = RSAKey.generate_key(2048, private=True)
        return kid, key.as_pem(private=True).decode()

    def active(self) -> RSAKey:
        """The key that signs now, created on first use."""
        kept = self._active.get("active")
        if kept is not None:
            return self._load(*kept)
        stamp = self._active.stamp()
        row = self._db.one(
            "SELECT kid, private_pem FROM signing_keys WHERE retired IS NULL "
            "ORDER BY created DESC LIMIT 1"
        )
        if row is None:
            # Generated before taking the write lock: an RSA key takes a while, and the
            # lock stops every other writer of the platform meanwhile.
            kid, pem = self._new_key()
            with self._db.write() as conn:
                # Workers starting together make one key, not one each.
                conn.serialize("signing_keys")
                row = conn.one("SELECT kid, private_pem FROM signing_keys WHERE retired IS NULL")
                if row is None:
                    conn.execute(
                        "INSERT INTO signing_keys (kid, private_pem, created)"
                        " VALUES (:kid, :pem, :now)",
                        {"kid": kid, "pem": pem, "now": self._settings.now()},
                    )
                    row = {"kid": kid, "private_pem": pem}
        self._active.keep(stamp, "active", (row["kid"], row["private_pem"]))
        return self._load(row["kid"], row["private_pem"])

    def rotate(self) -> str:
        """Retire the active key and start signing with a new one; returns the new kid."""
        kid, pem = self._new_key()
        now = self._settings.now()
        with self._db.write() as conn:
            conn.serialize("signing_keys")
            conn.execute(
                "UPDATE signing_keys SET retired = :now WHERE retired IS NULL", {"now": now}
            )
            conn.execute(
                "INSERT INTO signing_keys (kid, private_pem, created) VALUES (:kid, :pem, :now)",
                {"kid": kid, "pem": pem, "now": now},
            )
            conn.notify(self._db.topic(KEYS_TOPIC))
        self._cached = None
        return kid

    def verifying(self) -> KeySet:
        """Every key whose signatures may still be on an unexpired token."""
        self.active()
        horizon = self._settings.now() - self._settings.longest_token_ttl
        rows = self._db.all(
            "SELECT kid, private_pem FROM signing_keys WHERE retired IS NULL OR retired > :horizon",
            {"horizon": horizon},
        )
        return KeySet([self._load(row["kid"], row["private_pem"]) for row in rows])

    def checked(self, token: str) -> dict:
        """The claims of `token` once its RS256 signature is checked (JoseError if not).

        This runs on every API request: the keys are those read for an earlier token,
        read again when they do not verify this one (a key made by another worker) or
        are older than `RELOAD_SECONDS` (a key another worker retired).
        """
        claims = self.checked_as_known(token)
        if claims is not None:
            return claims
        self.active()
        rows = [
            (self._load(row["kid"], row["private_pem"]), row["retired"])
            for row in self._db.all("SELECT kid, private_pem, retired FROM signing_keys")
        ]
        self._cached = (time.monotonic(), rows)
        return self._remember(token, jwt.decode(token, self._keys_from(rows), ALGORITHMS).claims)

    def checked_as_known(self, token: str) -> dict | None:
        """`checked` without reading the database: None when the keys this process holds
        are too old or do not verify `token` (ask `checked`)."""
        claims = self._verified.get(token)
        if claims is not None:
            return dict(claims)
        if self._cached is None or time.monotonic() - self._cached[0] >= RELOAD_SECONDS:
            return None
        try:
            decoded = jwt.decode(token, self._keys_from(self._cached[1]), ALGORITHMS).claims
        except JoseError:
            return None  # an unknown key, or a bad token: decided on the keys as stored
        return self._remember(token, decoded)

    def _remember(self, token: str, claims: dict) -> dict:
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = claims
        return dict(claims)

    def _keys_from(self, rows: list[tuple[RSAKey, float | None]]) -> KeySet:
        horizon = self._settings.now() - self._settings.longest_token_ttl
        return KeySet([key for key, retired in rows if retired is None or retired > horizon])

    def jwks(self) -> dict:
        """The public JWKS document."""
        return self.verifying().as_dict(private=False)
