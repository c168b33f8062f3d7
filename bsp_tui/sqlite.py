"""A SQLite file that several processes and threads share safely (WAL, immediate writes)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_BUSY_SECONDS = 30.0
SIDE_FILES = ("-wal", "-shm", "-journal")


class DatabaseBusyError(Exception):
    """Another connection held the write lock for longer than this file waits."""


def private_file(path: Path) -> None:
    """Create `path` (if missing) readable by its owner only, and its side files too.

    SQLite creates the -wal and -shm files with the main file's mode, so the main file
    is made 0600 before the first connection, never after; side files an older version
    left readable are closed too.
    """
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for suffix in ("", *SIDE_FILES):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.chmod(0o600)


class SqliteFile:
    """One SQLite file; WAL so that several processes read and write it at once.

    Every write runs in `BEGIN IMMEDIATE`, which takes the write lock up front and so
    never fails half-way with a lock upgrade between two processes. A write that cannot
    get the lock within `busy_seconds` raises `DatabaseBusyError` (a served platform
    answers 503): the wait blocks the caller, so a server keeps it short.
    """

    def __init__(self, path: Path, schema: str, busy_seconds: float = DEFAULT_BUSY_SECONDS) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        private_file(path)
        self._conn = sqlite3.connect(
            path, timeout=busy_seconds, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._schemas: set[str] = set()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # A committed transaction survives a power cut, not only a killed process.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
            self._conn.executescript(schema)

    def ensure_schema(self, schema: str) -> None:
        """Create more tables (`CREATE … IF NOT EXISTS` statements), once per connection.

        The platform's emulated services own their tables: they call this before their
        first query, so the platform's schema needs no change when a connector is added.
        """
        if schema in self._schemas:
            return
        with self._lock, _busy_as_error():
            self._conn.executescript(schema)
            self._schemas.add(schema)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        with self._lock, _busy_as_error():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def one(self, sql: str, params: tuple = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        """Every row of a query."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


@contextmanager
def _busy_as_error() -> Iterator[None]:
    """SQLite's "database is locked" after the busy wait, as a `DatabaseBusyError`."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if getattr(error, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            raise DatabaseBusyError(str(error)) from None
        raise
