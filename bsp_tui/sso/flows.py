"""The three sign-in flows, client side: CIBA (default), device code, browser + PKCE."""

from __future__ import annotations

import asyncio
import secrets
import time
import webbrowser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from bsp_tui.sso.errors import SignInRefusedError, SsoError
from bsp_tui.sso.loopback import LoopbackListener
from bsp_tui.sso.provider import Provider, TokenEndpointError

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
BROWSER_TIMEOUT = 600


@dataclass(frozen=True)
class Binding:
    """CIBA: the number to find on the e-CPS phone."""

    number: str
    expires_in: int


@dataclass(frozen=True)
class UserCode:
    """Device flow: where to go and what to type."""

    code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int


@dataclass(frozen=True)
class BrowserOpened:
    """Browser flow: the authorization URL (also shown, for when no browser opens)."""

    url: str


@dataclass(frozen=True)
class Waiting:
    """Still waiting for the professional; seconds left before the request expires."""

    seconds_left: int


FlowEvent = Binding | UserCode | BrowserOpened | Waiting
OnEvent = Callable[[FlowEvent], None]


@dataclass(frozen=True)
class SignedIn:
    """A flow's outcome: the token response and the nonce the ID token must carry."""

    tokens: dict[str, Any]
    nonce: str | None


_REFUSED = {
    "access_denied": "Connexion refusée.",
    "expired_token": "La demande a expiré sans réponse : relancez la connexion.",
}


async def _poll(
    provider: Provider, data: dict[str, str], interval: int, expires_in: int, on_event: OnEvent
) -> dict[str, Any]:
    deadline = time.monotonic() + expires_in
    sent: float | None = None
    while True:
        if sent is not None:
            # The pace the provider asked for, counted from the last poll's sending: a
            # provider that held that poll until the interval (long polling) is asked again
            # at once, one that answered at once after the interval.
            await asyncio.sleep(max(0.0, sent + interval - time.monotonic()))
        sent = time.monotonic()
        try:
            return await provider.token(data)
        except TokenEndpointError as error:
            if error.error == "authorization_pending":
                left = int(deadline - time.monotonic())
                if left <= 0:
                    raise SignInRefusedError(_REFUSED["expired_token"]) from None
                on_event(Waiting(left))
                continue
            if error.error == "slow_down":
                interval += 5
                continue
            if error.error in _REFUSED:
                raise SignInRefusedError(error.message or _REFUSED[error.error]) from None
            raise SignInRefusedError(f"Connexion impossible : {error.message}") from None


async def ciba(
    provider: Provider,
    national_id: str,
    scope: str,
    acr: str,
    on_event: OnEvent,
    approve: Callable[[str], Awaitable[None]] | None = None,
) -> SignedIn:
    """Push to the professional's e-CPS, show the binding number, poll until they answer."""
    binding = f"{secrets.randbelow(100):02d}"
    form = {"login_hint": national_id, "binding_message": binding, "scope": scope}
    if acr:
        form["acr_values"] = acr
    try:
        started = await provider.post_form("backchannel_authentication_endpoint", form)
    except TokenEndpointError as error:
        raise SignInRefusedError(error.message) from None
    on_event(Binding(binding, int(started.get("expires_in", 120))))
    if approve is not None:
        await approve(binding)
    tokens = await _poll(
        provider,
        {"grant_type": CIBA_GRANT, "auth_req_id": started["auth_req_id"]},
        int(started.get("interval", 5)),
        int(started.get("expires_in", 120)),
        on_event,
    )
    return SignedIn(tokens, None)


async def device(provider: Provider, scope: str, on_event: OnEvent) -> SignedIn:
    """RFC 8628: show a code and an address, poll until the professional approves."""
    try:
        started = await provider.post_form("device_authorization_endpoint", {"scope": scope})
    except TokenEndpointError as error:
        raise SignInRefusedError(error.message) from None
    on_event(
        UserCode(
            started["user_code"],
            started["verification_uri"],
            started.get("verification_uri_complete", started["verification_uri"]),
            int(started.get("expires_in", 600)),
        )
    )
    tokens = await _poll(
        provider,
        {"grant_type": DEVICE_GRANT, "device_code": started["device_code"]},
        int(started.get("interval", 5)),
        int(started.get("expires_in", 600)),
        on_event,
    )
    return SignedIn(tokens, None)


async def browser(
    provider: Provider,
    scope: str,
    acr: str,
    on_event: OnEvent,
    opener: Callable[[str], object] = webbrowser.open,
    login_hint: str | None = None,
) -> SignedIn:
    """Authorization code + PKCE S256 with a loopback redirect (RFC 8252)."""
    verifier = secrets.token_urlsafe(64)
    state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    listener = LoopbackListener()
    try:
        query = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": listener.redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if acr:
            query["acr_values"] = acr
        if login_hint:
            query["login_hint"] = login_hint
        url = f"{await provider.endpoint('authorization_endpoint')}?{urlencode(query)}"
        on_event(BrowserOpened(url))
        await asyncio.to_thread(opener, url)
        params = await listener.wait(BROWSER_TIMEOUT)
    finally:
        listener.close()
    if params is None:
        raise SignInRefusedError("Aucune réponse du navigateur : relancez la connexion.")
    # An error ends the sign-in whatever its state (some providers omit it there);
    # only a code, which could be injected, must carry the state we sent.
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        raise SignInRefusedError(f"Connexion refusée : {reason}")
    if params.get("state") != state:
        raise SsoError("Réponse du navigateur refusée : paramètre state inattendu.")
    if "code" not in params:
        raise SsoError("Réponse du navigateur sans code d'autorisation.")
    try:
        tokens = await provider.token(
            {
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": listener.redirect_uri,
                "code_verifier": verifier,
            }
        )
    except TokenEndpointError as error:
        raise SignInRefusedError(f"Connexion impossible : {error.message}") from None
    return SignedIn(tokens, nonce)
