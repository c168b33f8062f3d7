"""Rooms: independent platforms that one served platform hosts at `/rooms/ROOM/`.

A room is a whole `Platform` over storage of its own: on PostgreSQL a schema of the
root's database (`room_NAME`, on the root's pool of connections), on SQLite a file
beside the root's (`rooms/NAME.sqlite3`). It has its own issuer, signing keys,
personas (PINs, activation codes), sessions and faults, and the same seeded population.

The list lives in the root's `rooms` table, so that every worker of a served platform
sees the same rooms: a room is added by claiming its name (a row not yet `ready`),
making and seeding its storage, then marking it ready. Each row carries a generation,
new at every add: a worker that cached a room's app from an earlier generation (the
room removed, then added again by another worker) builds it again.

`RoomsDispatch` is the root app's outermost middleware: `/rooms/NAME/…` goes to that
room's app, built on first use and cached per process, with `root_path` set to
`/rooms/NAME` so that its issuer, links and `url_for` carry it. The room's row is read
on every request (one primary-key lookup), so that a room removed by any worker is
answered 404 from the next request on.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, Double, Integer, MetaData, Table, Text
from starlette.responses import JSONResponse

from bsp_tui.platform.api import invalid, not_found
from bsp_tui.platform.bodies import ASGIApp, Receive, Scope, Send, route_path
from bsp_tui.platform.core import Platform
from bsp_tui.platform.db import Schema
from bsp_tui.platform.psc.routes import base_url

PREFIX = "/rooms/"
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
NAME_RULE = (
    "de 1 à 32 caractères parmi les lettres minuscules a-z, les chiffres et « - », "
    "sans « - » au début"
)

TABLES = MetaData()
Table(
    "rooms",
    TABLES,
    Column("name", Text, primary_key=True),
    Column("generation", Text, nullable=False),
    Column("created", Double, nullable=False),
    # 0 while the room's storage is being made and seeded: not served yet.
    Column("ready", Integer, nullable=False, server_default="0"),
)
ROOMS = Schema("rooms", 1, TABLES)


class RoomError(Exception):
    """Why a room cannot be added, found or removed: a status, a code and a sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def name_problem(name: str) -> str:
    """Why `name` cannot name a room, in French; "" when it can."""
    if NAME.fullmatch(name):
        return ""
    return f"Nom de salle invalide « {name[:40]} » : {NAME_RULE}."


def _unknown(name: str) -> RoomError:
    return RoomError(404, "room_not_found", f"Salle inconnue « {name[:40]} ».")


@dataclass(frozen=True)
class Room:
    """One room of the list: its name, the generation of its storage, when it was added."""

    name: str
    generation: str
    created: float

    @property
    def path(self) -> str:
        """Where the room is served, under the platform's address."""
        return f"{PREFIX}{self.name}"

    def as_json(self, base: str | None) -> dict[str, Any]:
        """The room as the trainer's commands show it (`url`: None without an address)."""
        return {
            "name": self.name,
            "path": self.path,
            "url": f"{base}{self.path}" if base is not None else None,
            "created": int(self.created),
        }


class Rooms:
    """The rooms of one platform root: their list in its database, their storage beside it."""

    def __init__(self, root: Platform) -> None:
        self.root = root
        root.db.ensure(ROOMS)

    def list(self) -> list[Room]:
        """Every room served, by name."""
        rows = self.root.db.all(
            "SELECT name, generation, created FROM rooms WHERE ready = 1 ORDER BY name"
        )
        return [Room(row["name"], row["generation"], row["created"]) for row in rows]

    def find(self, name: str) -> Room | None:
        """The room served under that name, or None (one lookup: every room request)."""
        row = self.root.db.one(
            "SELECT name, generation, created FROM rooms WHERE name = :name AND ready = 1",
            {"name": name},
        )
        return Room(row["name"], row["generation"], row["created"]) if row else None

    def add(self, name: str) -> Room:
        """Make, seed and serve a new room (RoomError: a bad name, or one already taken)."""
        problem = name_problem(name)
        if problem:
            raise RoomError(400, "bad_room_name", problem)
        room = Room(name, secrets.token_hex(8), self.root.settings.now())
        with self.root.db.write() as tx:
            claimed = tx.execute(
                "INSERT INTO rooms (name, generation, created, ready) "
                "VALUES (:name, :generation, :created, 0) ON CONFLICT DO NOTHING",
                {"name": name, "generation": room.generation, "created": room.created},
            )
        if not claimed:
            raise RoomError(409, "room_exists", f"La salle « {name} » existe déjà.")
        try:
            self._drop_storage(name)  # what an add cut short may have left
            self.open(room).db.close()
        except BaseException:
            with self.root.db.write() as tx:
                tx.execute("DELETE FROM rooms WHERE name = :name", {"name": name})
            raise
        with self.root.db.write() as tx:
            tx.execute("UPDATE rooms SET ready = 1 WHERE name = :name", {"name": name})
        return room

    def remove(self, name: str) -> None:
        """Stop serving the room and delete its storage (RoomError when there is none)."""
        with self.root.db.write() as tx:
            if not tx.execute("DELETE FROM rooms WHERE name = :name", {"name": name}):
                raise _unknown(name)
        self._drop_storage(name)

    def reset(self, name: str) -> None:
        """Back to the seeded state, that room only (RoomError when there is none)."""
        room = self.find(name)
        if room is None:
            raise _unknown(name)
        platform = self.open(room)
        try:
            platform.reset()
        finally:
            platform.db.close()

    def open(self, room: Room) -> Platform:
        """The room's platform (its storage made and seeded on first open)."""
        root = self.root.settings
        # Behind a proxy, the room is reached at the root's public URL and its prefix.
        public_url = root.public_url and f"{root.public_url}/rooms/{room.name}"
        settings = replace(root, room=room.name, public_url=public_url)
        if self.root.db.dialect == "postgresql":
            return Platform.open(settings, self.root.db.in_schema(_schema(room.name)))
        return Platform.open(replace(settings, database=self._file(room.name)))

    def _file(self, name: str) -> Path:
        assert self.root.db.path is not None  # SQLite: the root is a file
        return self.root.db.path.parent / "rooms" / f"{name}.sqlite3"

    def _drop_storage(self, name: str) -> None:
        if self.root.db.dialect == "postgresql":
            with self.root.db.write() as tx:
                tx.serialize("schema")
                tx.execute(f'DROP SCHEMA IF EXISTS "{_schema(name)}" CASCADE')
            return
        main = self._file(name)
        for path in (main, main.with_name(main.name + "-wal"), main.with_name(main.name + "-shm")):
            path.unlink(missing_ok=True)


