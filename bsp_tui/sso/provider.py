"""The identity provider as the launcher sees it: discovery, JWKS, token endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from bsp_tui.sso.errors import SsoError, UnreachableError

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

PSC_DISCOVERY = "/.well-known/wallet-openid-configuration"
STANDARD_DISCOVERY = "/.well-known/openid-configuration"


class TokenEndpointError(SsoError):
    """An OAuth error answer (`error`, `error_description`)."""

    def __init__(self, error: str, description: str, status: int) -> None:
        super().__init__(description or error)
        self.error = error
        self.status = status


def unreachable(where: str) -> UnreachableError:
    """The error for a provider or platform that does not answer."""
    return UnreachableError(
        f"{where} injoignable : vérifiez l'adresse, ou lancez `bsp platform serve`."
    )


class Provider:
    """One OIDC provider, reached through `http` (a socket, or the embedded transport)."""

    def __init__(
        self, http: httpx.AsyncClient, issuer: str, client_id: str, client_secret: str = ""
    ) -> None:
        self.http = http
        self.issuer = issuer
        self.client_id = client_id
        self._client_secret = client_secret
        self._metadata: dict[str, Any] | None = None
        self._jwks: KeySet | None = None

    async def _get(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.get(url, **kwargs)
        except httpx.TransportError:
            raise unreachable("Le fournisseur d'identité") from None

    async def metadata(self) -> dict[str, Any]:
        """Discovery: PSC's own path first, then the standard one."""
        if self._metadata is None:
            for path in (PSC_DISCOVERY, STANDARD_DISCOVERY):
                response = await self._get(self.issuer + path)
                if response.status_code == 200:
                    try:
                        document = response.json()
                    except ValueError:
                        continue
                    if document.get("issuer", "").rstrip("/") != self.issuer.rstrip("/"):
                        raise SsoError(
                            "La découverte OIDC annonce un autre émetteur que celui configuré."
                        )
                    self._metadata = document
                    break
            else:
                raise SsoError(f"Aucun document de découverte OIDC sous {self.issuer}.")
        return self._metadata

    async def endpoint(self, name: str) -> str:
        """An endpoint URL from discovery; a clear error when the provider has none."""
        url = (await self.metadata()).get(name)
        if not url:
            raise SsoError(f"Ce fournisseur d'identité ne propose pas « {name} ».")
        return str(url)

    async def jwks(self, refresh: bool = False) -> KeySet:
        """The provider's signing keys (fetched again when `refresh`)."""
        if self._jwks is None or refresh:
            response = await self._get(await self.endpoint("jwks_uri"))
            try:
                response.raise_for_status()
                from joserfc.jwk import KeySet  # only to check an ID token: not on start-up

                self._jwks = KeySet.import_key_set(response.json())
            except (httpx.HTTPStatusError, ValueError, KeyError, TypeError):
                raise SsoError("Les clés publiques du fournisseur sont illisibles.") from None
        return self._jwks

    async def post_form(self, endpoint: str, data: dict[str, str]) -> dict[str, Any]:
        """POST a form to an endpoint named in discovery, authenticated as this client.

        A public client (the launcher) names itself; a confidential one uses HTTP Basic.
        """
        url = await self.endpoint(endpoint)
        auth: httpx.Auth
        if self._client_secret:
            auth = httpx.BasicAuth(self.client_id, self._client_secret)
            form = data
        else:
            # A bare Auth adds nothing: the client names itself in the form.
            auth, form = httpx.Auth(), {"client_id": self.client_id} | data
        try:
            response = await self.http.post(url, data=form, auth=auth)
        except httpx.TransportError:
            raise unreachable("Le fournisseur d'identité") from None
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        if response.is_success:
            return body
        raise TokenEndpointError(
            str(body.get("error", "server_error")),
            str(body.get("error_description", f"Réponse {response.status_code}.")),
            response.status_code,
        )

    async def token(self, data: dict[str, str]) -> dict[str, Any]:
        """A token-endpoint request."""
        return await self.post_form("token_endpoint", data)
