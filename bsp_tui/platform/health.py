"""Probes for a reverse proxy or an orchestrator: is the process alive, can it answer?

`GET /healthz` answers 200 without touching the database: the worker is up.
`GET /readyz` answers 200 when the database answers a trivial query, else 503: a
proxy stops sending requests to a worker that could only fail them. Neither is slowed
nor taken down by the trainer's faults (`PROBES`).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from bsp_tui.platform.psc.routes import platform_of
from bsp_tui.sqlite import DatabaseBusyError

HEALTH, READY = "/healthz", "/readyz"
PROBES = frozenset({HEALTH, READY})

router = APIRouter(tags=["Supervision"])
log = logging.getLogger("bsp.platform.health")


@router.get(HEALTH)
async def healthz() -> dict[str, str]:
    """The process answers (the database is not consulted)."""
    return {"status": "ok"}


@router.get(READY)
def readyz(request: Request) -> JSONResponse:
    """The database answers: 200; else 503."""
    try:
        # A table of ours, not `SELECT 1`: SQLite answers that without its file.
        platform_of(request).db.value("SELECT count(*) FROM schema_versions")
    except (SQLAlchemyError, DatabaseBusyError) as error:
        log.warning("Base de données injoignable : %s", type(error).__name__)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ready"})
