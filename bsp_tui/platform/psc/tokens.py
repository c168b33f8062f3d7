"""Sessions and the tokens PSC issues for them: sign, verify, refresh, exchange, revoke.

Access, ID and API tokens are RS256 JWTs (joserfc); refresh tokens are opaque and
kept only as a hash. Every token names its session (`sid`): ending the session
makes every token of it refused, wherever it is presented.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError

from bsp_tui.platform.bell import BELL
from bsp_tui.platform.db import Database, RowMapping
from bsp_tui.platform.psc.directory import PROFESSION_OID, other_ids, userinfo_claims
from bsp_tui.platform.psc.errors import OAuthError
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.platform.signing import ALGORITHM, SigningKeys
from bsp_tui.platform.tables import SESSIONS_TOPIC

ACR_TWO_FACTORS = "eidas1"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL = 120  # seconds: the token is for delivery now, not for keeping
SCOPE = "openid scope_all"
# How long a process trusts a token it found live, when no end of a session or
# revocation rang its bell since: another process over the same SQLite file rings none.
LIVE_SECONDS = 1.0
LIVE_MAX = 10_000  # tokens remembered live; past that many, all are forgotten at once
# A session's row and its professional's profile (the names and profession of the claims).
_SESSION = (
    "SELECT s.*, p.profile{} FROM sessions s JOIN personas p ON p.national_id = s.national_id"
    " WHERE s.sid = :sid"
)
# Whether the token (`:jti`) was revoked, as a column of a session's row.
_REVOKED = "EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = :jti) AS revoked"
_LIVENESS = f"SELECT ended, {_REVOKED} FROM sessions WHERE sid = :sid"  # noqa: S608 - constants


class InvalidTokenError(Exception):
    """A token that must be refused; the message says why, never what the token was."""


def token_hash(token: str) -> str:
    """How opaque tokens and codes are stored: never in clear."""
    return hashlib.sha256(token.encode()).hexdigest()


def subject_of(national_id: str) -> str:
    """The stable `sub` of a professional."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"1.2.250.1.71.4.2.1.{national_id}"))


