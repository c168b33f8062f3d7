"""The service SDK: what every emulated national service is built on.

A service is a FastAPI router its connector names (`Connector.service`); the platform
mounts it at `/api/NAME`. A handler asks for its `ServiceContext` with
`Depends(service_context(AUDIENCE))` and gets the database, the platform's clock, the
calling professional (`Professional`, parsed once from a live API token for that
audience) and the patient registry's read API (`Patients`). It never reaches the
platform object or its tables otherwise. A link it answers (a FHIR `fullUrl`, a
`Location`) is built by `url_of(request, route_name, …)`: the platform's public URL
when it is served behind a reverse proxy, not the request's host.

Every refusal is a `ServiceError`: an HTTP status and one FHIR `Issue`, answered as an
OperationOutcome (`application/fhir+json`). `invalid`, `refused`, `field_error` and
`not_found` build the usual ones.

A connector's own tables and seed data are made when the platform opens, by the
function its `Connector.seed` names: it is given a `Seeding` (the database and the
population the platform generated).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bsp_tui.domain.fhir import FHIR_JSON, Issue, operation_outcome
from bsp_tui.platform.db import Database, Schema, Tx
from bsp_tui.platform.patients import Beneficiary, Patients
from bsp_tui.platform.population import Seeding
from bsp_tui.platform.psc.routes import issuer_of, platform_of, url_of
from bsp_tui.platform.psc.tokens import InvalidTokenError

__all__ = [
    "Beneficiary",
    "Body",
    "Database",
    "Patients",
    "Professional",
    "Schema",
    "Seeding",
    "ServiceContext",
    "ServiceError",
    "Tx",
    "field_error",
    "invalid",
    "not_found",
    "refused",
    "service_context",
    "url_of",
]

router = APIRouter(tags=["Services"])
bearer = HTTPBearer(auto_error=False)
UNKNOWN_PROFESSION = "profession inconnue"


class FastJSONResponse(JSONResponse):
    """A JSON answer encoded by orjson: a DMP page of documents spent more time in the
    standard library's encoder than in its queries."""

    def render(self, content: Any) -> bytes:
        """The body: compact UTF-8 JSON, as Starlette's own."""
        return orjson.dumps(content)


