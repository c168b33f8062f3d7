"""`Database.one`, `all` and `value` read through the driver itself: the same rows as a
transaction's reads, SQLAlchemy's errors, and pooled connections left as they were."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, Table, Text
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from bsp_tui.platform.db import Database, Schema
from bsp_tui.platform.settings import PlatformSettings

THINGS = MetaData()
Table(
    "things",
    THINGS,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("weight", Float),
)
ROWS = [
    {"id": 1, "name": "premier", "weight": 1.5},
    {"id": 2, "name": "milieu", "weight": None},
    {"id": 3, "name": "dernier 100 %", "weight": -2.25},
]


def filled(db: Database, rows: list[dict]) -> Database:
    db.ensure(Schema("things", 1, THINGS))
    with db.write() as tx:
        tx.execute("INSERT INTO things (id, name, weight) VALUES (:id, :name, :weight)", rows)
    return db


def assert_pooled_connection_idle(db: Database) -> None:
    """A pooled PostgreSQL connection back as it came: no autocommit, no transaction."""
    raw = db.engine.raw_connection()
    try:
        assert raw.driver_connection.autocommit is False
        assert raw.driver_connection.info.transaction_status.name == "IDLE"
    finally:
        raw.close()


@pytest.fixture
def db(settings: PlatformSettings) -> Iterator[Database]:
    database = filled(Database(settings.database), ROWS)
    yield database
    database.close()


def test_the_reads_give_what_a_transaction_reads(db: Database) -> None:
    sql = "SELECT id, name, weight FROM things WHERE id >= :low ORDER BY id"
    with db.read() as tx:
        expected = [dict(row) for row in tx.all(sql, {"low": 1})]
    assert db.all(sql, {"low": 1}) == expected == ROWS
    for row in ROWS:  # the first, a middle and the last row
        assert db.one("SELECT * FROM things WHERE id = :id", {"id": row["id"]}) == row
        assert db.value("SELECT name FROM things WHERE id = :id", row) == row["name"]
    # A literal %, and a parameter standing for a value with one, pass unchanged.
    like = "SELECT name FROM things WHERE name LIKE '%' || :tail"
    assert db.value(like, {"tail": "100 %"}) == "dernier 100 %"
    assert db.one("SELECT * FROM things WHERE id = :id", {"id": 4}) is None
    assert db.value("SELECT name FROM things WHERE id = :id", {"id": 4}) is None
    assert db.all("SELECT * FROM things WHERE id > :id", {"id": 3}) == []


def test_a_driver_error_is_sqlalchemys_and_shows_no_parameter(db: Database) -> None:
    with pytest.raises(DBAPIError) as raised:
        db.one("SELECT * FROM no_such_table WHERE secret = :secret", {"secret": "s3cr3t-v4lue"})
    assert "no_such_table" in str(raised.value)
    assert "s3cr3t-v4lue" not in str(raised.value)
    # The connection went back to the pool fit for use: writes and reads go on.
    with db.write() as tx:
        tx.execute("UPDATE things SET weight = :w WHERE id = 2", {"w": 7.0})
    assert db.value("SELECT weight FROM things WHERE id = 2") == 7.0


@pytest.mark.postgresql_only
def test_a_nul_in_a_parameter_is_a_data_error_on_postgresql(db: Database) -> None:
    with pytest.raises(DataError):
        db.one("SELECT * FROM things WHERE name = :name", {"name": "a\x00b"})
    assert db.value("SELECT count(*) FROM things") == len(ROWS)


@pytest.mark.postgresql_only
def test_one_pooled_connection_serves_the_root_and_rooms_each_its_own_tables(
    db: Database,
) -> None:
    """A connection keeps the search_path its last user set: whoever takes it next (a
    room, another room, the root) reads and writes its own tables, by every path."""
    rooms = {
        name: filled(db.in_schema(name), [{"id": 9, "name": f"de la {name}", "weight": 0.0}])
        for name in ("room_a", "room_b")
    }
    db.engine.dispose()  # from here on one connection, taken by each use in turn
    views = [(db, [row["name"] for row in ROWS])]
    views += [(view, [f"de la {name}"]) for name, view in rooms.items()]
    for _ in range(2):
        for view, names in views:
            assert [row["name"] for row in view.all("SELECT name FROM things ORDER BY id")] == names
            with view.read() as tx:
                assert tx.value("SELECT count(*) FROM things") == len(names)
            with view.write() as tx:
                assert tx.value("SELECT count(*) FROM things") == len(names)
            assert view.write_one("UPDATE things SET weight = 1 WHERE id = 9") == (view is not db)
    # A room's transaction rolled back leaves the connection as right for the next user.
    with pytest.raises(RuntimeError), rooms["room_a"].write() as tx:
        tx.execute("UPDATE things SET name = 'perdu'")
        raise RuntimeError
    assert db.value("SELECT count(*) FROM things WHERE name = 'perdu'") == 0
    assert rooms["room_a"].value("SELECT name FROM things") == "de la room_a"
    assert db.engine.pool.checkedin() == 1  # type: ignore[attr-defined] # one served all
    assert_pooled_connection_idle(db)


@pytest.mark.postgresql_only
def test_a_read_after_the_server_dropped_the_connections_recovers(db: Database) -> None:
    db.all("SELECT * FROM things")  # a connection is pooled
    with db.write() as tx:
        tx.value(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    failures = 0
    for _ in range(db.engine.pool.checkedin() + 1):  # type: ignore[attr-defined]
        try:
            assert db.value("SELECT count(*) FROM things") == len(ROWS)
            break
        except OperationalError:
            failures += 1  # a dead connection, dropped from the pool
    else:
        pytest.fail("every pooled connection stayed dead")
    assert failures <= 2


def test_a_write_of_one_statement_commits_and_counts(
    db: Database, settings: PlatformSettings
) -> None:
    insert = "INSERT INTO things (id, name) VALUES (:id, :name) ON CONFLICT DO NOTHING"
    assert db.write_one(insert, {"id": 4, "name": "seul"}) == 1
    assert db.write_one(insert, {"id": 4, "name": "encore"}) == 0  # the conflict: nothing
    other = Database(settings.database)  # another worker's connections see it committed
    try:
        assert other.value("SELECT name FROM things WHERE id = 4") == "seul"
    finally:
        other.close()
    with pytest.raises(DBAPIError):
        db.write_one("INSERT INTO things (id) VALUES (:id)", {"id": 5})  # name is NOT NULL
    assert db.value("SELECT count(*) FROM things") == len(ROWS) + 1


@pytest.mark.postgresql_only
def test_a_room_s_write_of_one_statement_lands_in_its_schema(db: Database) -> None:
    room = db.in_schema("room_b")
    room.ensure(Schema("things", 1, THINGS))
    assert room.write_one("INSERT INTO things (id, name) VALUES (9, 'de la salle')") == 1
    assert room.all("SELECT name FROM things") == [{"name": "de la salle"}]
    assert db.value("SELECT count(*) FROM things WHERE id = 9") == 0
    assert_pooled_connection_idle(db)


def test_warming_opens_the_pool_s_connections_before_the_first_request(
    db: Database, engine: str
) -> None:
    """A served worker opens its connections at start, not during a room's first
    sign-ins: on PostgreSQL they are then in the pool, idle, and serve at once."""
    db.engine.dispose()  # none open
    db.warm(5)
    pool = db.engine.pool
    if engine == "sqlite":
        assert pool.checkedin() == 0  # type: ignore[attr-defined] # none opened ahead
        return
    assert pool.checkedin() == 5  # type: ignore[attr-defined]
    assert_pooled_connection_idle(db)
    assert db.value("SELECT count(*) FROM things") == len(ROWS)
    assert pool.checkedin() == 5  # type: ignore[attr-defined] # a warm one served it
