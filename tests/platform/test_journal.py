"""Group commit of journal rows: many threads appending at once share transactions, every
row is committed before its caller returns, and a failed batch fails each of its callers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table
from sqlalchemy.exc import DBAPIError

from bsp_tui.platform.db import Database, Schema
from bsp_tui.platform.journal import Journal
from bsp_tui.platform.settings import PlatformSettings
from tests.platform.test_reads import assert_pooled_connection_idle

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

    def write_rows(rows: list[tuple[str, Mapping[str, Any]]]) -> None:
        log.append(len(rows))
        db.write_rows(rows)

    return Journal(write_rows)


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


def test_a_batch_of_several_statements_is_one_transaction(db: Database) -> None:
    other = "INSERT INTO lines (writer) VALUES (:writer)"
    rows = [(INSERT, {"writer": 1, "n": 1}), (INSERT, {"writer": 1, "n": 2})]
    rows += [(other, {"writer": 2}), (INSERT, {"writer": 3, "n": 3})]
    db.write_rows(rows)
    found = db.all("SELECT writer, n FROM lines ORDER BY writer, n")
    assert [(r["writer"], r["n"]) for r in found] == [(1, 1), (1, 2), (2, None), (3, 3)]
    # One bad row and the batch is not written at all; the next batch goes in.
    with pytest.raises(DBAPIError):
        db.write_rows([(INSERT, {"writer": 4, "n": 4}), (INSERT.replace("lines", "nope"), {})])
    assert db.value("SELECT count(*) FROM lines WHERE writer = 4") == 0
    db.write_rows([(INSERT, {"writer": 5, "n": 5})])
    assert db.value("SELECT count(*) FROM lines") == 5


@pytest.mark.postgresql_only
def test_a_room_s_batch_lands_in_its_schema(db: Database) -> None:
    room = db.in_schema("room_j")
    room.ensure(Schema("lines", 1, LINES))
    room.write_rows([(INSERT, {"writer": 7, "n": 7})])
    assert room.value("SELECT count(*) FROM lines") == 1
    assert db.value("SELECT count(*) FROM lines") == 0
    assert_pooled_connection_idle(db)
