"""The e-CPS app's side of the platform: what the (virtual) phone calls.

The real app's interface is not published; these routes are the emulation's own.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bsp_tui.platform.psc.ecps import EcpsError
from bsp_tui.platform.psc.ecps import Request as EcpsRequest
from bsp_tui.platform.psc.routes import platform_of

router = APIRouter(prefix="/ecps", tags=["e-CPS (emulation)"])


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
async def personas(request: Request) -> list[dict]:
    """The demo directory, without secrets (for persona pickers)."""
    return platform_of(request).ecps.directory()


@router.get("/requests")
async def pending(request: Request, national_id: str | None = None) -> list[dict]:
    """Pending approval requests, oldest first (for one professional when asked)."""
    return [_request_body(r) for r in platform_of(request).ecps.pending(national_id)]


@router.get("/requests/{request_id}")
async def one_request(request: Request, request_id: str) -> JSONResponse:
    """One request and where it stands."""
    try:
        return JSONResponse(_request_body(platform_of(request).ecps.request(request_id)))
    except EcpsError as error:
        return ecps_error(error)


@router.post("/requests/{request_id}/answer")
async def answer(request: Request, request_id: str, body: Answer) -> JSONResponse:
    """Approve with PIN and device code, or deny."""
    try:
        result = platform_of(request).ecps.answer(request_id, body.approve, body.pin, body.otp)
    except EcpsError as error:
        return ecps_error(error)
    return JSONResponse(_request_body(result))


@router.post("/devices/{name}/enrol")
async def enrol(request: Request, name: str) -> JSONResponse:
    """The enrolled device's `otpauth://` URI, for the virtual phone or an authenticator app.

    The real activation needs the physical CPS card or codes sent to the professional;
    the emulation hands the demo device to whoever asks for it.
    """
    try:
        uri = platform_of(request).ecps.enrol(name)
    except EcpsError as error:
        return ecps_error(error)
    return JSONResponse({"otpauth_uri": uri}, headers={"Cache-Control": "no-store"})