def fhir_response(
    body: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A FHIR resource as a service's answer (`application/fhir+json`)."""
    return FastJSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


class ServiceError(Exception):
    """An error a service answers as a FHIR OperationOutcome of one issue."""

    def __init__(self, status: int, issue: Issue) -> None:
        super().__init__(issue.message)
        self.status = status
        self.issue = issue

    def response(self) -> JSONResponse:
        """The OperationOutcome answer (with the bearer challenge on a 401)."""
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if self.status == 401 else {}
        return fhir_response(operation_outcome(self.issue), self.status, headers)


def invalid(
    message: str,
    english: str = "",
    code: str = "invalid",
    reason: str = "",
    system: str = "",
    status: int = 400,
) -> ServiceError:
    """A request the service cannot read or accept as it is (400 by default)."""
    return ServiceError(status, Issue(code, message, english, reason, system))


def refused(
    status: int, message: str, reason: str = "", system: str = "", english: str = ""
) -> ServiceError:
    """A refusal by the service's rules: 403 (forbidden) or 409 (conflict), with its code."""
    code = "conflict" if status == 409 else "forbidden"
    return ServiceError(status, Issue(code, message, english, reason, system))


def field_error(
    field: str, message: str, code: str = "value", reason: str = "", system: str = ""
) -> ServiceError:
    """A missing or malformed field: a 422 whose issue names it (`expression`)."""
    return ServiceError(422, Issue(code, f"{field} : {message}", "", reason, system, field))


def not_found(message: str, english: str = "", reason: str = "", system: str = "") -> ServiceError:
    """What was asked for does not exist (or may not be disclosed): a 404."""
    return ServiceError(404, Issue("not-found", message, english, reason, system))


def unavailable(message: str) -> ServiceError:
    """The service cannot answer now (busy, or down by a simulated fault): a 503."""
    return ServiceError(503, Issue("transient", message))


def unauthorised(message: str) -> ServiceError:
    """No valid credentials: a 401 with the bearer challenge."""
    return ServiceError(401, Issue("login", message))


@dataclass(frozen=True)
class Professional:
    """The professional behind a live API token, as its claims describe them."""

    national_id: str
    given_name: str
    family_name: str
    profession: str
    profession_label: str
    savoir_faire: str
    organisation: str
    acr: str
    expires_at: int

    @classmethod
    def of(cls, claims: Mapping[str, Any]) -> Professional:
        """From an API token's claims (missing ones read as empty)."""
        profession = claims.get("profession") or {}
        return cls(
            national_id=str(claims.get("preferred_username", "")),
            given_name=str(claims.get("given_name", "")),
            family_name=str(claims.get("family_name", "")),
            profession=str(profession.get("code", "")),
            profession_label=str(profession.get("label", "")),
            savoir_faire=str(profession.get("savoir_faire", "")),
            organisation=str(claims.get("SubjectOrganization", "")),
            acr=str(claims.get("acr", "")),
            expires_at=int(claims.get("exp", 0)),
        )

    @property
    def name(self) -> str:
        """First and last name, as a record names its author."""
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def label(self) -> str:
        """The profession's label, for a refusal's message."""
        return self.profession_label or UNKNOWN_PROFESSION

    def profession_claim(self) -> dict[str, str]:
        """The profession as the token carries it."""
        return {
            "code": self.profession,
            "label": self.profession_label,
            "savoir_faire": self.savoir_faire,
        }


@dataclass(frozen=True)
class ServiceContext:
    """What a service's handler is given: storage, clock, caller and patient registry.

    `now` is the platform's time (seconds since the epoch) when the request arrived.
    """

    db: Database
    now: float
    caller: Professional
    patients: Patients

    def today(self, ahead: float = 0) -> str:
        """The platform's UTC day (`ahead` seconds later), as YYYY-MM-DD."""
        return datetime.fromtimestamp(self.now + ahead, UTC).date().isoformat()


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def _request_body(request: Request) -> bytes:
    # Read on the event loop (the platform's body guard has already read and checked
    # it), so that the handler taking it can be a plain function: FastAPI runs those in
    # its thread pool, where their blocking SQL belongs.
    return await request.body()


Body = Annotated[bytes, Depends(_request_body)]


def _claims(
    credentials: Any, check: Callable[[str], dict[str, Any] | None]
) -> dict[str, Any] | None:
    if credentials is None:
        raise unauthorised("Jeton d'API manquant.")
    try:
        return check(credentials.credentials)
    except InvalidTokenError as error:
        raise unauthorised(f"Jeton d'API refusé : {error}.") from None


def verified_caller(audience: str, request: Request, credentials: Any) -> Professional:
    """The professional behind a live API token for `audience`, or a 401."""
    tokens = platform_of(request).tokens
    claims = _claims(credentials, lambda t: tokens.verify_live(t, issuer_of(request), audience))
    return Professional.of(claims or {})


async def live_caller(audience: str, request: Request, credentials: Any) -> Professional:
    """`verified_caller`, on the event loop when this process already knows the token is
    live (no database read), else in the thread pool."""
    tokens = platform_of(request).tokens
    claims = _claims(
        credentials, lambda t: tokens.verify_live_as_known(t, issuer_of(request), audience)
    )
    if claims is None:
        return await run_in_threadpool(verified_caller, audience, request, credentials)
    return Professional.of(claims)


def service_context(audience: str) -> Callable[..., Awaitable[ServiceContext]]:
    """The FastAPI dependency giving a handler of the `audience` service its context.

    A coroutine: a sync dependency costs every request a round trip to the thread pool,
    and the token is most often one this process has just checked.
    """

    async def context(request: Request, credentials: Credentials) -> ServiceContext:
        caller = await live_caller(audience, request, credentials)
        platform = platform_of(request)
        return ServiceContext(platform.db, platform.settings.now(), caller, Patients(platform.db))

    return context


@router.get("/api/{service}/me")
def who_am_i(request: Request, service: str, credentials: Credentials) -> dict[str, Any]:
    """Who the service sees behind the bearer token (a probe for tools and tests)."""
    if service not in platform_of(request).audiences:
        raise not_found(f"Service inconnu : {service}.")
    who = verified_caller(service, request, credentials)
    return {
        "service": service,
        "national_id": who.national_id,
        "given_name": who.given_name,
        "family_name": who.family_name,
        "profession": who.profession_claim(),
        "acr": who.acr,
        "expires_at": who.expires_at,
    }
