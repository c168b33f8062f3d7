"""The wallet front end (authorization code + PKCE) and the device verification page."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bsp_tui.platform.psc.clients import redirect_allowed
from bsp_tui.platform.psc.errors import OAuthError
from bsp_tui.platform.psc.html import binding_view, error_line, field, hidden, page
from bsp_tui.platform.psc.routes import REALM, WALLET_AUTH, client_path, platform_of

router = APIRouter(tags=["Pro Santé Connect — pages"])
TITLE = "Pro Santé Connect"
_WAIT_SECONDS = "2"
# The login form's anti-CSRF token: a cookie of this browser, repeated in the form. A page
# elsewhere can post the form but cannot read or set the cookie (RFC 9700 §4.7).
CSRF_COOKIE = "bsp_wallet_csrf"
CSRF_FIELD = "csrf"


def _csrf_of(request: Request) -> str:
    """This browser's anti-CSRF token, or a new one."""
    known = request.cookies.get(CSRF_COOKIE, "")
    return known if 32 <= len(known) <= 64 else secrets.token_urlsafe(32)


def _with_csrf_cookie(request: Request, response: Response, csrf: str) -> Response:
    path = client_path(request, "/wallet")
    response.set_cookie(
        CSRF_COOKIE, csrf, httponly=True, samesite="strict", path=path, max_age=3600
    )
    return response


def _redirect(uri: str, **params: str | None) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{separator}{query}", status_code=302)


def _login_form(request: Request, handle: str, message: str = "", status: int = 200) -> Response:
    csrf = _csrf_of(request)
    body = (
        "<p>Identifiez-vous avec votre e-CPS.</p>"
        + error_line(message)
        + f'<form method="post" action="{client_path(request, WALLET_AUTH)}/login">'
        + hidden("tx", handle)
        + hidden(CSRF_FIELD, csrf)
        + field("national_id", "Identifiant national (8 + RPPS)")
        + "<button>Continuer</button></form>"
    )
    return _with_csrf_cookie(request, page(TITLE, body, status), csrf)


@router.get(WALLET_AUTH)
def authorize(
    request: Request,
    client_id: str | None = None,
    redirect_uri: str | None = None,
    response_type: str | None = None,
    scope: str | None = None,
    state: str | None = None,
    nonce: str | None = None,
    code_challenge: str | None = None,
    code_challenge_method: str | None = None,
    acr_values: str | None = None,
) -> Response:
    """Authorization endpoint: checks the request, then asks for the national id."""
    platform = platform_of(request)
    client = platform.clients.get(client_id)
    if client is None:
        return page(TITLE, error_line("Logiciel client inconnu."), 400)
    if not redirect_uri or not redirect_allowed(
        platform.clients.redirect_uris(client), redirect_uri
    ):
        return page(TITLE, error_line("Adresse de retour non enregistrée pour ce client."), 400)
    if response_type != "code":
        return _redirect(
            redirect_uri,
            error="unsupported_response_type",
            error_description="Seul response_type=code est proposé.",
            state=state,
        )
    try:
        handle = platform.flows.start_code(
            client,
            redirect_uri,
            scope,
            state,
            nonce,
            code_challenge,
            code_challenge_method,
            acr_values,
        )
    except OAuthError as error:
        return _redirect(
            redirect_uri, error=error.error, error_description=error.description, state=state
        )
    return _login_form(request, handle)


@router.post(f"{WALLET_AUTH}/login")
def wallet_login(
    request: Request,
    tx: Annotated[str, Form(max_length=256)],
    national_id: Annotated[str, Form(max_length=64)],
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The national id was given: push the request to e-CPS and wait."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf.encode()):
        return page(
            TITLE,
            error_line("Formulaire expiré ou envoyé depuis un autre site : recommencez."),
            403,
        )
    platform = platform_of(request)
    try:
        binding = platform.flows.code_login(tx, national_id.strip())
    except OAuthError as error:
        if error.error == "invalid_request":
            return page(TITLE, error_line(error.description), 400)
        return _login_form(request, tx, error.description, 400)
    return _waiting(request, tx, binding)


def _waiting(request: Request, handle: str, binding: str) -> Response:
    target = f"{client_path(request, WALLET_AUTH)}/wait?{urlencode({'tx': handle})}"
    return page(
        TITLE,
        binding_view(binding) + f'<p><a href="{target}">Continuer</a></p>',
        refresh=f"{_WAIT_SECONDS}; url={target}",
    )


@router.get(f"{WALLET_AUTH}/wait")
def wallet_wait(request: Request, tx: str) -> Response:
    """Polled by the waiting page until e-CPS answers; then back to the client."""
    platform = platform_of(request)
    try:
        status, grant, detail = platform.flows.code_outcome(tx)
    except OAuthError as error:
        return page(TITLE, error_line(error.description), 400)
    if status == "login":
        return _login_form(request, tx)
    if status == "pending":
        return _waiting(request, tx, detail)
    if status == "approved":
        return _redirect(grant["redirect_uri"], code=detail, state=grant["state"])
    return _redirect(
        grant["redirect_uri"], error="access_denied", error_description=detail, state=grant["state"]
    )


def _device_form(
    request: Request, user_code: str = "", message: str = "", status: int = 200
) -> Response:
    body = (
        "<p>Saisissez le code affiché par le logiciel, puis votre identifiant national.</p>"
        + error_line(message)
        + f'<form method="post" action="{client_path(request, REALM)}/device">'
        + field("user_code", "Code", user_code)
        + field("national_id", "Identifiant national (8 + RPPS)")
        + "<button>Continuer</button></form>"
    )
    return page(TITLE + " — appareil", body, status)


@router.get(f"{REALM}/device")
def device_page(request: Request, user_code: str = "") -> Response:
    """RFC 8628 verification page."""
    return _device_form(request, user_code)


@router.post(f"{REALM}/device")
def device_submit(
    request: Request,
    user_code: Annotated[str, Form()],
    national_id: Annotated[str, Form()],
) -> Response:
    """The person typed the user code: push to their e-CPS."""
    try:
        binding = platform_of(request).flows.verify_device(user_code, national_id.strip())
    except OAuthError as error:
        return _device_form(request, user_code, error.description, 400)
    return page(
        TITLE + " — appareil",
        binding_view(binding) + "<p>Une fois validé, revenez au logiciel.</p>",
    )
