"""Group commit of journal rows: many threads appending at once share transactions, every
row is committed before its caller returns, and a failed batch fails each of its callers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table

from bsp_tui.platform.db import Database, Schema, Tx
from bsp_tui.platform.journal import Journal
from bsp_tui.platform.settings import PlatformSettings

THREADS = 16
EACH = 25
LINES = MetaData()
Table("lines", LINES, Column("writer", Integer, nullable=False), Column("n", Integer))
INSERT = "INSERT INTO lines (writer, n) VALUES (:writer, :n)"


@pytest.fixture
def db(settings: PlatformSettings) -> Iterator[Database]:
    database = Database(settings.database)
    database.ensure(Schema("lines", 1, LINES))
    yield database
    database.close()


def counting(db: Database, log: list[int]) -> Journal:
    """A journal over `db` that records the size of each transaction it makes."""

    @contextmanager
    def write() -> Iterator[Tx]:
        with db.write() as tx:
            before = len(log)
            log.append(0)
            yield _Counted(tx, log, before)

    return Journal(write)


class _Counted:
    def __init__(self, tx: Tx, log: list[int], index: int) -> None:
        self._tx, self._log, self._index = tx, log, index

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        self._log[self._index] += 1
        return self._tx.execute(sql, params)


def race(append: Callable[[str, Mapping[str, Any]], None]) -> list[Exception]:
    start = threading.Barrier(THREADS)
    errors: list[Exception] = []

    def writer(number: int) -> None:
        start.wait()
        for n in range(EACH):
            try:
                append(INSERT, {"writer": number, "n": n})
            except Exception as error:  # each is counted by the test
                errors.append(error)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer never returned"
    return errors


def test_rows_appended_at_once_share_transactions_and_none_is_lost(db: Database) -> None:
    sizes: list[int] = []
    journal = counting(db, sizes)
    assert race(journal.append) == []
    rows = db.all("SELECT writer, n FROM lines ORDER BY writer, n")
    assert [(r["writer"], r["n"]) for r in rows] == [
        (w, n) for w in range(THREADS) for n in range(EACH)
    ]
    assert sum(sizes) == THREADS * EACH
    assert len(sizes) < THREADS * EACH  # some transactions carried several rows


def test_a_row_is_committed_when_its_caller_returns(
    db: Database, settings: PlatformSettings
) -> None:
    db.append(INSERT, {"writer": 1, "n": 7})
    other = Database(settings.database)  # another pool: sees only what is committed
    try:
        assert other.value("SELECT n FROM lines WHERE writer = 1") == 7
    finally:
        other.close()


def test_a_failed_batch_fails_each_of_its_callers(db: Database) -> None:
    errors = race(lambda sql, params: db.append(sql.replace("lines", "no_such_table"), params))
    assert len(errors) == THREADS * EACH
    assert db.value("SELECT count(*) FROM lines") == 0
    # The journal is not stuck after a failure: the next row goes in.
    db.append(INSERT, {"writer": 0, "n": 0})
    assert db.value("SELECT count(*) FROM lines") == 1
