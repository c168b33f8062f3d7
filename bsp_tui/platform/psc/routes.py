"""Pro Santé Connect's OIDC endpoints, at the paths of the real realm."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bsp_tui.platform.core import Platform
from bsp_tui.platform.db import RowMapping
from bsp_tui.platform.psc.errors import OAuthError
from bsp_tui.platform.psc.flows import CIBA_GRANT, DEVICE_GRANT
from bsp_tui.platform.psc.html import error_line, page
from bsp_tui.platform.psc.tokens import ACR_TWO_FACTORS, InvalidTokenError

REALM = "/auth/realms/esante-wallet"
OIDC = f"{REALM}/protocol/openid-connect"
WALLET_AUTH = "/wallet/auth"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a type URN

router = APIRouter(tags=["Pro Santé Connect"])
bearer = HTTPBearer(auto_error=False)
OptionalForm = Annotated[str | None, Form()]


def platform_of(request: Request) -> Platform:
    """The platform behind this app."""
    return request.app.state.platform


def base_url(request: Request) -> str:
    """Scheme, host and port (and path) the client used to reach us: the platform's
    public URL when it has one (served behind a reverse proxy), else the request's."""
    return platform_of(request).settings.public_url or str(request.base_url).rstrip("/")


def url_of(request: Request, name: str, **params: str) -> str:
    """The absolute URL of the route called `name`, as the client reaches it.

    Each app looks a route's path up once: the router's lookup walks every route, and
    a list answer names a link per entry. `params` are single path segments (ids).
    """
    templates = request.app.state._state.setdefault("route_templates", {})
    key = (name, *sorted(params))
    template = templates.get(key)
    if template is None:
        marked = {param: f"\x00{param}\x00" for param in params}
        template = str(request.app.url_path_for(name, **marked))
        templates[key] = template
    path = template
    for param, value in params.items():
        path = path.replace(f"\x00{param}\x00", value)
    return base_url(request) + path


def client_path(request: Request, path: str) -> str:
    """`path` (one of this app's) as the client's side names it: behind the public URL's
    path when there is one (a proxy serving the platform under `/salle`), else behind
    the path this app is mounted at (a room's `/rooms/NAME`)."""
    public = platform_of(request).settings.public_url
    prefix = urlsplit(public).path if public else request.scope.get("root_path", "")
    return prefix + path


def issuer_of(request: Request) -> str:
    """The issuer URL, as seen from the client's side."""
    return base_url(request) + REALM


def discovery(request: Request) -> dict:
    """The OpenID Provider metadata."""
    issuer = issuer_of(request)
    base = base_url(request)
    return {
        "issuer": issuer,
        "authorization_endpoint": base + WALLET_AUTH,
        "token_endpoint": f"{issuer}/protocol/openid-connect/token",
        "userinfo_endpoint": f"{issuer}/protocol/openid-connect/userinfo",
        "jwks_uri": f"{issuer}/protocol/openid-connect/certs",
        "end_session_endpoint": f"{issuer}/protocol/openid-connect/logout",
        "introspection_endpoint": f"{issuer}/protocol/openid-connect/token/introspect",
        "revocation_endpoint": f"{issuer}/protocol/openid-connect/revoke",
        "backchannel_authentication_endpoint": f"{issuer}/protocol/openid-connect/ext/ciba/auth",
        "device_authorization_endpoint": f"{issuer}/protocol/openid-connect/auth/device",
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            CIBA_GRANT,
            DEVICE_GRANT,
            EXCHANGE_GRANT,
        ],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "backchannel_token_delivery_modes_supported": ["poll"],
        "backchannel_user_code_parameter_supported": False,
        # OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens carry the `sid`.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "scopes_supported": ["openid", "scope_all"],
        "acr_values_supported": [ACR_TWO_FACTORS],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        "claims_supported": [
            "sub",
            "acr",
            "auth_time",
            "preferred_username",
            "given_name",
            "family_name",
            "SubjectNameID",
            "SubjectRole",
            "SubjectRefPro",
            "SubjectOrganization",
            "SubjectOrganizationID",
            "otherIds",
            "Secteur_Activite",
            "Palier_Authentification",
            "Acces_Regulation_Medicale",
            "Mode_Acces_Raison",
            "email_verified",
        ],
        "token_exchange_audiences": list(platform_of(request).audiences),
    }


@router.get(f"{REALM}/.well-known/wallet-openid-configuration")
def wallet_configuration(request: Request) -> dict:
    """Discovery at Pro Santé Connect's own path."""
    return discovery(request)