class Tokens:
    """Issues and checks every token of the platform."""

    def __init__(self, db: Database, settings: PlatformSettings, keys: SigningKeys) -> None:
        self._db = db
        self._settings = settings
        self._keys = keys
        self._ended = db.topic(SESSIONS_TOPIC)  # rung by every end of a token's life
        # (sid, jti) of the tokens found live: when, and at which ring of `_ended`.
        self._live: dict[tuple[str, str], tuple[float, int]] = {}

    # -- sessions ---------------------------------------------------------------

    def open_session(
        self, national_id: str, client_id: str, scope: str, nonce: str | None, auth_mode: str
    ) -> str:
        """Start a PSC session after both e-CPS factors; returns its `sid`."""
        sid = str(uuid.uuid4())
        self._db.write_one(
            "INSERT INTO sessions (sid, national_id, client_id, acr, auth_mode, scope, nonce,"
            " auth_time) VALUES (:sid, :national_id, :client_id, :acr, :auth_mode, :scope,"
            " :nonce, :now)",
            {
                "sid": sid,
                "national_id": national_id,
                "client_id": client_id,
                "acr": ACR_TWO_FACTORS,
                "auth_mode": auth_mode,
                "scope": scope,
                "nonce": nonce,
                "now": self._settings.now(),
            },
        )
        return sid

    def end_session(self, sid: str, reason: str) -> bool:
        """End a session: every token that names it is refused from now on. True when it
        was open until now."""
        with self._db.write() as conn:
            conn.notify(self._ended)
            return (
                conn.execute(
                    "UPDATE sessions SET ended = :now, end_reason = :reason"
                    " WHERE sid = :sid AND ended IS NULL",
                    {"now": self._settings.now(), "reason": reason, "sid": sid},
                )
                == 1
            )

    def logout_token(self, sid: str, issuer: str) -> tuple[str, str]:
        """(client id, logout token) for a session's client (Back-Channel Logout §2.4):
        `iss`, `aud`, `iat`, `exp`, `jti`, `sub`, `sid` and the logout event, never a
        nonce; typed `logout+jwt` so that it cannot pass for an ID token."""
        session = self._session(sid)
        now = int(self._settings.now())
        claims = {
            "iss": issuer,
            "sub": subject_of(session["national_id"]),
            "aud": session["client_id"],
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": str(uuid.uuid4()),
            "sid": sid,
            "events": {LOGOUT_EVENT: {}},
        }
        key = self._keys.active()
        header = {"alg": ALGORITHM, "kid": key.kid, "typ": "logout+jwt"}
        return session["client_id"], jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def _session(self, sid: str) -> RowMapping:
        """The session and its professional's `profile`, in one round trip."""
        row = self._db.one(_SESSION.format(""), {"sid": sid})
        if row is None:
            raise InvalidTokenError("session inconnue")
        return row

    def _persona(self, national_id: str) -> RowMapping:
        row = self._db.one("SELECT * FROM personas WHERE national_id = :id", {"id": national_id})
        if row is None:  # a session's professional stays in the directory
            raise InvalidTokenError("professionnel inconnu")
        return row

    # -- signing and checking ---------------------------------------------------

    def _sign(self, claims: dict) -> str:
        key = self._keys.active()
        header = {"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def decode(
        self,
        token: str,
        issuer: str,
        typ: str,
        audience: str | None = None,
        check_expiry: bool = True,
    ) -> dict:
        """Verify signature, issuer, type, audience and expiry; return the claims."""
        try:
            claims = self._keys.checked(token)
        except (JoseError, ValueError, TypeError, KeyError, UnicodeError):
            raise InvalidTokenError("signature invalide ou jeton illisible") from None
        return self._validated(claims, issuer, typ, audience, check_expiry)

    def _validated(
        self,
        claims: dict,
        issuer: str,
        typ: str,
        audience: str | None = None,
        check_expiry: bool = True,
    ) -> dict:
        options: dict = {
            "iss": {"essential": True, "value": issuer},
            "typ": {"essential": True, "value": typ},
        }
        if audience is not None:
            options["aud"] = {"essential": True, "value": audience}
        registry = jwt.JWTClaimsRegistry(now=lambda: int(self._settings.now()), **options)
        # Without the expiry check the claims are still returned whole: a revoked
        # token's row is kept until its `exp`, then purged.
        checked = claims
        if not check_expiry:
            checked = {k: v for k, v in claims.items() if k not in ("exp", "nbf")}
        try:
            registry.validate(checked)
        except JoseError as error:
            raise InvalidTokenError(_claim_problem(error)) from None
        return claims

    def verify_live(self, token: str, issuer: str, audience: str | None = None) -> dict:
        """Claims of a bearer token that is valid now and whose session is still open.

        With `audience` None, only a PSC access token is accepted (no `aud`); with an
        audience, only an API token for that service.
        """
        claims = self._bearer(self.decode(token, issuer, "Bearer", audience), audience)
        if not self._known_live(claims):
            # One round trip for both checks: this runs on every API request.
            self._live_session(claims, _LIVENESS)
        return claims

    def _live_session(self, claims: dict, sql: str) -> RowMapping:
        """The row `sql` reads of the claims' session (`:sid`; `:jti`, the token's, for
        `_REVOKED`), once it shows the session open and the token not revoked
        (InvalidTokenError otherwise); the token is then known live for a while."""
        key, rung, now = _live_key(claims), BELL.rung(self._ended), time.monotonic()
        row = self._db.one(sql, {"sid": key[0], "jti": key[1]})
        if row is None:
            raise InvalidTokenError("session inconnue")
        if row["ended"] is not None:
            raise InvalidTokenError("la session de ce jeton est terminée")
        if row["revoked"]:
            raise InvalidTokenError("ce jeton a été révoqué")
        if len(self._live) >= LIVE_MAX:
            self._live.clear()
        # Stamped with the ring seen before the read: an end during it reads again.
        self._live[key] = (now, rung)
        return row

    def verify_live_as_known(
        self, token: str, issuer: str, audience: str | None = None
    ) -> dict | None:
        """`verify_live`'s claims when this process can tell without its database (for
        the event loop): the token's signature checked with the keys it holds, its
        session found open less than `LIVE_SECONDS` ago and nothing ended since. None:
        ask `verify_live`. A token refused on its claims alone raises as there."""
        try:
            claims = self._keys.checked_as_known(token)
        except (ValueError, TypeError, KeyError, UnicodeError):
            raise InvalidTokenError("signature invalide ou jeton illisible") from None
        if claims is None:
            return None
        claims = self._bearer(self._validated(claims, issuer, "Bearer", audience), audience)
        return claims if self._known_live(claims) else None

    def _bearer(self, claims: dict, audience: str | None) -> dict:
        if audience is None and "aud" in claims:
            raise InvalidTokenError("un jeton d'API ne remplace pas le jeton d'accès PSC")
        return claims

    def _known_live(self, claims: dict) -> bool:
        seen = self._live.get(_live_key(claims))
        return (
            seen is not None
            and seen[1] == BELL.rung(self._ended)
            and time.monotonic() - seen[0] < LIVE_SECONDS
        )

    # -- issuing ----------------------------------------------------------------

    def _base_claims(self, session: RowMapping, issuer: str, ttl: int) -> dict:
        now = int(self._settings.now())
        return {
            "iss": issuer,
            "sub": subject_of(session["national_id"]),
            "iat": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
            "azp": session["client_id"],
            "sid": session["sid"],
            "session_state": session["sid"],
            "auth_time": int(session["auth_time"]),
            "acr": session["acr"],
            "preferred_username": session["national_id"],
        }

    def issue(self, sid: str, issuer: str) -> dict:
        """The token response for an open session: access, ID and refresh tokens."""
        session = self._session(sid)
        access = self._base_claims(session, issuer, self._settings.psc_access_ttl)
        access |= {
            "typ": "Bearer",
            "scope": session["scope"],
            "authMode": session["auth_mode"],
            "otherIds": other_ids(session["national_id"]),
        }
        access_token = self._sign(access)
        profile = json.loads(session["profile"])
        id_claims = self._base_claims(session, issuer, self._settings.id_token_ttl)
        id_claims |= {
            "typ": "ID",
            "aud": session["client_id"],
            "given_name": profile["given"],
            "family_name": profile["family"],
            "at_hash": create_half_hash(access_token, ALGORITHM).decode(),
        }
        if session["nonce"]:
            id_claims["nonce"] = session["nonce"]
        refresh_token = secrets.token_urlsafe(32)
        now = self._settings.now()
        self._db.write_one(
            "INSERT INTO refresh_tokens (token_hash, sid, created, expires)"
            " VALUES (:hash, :sid, :now, :expires)",
            {
                "hash": token_hash(refresh_token),
                "sid": sid,
                "now": now,
                "expires": now + self._settings.psc_refresh_ttl,
            },
        )
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self._settings.psc_access_ttl,
            "refresh_token": refresh_token,
            "refresh_expires_in": self._settings.psc_refresh_ttl,
            "id_token": self._sign(id_claims),
            "scope": session["scope"],
            "session_state": sid,
        }

    def refresh(self, refresh_token: str, client_id: str, issuer: str) -> dict:
        """Rotate a refresh token. Presenting a spent one ends its whole session."""
        now = self._settings.now()
        with self._db.write() as conn:
            row = conn.one(
                "SELECT r.*, s.client_id, s.ended FROM refresh_tokens r "
                "JOIN sessions s ON s.sid = r.sid WHERE r.token_hash = :hash",
                {"hash": token_hash(refresh_token)},
            )
            if row is None:
                raise OAuthError("invalid_grant", "Jeton de rafraîchissement inconnu.")
            if row["client_id"] != client_id:
                raise OAuthError("invalid_grant", "Ce jeton a été délivré à un autre logiciel.")
            if row["ended"] is not None:
                raise OAuthError("invalid_grant", "La session est terminée : reconnectez-vous.")
            if row["used"] is None and row["expires"] <= now:
                raise OAuthError("invalid_grant", "La session a expiré : reconnectez-vous.")
            # Spent only if still unspent: of refreshes racing with one token, one wins
            # and every other one is a reuse (the winner's row lock makes them wait).
            reused = row["used"] is not None or not conn.execute(
                "UPDATE refresh_tokens SET used = :now WHERE token_hash = :hash AND used IS NULL",
                {"now": now, "hash": row["token_hash"]},
            )
            ended = reused and conn.execute(
                "UPDATE sessions SET ended = :now, end_reason = 'refresh_reuse'"
                " WHERE sid = :sid AND ended IS NULL",
                {"now": now, "sid": row["sid"]},
            )
            if ended:
                conn.notify(self._ended)
        if reused:
            raise OAuthError(
                "invalid_grant",
                "Jeton de rafraîchissement déjà utilisé : la session est révoquée par sécurité.",
                ended_session=row["sid"] if ended else None,
            )
        return self.issue(row["sid"], issuer)

    def exchange(self, subject_token: str, audience: str, issuer: str, client_id: str) -> dict:
        """RFC 8693: a PSC access token becomes an API token for one service.

        Only for the client the PSC token was issued to (RFC 9700 §4.10): a token that
        leaked from another application buys nothing here.
        """
        try:
            psc = self._bearer(self.decode(subject_token, issuer, "Bearer"), None)
            # One round trip: the session open, the token not revoked, the session's
            # row and its professional's profile.
            session = self._live_session(psc, _SESSION.format(f", {_REVOKED}"))
        except InvalidTokenError as error:
            raise OAuthError("invalid_grant", f"Jeton PSC refusé : {error}.") from None
        if psc.get("azp") != client_id:
            raise OAuthError("invalid_grant", "Ce jeton PSC a été délivré à un autre client.")
        profile = json.loads(session["profile"])
        claims = self._base_claims(session, issuer, self._settings.api_token_ttl)
        claims |= {
            "typ": "Bearer",
            "aud": audience,
            "scope": audience,
            "authMode": session["auth_mode"],
            "given_name": profile["given"],
            "family_name": profile["family"],
            "SubjectNameID": session["national_id"],
            "SubjectRole": [f"{profile['profession_code']}^{PROFESSION_OID}"],
            "SubjectOrganization": profile["organisation"],
            "SubjectOrganizationID": profile["organisation_id"],
            "profession": {
                "code": profile["profession_code"],
                "label": profile["profession_label"],
                "savoir_faire": profile["savoir_faire"],
            },
            "otherIds": psc.get("otherIds", []),
        }
        # The API token's session was just found open: this worker knows it live as it
        # knows the PSC token (the service it calls next need not read the session).
        seen = self._live.get(_live_key(psc))
        if seen is not None:  # None: forgotten meanwhile (the memory was full)
            self._live[_live_key(claims)] = seen
        return {
            "access_token": self._sign(claims),
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": self._settings.api_token_ttl,
            "scope": audience,
        }

    # -- userinfo, introspection, revocation, logout -----------------------------

    def userinfo(self, access_token: str, issuer: str) -> dict:
        """The PSC userinfo document for the bearer of a PSC access token."""
        claims = self.verify_live(access_token, issuer)
        persona = self._persona(claims["preferred_username"])
        return userinfo_claims(
            json.loads(persona["profile"]), persona["national_id"], claims["sub"]
        )

    def introspect(self, token: str, issuer: str) -> dict:
        """RFC 7662: `active` and, when active, the token's claims."""
        if token.count(".") == 2:
            try:
                audience = self.decode(token, issuer, "Bearer").get("aud")
                claims = self.verify_live(token, issuer, audience)
            except InvalidTokenError:
                return {"active": False}
            return {"active": True, "token_type": "Bearer", "client_id": claims["azp"]} | claims
        row = self._db.one(
            "SELECT r.*, s.ended, s.client_id, s.national_id FROM refresh_tokens r "
            "JOIN sessions s ON s.sid = r.sid WHERE r.token_hash = :hash",
            {"hash": token_hash(token)},
        )
        if row is None or row["used"] or row["ended"] or row["expires"] <= self._settings.now():
            return {"active": False}
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": row["client_id"],
            "sub": subject_of(row["national_id"]),
            "sid": row["sid"],
            "exp": int(row["expires"]),
        }

    def revoke(self, token: str, issuer: str, client_id: str) -> str | None:
        """RFC 7009: a refresh token ends its session; an access token is refused.

        Only the client a token was issued to may revoke it; an unknown token is
        silently accepted, as the RFC asks. Returns the session this ended, if any.
        """
        if token.count(".") == 2:
            try:
                claims = self.decode(token, issuer, "Bearer", check_expiry=False)
            except InvalidTokenError:
                return None
            _check_owner(claims.get("azp"), client_id)
            with self._db.write() as conn:
                conn.execute(
                    "INSERT INTO revoked_tokens (jti, expires) VALUES (:jti, :exp)"
                    " ON CONFLICT DO NOTHING",
                    {"jti": claims.get("jti", ""), "exp": claims.get("exp", 0)},
                )
                conn.notify(self._ended)
            return None
        row = self._db.one(
            "SELECT r.sid, s.client_id FROM refresh_tokens r JOIN sessions s ON s.sid = r.sid "
            "WHERE r.token_hash = :hash",
            {"hash": token_hash(token)},
        )
        if row is None:
            return None
        _check_owner(row["client_id"], client_id)
        return row["sid"] if self.end_session(row["sid"], "revoked") else None


def _live_key(claims: dict) -> tuple[str, str]:
    return str(claims.get("sid") or ""), str(claims.get("jti") or "")


def _check_owner(owner: str | None, client_id: str) -> None:
    if owner != client_id:
        raise OAuthError("unauthorized_client", "Ce jeton a été délivré à un autre logiciel.")


_CLAIM_PROBLEMS = {
    "iss": "émetteur inattendu",
    "aud": "audience inattendue",
    "typ": "type de jeton inattendu",
}


def _claim_problem(error: JoseError) -> str:
    if isinstance(error, ExpiredTokenError):
        return "jeton expiré"
    claim = getattr(error, "claim", "")
    return _CLAIM_PROBLEMS.get(claim, f"revendication « {claim} » invalide")
