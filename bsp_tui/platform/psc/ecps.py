"""The e-CPS second factor: pending approval requests, PIN + enrolled device, lockout.

PIN length is not published for the real app: the emulation uses 4 digits.

The real app is activated with the CPS card or codes sent to the professional; the
emulation's activation is its own design. The trainer's side issues single-use, expiring
activation codes per persona; a phone enrols with one and registers the public half of
an Ed25519 key it made (and receives the device's TOTP seed). From then on each of its
calls carries a proof: a JWT signed by that key naming the method and path, fresh and
never used before. Every device of a persona may approve at once (a room of trainees
sharing five personas); approving also needs the PIN and the device's current code.
Only a proven device can make a wrong attempt count, so the lockout is not anyone's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import secrets
from dataclasses import dataclass, replace

import anyio
import pyotp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.jws import extract_compact

from bsp_tui.platform.bell import BELL, wait_for
from bsp_tui.platform.db import Database, RowMapping, Tx
from bsp_tui.platform.psc.directory import PERSONAS
from bsp_tui.platform.settings import PlatformSettings

TOTP_ISSUER = "e-CPS (bsp)"
# The device key's signature algorithm (joserfc's name for EdDSA over Ed25519).
DEVICE_ALGORITHM = "Ed25519"
# Activation codes are typed from a card: no 0/O, 1/I/L, in groups of four.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_GROUPS = 3
# The one answer for any wrong factor: which one was wrong is no one's business.
REFUSED = "Code PIN ou appareil refusé."


class EcpsError(Exception):
    """An answer the e-CPS refuses; `code` is stable, the message is for people."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def already_answered() -> EcpsError:
    """The answer to an answer for a request that has already ended."""
    return EcpsError("answered", "Cette demande a déjà reçu une réponse.", 409)


def device_refused() -> EcpsError:
    """The answer to a call without a valid proof of an enrolled device."""
    return EcpsError(
        "device_refused",
        "Appareil e-CPS non reconnu : enrôlez-le avec `bsp phone enrol --persona NOM "
        "--code CODE` (le code d'activation figure sur votre carte).",
        401,
    )


def activation_refused() -> EcpsError:
    """The answer to any activation code that does not enrol (unknown, used, expired)."""
    return EcpsError(
        "activation_refused",
        "Code d'activation refusé : il est inconnu, déjà utilisé ou expiré. "
        "Demandez-en un nouveau au formateur.",
        403,
    )


def normalise_code(code: str) -> str:
    """An activation code as stored: upper case, groups joined by dashes."""
    letters = "".join(c for c in code.upper() if c.isalnum())
    return "-".join(letters[i : i + 4] for i in range(0, len(letters), 4))


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
    """Add every demo persona missing from the directory, each with its own PIN and seed.

    A persona already there keeps its PIN and seed and gets the current profile.
    """
    with db.write() as conn:
        for seq, persona in enumerate(PERSONAS, 1):
            conn.execute(
                "INSERT INTO personas (name, national_id, rpps, profile, pin, totp_secret, seq)"
                " VALUES (:name, :national_id, :rpps, :profile, :pin, :totp_secret, :seq)"
                # The directory's facts follow the code; the PIN and seed drawn stay.
                " ON CONFLICT (name) DO UPDATE SET profile = excluded.profile",
                {
                    "name": persona.name,
                    "national_id": persona.national_id,
                    "rpps": persona.rpps,
                    "profile": json.dumps(persona.profile(), ensure_ascii=False),
                    "pin": f"{secrets.randbelow(10_000):04d}",
                    "totp_secret": pyotp.random_base32(),
                    "seq": seq,
                },
            )


