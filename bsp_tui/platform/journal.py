"""Group commit for journals (audit trails): rows that handler threads append at the
same moment share one transaction.

A DMP read writes its line in the patient's access history, as the real DMP keeps one.
Written one transaction each, a room's reads queue on the writer's lock (SQLite) or on
a log flush per commit (PostgreSQL). Here the first appender writes every row waiting
when it starts, in one transaction; those who arrive meanwhile wait, and the first of
them writes the next batch. Each caller returns only once its row is committed (or
raises the batch's error): no row is lost, and an answer never claims a trace that is
not there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Writes rows, each an INSERT and its named parameters, in one transaction.
WriteRows = Callable[[list[tuple[str, Mapping[str, Any]]]], None]


@dataclass
class _Row:
    sql: str
    params: Mapping[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    leads: bool = False  # this caller writes the next batch
    error: BaseException | None = None


class Journal:
    """Appends to one database's journals, a batch per transaction."""

    def __init__(self, write_rows: WriteRows) -> None:
        self._write_rows = write_rows
        self._lock = threading.Lock()
        self._waiting: list[_Row] = []
        self._writing = False

    def append(self, sql: str, params: Mapping[str, Any]) -> None:
        """Insert one row (`sql` an INSERT with named parameters); returns once committed."""
        row = _Row(sql, params)
        with self._lock:
            self._waiting.append(row)
            if not self._writing:
                self._writing = row.leads = True
        if not row.leads:
            row.done.wait()
        if row.leads:
            self._write_batch()
        if row.error is not None:
            raise row.error

    def _write_batch(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            self._write_rows([(row.sql, row.params) for row in batch])
        except BaseException as error:  # every caller of the batch is told, none is lost
            for row in batch:
                row.error = error
        with self._lock:
            following = self._waiting[0] if self._waiting else None
            if following is None:
                self._writing = False
            else:
                following.leads = True
        for row in batch:
            row.leads = False
            row.done.set()
        if following is not None:
            following.done.set()