@router.get(f"{REALM}/.well-known/openid-configuration")
def openid_configuration(request: Request) -> dict:
    """Discovery at the standard path."""
    return discovery(request)


@router.get(f"{OIDC}/certs")
def certs(request: Request) -> dict:
    """The JWKS: the active signing key and those retired but still verifying."""
    return platform_of(request).keys.jwks()


def _no_store(body: dict) -> JSONResponse:
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.post(f"{OIDC}/ext/ciba/auth")
def ciba_auth(
    request: Request,
    login_hint: OptionalForm = None,
    binding_message: OptionalForm = None,
    scope: OptionalForm = None,
    acr_values: OptionalForm = None,
    channel: OptionalForm = None,
    client_id: OptionalForm = None,
    client_secret: OptionalForm = None,
) -> JSONResponse:
    """CIBA backchannel authentication request (poll mode)."""
    platform = platform_of(request)
    client = platform.clients.authenticate(request.headers, client_id, client_secret)
    started = platform.flows.start_ciba(
        client, scope, login_hint, binding_message, acr_values, channel
    )
    return _no_store(
        {
            "auth_req_id": started.handle,
            "expires_in": started.expires_in,
            "interval": started.interval,
        }
    )


@router.post(f"{OIDC}/auth/device")
def device_authorization(
    request: Request,
    scope: OptionalForm = None,
    client_id: OptionalForm = None,
    client_secret: OptionalForm = None,
) -> JSONResponse:
    """RFC 8628 device authorization request."""
    platform = platform_of(request)
    client = platform.clients.authenticate(request.headers, client_id, client_secret)
    started = platform.flows.start_device(client, scope)
    verification = f"{issuer_of(request)}/device"
    complete = f"{verification}?{urlencode({'user_code': started.user_code})}"
    return _no_store(
        {
            "device_code": started.handle,
            "user_code": started.user_code,
            "verification_uri": verification,
            "verification_uri_complete": complete,
            "expires_in": started.expires_in,
            "interval": started.interval,
        }
    )


@router.post(f"{OIDC}/token")
async def token(
    request: Request,
    grant_type: OptionalForm = None,
    code: OptionalForm = None,
    redirect_uri: OptionalForm = None,
    code_verifier: OptionalForm = None,
    refresh_token: OptionalForm = None,
    auth_req_id: OptionalForm = None,
    device_code: OptionalForm = None,
    subject_token: OptionalForm = None,
    subject_token_type: OptionalForm = None,
    audience: OptionalForm = None,
    client_id: OptionalForm = None,
    client_secret: OptionalForm = None,
) -> JSONResponse:
    """The token endpoint: code, refresh, CIBA, device code and token exchange. A CIBA or
    device poll is answered when the professional answers, up to its interval later."""
    platform = platform_of(request)
    issuer = issuer_of(request)
    client = await anyio.to_thread.run_sync(
        platform.clients.authenticate, request.headers, client_id, client_secret
    )
    if grant_type in _POLLED:
        handle = auth_req_id if grant_type == CIBA_GRANT else device_code
        body = await platform.flows.poll(_POLLED[grant_type], client, handle, issuer)
        return _no_store(body)
    form = {
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
        "refresh_token": refresh_token,
        "subject_token": subject_token,
        "subject_token_type": subject_token_type,
        "audience": audience,
    }
    return _no_store(
        await anyio.to_thread.run_sync(_granted, platform, client, issuer, grant_type, form)
    )


_POLLED = {CIBA_GRANT: "ciba", DEVICE_GRANT: "device"}


def _granted(
    platform: Platform,
    client: RowMapping,
    issuer: str,
    grant_type: str | None,
    form: dict[str, str | None],
) -> dict:
    """The tokens of a code, refresh or exchange grant (in a worker thread: each reads and
    writes the database)."""
    try:
        if grant_type == "authorization_code":
            if not form["code"]:
                raise OAuthError("invalid_request", "Paramètre code manquant.")
            return platform.flows.redeem_code(
                client, form["code"], form["redirect_uri"], form["code_verifier"], issuer
            )
        if grant_type == "refresh_token":
            if not form["refresh_token"]:
                raise OAuthError("invalid_request", "Paramètre refresh_token manquant.")
            return platform.tokens.refresh(form["refresh_token"], client["client_id"], issuer)
        if grant_type == EXCHANGE_GRANT:
            subject = form["subject_token"]
            if not subject or form["subject_token_type"] != ACCESS_TOKEN_TYPE:
                raise OAuthError(
                    "invalid_request", f"subject_token de type {ACCESS_TOKEN_TYPE} attendu."
                )
            if form["audience"] not in platform.audiences:
                raise OAuthError(
                    "invalid_target",
                    f"Audience inconnue ; possibles : {', '.join(platform.audiences)}.",
                )
            return platform.tokens.exchange(subject, form["audience"], issuer, client["client_id"])
        raise OAuthError("unsupported_grant_type", "Type d'autorisation non pris en charge.")
    except OAuthError as error:
        if error.ended_session:
            platform.backchannel.notify(error.ended_session, issuer)
        raise


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise OAuthError("invalid_token", "Jeton d'accès manquant.", 401)
    return credentials.credentials