class Ecps:
    """The e-CPS side of the platform."""

    def __init__(self, db: Database, settings: PlatformSettings) -> None:
        self._db = db
        self._settings = settings

    def persona(self, *, national_id: str | None = None, name: str | None = None) -> RowMapping:
        """A professional of the directory, by national id or persona name."""
        if national_id is not None:
            row = self._db.one(
                "SELECT * FROM personas WHERE national_id = :id", {"id": national_id}
            )
        else:
            row = self._db.one("SELECT * FROM personas WHERE name = :name", {"name": name})
        if row is None:
            raise EcpsError(
                "unknown_user", "Aucun professionnel e-CPS ne porte cet identifiant.", 404
            )
        return row

    def personas(self) -> list[RowMapping]:
        """Every professional of the demo directory."""
        return self._db.all("SELECT * FROM personas ORDER BY seq, name")

    def directory(self, with_pins: bool = False) -> list[dict]:
        """The demo directory as lists show it; PINs and activation codes only for the
        trainer (the platform's own commands, or over HTTP with the trainer token)."""
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
                activation = self.activation_code(row["name"])
                entry["pin"] = row["pin"]
                entry["activation_code"] = activation["code"]
                entry["activation_expires"] = activation["expires"]
            entries.append(entry)
        return entries

    def _locked_message(self, until: float) -> str:
        minutes = max(1, round((until - self._settings.now()) / 60))
        return (
            f"e-CPS verrouillée après {self._settings.lockout_after} échecs : "
            f"réessayez dans {minutes} min."
        )

    def ensure_not_locked(self, persona: RowMapping) -> None:
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
                "INSERT INTO ecps_requests (id, national_id, binding, client_id, client_name,"
                " channel, status, created, expires) VALUES (:id, :national_id, :binding,"
                " :client_id, :client_name, :channel, 'pending', :created, :expires)",
                {
                    "id": request_id,
                    "national_id": national_id,
                    "binding": binding,
                    "client_id": client_id,
                    "client_name": client_name,
                    "channel": channel,
                    "created": now,
                    "expires": now + self._settings.ecps_request_ttl,
                },
            )
            topics = (self._pushed(national_id), self._pushed(national_id, binding))
            for topic in topics:
                conn.notify(topic)
            # One professional's pushes are counted one at a time, the row already written
            # (a refusal rolls it back): the professional's row is held for the counting
            # and the commit only, as a room's trainees sharing a persona push at once.
            held = conn.locked(
                "SELECT locked_until FROM personas WHERE national_id = :id", {"id": national_id}
            )
            if held is not None and held["locked_until"] > now:  # locked out meanwhile
                raise EcpsError("locked", self._locked_message(held["locked_until"]), 423)
            self._within_limits(conn, national_id, client_id, request_id, now)
        return request_id

    def _pushed(self, national_id: str, binding: str | None = None) -> str:
        """The bell of a professional's pushes (of those showing `binding`: a phone that
        waits for its own number is not woken by the room's other sign-ins)."""
        return self._db.topic(f"ecps/{national_id}" + ("" if binding is None else f"/{binding}"))

    def _within_limits(
        self, conn: Tx, national_id: str, client_id: str, mine: str, now: float
    ) -> None:
        """Refuse a push (`mine`, written) beyond the professional's pending bound or the
        client's rate, counting the others."""
        waiting = conn.value(
            "SELECT count(*) FROM ecps_requests WHERE national_id = :id AND id <> :mine"
            " AND status = 'pending' AND expires > :now",
            {"id": national_id, "mine": mine, "now": now},
        )
        if waiting >= self._settings.ecps_max_pending:
            raise EcpsError(
                "too_many_pending",
                f"{waiting} demandes attendent déjà sur l'e-CPS de ce professionnel : "
                "répondez-y ou laissez-les expirer avant d'en lancer une autre.",
                429,
            )
        recent = conn.value(
            "SELECT count(*) FROM ecps_requests WHERE client_id = :client AND id <> :mine"
            " AND created > :since",
            {"client": client_id, "mine": mine, "since": now - 60},
        )
        if recent >= self._settings.ecps_client_per_minute:
            raise EcpsError(
                "slow_down",
                f"Trop de connexions lancées par ce logiciel (plus de "
                f"{self._settings.ecps_client_per_minute} par minute) : réessayez dans une minute.",
                429,
            )

    def _as_request(self, row: RowMapping) -> Request:
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
        row = self._db.one("SELECT * FROM ecps_requests WHERE id = :id", {"id": request_id})
        if row is None:
            raise EcpsError("unknown_request", "Cette demande e-CPS n'existe pas.", 404)
        return self._as_request(row)

    def pending(self, national_id: str | None = None, binding: str | None = None) -> list[Request]:
        """Requests still waiting for an answer (of one professional, showing one
        number), oldest first."""
        sql = "SELECT * FROM ecps_requests WHERE status = 'pending' AND expires > :now"
        params: dict[str, object] = {"now": self._settings.now()}
        if national_id is not None:
            sql += " AND national_id = :id"
            params["id"] = national_id
        if binding is not None:
            sql += " AND binding = :binding"
            params["binding"] = binding
        return [self._as_request(r) for r in self._db.all(sql + " ORDER BY created", params)]

    async def pending_within(
        self, national_id: str, seconds: float, binding: str | None = None
    ) -> list[Request]:
        """The professional's pending requests (those showing `binding`), waiting up to
        `seconds` for a first one to arrive, as a real phone gets a push: the phone
        API's long poll."""
        self._db.hear_other_workers()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        async with BELL.listening(self._pushed(national_id, binding)) as pushed:
            while True:
                found = await anyio.to_thread.run_sync(self.pending, national_id, binding)
                left = deadline - loop.time()
                if found or left <= 0:
                    return found
                await wait_for(pushed, left)

    def answer(
        self, request_id: str, device: RowMapping, approve: bool, pin: str = "", otp: str = ""
    ) -> Request:
        """Approve (PIN and the device's current code) or deny one of the device's requests."""
        now = self._settings.now()
        with self._db.write() as conn:
            # A right answer locks no row it does not change: a room's trainees share a
            # handful of personas, and their approvals would otherwise queue on those rows.
            # Each write is conditional instead (the request still pending, the device's
            # code not yet spent); a wrong answer takes the persona's row (below).
            # The request with what the answer checks of its professional, in one read;
            # none when it is another professional's, not this phone's to see.
            row = conn.one(
                "SELECT r.*, p.pin, p.failures, p.locked_until FROM ecps_requests r"
                " JOIN personas p ON p.national_id = r.national_id"
                " WHERE r.id = :id AND p.name = :name",
                {"id": request_id, "name": device["name"]},
            )
            if row is None:
                raise EcpsError("unknown_request", "Cette demande e-CPS n'existe pas.", 404)
            if row["locked_until"] > now:
                raise EcpsError("locked", self._locked_message(row["locked_until"]), 423)
            request = self._as_request(row)
            if request.status == "expired":
                raise EcpsError("expired", "Cette demande a expiré : relancez la connexion.", 410)
            if request.status != "pending":
                raise already_answered()
            if not approve:
                self._close_or_answered(conn, request_id, "denied", now)
                return replace(request, status="denied")
            failure = self._check_factors(conn, row["pin"], device, pin, otp, now)
            if failure is None:
                # A right answer clears the wrong ones before it and the lockouts' count,
                # written only when there is something to clear.
                name = {"name": device["name"]}
                if row["failures"]:
                    conn.execute(
                        "UPDATE personas SET failures = 0 WHERE name = :name AND failures <> 0",
                        name,
                    )
                if row["locked_until"]:  # never locked out: no count to clear
                    conn.execute("DELETE FROM ecps_lockouts WHERE name = :name", name)
                self._close_or_answered(conn, request_id, "approved", now)
                return replace(request, status="approved")
            if failure.code == "replayed_otp":
                raise failure
            # Wrong answers at once (two phones, a retry) count one after the other.
            persona = conn.locked(
                "SELECT * FROM personas WHERE name = :name", {"name": device["name"]}
            )
            assert persona is not None
            if persona["locked_until"] > now:  # locked meanwhile by another wrong answer
                raise EcpsError("locked", self._locked_message(persona["locked_until"]), 423)
            error = self._count_failure(conn, persona, failure, now)
        raise error

    def _close(self, conn: Tx, request_id: str, status: str, now: float) -> bool:
        """End a pending request with `status`; False when it had already ended (another
        answer, a lockout, at the same moment)."""
        closed = conn.execute(
            "UPDATE ecps_requests SET status = :status, answered = :now"
            " WHERE id = :id AND status = 'pending'",
            {"status": status, "now": now, "id": request_id},
        )
        if closed:
            conn.notify(self.answered(request_id))
        return bool(closed)

    def _close_or_answered(self, conn: Tx, request_id: str, status: str, now: float) -> None:
        if not self._close(conn, request_id, status, now):
            raise already_answered()

    def answered(self, request_id: str) -> str:
        """The bell of one request's answer (approved, denied, or ended by a lockout): the
        sign-in's held poll waits on it, and only it wakes."""
        return self._db.topic(f"ecps-answer/{request_id}")

    def _check_factors(
        self,
        conn: Tx,
        right: str,
        device: RowMapping,
        pin: str,
        otp: str,
        now: float,
    ) -> EcpsError | None:
        right_pin = hmac.compare_digest(pin.encode(), right.encode())
        totp = pyotp.TOTP(device["totp_secret"])
        current = totp.timecode(dt.datetime.fromtimestamp(now, tz=dt.UTC))
        matched = next(
            (
                counter
                for counter in (current - 1, current, current + 1)
                if hmac.compare_digest(totp.generate_otp(counter).encode(), otp.encode())
            ),
            None,
        )
        if not right_pin or matched is None:
            return EcpsError("refused", REFUSED, 403)
        # Each device has its own codes: only the same phone approving twice within 30 s
        # meets its own spent code (the phone then uses the next one).
        # One conditional write spends the code: of two answers with it at once, one only.
        spent = conn.execute(
            "UPDATE ecps_devices SET last_totp_counter = :counter"
            " WHERE id = :id AND last_totp_counter < :counter",
            {"counter": matched, "id": device["id"]},
        )
        if not spent:
            return EcpsError(
                "replayed_otp",
                "Ce code de l'appareil a déjà servi : attendez le suivant.",
                403,
            )
        return None

    def _count_failure(
        self,
        conn: Tx,
        persona: RowMapping,
        failure: EcpsError,
        now: float,
    ) -> EcpsError:
        failures = persona["failures"] + 1
        left = self._settings.lockout_after - failures
        if left > 0:
            conn.execute(
                "UPDATE personas SET failures = :failures WHERE name = :name",
                {"failures": failures, "name": persona["name"]},
            )
            plural = "s" if left > 1 else ""
            return EcpsError(
                failure.code,
                f"{failure.message} Il reste {left} essai{plural} avant verrouillage.",
                failure.status,
            )
        # Each lockout lasts twice the one before, until a right answer: a patient
        # guesser gets a handful of tries a day, then fewer, not five every 15 minutes.
        name = persona["name"]
        earlier = conn.value("SELECT count FROM ecps_lockouts WHERE name = :name", {"name": name})
        earlier = earlier or 0
        conn.execute(
            "INSERT INTO ecps_lockouts (name, count) VALUES (:name, :count) "
            "ON CONFLICT (name) DO UPDATE SET count = excluded.count",
            {"name": name, "count": earlier + 1},
        )
        until = now + self._settings.lockout_seconds * 2 ** min(earlier, 16)
        conn.execute(
            "UPDATE personas SET failures = 0, locked_until = :until WHERE name = :name",
            {"until": until, "name": name},
        )
        # Every request still waiting for this professional ends now: their clients are
        # told at their next poll instead of waiting for an answer that cannot come.
        ended = conn.all(
            "SELECT id FROM ecps_requests WHERE national_id = :id AND status = 'pending'",
            {"id": persona["national_id"]},
        )
        for row in ended:
            self._close(conn, row["id"], "locked", now)
        return EcpsError("locked", self._locked_message(until), 423)

    # -- activation and devices ---------------------------------------------------------

    def activation_code(self, name: str) -> dict:
        """The persona's unused activation code (a new one when none is left): code, expires."""
        persona = self.persona(name=name)
        now = self._settings.now()
        with self._db.write() as conn:
            row = conn.one(
                "SELECT code, expires FROM ecps_activations "
                "WHERE name = :name AND used IS NULL AND expires > :now ORDER BY created DESC",
                {"name": persona["name"], "now": now},
            )
            if row is not None:
                return {"code": row["code"], "expires": row["expires"]}
        return self.issue_code(name)

    def issue_code(self, name: str) -> dict:
        """A new single-use activation code for the persona: code, expires."""
        persona = self.persona(name=name)
        now = self._settings.now()
        letters = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(4 * _CODE_GROUPS))
        code = normalise_code(letters)
        expires = now + self._settings.activation_ttl
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO ecps_activations (code, name, created, expires)"
                " VALUES (:code, :name, :now, :expires)",
                {"code": code, "name": persona["name"], "now": now, "expires": expires},
            )
        return {"code": code, "expires": expires}

    def enrol(
        self, name: str, code: str, public_jwk: dict, replaces: RowMapping | None = None
    ) -> tuple[str, str]:
        """Spend `code` to bind a device of the persona: (its id, its `otpauth://` URI).

        `replaces` is this phone's previous device, proven by its key: it stops working.
        """
        try:
            key = OKPKey.import_key(public_jwk)
        except (JoseError, ValueError, TypeError, KeyError):
            raise EcpsError(
                "bad_key", "Clé publique d'appareil illisible (Ed25519).", 400
            ) from None
        if key.is_private or public_jwk.get("crv") != "Ed25519":
            raise EcpsError("bad_key", "Clé publique d'appareil illisible (Ed25519).", 400)
        now = self._settings.now()
        device_id = secrets.token_urlsafe(16)
        seed = pyotp.random_base32()
        with self._db.write() as conn:
            spent = conn.execute(
                "UPDATE ecps_activations SET used = :now "
                "WHERE code = :code AND name = :name AND used IS NULL AND expires > :now",
                {"now": now, "code": normalise_code(code), "name": name},
            )
            if spent != 1:
                raise activation_refused()
            if replaces is not None and replaces["name"] == name:
                conn.execute(
                    "UPDATE ecps_devices SET revoked = :now WHERE id = :id",
                    {"now": now, "id": replaces["id"]},
                )
            conn.execute(
                "INSERT INTO ecps_devices (id, name, public_jwk, totp_secret, created) "
                "VALUES (:id, :name, :jwk, :seed, :now)",
                {
                    "id": device_id,
                    "name": name,
                    "jwk": json.dumps(key.as_dict(private=False)),
                    "seed": seed,
                    "now": now,
                },
            )
        persona = self.persona(name=name)
        uri = pyotp.TOTP(seed).provisioning_uri(
            name=persona["national_id"], issuer_name=TOTP_ISSUER
        )
        return device_id, uri

    def device(self, proof: str, method: str, path: str) -> RowMapping:
        """The enrolled device that signed `proof` for this call (with its persona's
        `national_id`); `device_refused` otherwise.

        The proof is a JWT signed by the device's key, with `htm` and `htu` naming this
        call's method and path, `iat` within the leeway of now and a `jti` never seen.
        """
        now = self._settings.now()
        try:
            device_id = extract_compact(proof.encode()).headers()["kid"]
            # With its professional's national id: what the phone's calls are about.
            row = self._db.one(
                "SELECT d.*, p.national_id FROM ecps_devices d JOIN personas p"
                " ON p.name = d.name WHERE d.id = :id AND d.revoked IS NULL",
                {"id": device_id},
            )
            if row is None:
                raise device_refused()
            key = OKPKey.import_key(json.loads(row["public_jwk"]))
            claims = jwt.decode(proof, key, algorithms=[DEVICE_ALGORITHM]).claims
        except (JoseError, ValueError, TypeError, KeyError):
            raise device_refused() from None
        iat, jti = claims.get("iat"), claims.get("jti")
        fresh = isinstance(iat, int | float) and abs(now - iat) <= self._settings.proof_leeway
        if not (
            fresh
            and isinstance(jti, str)
            and 16 <= len(jti) <= 64
            and claims.get("htm") == method
            and claims.get("htu") == path
        ):
            raise device_refused()
        # Spent proofs are purged with the other dead rows (housekeeping), not here: a
        # proof past its expiry is refused for its `iat` before its row is looked at.
        seen = self._db.write_one(
            "INSERT INTO ecps_proofs (jti, expires) VALUES (:jti, :expires) ON CONFLICT DO NOTHING",
            {"jti": jti, "expires": now + 2 * self._settings.proof_leeway},
        )
        if seen != 1:  # a replayed proof
            raise device_refused()
        return row
