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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from bsp_tui.platform.core import Platform
from bsp_tui.platform.settings import PlatformSettings

REQUIRE = "BSP_REQUIRE_POSTGRES"
TEMPLATE = "bsp_template"
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

    def url(self, database: str) -> str:
        """The `postgresql://` URL of one of its databases."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def seed_template(self, settings: PlatformSettings) -> None:
        """Make the template every test's database is copied from: a platform opened
        once (its tables, population and signing key), so that a test pays a copy."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        platform = Platform.open(settings)
        platform.keys.active()
        platform.db.close()

    def create_database(self, seeded: bool = True) -> str:
        """A new database, a copy of the seeded template (or empty); its URL."""
        name = f"bsp_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{TEMPLATE}"' if seeded else ""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `create_database` (its connections are ended first)."""
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
        yield Server(port, user)
    finally:
        subprocess.run(
            [*prefix, str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)
