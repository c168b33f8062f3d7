"""The single sign-on session shared by every process of one profile.

The store holds the session (refresh token, ID token, who), the PSC access token and
one API token per connector. Renewal happens under a cross-process file lock; after
taking it, a process reads the store again, because another one may have renewed
already. So twenty processes needing a token at the same moment make one refresh.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bsp_tui.config import Folders, folders
from bsp_tui.domain import professions
from bsp_tui.domain.identifiers import national_id_problem
from bsp_tui.sso.auth import ConnectorAuth
from bsp_tui.sso.errors import NoSessionError, SsoError, UsageError
from bsp_tui.sso.profile import EMBEDDED_BASE_URL, REALM_PATH, Profile, load_profile
from bsp_tui.sso.provider import Provider, TokenEndpointError, unreachable
from bsp_tui.sso.records import fresh, token_record
from bsp_tui.sso.store import TokenStore, open_store

if TYPE_CHECKING:
    import ssl

    from filelock import AsyncFileLock

    from bsp_tui.sso import flows
    from bsp_tui.sso.trace import Tracer

# Builds the transport to a platform running in this process.
EmbeddedTransport = Callable[[], httpx.AsyncBaseTransport]
NO_EMBEDDED_PLATFORM = (
    "Ce profil utilise la plateforme intégrée, que ce programme ne fournit pas : "
    "ouvrez la session avec bsp_tui.launcher.open_session, ou indiquez BSP_PLATFORM_URL."
)
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
LOCK_TIMEOUT = 60
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class _SessionLock:
    """The cross-process file lock, plus a lock between this process's own tasks.

    A file lock object is re-entrant: several tasks of one process (the dashboard's
    tiles checked at once) would all hold it and refresh with the same refresh token,
    which the provider takes for a replay and answers by revoking the session.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: AsyncFileLock | None = None  # made on first use: most commands never lock
        self._tasks = asyncio.Lock()

    async def __aenter__(self) -> None:
        await self._tasks.acquire()
        try:
            if self._file is None:
                from filelock import AsyncFileLock

                self._file = AsyncFileLock(str(self._path), timeout=LOCK_TIMEOUT)
            await self._file.acquire()
        except BaseException:
            self._tasks.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._file is not None:
                await self._file.release()
        finally:
            self._tasks.release()


def _bare_rpps(identifiant: str) -> str:
    # PSC writes the RPPS origin's identifiant as the national id, 8 + the 11 digits.
    if len(identifiant) == 12 and identifiant.startswith("8"):
        return identifiant[1:]
    return identifiant


def _who(userinfo: dict[str, Any], id_claims: dict[str, Any]) -> dict[str, Any]:
    claims = id_claims | userinfo
    roles = claims.get("SubjectRole") or []
    code = roles[0].split("^")[0] if roles else ""
    rpps = next(
        (
            _bare_rpps(o.get("identifiant", ""))
            for o in claims.get("otherIds", [])
            if o.get("origine") == "RPPS"
        ),
        "",
    )
    given, family = claims.get("given_name", ""), claims.get("family_name", "")
    return {
        "name": f"{given} {family}".strip() or claims.get("name") or claims["sub"],
        "given_name": given,
        "family_name": family,
        "national_id": claims.get("SubjectNameID") or claims.get("preferred_username", ""),
        "rpps": rpps,
        "profession_code": code,
        "profession": professions.label(code),
        "organisation": claims.get("SubjectOrganization", ""),
    }


