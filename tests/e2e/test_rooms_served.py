"""Rooms on a real `bsp platform serve`: the trainer adds, lists, resets and removes them
with the real CLI; trainees join one with nothing but BSP_PLATFORM_URL=…/rooms/NAME,
sign in with that room's card and look a patient up; a fault in one room stays there.
On the SQLite file (one process), and on PostgreSQL with two workers, which must agree
on every room from one request to the next."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ServedPlatform, bsp_env, run_bsp, start_platform
from tests.e2e.test_sso_cli import Launcher

pytestmark = pytest.mark.e2e
JEAN_MARC = [
    "--family",
    "Martin",
    "--given",
    "jean marc",
    "--sex",
    "M",
    "--birthdate",
    "1980-05-12",
]


@pytest.fixture(params=["sqlite", "postgresql-2-workers"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedPlatform]:
    if request.param == "sqlite":
        yield request.getfixturevalue("served")
        return
    postgres = request.getfixturevalue("postgres")
    url = postgres.create_database()
    served = start_platform(tmp_path / "pg", "--workers", "2", env={"BSP_DATABASE_URL": url})
    try:
        yield served
    finally:
        served.stop()
        postgres.drop_database(url)


class Trainer:
    """The trainer's CLI on another machine: the served platform's URL and token."""

    def __init__(self, served: ServedPlatform, home: Path) -> None:
        self.env = bsp_env(
            home, BSP_PLATFORM_URL=served.url, BSP_TRAINER_TOKEN=served.trainer_token
        )

    def run(self, *args: str, url: str = "") -> subprocess.CompletedProcess[str]:
        env = self.env | ({"BSP_PLATFORM_URL": url} if url else {})
        return run_bsp("platform", *args, env=env)

    def json(self, *args: str, url: str = "") -> object:
        result = self.run(*args, "--json", url=url)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def trainee(served: ServedPlatform, home: Path, url: str, card: dict) -> Launcher:
    """A trainee of the room at `url`, signed in with the room's card (code and PIN)."""
    launcher = Launcher(served, home, BSP_PLATFORM_URL=url)
    enrolled = launcher.run(
        "phone", "enrol", "--persona", card["name"], "--code", card["activation_code"]
    )
    assert enrolled.returncode == 0, enrolled.stderr
    login = launcher.run(
        "login", "--persona", card["name"], "--pin-stdin", stdin=card["pin"] + "\n"
    )
    assert login.returncode == 0, login.stderr
    return launcher


def test_two_rooms_of_one_served_platform(platform: ServedPlatform, tmp_path: Path) -> None:
    served = platform
    trainer = Trainer(served, tmp_path / "trainer")
    room_a = trainer.json("rooms", "add", "salle-a")
    assert room_a == room_a | {"name": "salle-a", "url": f"{served.url}/rooms/salle-a"}
    trainer.json("rooms", "add", "salle-b")
    twice = trainer.run("rooms", "add", "salle-a", "--json")
    assert twice.returncode == 2
    assert json.loads(twice.stdout)["error"]["code"] == "room_exists"
    bad = trainer.run("rooms", "add", "Salle A")
    assert bad.returncode == 2 and "Nom de salle invalide" in bad.stderr
    # From a shell already pointed at a room, the list is still the platform's.
    listed = trainer.json("rooms", "list", url=room_a["url"])
    assert [room["name"] for room in listed] == ["salle-a", "salle-b"]  # type: ignore[index]

    urls = {name: f"{served.url}/rooms/{name}" for name in ("salle-a", "salle-b")}
    cards = {
        name: {c["name"]: c for c in trainer.json("personas", url=url)}  # type: ignore[union-attr]
        for name, url in urls.items()
    }
    pins = {room: [(c["name"], c["pin"]) for c in cards[room].values()] for room in cards}
    assert [n for n, _ in pins["salle-a"]] == [n for n, _ in pins["salle-b"]]
    assert pins["salle-a"] != pins["salle-b"]
    a = trainee(served, tmp_path / "a", urls["salle-a"], cards["salle-a"]["generaliste"])
    b = trainee(served, tmp_path / "b", urls["salle-b"], cards["salle-b"]["generaliste"])
    for launcher in (a, b):
        found = launcher.run("ins", "lookup", *JEAN_MARC, "--json")
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["code"] == "00"
    # A fault in room A: A's trainee sees it, B's and the root's do not.
    down = httpx.put(
        f"{urls['salle-a']}/demo/faults",
        json={"down": ["ins"]},
        headers=served.trainer,
        timeout=15,
    )
    assert down.status_code == 200, down.text
    assert a.run("ins", "lookup", *JEAN_MARC).returncode != 0
    assert b.run("ins", "lookup", *JEAN_MARC).returncode == 0
    root_faults = httpx.get(f"{served.url}/demo/faults", headers=served.trainer, timeout=15)
    assert root_faults.json()["down"] == []

    assert trainer.json("rooms", "reset", "salle-a") == {"name": "salle-a", "reset": True}
    a_faults = httpx.get(f"{urls['salle-a']}/demo/faults", headers=served.trainer, timeout=15)
    assert a_faults.json()["down"] == []
    assert b.run("status").returncode == 0  # B's session outlives A's reset

    assert trainer.json("rooms", "remove", "salle-b") == {"name": "salle-b", "removed": True}
    assert b.run("ins", "lookup", *JEAN_MARC).returncode != 0
    again = trainer.run("rooms", "remove", "salle-b", "--json")
    assert again.returncode == 5
    assert json.loads(again.stdout)["error"]["code"] == "room_not_found"
    assert [r["name"] for r in trainer.json("rooms", "list")] == ["salle-a"]  # type: ignore[index]
