"""A SQLite file that several processes and threads share safely (WAL, immediate writes)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SqliteFile:
    """One SQLite file; WAL so that several processes read and write it at once.

    Every write runs in `BEGIN IMMEDIATE`, which takes the write lock up front and so
    never fails half-way with a lock upgrade between two processes.
    """

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._conn = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._schemas: set[str] = set()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # A committed transaction survives a power cut, not only a killed process.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.executescript(schema)
        path.chmod(0o600)

    def ensure_schema(self, schema: str) -> None:
        """Create more tables (`CREATE … IF NOT EXISTS` statements), once per connection.

        The platform's emulated services own their tables: they call this before their
        first query, so the platform's schema needs no change when a connector is added.
        """
        if schema in self._schemas:
            return
        with self._lock:
            self._conn.executescript(schema)
            self._schemas.add(schema)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

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
