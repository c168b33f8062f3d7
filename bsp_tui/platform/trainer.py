"""The trainer's powers over HTTP, behind the trainer token of a served platform.

`bsp platform serve` makes a token (or takes `BSP_TRAINER_TOKEN`) and prints it once;
every `/demo/…` route (faults, reset, the personas with their PINs and activation codes,
new codes for more cards, client registration) then needs `Authorization: Bearer TOKEN`.
The embedded platform has no token: the person at the desk owns it, as its database.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from bsp_tui.platform.api import invalid, not_found, unauthorised
from bsp_tui.platform.psc.ecps import EcpsError
from bsp_tui.platform.psc.routes import platform_of

_bearer = HTTPBearer(auto_error=False)


def require_trainer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let the call through only with the served platform's trainer token."""
    expected = platform_of(request).settings.trainer_token
    if expected is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise unauthorised(
            "Réservé au formateur : le jeton formateur affiché par `bsp platform serve` "
            "est nécessaire (BSP_TRAINER_TOKEN).",
        )


router = APIRouter(prefix="/demo", tags=["Démonstration (émulation)"])


@router.post("/reset")
def reset(request: Request) -> dict:
    """Back to the seeded state, as `bsp platform reset`."""
    platform_of(request).reset()
    return {"reset": True}


@router.get("/personas")
def personas(request: Request) -> list[dict]:
    """The demo professionals with their PINs and activation codes (the trainer's cards)."""
    return platform_of(request).ecps.directory(with_pins=True)


@router.post("/personas/{name}/activation-codes", status_code=201)
def new_activation_code(request: Request, name: str) -> dict:
    """Another single-use activation code for the persona (one more trainee's card)."""
    ecps = platform_of(request).ecps
    try:
        return ecps.issue_code(name)
    except EcpsError as error:
        raise not_found(error.message) from None


class NewClient(BaseModel):
    """A relying party to register."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(max_length=40)
    redirect_uris: list[str] = Field(default_factory=list, max_length=10)
    backchannel_logout_uri: str | None = Field(default=None, max_length=2000)


@router.post("/clients", status_code=201)
def add_client(request: Request, body: NewClient) -> dict:
    """Register a confidential client; its secret is shown in this answer only."""
    try:
        secret = platform_of(request).clients.add(
            body.client_id, body.redirect_uris, body.backchannel_logout_uri
        )
    except ValueError as error:
        raise invalid(str(error)) from None
    return {
        "client_id": body.client_id,
        "client_secret": secret,
        "redirect_uris": body.redirect_uris,
        "backchannel_logout_uri": body.backchannel_logout_uri,
    }