def _userinfo(request: Request, credentials: HTTPAuthorizationCredentials | None) -> dict:
    try:
        return platform_of(request).tokens.userinfo(_bearer_token(credentials), issuer_of(request))
    except InvalidTokenError as error:
        raise OAuthError("invalid_token", f"Jeton refusé : {error}.", 401) from None


@router.get(f"{OIDC}/userinfo")
def userinfo(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> dict:
    """The professional's PSC claims."""
    return _userinfo(request, credentials)


@router.post(f"{OIDC}/userinfo")
def userinfo_post(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> dict:
    """The professional's PSC claims (POST form of the same endpoint)."""
    return _userinfo(request, credentials)


@router.post(f"{OIDC}/token/introspect")
def introspect(
    request: Request,
    token: OptionalForm = None,
    client_id: OptionalForm = None,
    client_secret: OptionalForm = None,
) -> JSONResponse:
    """RFC 7662 introspection, for authenticated confidential clients (resource servers)."""
    platform = platform_of(request)
    client = platform.clients.authenticate(request.headers, client_id, client_secret)
    if client["secret_hash"] is None:
        # A public client proves nothing about itself: it would learn who holds any token.
        raise OAuthError(
            "invalid_client", "L'introspection est réservée aux clients confidentiels.", 401
        )
    if not token:
        raise OAuthError("invalid_request", "Paramètre token manquant.")
    return _no_store(platform.tokens.introspect(token, issuer_of(request)))


@router.post(f"{OIDC}/revoke")
def revoke(
    request: Request,
    token: OptionalForm = None,
    token_type_hint: OptionalForm = None,
    client_id: OptionalForm = None,
    client_secret: OptionalForm = None,
) -> Response:
    """RFC 7009 revocation: always 200, whatever the token was."""
    platform = platform_of(request)
    client = platform.clients.authenticate(request.headers, client_id, client_secret)
    if not token:
        raise OAuthError("invalid_request", "Paramètre token manquant.")
    issuer = issuer_of(request)
    ended = platform.tokens.revoke(token, issuer, client["client_id"])
    if ended is not None:
        platform.backchannel.notify(ended, issuer)
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


def _logout(
    request: Request, id_token_hint: str | None, redirect: str | None, state: str | None
) -> Response:
    platform = platform_of(request)
    if not id_token_hint:
        return page("Déconnexion", error_line("id_token_hint manquant."), status=400)
    issuer = issuer_of(request)
    try:
        claims = platform.tokens.decode(id_token_hint, issuer, "ID", check_expiry=False)
    except InvalidTokenError as error:
        return page("Déconnexion", error_line(f"Jeton refusé : {error}."), status=400)
    # Check the return address before ending anything: a refused request changes nothing.
    if redirect:
        client = platform.clients.get(claims.get("aud"))
        if client is None or redirect not in platform.clients.redirect_uris(client):
            return page("Déconnexion", error_line("Adresse de retour non enregistrée."), 400)
    sid = claims.get("sid", "")
    if platform.tokens.end_session(sid, "logout"):
        platform.backchannel.notify(sid, issuer)
    if redirect:
        query = urlencode({"state": state}) if state else ""
        return RedirectResponse(f"{redirect}?{query}" if query else redirect, status_code=302)
    return page("Déconnexion", "<p>Vous êtes déconnecté de Pro Santé Connect.</p>")


@router.get(f"{OIDC}/logout")
def logout(
    request: Request,
    id_token_hint: str | None = None,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
) -> Response:
    """RP-initiated logout: ends the session and every token of it."""
    return _logout(request, id_token_hint, post_logout_redirect_uri, state)


@router.post(f"{OIDC}/logout")
def logout_post(
    request: Request,
    id_token_hint: OptionalForm = None,
    post_logout_redirect_uri: OptionalForm = None,
    state: OptionalForm = None,
) -> Response:
    """RP-initiated logout, form-posted."""
    return _logout(request, id_token_hint, post_logout_redirect_uri, state)
