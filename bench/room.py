"""Benchmark of a room signing in at once (not a test): prints figures.

N trainees, each with a phone of their own enrolled beforehand (as with the printed
cards), start together: a CIBA sign-in, approved by their phone with the PIN and the
device's code, the token exchange for INS and DMP, one INS lookup and one DMP list.
In one run against (a) the single-process platform over its SQLite file and (b) the
platform on PostgreSQL with 2 workers (a PostgreSQL server this script starts, as the
tests do). Prints the total time, p50 and p99 per trainee, errors, the sign-in's steps
(the push, the approval, the token), and the CPU time the platform, PostgreSQL and the
trainees' own clients used during the room.

The CIBA polling interval is no longer a term: the platform holds a poll that finds
the request pending until the phone answers (long polling), and the launcher polls
again as soon as a held poll comes back, so a sign-in ends when the approval is written,
not at the next interval (`BSP_POLL_INTERVAL=1` only bounds how long a poll is held).
What is left is the CPU: everyone starts at the same instant, so the last trainee waits
for the whole room's work, shared by the machine's cores with the trainees' clients
that run here too.

Trainees share a room's two doctor personas; each gets its own binding number, as each
reads their own screen. A phone waits for its push with the phone API's long poll
(`wait`, `binding`). Beyond ROOM_SIZE trainees, rooms of the platform take the rest.

Run: `.venv/bin/python bench/room.py [--trainees 100] [--trainees 300] [--sqlite-only]`.
Goal: 100 trainees in ≤ 10 s with p99 ≤ 2 s and no error on (b); 300 with no error.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This folder, first on sys.path when run as a script, holds platform.py, which would
# hide the standard library's `platform`: the project's root takes its place.
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import httpx  # noqa: E402

from bench.common import bsp_env  # noqa: E402
from bsp_tui.phone import DeviceStore, PhoneError, VirtualPhone  # noqa: E402
from tests.support import postgres  # noqa: E402

OIDC = "/auth/realms/esante-wallet/protocol/openid-connect"
CLIENT = "bsp-launcher"
TRAINER = "jeton-du-banc-d-essai"
PATIENT = "urn:oid:1.2.250.1.213.1.4.10|262037511122263"
ROOM_SIZE = 100
PUSH_WAIT = 25  # a phone's ask for its pushes is held this long (the phone API's `wait`)


@dataclass
class Trainee:
    """One person of the room: their persona, binding number and phone."""

    persona: dict
    binding: str
    phone: VirtualPhone
    http: httpx.AsyncClient
    url: str  # of the trainee's room
    phases: dict[str, float] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)  # the sign-in's own
    error: str = ""


def start(home: Path, *options: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bsp_tui", "platform", "serve", "--port", "0", *options],
        env=bsp_env(home) | env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first.startswith("Plateforme servie sur "):
        process.kill()
        raise SystemExit(f"the platform did not start: {first!r}")
    return process, first.split()[-1]


async def enrol(url: str, count: int, folder: Path) -> list[Trainee]:
    """The room before the session: every trainee's phone enrolled with a card's code.

    A room of the platform holds ROOM_SIZE trainees at most: they share its two doctor
    personas, and a persona's trainees tell their sign-ins apart by a two-digit number.
    More trainees are spread over rooms of their own (`/rooms/salle-N`)."""
    trainer = {"Authorization": f"Bearer {TRAINER}"}
    rooms = [url]
    if count > ROOM_SIZE:
        names = [f"salle-{n}" for n in range(1, -(-count // ROOM_SIZE) + 1)]
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            for name in names:
                added = await http.post("/demo/rooms", json={"name": name}, headers=trainer)
                added.raise_for_status()
        rooms = [f"{url}/rooms/{name}" for name in names]
    trainees = []
    for first, room_url in zip(range(0, count, ROOM_SIZE), rooms, strict=True):
        async with httpx.AsyncClient(base_url=room_url, timeout=60) as http:
            # Doctors: the professionals who may both look an INS up and read a DMP.
            listed = (await http.get("/demo/personas", headers=trainer)).json()
            personas = [p for p in listed if p["profession_code"] == "10"]
            for index in range(min(ROOM_SIZE, count - first)):
                persona = personas[index % len(personas)]
                path = f"/demo/personas/{persona['name']}/activation-codes"
                code = (await http.post(path, headers=trainer)).json()["code"]
                client = httpx.AsyncClient(base_url=room_url, timeout=60)
                store = DeviceStore(folder / f"phone-{first + index}.json")
                phone = VirtualPhone(client, store)
                await phone.enrol(persona["name"], code)
                binding = f"{index // len(personas):02d}"
                trainees.append(Trainee(persona, binding, phone, client, room_url))
    return trainees


async def approve(trainee: Trainee) -> float:
    """The trainee's phone: the push arrives, they check the number and approve; when."""
    name = trainee.persona["name"]
    while True:
        try:
            await trainee.phone.approve_binding(
                name, trainee.persona["pin"], trainee.binding, wait=PUSH_WAIT
            )
            return time.perf_counter()
        except PhoneError as error:
            # The wait ended before the push arrived: ask again.
            if error.code != "no_request":
                raise


