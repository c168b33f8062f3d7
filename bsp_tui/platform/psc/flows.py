"""The three ways to sign in (CIBA, device code, authorization code + PKCE) and their polling.

Each flow leaves a row in `pending_grants`, keyed by the hash of the handle the client
holds (`auth_req_id`, `device_code`, or the wallet transaction), and tied to one e-CPS
request once the professional is known.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
from dataclasses import dataclass

import anyio
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from bsp_tui.domain.identifiers import national_id_problem
from bsp_tui.platform.bell import BELL, wait_for
from bsp_tui.platform.db import Database, RowMapping
from bsp_tui.platform.psc.ecps import Ecps, EcpsError
from bsp_tui.platform.psc.errors import OAuthError
from bsp_tui.platform.psc.tokens import ACR_TWO_FACTORS, SCOPE, Tokens, token_hash
from bsp_tui.platform.settings import PlatformSettings

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
AUTH_MODE = "MOBILE"
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_BINDING = re.compile(r"[0-9]{2}")
# A poll that arrives this much before the interval is still accepted (network jitter).
_POLL_TOLERANCE = 0.25
# A held poll is answered within this, whatever the interval grew to: well under the
# read timeout of any client (the launcher's is 10 s).
_LONGEST_HOLD = 5
_HANDLES = {"ciba": "auth_req_id", "device": "device_code"}


@dataclass(frozen=True)
class Started:
    """What a client is told when its flow starts."""

    handle: str
    expires_in: int
    interval: int
    user_code: str = ""


def check_scope(scope: str | None) -> str:
    """The scope to grant; `openid` must be among those asked."""
    asked = (scope or "").split()
    if "openid" not in asked:
        raise OAuthError("invalid_scope", "La portée doit contenir « openid ».")
    return SCOPE


def check_acr(acr_values: str | None) -> str:
    """Only `eidas1` (two factors) is offered."""
    if acr_values and ACR_TWO_FACTORS not in acr_values.split():
        raise OAuthError(
            "invalid_request", f"Seul le niveau {ACR_TWO_FACTORS} (deux facteurs) est proposé."
        )
    return ACR_TWO_FACTORS


def check_national_id(value: str | None, error: str = "unknown_user_id") -> str:
    """A well-formed national id, or an OAuth error saying what is wrong with it."""
    problem = national_id_problem(value or "")
    if problem:
        raise OAuthError(error, problem)
    return value or ""


class Flows:
    """Starting, approving and polling the sign-in flows."""

    def __init__(
        self, db: Database, settings: PlatformSettings, ecps: Ecps, tokens: Tokens
    ) -> None:
        self._db = db
        self._settings = settings
        self._ecps = ecps
        self._tokens = tokens

    def _push(self, national_id: str, client: RowMapping, binding: str) -> str:
        try:
            return self._ecps.start(
                national_id, binding, client["client_id"], client["name"], AUTH_MODE
            )
        except EcpsError as error:
            codes = {"unknown_user": "unknown_user_id", "slow_down": "slow_down"}
            raise OAuthError(codes.get(error.code, "access_denied"), error.message) from None

    def _insert(self, kind: str, client_id: str, ttl: int, **fields: object) -> str:
        handle = secrets.token_urlsafe(32)
        now = self._settings.now()
        row = {
            "handle_hash": token_hash(handle),
            "kind": kind,
            "client_id": client_id,
            "scope": SCOPE,
            "acr": ACR_TWO_FACTORS,
            "interval": self._settings.poll_interval,
            "created": now,
            "expires": now + ttl,
        } | fields
        columns = ", ".join(row)
        marks = ", ".join(f":{name}" for name in row)
        # Column names come from this module, never from a request.
        self._db.write_one(f"INSERT INTO pending_grants ({columns}) VALUES ({marks})", row)  # noqa: S608
        return handle

    # -- CIBA ---------------------------------------------------------------------

    def start_ciba(
        self,
        client: RowMapping,
        scope: str | None,
        login_hint: str | None,
        binding_message: str | None,
        acr_values: str | None,
        channel: str | None,
    ) -> Started:
        """POST ext/ciba/auth: push an approval request to the professional's e-CPS."""
        check_scope(scope)
        check_acr(acr_values)
        if channel not in (None, "", AUTH_MODE):
            raise OAuthError("invalid_request", "Seul le canal MOBILE (e-CPS) est émulé.")
        national_id = check_national_id(login_hint)
        if not binding_message or not _BINDING.fullmatch(binding_message):
            raise OAuthError(
                "invalid_binding_message", "Le message de liaison est un nombre à 2 chiffres."
            )
        request_id = self._push(national_id, client, binding_message)
        ttl = self._settings.ecps_request_ttl
        handle = self._insert(
            "ciba", client["client_id"], ttl, request_id=request_id, national_id=national_id
        )
        return Started(handle, ttl, self._settings.poll_interval)

    # -- device authorization grant (RFC 8628) --------------------------------------

    def start_device(self, client: RowMapping, scope: str | None) -> Started:
        """POST auth/device: a device code for the client, a user code for the person."""
        check_scope(scope)
        letters = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
        user_code = f"{letters[:4]}-{letters[4:]}"
        ttl = self._settings.ecps_request_ttl * 5
        handle = self._insert("device", client["client_id"], ttl, user_code=user_code)
        return Started(handle, ttl, self._settings.poll_interval, user_code)

    def device_entry(self, user_code: str) -> RowMapping:
        """The device grant a person's typed user code names, if it still waits for them."""
        normalised = re.sub(r"[^A-Z]", "", user_code.upper())
        normalised = f"{normalised[:4]}-{normalised[4:]}"
        row = self._db.one(
            "SELECT * FROM pending_grants WHERE kind = 'device' AND user_code = :code",
            {"code": normalised},
        )
        if row is None or row["expires"] <= self._settings.now() or row["consumed"]:
            raise OAuthError("invalid_user_code", "Code inconnu ou expiré : vérifiez la saisie.")
        if row["request_id"] is not None:
            raise OAuthError("invalid_user_code", "Ce code a déjà été utilisé.")
        return row

    def verify_device(self, user_code: str, national_id: str) -> str:
        """The person typed the user code and their national id: push to e-CPS.

        Returns the binding number shown on the page and on the phone.
        """
        grant = self.device_entry(user_code)
        national_id = check_national_id(national_id)
        client = self._client(grant["client_id"])
        binding = f"{secrets.randbelow(100):02d}"
        request_id = self._push(national_id, client, binding)
        self._attach(grant["handle_hash"], request_id, national_id)
        return binding

    # -- authorization code + PKCE (the wallet pages) --------------------------------

    def start_code(
        self,
        client: RowMapping,
        redirect_uri: str,
        scope: str | None,
        state: str | None,
        nonce: str | None,
        code_challenge: str | None,
        code_challenge_method: str | None,
        acr_values: str | None,
    ) -> str:
        """GET wallet auth: check the request; returns the wallet transaction handle."""
        check_scope(scope)
        check_acr(acr_values)
        if not code_challenge:
            raise OAuthError("invalid_request", "PKCE obligatoire : code_challenge manquant.")
        if code_challenge_method != "S256":
            raise OAuthError("invalid_request", "PKCE : seule la méthode S256 est acceptée.")
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", code_challenge):
            raise OAuthError("invalid_request", "PKCE : code_challenge mal formé.")
        return self._insert(
            "code",
            client["client_id"],
            self._settings.ecps_request_ttl * 5,
            redirect_uri=redirect_uri,
            state=state,
            nonce=nonce,
            code_challenge=code_challenge,
        )

    def code_transaction(self, handle: str) -> RowMapping:
        """The wallet transaction behind a page, while it is still open."""
        row = self._db.one(
            "SELECT * FROM pending_grants WHERE kind = 'code' AND handle_hash = :hash",
            {"hash": token_hash(handle)},
        )
        if row is None or row["expires"] <= self._settings.now() or row["consumed"]:
            raise OAuthError("invalid_request", "Cette connexion a expiré : recommencez.")
        return row

    def code_login(self, handle: str, national_id: str) -> str:
        """The person gave their national id on the wallet page: push to e-CPS."""
        grant = self.code_transaction(handle)
        if grant["request_id"] is not None:
            return self._ecps.request(grant["request_id"]).binding
        national_id = check_national_id(national_id)
        binding = f"{secrets.randbelow(100):02d}"
        request_id = self._push(national_id, self._client(grant["client_id"]), binding)
        self._attach(grant["handle_hash"], request_id, national_id)
        return binding

    def code_outcome(self, handle: str) -> tuple[str, RowMapping, str]:
        """Where the wallet transaction stands: (status, grant, code-or-message)."""
        grant = self.code_transaction(handle)
        if grant["code_hash"] is not None:
            # One code per sign-in: reloading the page must not mint another.
            raise OAuthError(
                "invalid_request", "Cette connexion est terminée : revenez au logiciel."
            )
        if grant["request_id"] is None:
            return "login", grant, ""
        request = self._ecps.request(grant["request_id"])
        if request.status == "pending":
            return "pending", grant, request.binding
        if request.status != "approved":
            return request.status, grant, _REFUSALS[request.status]
        code = secrets.token_urlsafe(32)
        with self._db.write() as conn:
            minted = conn.execute(
                "UPDATE pending_grants SET code_hash = :code, expires = :expires"
                " WHERE handle_hash = :hash AND code_hash IS NULL",
                {
                    "code": token_hash(code),
                    "expires": self._settings.now() + self._settings.code_ttl,
                    "hash": grant["handle_hash"],
                },
            )
        if not minted:  # the same page, loaded twice at once, got its code first
            raise OAuthError(
                "invalid_request", "Cette connexion est terminée : revenez au logiciel."
            )
        return "approved", grant, code

    def redeem_code(
        self,
        client: RowMapping,
        code: str,
        redirect_uri: str | None,
        verifier: str | None,
        issuer: str,
    ) -> dict:
        """grant_type=authorization_code: one use, same client, same redirect, PKCE proof.

        A code presented again ends the session its first use opened (RFC 9700 §4.2.4):
        someone else holds it, and the tokens it bought are no longer to be trusted.
        """
        with self._db.write() as conn:
            # Held until consumed: of two redemptions at once, the second sees a replay.
            grant = conn.locked(
                "SELECT * FROM pending_grants WHERE kind = 'code' AND code_hash = :code",
                {"code": token_hash(code)},
            )
            if grant is None:
                raise OAuthError("invalid_grant", "Code d'autorisation inconnu.")
            replayed = grant["consumed"]
            if not replayed:
                self._check_redemption(grant, client, redirect_uri, verifier)
                conn.execute(
                    "UPDATE pending_grants SET consumed = 1 WHERE handle_hash = :hash",
                    {"hash": grant["handle_hash"]},
                )
        if replayed:
            first = self._db.one(
                "SELECT sid FROM code_sessions WHERE code_hash = :code", {"code": token_hash(code)}
            )
            ended = first is not None and self._tokens.end_session(first["sid"], "code_replay")
            raise OAuthError(
                "invalid_grant",
                "Code d'autorisation déjà utilisé.",
                ended_session=first["sid"] if first is not None and ended else None,
            )
        body, sid = self._sign_in_session(grant, issuer)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO code_sessions (code_hash, sid) VALUES (:code, :sid)",
                {"code": token_hash(code), "sid": sid},
            )
        return body

    def _check_redemption(
        self,
        grant: RowMapping,
        client: RowMapping,
        redirect_uri: str | None,
        verifier: str | None,
    ) -> None:
        if grant["expires"] <= self._settings.now():
            raise OAuthError("invalid_grant", "Code d'autorisation expiré.")
        if grant["client_id"] != client["client_id"]:
            raise OAuthError("invalid_grant", "Ce code a été délivré à un autre client.")
        if redirect_uri != grant["redirect_uri"]:
            raise OAuthError("invalid_grant", "redirect_uri différente de la demande.")
        if not verifier:
            raise OAuthError("invalid_grant", "PKCE : code_verifier manquant.")
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
            create_s256_code_challenge(verifier), grant["code_challenge"]
        ):
            raise OAuthError("invalid_grant", "PKCE : code_verifier ne correspond pas.")

    # -- polling (CIBA and device) ------------------------------------------------------

    async def poll(self, kind: str, client: RowMapping, handle: str | None, issuer: str) -> dict:
        """The token endpoint for CIBA and device grants: pending, slow down, or tokens.

        A pending answer is held up to the grant's interval (long polling, unless the
        settings say not): the tokens leave the moment the professional answers, not at
        the client's next poll.

        A client never polls more often for it (the interval counts from the moment a
        poll is sent, and this one is answered at the interval at the latest), and the
        wait holds no thread: the e-CPS answer rings the request's bell.
        """
        grant = await anyio.to_thread.run_sync(self._paced, kind, client, handle)
        if grant["request_id"] is None or not self._settings.long_poll:
            return await anyio.to_thread.run_sync(self._outcome, grant, kind, issuer)
        self._db.hear_other_workers()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(grant["interval"], _LONGEST_HOLD)
        async with BELL.listening(self._ecps.answered(grant["request_id"])) as answered:
            while True:
                try:
                    return await anyio.to_thread.run_sync(self._outcome, grant, kind, issuer)
                except OAuthError as error:
                    left = deadline - loop.time()
                    if error.error != "authorization_pending" or left <= 0:
                        raise
                await wait_for(answered, left)

    def _paced(self, kind: str, client: RowMapping, handle: str | None) -> RowMapping:
        """The client's grant, its poll recorded; slow_down for a poll that came too soon."""
        name = _HANDLES[kind]
        if not handle:
            raise OAuthError("invalid_request", f"Paramètre {name} manquant.")
        now = self._settings.now()
        grant = self._db.one(
            "SELECT * FROM pending_grants WHERE kind = :kind AND handle_hash = :hash",
            {"kind": kind, "hash": token_hash(handle)},
        )
        if grant is None or grant["client_id"] != client["client_id"]:
            raise OAuthError("invalid_grant", f"{name} inconnu.")
        if grant["consumed"]:
            raise OAuthError("invalid_grant", f"{name} déjà utilisé.")
        if grant["expires"] <= now:
            raise OAuthError("expired_token", "La demande a expiré : relancez la connexion.")
        last = grant["last_poll"]
        too_soon = last is not None and now - last < grant["interval"] - _POLL_TOLERANCE
        interval = grant["interval"] + 5 if too_soon else grant["interval"]
        # Written only over the poll read above: of two polls at once one records itself,
        # the other came too soon (one statement, no lock held between the two).
        recorded = self._db.write_one(
            "UPDATE pending_grants SET last_poll = :now, interval = :interval"
            " WHERE handle_hash = :hash AND COALESCE(last_poll, -1) = :last",
            {
                "now": now,
                "interval": interval,
                "hash": grant["handle_hash"],
                "last": -1 if last is None else last,
            },
        )
        if not recorded:
            too_soon = True
            interval = grant["interval"] + 5
            self._db.write_one(
                "UPDATE pending_grants SET interval = interval + 5 WHERE handle_hash = :hash",
                {"hash": grant["handle_hash"]},
            )
        if too_soon:
            raise OAuthError(
                "slow_down", f"Interrogation trop rapide : attendez {interval} s entre deux appels."
            )
        return grant

    def _outcome(self, grant: RowMapping, kind: str, issuer: str) -> dict:
        """Tokens once the grant's e-CPS request is approved (the grant then spent), else
        the error that says why not yet or not at all."""
        if grant["request_id"] is None:
            raise OAuthError("authorization_pending", "En attente de la saisie du code.")
        status = self._ecps.request(grant["request_id"]).status
        if status == "pending":
            raise OAuthError("authorization_pending", "En attente de la validation sur l'e-CPS.")
        if status == "expired":
            raise OAuthError("expired_token", _REFUSALS["expired"])
        if status != "approved":
            raise OAuthError("access_denied", _REFUSALS[status])
        taken = self._db.write_one(
            "UPDATE pending_grants SET consumed = 1 WHERE handle_hash = :hash AND consumed = 0",
            {"hash": grant["handle_hash"]},
        )
        if not taken:
            raise OAuthError("invalid_grant", f"{_HANDLES[kind]} déjà utilisé.")
        return self._sign_in(grant, issuer)

    # -- shared ---------------------------------------------------------------------------

    def _sign_in(self, grant: RowMapping, issuer: str) -> dict:
        return self._sign_in_session(grant, issuer)[0]

    def _sign_in_session(self, grant: RowMapping, issuer: str) -> tuple[dict, str]:
        """Open the session of an approved grant: its tokens and its sid."""
        sid = self._tokens.open_session(
            grant["national_id"], grant["client_id"], grant["scope"], grant["nonce"], AUTH_MODE
        )
        return self._tokens.issue(sid, issuer), sid

    def _attach(self, handle_hash: str, request_id: str, national_id: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE pending_grants SET request_id = :request, national_id = :national_id"
                " WHERE handle_hash = :hash",
                {"request": request_id, "national_id": national_id, "hash": handle_hash},
            )

    def _client(self, client_id: str) -> RowMapping:
        row = self._db.one("SELECT * FROM clients WHERE client_id = :id", {"id": client_id})
        if row is None:  # a grant's client stays registered while the grant lives
            raise OAuthError("invalid_client", "Client inconnu.")
        return row


_REFUSALS = {
    "denied": "Connexion refusée sur l'e-CPS.",
    "locked": "e-CPS verrouillée après trop d'échecs : réessayez plus tard.",
    "expired": "La demande e-CPS a expiré sans réponse : relancez la connexion.",
}
