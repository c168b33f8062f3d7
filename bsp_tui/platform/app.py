"""The platform as one ASGI app: PSC, e-CPS and the services, with a JSON index at `/`."""

from __future__ import annotations

import os

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from bsp_tui import __version__
from bsp_tui.config import folders
from bsp_tui.platform import faults, health, rooms, trainer
from bsp_tui.platform.access import AccessLog
from bsp_tui.platform.api import ServiceError, unavailable
from bsp_tui.platform.api import router as services_router
from bsp_tui.platform.bodies import BodyError, BodyGuard, problem_response, route_path
from bsp_tui.platform.core import Platform
from bsp_tui.platform.cores import BIND_CORE_ENV, bind_to_a_core
from bsp_tui.platform.housekeeping import Housekeeper
from bsp_tui.platform.psc import phone_api, routes, wallet
from bsp_tui.platform.psc.errors import OAuthError
from bsp_tui.platform.serving import log_platform
from bsp_tui.platform.settings import TRAINER_TOKEN_ENV, PlatformSettings
from bsp_tui.sqlite import DatabaseBusyError
from connectors.base import registry

RETRY_AFTER_BUSY = "1"  # seconds: another request's write is short, the lock soon free


def served_app() -> FastAPI:
    """The app of one worker of `bsp platform serve` (uvicorn's factory): its settings
    come from the environment the command set, its trainer token included."""
    log_platform()
    if os.environ.get(BIND_CORE_ENV, "1") != "0":
        bind_to_a_core(folders().cache / "serving-cores.lock")
    settings = PlatformSettings.from_env()
    settings.trainer_token = os.environ[TRAINER_TOKEN_ENV]
    app = create_app(settings)
    # What this worker keeps of the faults and of live tokens is dropped as soon as
    # another worker changes them (PostgreSQL's NOTIFY; see `bell`): rooms included,
    # their tables being in the same database.
    app.state.platform.db.hear_other_workers()
    # Read the signing key (57 ms of CPU) before the first request, not during a room's
    # first sign-in.
    app.state.platform.keys.active()
    app.state.platform.db.warm()
    return app


def create_app(
    settings: PlatformSettings | None = None, platform: Platform | None = None
) -> FastAPI:
    """Build the platform app over the database named in `settings` (or over `platform`,
    a room's)."""
    platform = platform or Platform.open(settings or PlatformSettings.from_env())
    app = FastAPI(
        title="bsp — plateforme nationale émulée",
        version=__version__,
        description=(
            "Pro Santé Connect (OIDC, e-CPS), and the national services INSi, DMP, "
            "e-prescription and FSE, as the bsp emulation serves them."
        ),
    )
    app.state.platform = platform
    app.include_router(routes.router)
    app.include_router(wallet.router)
    app.include_router(phone_api.router)
    body_limits = {}
    for connector in registry():
        service = connector.load_service()
        if service is not None:
            app.include_router(service, prefix=f"/api/{connector.name}")
            body_limits[f"/api/{connector.name}/"] = connector.max_body_bytes
    app.include_router(services_router)
    app.include_router(health.router)
    # The trainer's powers: open on the embedded platform, behind its token when served.
    only_trainer = [Depends(trainer.require_trainer)]
    app.include_router(faults.router, dependencies=only_trainer)
    app.include_router(trainer.router, dependencies=only_trainer)

    @app.exception_handler(OAuthError)
    async def oauth_error(_: Request, error: OAuthError) -> Response:
        return error.response()

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, error: ServiceError) -> Response:
        return error.response()

    @app.exception_handler(DatabaseBusyError)
    async def database_busy(request: Request, _: DatabaseBusyError) -> Response:
        # Another writer held the lock past the short wait: try again, rather than a 500.
        message = "Plateforme occupée : réessayez dans un instant."
        headers = {"Retry-After": RETRY_AFTER_BUSY}
        if route_path(request.scope).startswith("/api/"):
            response = unavailable(message).response()
            response.headers.update(headers)
            return response
        body = {"error": "temporarily_unavailable", "error_description": message}
        return JSONResponse(body, status_code=503, headers=headers)

    @app.exception_handler(DataError)
    async def unstorable(request: Request, _: DataError) -> Response:
        # A value the database cannot hold (PostgreSQL: a NUL in a form field) is the
        # request's fault; the guard refuses the usual ones before any endpoint.
        problem = BodyError(400, "Valeur refusée : un champ contient un caractère interdit.")
        return problem_response(route_path(request.scope), problem)

    # Plain ASGI middleware (Starlette's `BaseHTTPMiddleware` costs more than most
    # handlers), the last added outermost: the access log sees the 413s and 400s of the
    # body guard, and the 503s and latency of the faults; the guard runs before them.
    app.add_middleware(faults.FaultGate, db=platform.db, unfaulted=health.PROBES)
    app.add_middleware(BodyGuard, limits=body_limits)
    app.add_middleware(AccessLog)
    # Outermost: a purge runs once the answer is sent and logged.
    app.add_middleware(Housekeeper, db=platform.db, settings=platform.settings)

    # The rooms' requests skip every middleware above: each room's app has its own.
    rooms.serve_rooms(app, platform, lambda room: create_app(platform=room), only_trainer)

    @app.get("/", tags=["Index"])
    async def index(request: Request) -> dict:
        """Where everything is."""
        base = routes.base_url(request)
        issuer = routes.issuer_of(request)
        return {
            "name": "bsp — plateforme nationale émulée",
            "version": __version__,
            "psc": {
                "issuer": issuer,
                "discovery": f"{issuer}/.well-known/wallet-openid-configuration",
                "openid_configuration": f"{issuer}/.well-known/openid-configuration",
            },
            "ecps": f"{base}/ecps",
            "services": {name: f"{base}/api/{name}/" for name in platform.audiences},
            "openapi": f"{base}/openapi.json",
        }

    return app