async def session(trainee: Trainee) -> None:
    """Sign in, exchange, one INS lookup, one DMP list; the phases' durations."""
    began = time.perf_counter()
    http = trainee.http  # made before the room, as a launcher opened beforehand
    started = await http.post(
        f"{OIDC}/ext/ciba/auth",
        data={
            "client_id": CLIENT,
            "scope": "openid",
            "login_hint": trainee.persona["national_id"],
            "binding_message": trainee.binding,
        },
    )
    started.raise_for_status()
    pushed = time.perf_counter()
    ciba = started.json()
    approving = asyncio.create_task(approve(trainee))
    interval = ciba.get("interval", 1)
    sent = None
    while True:
        if sent is not None:  # the launcher's pace: the interval counts from a poll's sending
            await asyncio.sleep(max(0.0, sent + interval - time.perf_counter()))
        sent = time.perf_counter()
        polled = await http.post(
            f"{OIDC}/token",
            data={
                "grant_type": "urn:openid:params:grant-type:ciba",
                "auth_req_id": ciba["auth_req_id"],
                "client_id": CLIENT,
            },
        )
        if polled.status_code == 200:
            break
        error = polled.json().get("error")
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise RuntimeError(f"sign-in refused: {polled.text[:200]}")
    approved = await approving
    signed = time.perf_counter()
    access = polled.json()["access_token"]
    tokens = {}
    for audience in ("ins", "dmp"):
        exchanged = await http.post(
            f"{OIDC}/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": access,
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "audience": audience,
                "client_id": CLIENT,
            },
        )
        exchanged.raise_for_status()
        tokens[audience] = {"Authorization": f"Bearer {exchanged.json()['access_token']}"}
    lookup = await http.post(
        "/api/ins/lookup",
        json={"family": "DUPONT", "given": "JEAN", "sex": "M", "birthdate": "1980-01-01"},
        headers=tokens["ins"],
    )
    lookup.raise_for_status()
    listed = await http.get(
        "/api/dmp/DocumentReference",
        params={"patient.identifier": PATIENT},
        headers=tokens["dmp"],
    )
    listed.raise_for_status()
    trainee.phases = {
        "sign-in": signed - began,
        "services": time.perf_counter() - signed,
    }
    trainee.steps = {
        "push": pushed - began,
        "approval": approved - pushed,
        "token": signed - approved,
    }


