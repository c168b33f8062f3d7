"""The e-CPS app's side of the platform: what the (virtual) phone calls.

The real app's interface is not published; these routes are the emulation's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import RowMapping

from bsp_tui.platform.bodies import route_path
from bsp_tui.platform.psc.ecps import EcpsError, device_refused
from bsp_tui.platform.psc.ecps import Request as EcpsRequest
from bsp_tui.platform.psc.routes import client_path, platform_of

router = APIRouter(prefix="/ecps", tags=["e-CPS (emulation)"])
# The longest a phone's ask for its pending requests is held (under a client's usual
# 30-second read timeout, and well under a request's expiry).
MAX_WAIT = 25.0


class Answer(BaseModel):
    """The professional's answer on the phone."""

    approve: bool
    pin: str = Field(default="", max_length=16)
    otp: str = Field(default="", max_length=16)


def ecps_error(error: EcpsError) -> JSONResponse:
    """The phone API's error shape."""
    return JSONResponse(
        {"error": {"code": error.code, "message": error.message}}, status_code=error.status
    )


def _request_body(request: EcpsRequest) -> dict:
    return asdict(request)


@router.get("/personas")
def personas(request: Request) -> list[dict]:
    """The demo directory, without secrets (for persona pickers)."""
    return platform_of(request).ecps.directory()


DEVICE_PROOF = "ECPS-Device-Proof"


def proven_device(request: Request) -> RowMapping:
    """The enrolled device whose signed proof this call carries (EcpsError otherwise)."""
    proof = request.headers.get(DEVICE_PROOF, "")
    if not proof or len(proof) > 4096:
        raise device_refused()
    return platform_of(request).ecps.device(
        proof, request.method, client_path(request, route_path(request.scope))
    )


def _device_call(request: Request, answer: Callable[[RowMapping], object]) -> JSONResponse:
    try:
        return JSONResponse(answer(proven_device(request)))
    except EcpsError as error:
        return ecps_error(error)


@router.get("/requests")
async def pending(
    request: Request,
    wait: Annotated[
        float,
        Query(ge=0, le=MAX_WAIT, description="Seconds to hold the answer until a request arrives."),
    ] = 0,
    binding: Annotated[
        str | None, Query(max_length=16, description="Only the requests showing this number.")
    ] = None,
) -> JSONResponse:
    """The proven device's professional's pending requests, oldest first; with `wait`,
    the answer waits for the first one to arrive (the push of a real phone)."""
    ecps = platform_of(request).ecps

    def professional() -> str:
        return proven_device(request)["national_id"]

    try:
        national_id = await anyio.to_thread.run_sync(professional)
    except EcpsError as error:
        return ecps_error(error)
    return JSONResponse(
        [_request_body(r) for r in await ecps.pending_within(national_id, wait, binding)]
    )


@router.get("/requests/{request_id}")
def one_request(request: Request, request_id: str) -> JSONResponse:
    """One of the proven device's professional's requests, and where it stands."""
    ecps = platform_of(request).ecps

    def shown(device: RowMapping) -> dict:
        found = ecps.request(request_id)
        if found.national_id != device["national_id"]:
            raise EcpsError("unknown_request", "Cette demande e-CPS n'existe pas.", 404)
        return _request_body(found)

    return _device_call(request, shown)


@router.post("/requests/{request_id}/answer")
def answer(request: Request, request_id: str, body: Answer) -> JSONResponse:
    """Approve with PIN and device code, or deny (the device's proof either way)."""
    ecps = platform_of(request).ecps
    return _device_call(
        request,
        lambda device: _request_body(
            ecps.answer(request_id, device, body.approve, body.pin, body.otp)
        ),
    )


class Enrolment(BaseModel):
    """A phone binds itself to a persona with an activation code and its public key."""

    model_config = ConfigDict(extra="forbid")

    persona: str = Field(max_length=64)
    code: str = Field(max_length=64)
    public_key: dict[str, str] = Field(
        description="The device's Ed25519 public key, as a JWK (kty OKP, crv Ed25519, x)."
    )


@router.post("/devices")
def enrol(request: Request, body: Enrolment) -> JSONResponse:
    """Spend an activation code to enrol a device; answers its id and `otpauth://` URI.

    A proof of this phone's previous device, when sent, revokes that device.
    """
    ecps = platform_of(request).ecps
    try:
        replaces = proven_device(request) if request.headers.get(DEVICE_PROOF) else None
        device_id, uri = ecps.enrol(body.persona, body.code, body.public_key, replaces)
    except EcpsError as error:
        return ecps_error(error)
    return JSONResponse(
        {"device_id": device_id, "otpauth_uri": uri}, headers={"Cache-Control": "no-store"}
    )
