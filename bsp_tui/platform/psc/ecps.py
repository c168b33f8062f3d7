"""The e-CPS second factor: pending approval requests, PIN + enrolled device, lockout.

PIN length is not published for the real app: the emulation uses 4 digits.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
import sqlite3
from dataclasses import dataclass

import pyotp

from bsp_tui.platform.db import Database
from bsp_tui.platform.psc.directory import PERSONAS
from bsp_tui.platform.settings import PlatformSettings

TOTP_ISSUER = "e-CPS (bsp)"


class EcpsError(Exception):
    """An answer the e-CPS refuses; `code` is stable, the message is for people."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Request:
    """An approval request as the phone shows it."""

    id: str
    national_id: str
    binding: str
    client_id: str
    client_name: str
    channel: str
    status: str
    created: float
    expires: float


def seed_personas(db: Database) -> None:
    """Add every demo persona missing from the directory, each with its own PIN and seed."""
    with db.write() as conn:
        for persona in PERSONAS:
            conn.execute(
                "INSERT OR IGNORE INTO personas"
                " (name, national_id, rpps, profile, pin, totp_secret) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    persona.name,
                    persona.national_id,
                    persona.rpps,
                    json.dumps(persona.profile(), ensure_ascii=False),
                    f"{secrets.randbelow(10_000):04d}",
                    pyotp.random_base32(),
                ),
            )