def _schema(name: str) -> str:
    # Room names have no "_", so the schema names of two rooms never meet.
    return "room_" + name.replace("-", "_")


def _not_served(name: str, inner: str) -> JSONResponse:
    """404 in the shape of the endpoint asked for: FHIR for a service, OAuth-style else."""
    error = _unknown(name)
    if inner.startswith("/api/"):
        return not_found(error.message).response()
    body = {"error": "not_found", "error_description": error.message}
    return JSONResponse(body, status_code=404)


class RoomsDispatch:
    """The root app's outermost middleware: a room's requests go to the room's app."""

    def __init__(self, app: ASGIApp, rooms: Rooms, build: Callable[[Platform], ASGIApp]) -> None:
        self.app = app
        self.rooms = rooms
        self._build = build
        self._apps: dict[str, tuple[str, ASGIApp, Platform]] = {}
        self._building = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        if not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        name, slash, rest = path[len(PREFIX) :].partition("/")
        # In the thread pool: on PostgreSQL the lookup is a round trip.
        room = None if name_problem(name) else await anyio.to_thread.run_sync(self.rooms.find, name)
        if room is None:
            self._forget(name)
            await _not_served(name, slash + rest)(scope, receive, send)
            return
        app = await self._app_of(room)
        child = dict(scope, root_path=scope.get("root_path", "") + room.path)
        await app(child, receive, send)

    async def _app_of(self, room: Room) -> ASGIApp:
        cached = self._apps.get(room.name)
        if cached is not None and cached[0] == room.generation:
            return cached[1]
        async with self._building:
            cached = self._apps.get(room.name)
            if cached is None or cached[0] != room.generation:
                self._forget(room.name)
                platform = await anyio.to_thread.run_sync(self._serving, room)
                self._apps[room.name] = (room.generation, self._build(platform), platform)
            return self._apps[room.name][1]

    def _serving(self, room: Room) -> Platform:
        platform = self.rooms.open(room)
        # Its signing key read now (some 50 ms of CPU), as a worker reads the root's at
        # start: not by the room's first sign-in, with every other one waiting for it.
        platform.keys.active()
        return platform

    def _forget(self, name: str) -> None:
        cached = self._apps.pop(name, None)
        if cached is not None:
            cached[2].db.close()


class NewRoom(BaseModel):
    """A room to add."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64)


def _rooms_of(request: Request) -> Rooms:
    return request.app.state.rooms


def _run(call: Callable[[str], Any], name: str) -> Any:
    """A room's storage made, reset or deleted; its refusal as an OperationOutcome."""
    try:
        return call(name)
    except RoomError as error:
        if error.status == 404:
            raise not_found(error.message) from None
        code = "duplicate" if error.status == 409 else "invalid"
        raise invalid(error.message, code=code, status=error.status) from None


router = APIRouter(prefix="/demo/rooms", tags=["Démonstration (émulation)"])


# Plain functions, run in the thread pool as every handler: a seed takes a while.
@router.get("")
def list_rooms(request: Request) -> list[dict]:
    """The rooms served, with their address, as `bsp platform rooms list`."""
    base = base_url(request)
    return [room.as_json(base) for room in _rooms_of(request).list()]


@router.post("", status_code=201)
def add_room(request: Request, body: NewRoom) -> dict:
    """Add a room: its own issuer, personas, faults; the same patients."""
    room: Room = _run(_rooms_of(request).add, body.name)
    return room.as_json(base_url(request))


@router.post("/{name}/reset")
def reset_room(request: Request, name: str) -> dict:
    """That room back to its seeded state; the others keep theirs."""
    _run(_rooms_of(request).reset, name)
    return {"name": name, "reset": True}


@router.delete("/{name}")
def remove_room(request: Request, name: str) -> dict:
    """Stop serving the room and delete its storage."""
    _run(_rooms_of(request).remove, name)
    return {"name": name, "removed": True}


def serve_rooms(
    app: Any, platform: Platform, build: Callable[[Platform], ASGIApp], trainer: list[Any]
) -> None:
    """Give the root app its rooms: the trainer's `/demo/rooms` routes and the dispatch
    (added last, so that it runs first). A room's own app has neither."""
    if platform.settings.room:
        return
    rooms = Rooms(platform)
    app.state.rooms = rooms
    app.include_router(router, dependencies=trainer)
    app.add_middleware(RoomsDispatch, rooms=rooms, build=build)
