"""`bsp platform rooms …`: the rooms a served platform hosts at `/rooms/NAME/`.

Each room is a platform of its own (issuer, personas and PINs, faults, reset); a trainee
joins one with `BSP_PLATFORM_URL=http://HOST:PORT/rooms/NAME`. With BSP_PLATFORM_URL and
BSP_TRAINER_TOKEN the commands go to the served platform over HTTP (its root, even when
BSP_PLATFORM_URL names one of its rooms); without, to the local database that
`bsp platform serve` serves.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

import click

from bsp_tui.exitcodes import ExitCode
from bsp_tui.output import CommandError, echo, fail, json_option, print_json

if TYPE_CHECKING:
    from bsp_tui.commands.platform import _Trainer

# A refusal's HTTP status (served) or RoomError status (local): exit code, error code.
_REFUSALS = {
    400: (ExitCode.USAGE, "bad_room_name"),
    404: (ExitCode.NOT_FOUND, "room_not_found"),
    409: (ExitCode.USAGE, "room_exists"),
}
_ROOM_SUFFIX = re.compile(r"/rooms/[^/]+/?$")


def _trainer(as_json: bool) -> _Trainer:
    from bsp_tui.commands.platform import _Trainer

    trainer = _Trainer(as_json)
    if trainer.url:
        trainer.url = _ROOM_SUFFIX.sub("", trainer.url.rstrip("/"))
    return trainer


def _act(
    as_json: bool, method: str, path: str, local: str, name: str = "", body: dict | None = None
) -> Any:
    """One room operation: over HTTP when served, else on the local platform's rooms
    (`local`: the name of the `Rooms` method)."""
    from bsp_tui.platform.rooms import RoomError, Rooms, name_problem

    if name and name_problem(name):
        fail(CommandError(name_problem(name), *_REFUSALS[400]), as_json)
    trainer = _trainer(as_json)
    if trainer._local is None:
        return trainer._call(method, path, body, _REFUSALS)

    rooms = Rooms(trainer._local)
    try:
        done = getattr(rooms, local)(name) if name else getattr(rooms, local)()
    except RoomError as error:
        exit_code, code = _REFUSALS[error.status]
        fail(CommandError(error.message, exit_code, code), as_json)
    if isinstance(done, list):
        return [room.as_json(None) for room in done]
    return done.as_json(None) if done is not None else None


@click.group("rooms")
def rooms_group() -> None:
    """Les salles : des plateformes indépendantes servies sous /rooms/NOM/."""


@rooms_group.command("add")
@click.argument("name")
@json_option
def rooms_add(name: str, as_json: bool) -> None:
    """Ajouter une salle : son émetteur, ses professionnels et leurs PIN, ses pannes."""
    room = _act(as_json, "POST", "/demo/rooms", "add", name, {"name": name})
    if as_json:
        print_json(room)
        return
    where = room["url"] or f"http://HÔTE:PORT{room['path']}"
    echo(f"Salle « {room['name']} » ajoutée ; ses stagiaires : BSP_PLATFORM_URL={where}")


@rooms_group.command("list")
@json_option
def rooms_list(as_json: bool) -> None:
    """Les salles servies, avec leur adresse."""
    rooms = _act(as_json, "GET", "/demo/rooms", "list")
    if as_json:
        print_json(rooms)
        return
    if not rooms:
        echo("Aucune salle.")
        return
    echo(f"{'SALLE':<32} {'CRÉÉE LE':<16} ADRESSE")
    for room in rooms:
        created = dt.datetime.fromtimestamp(room["created"]).strftime("%d/%m/%Y %H:%M")
        echo(f"{room['name']:<32} {created:<16} {room['url'] or room['path']}")


@rooms_group.command("reset")
@click.argument("name")
@json_option
def rooms_reset(name: str, as_json: bool) -> None:
    """Remettre une salle à l'état initial ; les autres gardent le leur."""
    _act(as_json, "POST", f"/demo/rooms/{name}/reset", "reset", name)
    _done(as_json, name, "reset", f"Salle « {name} » remise à l'état initial.")


@rooms_group.command("remove")
@click.argument("name")
@json_option
def rooms_remove(name: str, as_json: bool) -> None:
    """Supprimer une salle et tout son état (sessions, professionnels, pannes)."""
    _act(as_json, "DELETE", f"/demo/rooms/{name}", "remove", name)
    _done(as_json, name, "removed", f"Salle « {name} » supprimée.")


def _done(as_json: bool, name: str, what: str, sentence: str) -> None:
    """Say that `what` was done to the room: `{"name": …, what: true}` or the sentence."""
    if as_json:
        print_json({"name": name, what: True})
    else:
        echo(sentence)