class Session:
    """One profile's session: sign in, hand out tokens, report, log out.

    With a `tracer`, every HTTP client the session builds from then on is traced.
    """

    def __init__(
        self,
        profile: Profile,
        store: TokenStore,
        dirs: Folders,
        tracer: Tracer | None = None,
        embedded: EmbeddedTransport | None = None,
    ) -> None:
        self.profile = profile
        self._embedded = embedded
        self.store = store
        self.tracer = tracer
        self.warnings: list[str] = []
        self._lock = _SessionLock(lock_path(dirs, profile.name))
        self._mounts: dict[str, httpx.AsyncBaseTransport] | None = None
        self._tls: ssl.SSLContext | None = None
        self._http: httpx.AsyncClient | None = None
        self._provider: Provider | None = None
        if store.kind == "file":
            self.warnings.append(
                f"Attention : les jetons sont enregistrés en clair dans {store.path} "  # type: ignore[attr-defined]
                "(stockage « file » choisi)."
            )

    @classmethod
    def open(
        cls,
        profile: Profile | None = None,
        tracer: Tracer | None = None,
        embedded: EmbeddedTransport | None = None,
    ) -> Session:
        """The session of `profile` (default: the configured one) over its store.

        `embedded` builds the transport to an embedded platform, for a profile that uses
        one (the launcher's composition root, `bsp_tui.launcher`, hands it in).
        """
        profile = profile or load_profile()
        dirs = folders().ensure()
        store = open_store(profile.token_store, profile.name, dirs.data)
        return cls(profile, store, dirs, tracer, embedded)

    # -- wiring -------------------------------------------------------------------

    @property
    def platform_base(self) -> str:
        """The platform's base URL (a name that only the embedded transport serves)."""
        return self.profile.platform_base(EMBEDDED_BASE_URL)

    def _client(self, base_url: str, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        if self._mounts is None:
            self._mounts = {}
            # One TLS context for every client of the session: building one reads the CA
            # bundle (~30 ms), and the launcher builds a client per tile check and open.
            self._tls = httpx.create_ssl_context()
            if self.profile.embedded:
                # Built only when needed: a script whose tokens are cached never starts it.
                if self._embedded is None:
                    raise UsageError(NO_EMBEDDED_PLATFORM)
                self._mounts[EMBEDDED_BASE_URL] = self._embedded()
        client = httpx.AsyncClient(
            base_url=base_url,
            mounts=self._mounts,
            auth=auth,
            timeout=HTTP_TIMEOUT,
            verify=self._tls or True,
        )
        if self.tracer is not None:
            self.tracer.attach(client)
        return client

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client to the platform and the identity provider."""
        if self._http is None:
            self._http = self._client(self.platform_base)
        return self._http

    @property
    def provider(self) -> Provider:
        """The identity provider of this profile."""
        if self._provider is None:
            issuer = self.profile.issuer_url(EMBEDDED_BASE_URL)
            # A confidential client's secret comes from the environment, never a file.
            secret = os.environ.get("BSP_CLIENT_SECRET", "")
            self._provider = Provider(self.http, issuer, self.profile.client_id, secret)
        return self._provider

    @property
    def emulated(self) -> bool:
        """True when the identity provider is the emulated platform's own PSC."""
        return self.provider.issuer == self.platform_base + REALM_PATH

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.aclose()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- signing in ---------------------------------------------------------------

    async def sign_in(
        self,
        flow: str,
        on_event: flows.OnEvent,
        national_id: str | None = None,
        approve: Callable[[str], Awaitable[None]] | None = None,
        opener: Callable[[str], object] | None = None,
    ) -> dict[str, Any]:
        """Run a flow, check the ID token, keep the session; returns the session record."""
        # The flows and the ID-token check (JOSE) are loaded only to sign in.
        from bsp_tui.sso import flows
        from bsp_tui.sso.idtoken import validate_id_token

        profile = self.profile
        if flow == "ciba":
            problem = national_id_problem(national_id or "")
            if problem:
                raise UsageError(problem)
            outcome = await flows.ciba(
                self.provider, national_id or "", profile.scope, profile.acr, on_event, approve
            )
        elif flow == "device":
            outcome = await flows.device(self.provider, profile.scope, on_event)
        elif flow == "browser":
            args = (self.provider, profile.scope, profile.acr, on_event)
            outcome = await (flows.browser(*args, opener) if opener else flows.browser(*args))
        else:
            raise UsageError(f"Parcours inconnu « {flow} » : ciba, device ou browser.")
        tokens = outcome.tokens
        claims = await validate_id_token(
            self.provider, tokens.get("id_token", ""), outcome.nonce, profile.acr
        )
        record = {
            "issuer": self.provider.issuer,
            "client_id": profile.client_id,
            "refresh_token": tokens.get("refresh_token", ""),
            "refresh_expires_at": time.time() + int(tokens.get("refresh_expires_in", 36000)),
            "id_token": tokens["id_token"],
            "sid": claims.get("sid", ""),
            "acr": claims.get("acr", ""),
            "auth_time": claims.get("auth_time", claims["iat"]),
            "who": _who(await self._userinfo(tokens["access_token"]), claims),
        }
        access = token_record(tokens["access_token"], int(tokens.get("expires_in", 60)))
        previous = self.store.get("session")
        async with self._lock:
            self._wipe()
            self.store.put("session", record)
            self.store.put("access", access)
        if previous and previous.get("refresh_token"):
            await self._revoke(previous["refresh_token"])
        return record

    async def _userinfo(self, access_token: str) -> dict[str, Any]:
        try:
            url = await self.provider.endpoint("userinfo_endpoint")
            response = await self.http.get(url, headers={"Authorization": f"Bearer {access_token}"})
        except (SsoError, httpx.TransportError):
            return {}
        try:
            return response.json() if response.is_success else {}
        except ValueError:
            return {}

    # -- tokens -------------------------------------------------------------------

    def _session_record(self) -> dict[str, Any]:
        record = self.store.get("session")
        if not record:
            raise NoSessionError("Aucune session", "connectez-vous avec `bsp login`.")
        if record["refresh_expires_at"] <= time.time():
            self._wipe()
            raise NoSessionError("La session a expiré")
        return record

    async def access_token(self, min_valid: float = 0) -> str:
        """A PSC access token valid for at least `min_valid` seconds, renewed if needed."""
        record = self.store.get("access")
        if fresh(record, min_valid) and self.store.get("session"):
            return str(record["token"])
        async with self._lock:
            return await self._access_locked(min_valid)

    async def _access_locked(self, min_valid: float, refused: str | None = None) -> str:
        record = self.store.get("access")
        if fresh(record, min_valid) and record["token"] != refused:
            self._session_record()
            return str(record["token"])
        session = self._session_record()
        try:
            tokens = await self.provider.token(
                {"grant_type": "refresh_token", "refresh_token": session["refresh_token"]}
            )
        except TokenEndpointError as error:
            if error.error != "invalid_grant":
                raise SsoError(f"Renouvellement impossible : {error.message}") from None
            self._wipe()
            raise NoSessionError("La session a pris fin (expirée ou révoquée)") from None
        session |= {
            "refresh_token": tokens.get("refresh_token", session["refresh_token"]),
            "id_token": tokens.get("id_token", session["id_token"]),
        }
        if "refresh_expires_in" in tokens:
            session["refresh_expires_at"] = time.time() + int(tokens["refresh_expires_in"])
        access = token_record(tokens["access_token"], int(tokens.get("expires_in", 60)))
        self.store.put("session", session)
        self.store.put("access", access)
        return str(access["token"])

    async def connector_token(
        self, audience: str, min_valid: float = 0, refused: str | None = None
    ) -> str:
        """An API token for one service, from the shared cache or by token exchange.

        `refused` is a token the service has just refused: it is never handed out again.
        """
        key = f"api:{audience}"
        record = self.store.get(key)
        if fresh(record, min_valid) and record["token"] != refused and self.store.get("session"):
            return str(record["token"])
        async with self._lock:
            record = self.store.get(key)
            if fresh(record, min_valid) and record["token"] != refused:
                self._session_record()
                return str(record["token"])
            record = await self._exchange(audience)
            self.store.put(key, record)
            session = self._session_record()
            if audience not in session.get("audiences", []):
                # Remembered so that logout can wipe every connector's token.
                session["audiences"] = [*session.get("audiences", []), audience]
                self.store.put("session", session)
        if record["lifetime"] < min_valid:
            raise UsageError(
                f"Un jeton {audience} vit au plus {record['lifetime']} s : "
                f"impossible de garantir {int(min_valid)} s."
            )
        return str(record["token"])

    async def _exchange(self, audience: str) -> dict[str, Any]:
        access = await self._access_locked(0)
        for attempt in (1, 2):
            try:
                body = await self.provider.token(
                    {
                        "grant_type": EXCHANGE_GRANT,
                        "subject_token": access,
                        "subject_token_type": ACCESS_TOKEN_TYPE,
                        "audience": audience,
                    }
                )
                return dict(token_record(body["access_token"], int(body.get("expires_in", 60))))
            except TokenEndpointError as error:
                if error.error == "invalid_target":
                    raise UsageError(f"Service inconnu de la plateforme : {audience}.") from None
                if error.error == "unsupported_grant_type":
                    raise SsoError(
                        "Ce fournisseur d'identité ne délivre pas de jeton pour les services "
                        "(échange de jetons, RFC 8693)."
                    ) from None
                if error.error != "invalid_grant" or attempt == 2:
                    raise SsoError(f"Jeton {audience} refusé : {error.message}") from None
            # The PSC access token was refused: renew it once, then exchange again.
            access = await self._access_locked(0, refused=access)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- status and logout ----------------------------------------------------------

    async def status(self, audiences: Iterable[str] = (), live: bool = True) -> dict[str, Any]:
        """Who is signed in and until when, and each connector's cached token.

        With `live`, the session is checked with the provider (userinfo), renewed first
        if its access token has expired; without, the store alone answers (`live` is
        then False in the report).
        """
        if live:
            access = await self.access_token()
            info = await self._userinfo(access)
            if not info:
                async with self._lock:
                    access = await self._access_locked(0, refused=access)
                if not await self._userinfo(access):
                    raise NoSessionError("La session n'est plus reconnue")
        session = self._session_record()
        access_record = self.store.get("access") or {}
        connectors = {}
        for audience in dict.fromkeys([*audiences, *session.get("audiences", [])]):
            record = self.store.get(f"api:{audience}")
            connectors[audience] = {
                "token_expires_at": int(record["expires_at"]) if fresh(record) else None
            }
        return {
            "profile": self.profile.name,
            "platform": self.profile.platform,
            "issuer": session["issuer"],
            "store": self.store.kind,
            "who": session["who"],
            "acr": session["acr"],
            "auth_time": session["auth_time"],
            "session_expires_at": int(session["refresh_expires_at"]),
            "access_token_expires_at": int(access_record.get("expires_at", 0)),
            "connectors": connectors,
            "live": live,
        }

    async def logout(self) -> bool:
        """Revoke at the provider, end the PSC session, wipe the store.

        Returns False when there was no session. The store is wiped even when the
        provider cannot be reached (then UnreachableError is raised afterwards).
        """
        session = self.store.get("session")
        async with self._lock:
            self._wipe()
        if not session:
            return False
        await self._revoke(session.get("refresh_token", ""))
        try:
            url = await self.provider.endpoint("end_session_endpoint")
            await self.http.get(url, params={"id_token_hint": session["id_token"]})
        except httpx.TransportError:
            raise unreachable("Le fournisseur d'identité") from None
        return True

    async def _revoke(self, refresh_token: str) -> None:
        if not refresh_token:
            return
        metadata = await self.provider.metadata()
        if "revocation_endpoint" in metadata:
            try:
                await self.provider.post_form(
                    "revocation_endpoint",
                    {"token": refresh_token, "token_type_hint": "refresh_token"},
                )
            except TokenEndpointError:
                return  # already unknown to the provider: nothing left to revoke

    def _wipe(self) -> None:
        session = self.store.get("session") or {}
        for key in ("session", "access", *(f"api:{a}" for a in session.get("audiences", []))):
            self.store.delete(key)

    # -- connectors -------------------------------------------------------------------

    def cached_token(self, audience: str) -> dict[str, Any] | None:
        """The stored API token of one service (or None), as its client's auth reads it."""
        return self.store.get(f"api:{audience}")

    def client_for(self, audience: str, base_url: str = "") -> httpx.AsyncClient:
        """An HTTP client for one service, whose auth adds and renews its bearer token.

        The service is the platform's `/api/AUDIENCE` unless `base_url` names its own.
        """
        url = base_url.rstrip("/") or f"{self.platform_base}/api/{audience}"
        return self._client(url, ConnectorAuth(self, audience))


def lock_path(dirs: Folders, profile: str) -> Path:
    """Where the cross-process lock of a profile lives."""
    return dirs.data / f"session-{profile}.lock"
