"""What every emulated national service shares: the API-token check and FHIR errors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bsp_tui.platform.core import AUDIENCES
from bsp_tui.platform.psc.routes import issuer_of, platform_of
from bsp_tui.platform.psc.tokens import InvalidTokenError

router = APIRouter(tags=["Services"])
bearer = HTTPBearer(auto_error=False)


class ServiceError(Exception):
    """An error a service answers as a FHIR OperationOutcome."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        """The OperationOutcome answer."""
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if self.status == 401 else {}
        return JSONResponse(
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": self.code, "diagnostics": self.message}],
            },
            status_code=self.status,
            headers=headers,
        )


def caller(
    audience: str, request: Request, credentials: HTTPAuthorizationCredentials | None
) -> dict:
    """Claims of a live API token for `audience`, or a 401 OperationOutcome."""
    if credentials is None:
        raise ServiceError(401, "login", "Jeton d'API manquant.")
    try:
        return platform_of(request).tokens.verify_live(
            credentials.credentials, issuer_of(request), audience
        )
    except InvalidTokenError as error:
        raise ServiceError(401, "login", f"Jeton d'API refusé : {error}.") from None


@router.get("/api/{service}/me")
async def who_am_i(
    request: Request,
    service: str,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> dict:
    """Who the service sees behind the bearer token (a probe for tools and tests)."""
    if service not in AUDIENCES:
        raise ServiceError(404, "not-found", f"Service inconnu : {service}.")
    claims = caller(service, request, credentials)
    return {
        "service": service,
        "national_id": claims["preferred_username"],
        "given_name": claims["given_name"],
        "family_name": claims["family_name"],
        "profession": claims["profession"],
        "acr": claims["acr"],
        "expires_at": claims["exp"],
    }