async def room(trainees: list[Trainee]) -> float:
    began = time.perf_counter()

    async def one(trainee: Trainee) -> None:
        try:
            await session(trainee)
        except Exception as error:
            trainee.error = f"{type(error).__name__}: {str(error)[:120]}"

    await asyncio.gather(*(one(t) for t in trainees))
    return time.perf_counter() - began


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def report(label: str, total: float, trainees: list[Trainee]) -> None:
    done = [t for t in trainees if not t.error]
    each = [sum(t.phases.values()) for t in done]
    signing = [t.phases["sign-in"] for t in done]
    services = [t.phases["services"] for t in done]
    errors = [t.error for t in trainees if t.error]
    print(
        f"{label}: {len(trainees)} trainees in {total:.1f} s; per trainee p50 "
        f"{percentile(each, 0.5):.2f} s, p99 {percentile(each, 0.99):.2f} s; errors {len(errors)}"
    )
    if done:
        print(
            f"   sign-in (push, approval, token) p50 {statistics.median(signing):.2f} s, "
            f"p99 {percentile(signing, 0.99):.2f} s; exchange + INS + DMP p50 "
            f"{statistics.median(services):.2f} s, p99 {percentile(services, 0.99):.2f} s"
        )
    if done:
        print(
            "   sign-in steps p50/p99: "
            + ", ".join(
                f"{step} {percentile([t.steps[step] for t in done], 0.5):.2f}"
                f"/{percentile([t.steps[step] for t in done], 0.99):.2f} s"
                for step in done[0].steps
            )
        )
    for error in sorted(set(errors))[:5]:
        print(f"   {errors.count(error)} × {error}")


def cpu_seconds(server: int) -> dict[str, float]:
    """CPU time used so far by the platform's processes, PostgreSQL's and this one's."""
    tick = os.sysconf("SC_CLK_TCK")

    def of(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    children = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    postgres = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _command(entry).startswith("postgres")
    ]
    return {
        "platform": of(server) + sum(of(int(child)) for child in children),
        "postgresql": sum(of(pid) for pid in postgres),
        "trainees": sum(os.times()[:2]),
    }


def _command(entry: Path) -> str:
    try:
        return (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


async def run(url: str, count: int, folder: Path, server: int) -> tuple[float, list[Trainee]]:
    trainees = await enrol(url, count, folder)
    # What the enrolment (and an earlier room) left is collected now, and the objects
    # alive are set aside from the collector: the trainees' clients, all in this one
    # process, otherwise spent a third more CPU during the room collecting the set-up's
    # garbage, on the cores the platform runs on. A real room's clients are its own.
    gc.collect()
    gc.freeze()
    try:
        before = cpu_seconds(server)
        total = await room(trainees)
        after = cpu_seconds(server)
        print(
            "   CPU during the room: "
            + ", ".join(f"{who} {after[who] - before[who]:.1f} s" for who in before)
            + f" ({sum(after.values()) - sum(before.values()):.1f} s on {os.cpu_count()} cores"
            f" in {total:.1f} s)"
        )
        return total, trainees
    finally:
        gc.unfreeze()
        for trainee in trainees:
            await trainee.http.aclose()


def measure(label: str, count: int, options: tuple[str, ...], extra: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = {
            "BSP_TRAINER_TOKEN": TRAINER,
            "BSP_POLL_INTERVAL": "1",
            # A room shares the demo personas and the one launcher client.
            "BSP_ECPS_MAX_PENDING": str(count),
            "BSP_ECPS_CLIENT_PER_MINUTE": str(count * 2),
        } | extra
        process, url = start(Path(folder) / "server", *options, env=env)
        try:
            total, trainees = asyncio.run(run(url, count, Path(folder), process.pid))
        finally:
            process.terminate()
            process.wait(timeout=30)
        report(label, total, trainees)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trainees", type=int, action="append")
    parser.add_argument("--workers", type=int, default=2)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--postgresql-only", action="store_true", help="skip (a)")
    only.add_argument("--sqlite-only", action="store_true", help="skip (b)")
    args = parser.parse_args()
    counts = args.trainees or [100]
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with postgres.server() as server:
        for count in counts:
            if not args.postgresql_only:
                measure(f"(a) SQLite, 1 process, {count}", count, (), {})
            if args.sqlite_only:
                continue
            url = server.create_database(seeded=False)
            measure(
                f"(b) PostgreSQL, {args.workers} workers, {count}",
                count,
                ("--workers", str(args.workers)),
                {"BSP_DATABASE_URL": url},
            )
            server.drop_database(url)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