class Ecps:
    """The e-CPS side of the platform."""

    def __init__(self, db: Database, settings: PlatformSettings) -> None:
        self._db = db
        self._settings = settings

    def persona(self, *, national_id: str | None = None, name: str | None = None) -> sqlite3.Row:
        """A professional of the directory, by national id or persona name."""
        if national_id is not None:
            row = self._db.one("SELECT * FROM personas WHERE national_id = ?", (national_id,))
        else:
            row = self._db.one("SELECT * FROM personas WHERE name = ?", (name,))
        if row is None:
            raise EcpsError(
                "unknown_user", "Aucun professionnel e-CPS ne porte cet identifiant.", 404
            )
        return row

    def personas(self) -> list[sqlite3.Row]:
        """Every professional of the demo directory."""
        return self._db.all("SELECT * FROM personas ORDER BY rowid")

    def directory(self, with_pins: bool = False) -> list[dict]:
        """The demo directory as lists show it; PINs only for the platform's own commands."""
        entries = []
        for row in self.personas():
            profile = json.loads(row["profile"])
            entry = {
                "name": row["name"],
                "display_name": f"{profile['given']} {profile['family']}",
                "profession_code": profile["profession_code"],
                "profession": profile["profession_label"],
                "national_id": row["national_id"],
                "rpps": row["rpps"],
            }
            if with_pins:
                entry["pin"] = row["pin"]
            entries.append(entry)
        return entries

    def _locked_message(self, until: float) -> str:
        minutes = max(1, round((until - self._settings.now()) / 60))
        return (
            f"e-CPS verrouillée après {self._settings.lockout_after} échecs : "
            f"réessayez dans {minutes} min."
        )

    def ensure_not_locked(self, persona: sqlite3.Row) -> None:
        """Refuse to start anything for a professional who is locked out."""
        if persona["locked_until"] > self._settings.now():
            raise EcpsError("locked", self._locked_message(persona["locked_until"]), 423)

    def start(
        self, national_id: str, binding: str, client_id: str, client_name: str, channel: str
    ) -> str:
        """Push a new approval request to the professional's phone; returns its id."""
        persona = self.persona(national_id=national_id)
        self.ensure_not_locked(persona)
        request_id = secrets.token_urlsafe(16)
        now = self._settings.now()
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO ecps_requests VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, NULL)",
                (
                    request_id,
                    national_id,
                    binding,
                    client_id,
                    client_name,
                    channel,
                    now,
                    now + self._settings.ecps_request_ttl,
                ),
            )
        return request_id

    def _as_request(self, row: sqlite3.Row) -> Request:
        status = row["status"]
        if status == "pending" and row["expires"] <= self._settings.now():
            status = "expired"
        return Request(
            row["id"],
            row["national_id"],
            row["binding"],
            row["client_id"],
            row["client_name"],
            row["channel"],
            status,
            row["created"],
            row["expires"],
        )

    def request(self, request_id: str) -> Request:
        """One request, with `expired` computed from the clock."""
        row = self._db.one("SELECT * FROM ecps_requests WHERE id = ?", (request_id,))
        if row is None:
            raise EcpsError("unknown_request", "Cette demande e-CPS n'existe pas.", 404)
        return self._as_request(row)

    def pending(self, national_id: str | None = None) -> list[Request]:
        """Requests still waiting for an answer, oldest first."""
        sql = "SELECT * FROM ecps_requests WHERE status = 'pending' AND expires > ?"
        params: tuple = (self._settings.now(),)
        if national_id is not None:
            sql += " AND national_id = ?"
            params += (national_id,)
        return [self._as_request(r) for r in self._db.all(sql + " ORDER BY created", params)]

    def answer(self, request_id: str, approve: bool, pin: str = "", otp: str = "") -> Request:
        """Approve (PIN and current device code) or deny a pending request."""
        now = self._settings.now()
        with self._db.write() as conn:
            row = conn.execute("SELECT * FROM ecps_requests WHERE id = ?", (request_id,)).fetchone()
            if row is None:
                raise EcpsError("unknown_request", "Cette demande e-CPS n'existe pas.", 404)
            persona = conn.execute(
                "SELECT * FROM personas WHERE national_id = ?", (row["national_id"],)
            ).fetchone()
            if persona["locked_until"] > now:
                raise EcpsError("locked", self._locked_message(persona["locked_until"]), 423)
            request = self._as_request(row)
            if request.status == "expired":
                raise EcpsError("expired", "Cette demande a expiré : relancez la connexion.", 410)
            if request.status != "pending":
                raise EcpsError("answered", "Cette demande a déjà reçu une réponse.", 409)
            if not approve:
                self._close(conn, request_id, "denied", now)
                return self._as_request(self._reread(conn, request_id))
            failure = self._check_factors(conn, persona, pin, otp, now)
            if failure is None:
                conn.execute("UPDATE personas SET failures = 0 WHERE name = ?", (persona["name"],))
                self._close(conn, request_id, "approved", now)
                return self._as_request(self._reread(conn, request_id))
            error = self._count_failure(conn, persona, failure, now)
        raise error

    def _reread(self, conn: sqlite3.Connection, request_id: str) -> sqlite3.Row:
        return conn.execute("SELECT * FROM ecps_requests WHERE id = ?", (request_id,)).fetchone()

    def _close(self, conn: sqlite3.Connection, request_id: str, status: str, now: float) -> None:
        conn.execute(
            "UPDATE ecps_requests SET status = ?, answered = ? WHERE id = ?",
            (status, now, request_id),
        )

    def _check_factors(
        self, conn: sqlite3.Connection, persona: sqlite3.Row, pin: str, otp: str, now: float
    ) -> EcpsError | None:
        if not hmac.compare_digest(pin.encode(), persona["pin"].encode()):
            return EcpsError("wrong_pin", "Code PIN incorrect.", 403)
        totp = pyotp.TOTP(persona["totp_secret"])
        current = totp.timecode(dt.datetime.fromtimestamp(now, tz=dt.UTC))
        matched = next(
            (
                counter
                for counter in (current - 1, current, current + 1)
                if hmac.compare_digest(totp.generate_otp(counter).encode(), otp.encode())
            ),
            None,
        )
        if matched is None:
            return EcpsError("wrong_otp", "Le code de l'appareil enrôlé est faux.", 403)
        if matched <= persona["last_totp_counter"]:
            return EcpsError(
                "replayed_otp",
                "Ce code de l'appareil a déjà servi : attendez le suivant.",
                403,
            )
        conn.execute(
            "UPDATE personas SET last_totp_counter = ? WHERE name = ?", (matched, persona["name"])
        )
        return None

    def _count_failure(
        self,
        conn: sqlite3.Connection,
        persona: sqlite3.Row,
        failure: EcpsError,
        now: float,
    ) -> EcpsError:
        failures = persona["failures"] + 1
        left = self._settings.lockout_after - failures
        if left > 0:
            conn.execute(
                "UPDATE personas SET failures = ? WHERE name = ?", (failures, persona["name"])
            )
            plural = "s" if left > 1 else ""
            return EcpsError(
                failure.code,
                f"{failure.message} Il reste {left} essai{plural} avant verrouillage.",
                failure.status,
            )
        until = now + self._settings.lockout_seconds
        conn.execute(
            "UPDATE personas SET failures = 0, locked_until = ? WHERE name = ?",
            (until, persona["name"]),
        )
        # Every request still waiting for this professional ends now: their clients are
        # told at their next poll instead of waiting for an answer that cannot come.
        conn.execute(
            "UPDATE ecps_requests SET status = 'locked', answered = ? "
            "WHERE national_id = ? AND status = 'pending'",
            (now, persona["national_id"]),
        )
        return EcpsError("locked", self._locked_message(until), 423)

    def enrol(self, name: str) -> str:
        """The `otpauth://` URI of the professional's enrolled device."""
        persona = self.persona(name=name)
        return pyotp.TOTP(persona["totp_secret"]).provisioning_uri(
            name=persona["national_id"], issuer_name=TOTP_ISSUER
        )
