"""Faults the trainer sets on the platform: services down, network latency.

The emulation's own (the real platform has no such thing), for the trainer's demo mode:

- a service that is down answers every `/api/{name}/…` request with 503 and a FHIR
  OperationOutcome ("Service dmp indisponible (panne simulée).");
- a latency of N ms delays every answer of the platform by N ms, except those of
  `/demo/…`, so that the trainer can always lift it.

`GET /demo/faults` reads them as `{"down": ["dmp"], "latency_ms": 800}`; `PUT` sets both
(a missing field means none: `{"down": ["dmp"]}` also removes any latency);
`POST /demo/faults/reset` lifts them all, as `bsp platform reset` does. They live in the
platform's database, so a served platform and the embedded ones over the same
database (a whole room) see the same faults. A process keeps what it read for at most
`FRESH_SECONDS`: the one that makes a change sees it from its next request on, the
other workers of a served platform as soon as its notification reaches them, another
process over the same SQLite file within that second.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt
from pydantic_core import PydanticCustomError

from bsp_tui.platform.api import unavailable
from bsp_tui.platform.bell import BELL
from bsp_tui.platform.bodies import ASGIApp, Receive, Scope, Send, route_path
from bsp_tui.platform.core import audiences
from bsp_tui.platform.db import Database
from bsp_tui.platform.psc.routes import platform_of
from bsp_tui.platform.tables import FAULTS_TOPIC

MAX_LATENCY_MS = 10_000
# How long a process trusts the faults it read, when no change rang its bell: another
# process over the same SQLite file rings none.
FRESH_SECONDS = 1.0
_DOWN = "down"
_LATENCY = "latency_ms"


@dataclass(frozen=True)
class Faults:
    """The faults in force: services down, and the latency added to each answer."""

    down: frozenset[str] = frozenset()
    latency_ms: int = 0

    def as_json(self) -> dict[str, Any]:
        """The shape `GET /demo/faults` answers."""
        return {"down": sorted(self.down), "latency_ms": self.latency_ms}


NO_FAULT = Faults()


def service_problem(name: str) -> str:
    """Why `name` cannot be taken down, in French; "" when it can."""
    if name in audiences():
        return ""
    return f"Service inconnu « {name} » ; possibles : {', '.join(audiences())}."


def latency_problem(latency_ms: int) -> str:
    """Why this latency is refused, in French; "" when it is accepted."""
    if 0 <= latency_ms <= MAX_LATENCY_MS:
        return ""
    return f"Latence hors limites : de 0 à {MAX_LATENCY_MS} ms."


def read_faults(db: Database) -> Faults:
    """The faults in force (one small query: this runs on every request)."""
    rows = {row["name"]: row["value"] for row in db.all("SELECT name, value FROM faults")}
    if not rows:
        return NO_FAULT
    try:
        down = frozenset(json.loads(rows.get(_DOWN, "[]"))) & frozenset(audiences())
        latency = int(rows.get(_LATENCY, "0"))
    except (ValueError, TypeError):
        return NO_FAULT  # a row written by hand that makes no sense: no fault
    return Faults(down, min(max(latency, 0), MAX_LATENCY_MS))


async def delay(latency_ms: int) -> None:
    """Wait as a slow network would make the client wait."""
    await anyio.sleep(latency_ms / 1000)


def set_faults(db: Database, faults: Faults) -> None:
    """Put `faults` in force, replacing those before; ValueError (French) when invalid."""
    problems = [service_problem(name) for name in sorted(faults.down)]
    problems.append(latency_problem(faults.latency_ms))
    problem = " ".join(p for p in problems if p)
    if problem:
        raise ValueError(problem)
    with db.write() as conn:
        conn.execute("DELETE FROM faults")
        conn.notify(db.topic(FAULTS_TOPIC))
        if faults.down:
            conn.execute(
                "INSERT INTO faults (name, value) VALUES (:name, :value)",
                {"name": _DOWN, "value": json.dumps(sorted(faults.down))},
            )
        if faults.latency_ms:
            conn.execute(
                "INSERT INTO faults (name, value) VALUES (:name, :value)",
                {"name": _LATENCY, "value": str(faults.latency_ms)},
            )


def clear_faults(db: Database) -> None:
    """Lift every fault."""
    with db.write() as conn:
        conn.execute("DELETE FROM faults")
        conn.notify(db.topic(FAULTS_TOPIC))


class FaultGate:
    """The ASGI middleware putting the faults in force on every request but the trainer's
    own (`/demo/…`) and the health probes (`unfaulted` paths).

    The faults are read again (one small query, in the thread pool) once a change rang
    this database's bell, or after `FRESH_SECONDS`: a read on every request cost a
    thread's round trip and a query, more than a whole INS lookup's own work.
    """

    def __init__(self, app: ASGIApp, db: Database, unfaulted: frozenset[str]) -> None:
        self.app = app
        self.db = db
        self.unfaulted = unfaulted
        self.topic = db.topic(FAULTS_TOPIC)
        self._known: tuple[float, int, Faults] | None = None  # read when, at which ring

    async def faults(self) -> Faults:
        """The faults in force, as last read if nothing changed since."""
        rung, now = BELL.rung(self.topic), time.monotonic()
        known = self._known
        if known is not None and known[1] == rung and now - known[0] < FRESH_SECONDS:
            return known[2]
        # Off the loop: on PostgreSQL the read is a round trip, and it may wait for a lock.
        faults = await anyio.to_thread.run_sync(read_faults, self.db)
        # Stamped with the ring seen before the read: a change during it reads again.
        self._known = (now, rung, faults)
        return faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        if scope["type"] != "http" or path.startswith("/demo/") or path in self.unfaulted:
            await self.app(scope, receive, send)
            return
        now = await self.faults()
        if now.latency_ms:
            await delay(now.latency_ms)
        service = path.split("/")[2] if path.startswith("/api/") else ""
        if service in now.down:
            message = f"Service {service} indisponible (panne simulée)."
            await unavailable(message).response()(scope, receive, send)
            return
        await self.app(scope, receive, send)


# -- HTTP -------------------------------------------------------------------------------


def _known_service(name: str) -> str:
    problem = service_problem(name)
    if problem:
        raise PydanticCustomError("unknown_service", problem)
    return name


def _latency_in_range(latency_ms: int) -> int:
    problem = latency_problem(latency_ms)
    if problem:
        raise PydanticCustomError("latency_out_of_range", problem)
    return latency_ms


def _services_enum(schema: dict[str, Any]) -> None:
    # Filled when the schema is drawn, after the platform has read its connectors.
    schema["enum"] = [*audiences()]


ServiceName = Annotated[
    str, AfterValidator(_known_service), Field(json_schema_extra=_services_enum)
]
Latency = Annotated[
    StrictInt,
    AfterValidator(_latency_in_range),
    Field(json_schema_extra={"minimum": 0, "maximum": MAX_LATENCY_MS}),
]


class FaultsBody(BaseModel):
    """The faults to put in force (each missing field: no fault of that kind)."""

    model_config = ConfigDict(extra="forbid")

    down: list[ServiceName] = Field(default_factory=list, description="Services that answer 503.")
    latency_ms: Latency = Field(
        default=0, description="Milliseconds added to every answer of the platform but /demo."
    )


router = APIRouter(prefix="/demo", tags=["Démonstration (émulation)"])


@router.get("/faults")
def get_faults(request: Request) -> dict:
    """The faults in force."""
    return read_faults(platform_of(request).db).as_json()


@router.put("/faults")
def put_faults(request: Request, body: FaultsBody) -> dict:
    """Put these faults in force, replacing those before."""
    db = platform_of(request).db
    set_faults(db, Faults(frozenset(body.down), body.latency_ms))
    return read_faults(db).as_json()


@router.post("/faults/reset")
def reset_faults(request: Request) -> dict:
    """Lift every fault."""
    db = platform_of(request).db
    clear_faults(db)
    return read_faults(db).as_json()
