"""A PostgreSQL server of the test suite's own: `initdb` and `pg_ctl` in a temporary
folder, listening on a free port of 127.0.0.1, stopped at the end.

The binaries are found on PATH or under /usr/lib/postgresql/*/bin. PostgreSQL refuses
to run as root: when the suite runs as root, the server runs as the `postgres` system
user (`runuser`). Where there are no binaries the tests that need the server skip with
a sentence saying how to install them, unless `BSP_REQUIRE_POSTGRES` is set (CI sets it:
PostgreSQL is on its machines, and a skip there would hide a failure).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from bsp_tui.platform.core import Platform
from bsp_tui.platform.settings import PlatformSettings

REQUIRE = "BSP_REQUIRE_POSTGRES"
TEMPLATE = "bsp_template"
# Seeded copies made ahead, and used ones dropped, by a thread of the server's: a test
# then waits for neither (a copy and a drop are a quarter of a second of PostgreSQL's).
AHEAD = 2
INSTALL = (
    "PostgreSQL introuvable (initdb, pg_ctl) : installez-le pour ces tests "
    "(Debian/Ubuntu : apt install postgresql ; macOS : brew install postgresql@15)."
)


def binaries() -> Path | None:
    """The folder holding `initdb` and `pg_ctl`, or None."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "pg_ctl").exists() and (folder / "initdb").exists():
            return folder
    return None


def skip_or_fail(reason: str) -> None:
    """Skip with `reason`, or fail when the environment requires PostgreSQL."""
    if os.environ.get(REQUIRE):
        pytest.fail(f"{reason} ({REQUIRE} est défini : PostgreSQL est exigé ici)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A running server: its port, its superuser, and how to make a fresh database."""

    port: int
    user: str
    _ready: list[str] = field(default_factory=list)
    _used: list[str] = field(default_factory=list)
    _change: threading.Condition = field(default_factory=threading.Condition)
    _keeper: threading.Thread | None = None
    _keeping: bool = False
    _stopping: bool = False

    def url(self, database: str) -> str:
        """The `postgresql://` URL of one of its databases."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def seed_template(self, settings: PlatformSettings) -> None:
        """Make the template every test's database is copied from: a platform opened
        once (its tables, population and signing key), so that a test pays a copy."""
        self._run(f'CREATE DATABASE "{TEMPLATE}"')
        platform = Platform.open(settings)
        platform.keys.active()
        platform.db.close()
        self._keeping = True
        self._keeper = threading.Thread(target=self._keep, name="bsp-pg-keeper", daemon=True)
        self._keeper.start()

    def create_database(self, seeded: bool = True) -> str:
        """A new database, a copy of the seeded template (or empty); its URL."""
        if not seeded:
            return self.url(self._create(""))
        if self._keeper is None:
            raise RuntimeError("seed_template() first: a seeded database is its copy")
        with self._change:
            self._change.wait_for(lambda: self._ready or not self._keeping)
            if not self._ready:
                raise RuntimeError("the thread copying the template stopped")
            name = self._ready.pop(0)
            self._change.notify_all()
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `create_database` (its connections are ended first)."""
        self._drop(url.rsplit("/", 1)[1])

    def release(self, url: str) -> None:
        """Hand back a database a test is done with: dropped in the background."""
        with self._change:
            self._used.append(url.rsplit("/", 1)[1])
            self._change.notify_all()

    def stop(self) -> None:
        """Stop making databases ahead (the server itself is stopped by `server()`)."""
        with self._change:
            self._stopping = True
            self._change.notify_all()
        if self._keeper is not None:
            self._keeper.join(timeout=30)

    def _keep(self) -> None:
        """Drop what was handed back, and keep AHEAD copies of the template ready."""
        try:
            self._serve_copies()
        finally:
            with self._change:
                self._keeping = False  # a waiting test fails rather than waits forever
                self._change.notify_all()

    def _serve_copies(self) -> None:
        while True:
            with self._change:
                self._change.wait_for(
                    lambda: self._stopping or self._used or len(self._ready) < AHEAD
                )
                if self._stopping:
                    return
                used = self._used.pop(0) if self._used else None
            if used is not None:
                self._drop(used)
                continue
            name = self._create(f' TEMPLATE "{TEMPLATE}"')
            with self._change:
                self._ready.append(name)
                self._change.notify_all()

    def _create(self, template: str) -> str:
        name = f"bsp_{uuid.uuid4().hex[:12]}"
        self._run(f'CREATE DATABASE "{name}"{template}')
        return name

    def _drop(self, name: str) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _run(self, statement: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(statement)


@contextmanager
def server() -> Iterator[Server]:
    """Start a throwaway server (skip or fail when PostgreSQL is not installed)."""
    folder = binaries()
    if folder is None:
        skip_or_fail(INSTALL)
    assert folder is not None
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else pwd.getpwuid(os.geteuid()).pw_name
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="bsp-pg-"))
    if as_root:
        shutil.chown(base, "postgres")
    data, log = base / "data", base / "server.log"
    port = _free_port()

    def run(*command: str) -> None:
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    run(str(folder / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8")
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off -c max_connections=300"
    )
    try:
        run(str(folder / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        running = Server(port, user)
        try:
            yield running
        finally:
            running.stop()
    finally:
        subprocess.run(
            [*prefix, str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)
