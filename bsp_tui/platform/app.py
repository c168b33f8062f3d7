"""The platform as one ASGI app: PSC, e-CPS and the services, with a JSON index at `/`."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from bsp_tui import __version__
from bsp_tui.platform import faults, trainer
from bsp_tui.platform.api import ServiceError, unavailable
from bsp_tui.platform.api import router as services_router
from bsp_tui.platform.bodies import BodyError, BodyGuard, problem_response
from bsp_tui.platform.core import Platform
from bsp_tui.platform.psc import phone_api, routes, wallet
from bsp_tui.platform.psc.errors import OAuthError
from bsp_tui.platform.settings import TRAINER_TOKEN_ENV, PlatformSettings
from bsp_tui.sqlite import DatabaseBusyError
from connectors.base import registry

log = logging.getLogger("bsp.platform.http")
RETRY_AFTER_BUSY = "1"  # seconds: another request's write is short, the lock soon free


def served_app() -> FastAPI:
    """The app of one worker of `bsp platform serve` (uvicorn's factory): its settings
    come from the environment the command set, its trainer token included."""
    settings = PlatformSettings.from_env()
    settings.trainer_token = os.environ[TRAINER_TOKEN_ENV]
    return create_app(settings)


def create_app(settings: PlatformSettings | None = None) -> FastAPI:
    """Build the platform app over the database named in `settings`."""
    platform = Platform.open(settings or PlatformSettings.from_env())
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
        if request.url.path.startswith("/api/"):
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
        return problem_response(request.url.path, problem)

    @app.middleware("http")
    async def simulated_faults(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Read on every request: another process (a served platform) may have set them.
        path = request.url.path
        if path.startswith("/demo/"):
            return await call_next(request)
        now = faults.read_faults(platform.db)
        if now.latency_ms:
            await faults.delay(now.latency_ms)
        service = path.split("/")[2] if path.startswith("/api/") else ""
        if service in now.down:
            message = f"Service {service} indisponible (panne simulée)."
            return unavailable(message).response()
        return await call_next(request)

    # Around every endpoint and the faults: none sees a body over its cap, or bad JSON.
    app.add_middleware(BodyGuard, limits=body_limits)

    # Added last, so it wraps the faults and the body guard too: their 503s, 413s and
    # latency are logged.
    @app.middleware("http")
    async def access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # The path only: query strings may carry codes or an id_token_hint.
        started = time.perf_counter()
        response = await call_next(request)
        log.info(
            "%s %s %d %.1fms",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

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
