"""The platform's state, through SQLAlchemy Core: SQLite (embedded) or PostgreSQL (served).

Every service writes plain SQL with named parameters (`:ins`) that both engines run
unchanged; tables are declared once as SQLAlchemy `Table`s, so that each engine gets
its own column types. A `Schema` is a named, versioned group of tables (the platform's,
each connector's); its version is kept in `schema_versions`, and a file made by an
older version is upgraded step by step when the platform opens.

The two engines differ in how writers are kept apart, and this module hides it:
- SQLite lets one writer through: every write transaction starts `BEGIN IMMEDIATE`, so
  a read-check-write inside it is safe as written.
- PostgreSQL runs writers side by side (READ COMMITTED): a section that reads then
  writes takes a row lock (`tx.locked(...)`, `SELECT … FOR UPDATE`), an advisory lock
  (`tx.serialize(name)`), or is written as a conditional update whose row count says
  who won.
A wait for a lock longer than `busy_seconds` raises `DatabaseBusyError` (answered 503).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    Text,
    TextClause,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from bsp_tui.platform.bell import BELL, CHANNEL, Kept
from bsp_tui.platform.journal import Journal
from bsp_tui.sqlite import DEFAULT_BUSY_SECONDS, DatabaseBusyError, private_file

_T = TypeVar("_T")

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]]
# A row read by name: SQLAlchemy's own in a transaction, a plain dict from `Database`'s
# reads (see `Database.one`).
RowMapping = Mapping[Any, Any]

# SQLSTATEs that mean "waited too long for another transaction" on PostgreSQL:
# lock_not_available (lock_timeout), deadlock_detected, serialization_failure.
_PG_BUSY = frozenset({"55P03", "40P01", "40001"})


@dataclass(frozen=True)
class Schema:
    """A named group of tables at a version, with the steps from each older version.

    `upgrades[n]` takes a database from version n to n + 1 inside the opening
    transaction; a database with these tables but no recorded version is at version 1
    (the files made before versions were kept).
    """

    name: str
    version: int
    tables: MetaData
    upgrades: Mapping[int, Callable[[Tx], None]] = field(default_factory=dict)


class SchemaError(Exception):
    """The database cannot be brought to this version of bsp (made by a newer one, or
    no step leads from its version)."""


@functools.lru_cache(maxsize=1024)
def statement(sql: str) -> TextClause:
    """`text(sql)`, made once per statement: its parsing is a tenth of a short query's
    time, and the services run the same few hundred statements again and again."""
    return text(sql)


class Tx:
    """One transaction: plain SQL with named parameters, rows as read-only mappings."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.rings: list[str] = []  # the topics to ring once this transaction commits

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._conn.dialect.name

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement (a list of parameter sets runs it once per set); the row count."""
        return self._conn.execute(statement(sql), params).rowcount

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> RowMapping | None:
        """The first row of a query, or None."""
        return self._conn.execute(statement(sql), params).mappings().first()

    def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[RowMapping]:
        """Every row of a query."""
        return list(self._conn.execute(statement(sql), params).mappings())

    def value(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        return self._conn.execute(statement(sql), params).scalar()

    def locked(self, sql: str, params: Mapping[str, Any] | None = None) -> RowMapping | None:
        """The first row of a SELECT, locked until the transaction ends (SQLite: the whole
        database already is)."""
        suffix = " FOR UPDATE" if self.dialect == "postgresql" else ""
        return self.one(sql + suffix, params)

    def create(self, table: Table) -> None:
        """Make `table` now, for an upgrade step that fills a new table from old ones
        (the schema's other new tables are made after its steps)."""
        table.create(self._conn, checkfirst=True)

    def serialize(self, name: str) -> None:
        """Wait until no other transaction holds `name`, then hold it until this one ends:
        for sections with no row to lock yet (seeding, creating the first key)."""
        if self.dialect == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def notify(self, topic: str) -> None:
        """Ring `topic` when this transaction commits: in this process (`Database.write`
        rings it), and on PostgreSQL in the other workers too (`NOTIFY`, see `bell`)."""
        self.rings.append(topic)

    def send_notifications(self) -> None:
        """On PostgreSQL, the `NOTIFY` of every topic rung, in one statement just before
        the commit (it delivers them, as it would have delivered each one sent earlier)."""
        if self.rings and self.dialect == "postgresql":
            self.value(
                "SELECT count(pg_notify(:channel, topic))"
                " FROM unnest(CAST(:topics AS text[])) AS topic",
                {"channel": CHANNEL, "topics": list(dict.fromkeys(self.rings))},
            )


def database_url(target: Path | str) -> URL:
    """The SQLAlchemy URL of a SQLite file path or of a `postgresql://` URL (psycopg 3)."""
    if isinstance(target, Path) or "://" not in target:
        return URL.create("sqlite", database=str(target))
    url = make_url(target)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def shown_url(target: Path | str) -> str:
    """The database as it can be shown: a file path, or a URL without its password."""
    if isinstance(target, Path) or "://" not in target:
        return str(target)
    return make_url(target).render_as_string(hide_password=True)


# anyio runs the handlers on at most 40 threads, and each holds one connection at a time.
POOL_SIZE = 40
# Where a pooled connection's info says which search_path its session has (None: the
# default one).
_SEARCH_PATH = "bsp_search_path"


def _sqlite_engine(url: URL, busy_seconds: float) -> Engine:
    path = Path(url.database or "")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_file(path)
    # As many connections as the threads that run handlers: a pool smaller than that
    # opens and closes a connection for each request beyond it.
    engine = create_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
        connect_args={"timeout": busy_seconds, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _: Any) -> None:
        # The driver's own transaction handling is off: this module says when to BEGIN.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        # A committed transaction survives a power cut, not only a killed process.
        dbapi_connection.execute("PRAGMA synchronous=FULL")
        dbapi_connection.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A write takes the lock up front and so never fails half-way on a lock upgrade
        # between two processes; a read runs each statement on its own snapshot.
        if conn.get_execution_options().get("bsp_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgresql_engine(url: URL, busy_seconds: float) -> Engine:
    wait = max(int(busy_seconds * 1000), 1)
    return create_engine(
        url,
        # Kept open for the handlers' threads; two workers stay within PostgreSQL's
        # default of 100 connections, the overflow is for a burst.
        pool_size=POOL_SIZE,
        max_overflow=10,
        connect_args={"options": f"-c lock_timeout={wait} -c statement_timeout={wait * 60}"},
    )


def _is_busy(error: DBAPIError) -> bool:
    orig = error.orig
    if getattr(orig, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return True
    return getattr(orig, "sqlstate", None) in _PG_BUSY


@contextmanager
def _busy_as_error() -> Iterator[None]:
    try:
        yield
    except DBAPIError as error:
        if _is_busy(error):
            raise DatabaseBusyError("base de données occupée") from None
        raise


SCHEMA_VERSIONS = MetaData()
Table(
    "schema_versions",
    SCHEMA_VERSIONS,
    Column("name", Text, primary_key=True),
    Column("version", Integer, nullable=False),
)


def found_tables(conn: Connection, schema: Schema) -> bool:
    """Whether the schema's tables are there. A recorded version says so without asking
    each table (a test suite opens thousands of platforms): only the first one's
    presence is checked, in case the tables were dropped by hand."""
    first = next(iter(schema.tables.tables))
    return inspect(conn).has_table(first)


class Database:
    """The platform's database: one engine, a pool of connections, versioned schemas."""

    def __init__(self, target: Path | str, busy_seconds: float = DEFAULT_BUSY_SECONDS) -> None:
        url = database_url(target)
        # The SQLite file (None on PostgreSQL): its side files and modes are ours to keep.
        self.path: Path | None = None
        # SQLite lets one writer through: this process's writers queue here, in turn,
        # and only another process's writer makes them wait on the file's busy timeout.
        self._writers: AbstractContextManager[object] = nullcontext()
        if url.get_backend_name() == "sqlite":
            self.path = Path(url.database or "")
            self.engine = _sqlite_engine(url, busy_seconds)
            self._writers = threading.RLock()
        else:
            self.engine = _postgresql_engine(url, busy_seconds)
        self.dialect = self.engine.dialect.name
        self._driver_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error
        self._compiled: dict[str, str] = {}  # a statement as the driver takes it
        # PostgreSQL: the schema this database's tables live in (None: the default one).
        self.search_path: str | None = None
        self.schemas: dict[str, Schema] = {}
        self._journal = Journal(self.write_rows)
        with self.write() as tx:
            SCHEMA_VERSIONS.create_all(tx._conn)

    def in_schema(self, name: str) -> Database:
        """The same PostgreSQL database seen through its schema `name` (made if missing):
        another set of tables on this one's pool of connections.

        A connection taken from the pool is given the view's search_path first, when its
        session has another (see `_in_own_schema`), so that each view sees its own
        tables whoever used the connection before. `name` is one of ours (letters,
        digits and `_`), not a caller's text.
        """
        if self.dialect != "postgresql":
            raise ValueError("only a PostgreSQL database has schemas")
        with self.write() as tx:
            tx.serialize("schema")  # two workers making it at once would collide
            tx.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
        view = copy.copy(self)
        view.search_path = name
        view.schemas = {}
        view._journal = Journal(view.write_rows)
        with view.write() as tx:
            SCHEMA_VERSIONS.create_all(tx._conn)
        return view

    def append(self, sql: str, params: Mapping[str, Any]) -> None:
        """Insert one row of a journal (an access history): rows appended at the same
        moment share one transaction (see `journal`). Returns once it is committed."""
        self._journal.append(sql, params)

    def topic(self, name: str) -> str:
        """A bell topic of this database's own: its schema's or file's, for a room's
        waiters not to wake for another room's."""
        return f"{self.search_path or self.path or ''}/{name}"

    def kept(self, name: str, seconds: float) -> Kept[Any]:
        """This process's memory of state that topic `name` announces, trusted `seconds`
        on PostgreSQL, where every worker hears every change. Not at all on SQLite: a
        command beside the platform (`bsp platform keys rotate`) changes its file and
        rings nothing."""
        return Kept(self.topic(name), seconds if self.dialect == "postgresql" else 0.0)

    def hear_other_workers(self) -> None:
        """On PostgreSQL, ring this process's waiters on the other workers' notifications."""
        if self.dialect == "postgresql":
            BELL.listen_to(self.engine.url)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction: committed on success, rolled back on any error."""
        with self._writers, _busy_as_error(), self.engine.connect() as conn:
            self._in_own_schema(conn.connection)
            conn.execution_options(bsp_write=True)
            with conn.begin():
                tx = Tx(conn)
                yield tx
                tx.send_notifications()
        for topic in tx.rings:
            BELL.ring(topic)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """Several reads on one connection (no lock taken)."""
        with _busy_as_error(), self.engine.connect() as conn:
            self._in_own_schema(conn.connection)
            if self.dialect == "postgresql":
                # Each statement its own snapshot, as on SQLite: no BEGIN and COMMIT
                # round trips around a read.
                conn.execution_options(isolation_level="AUTOCOMMIT")
            with conn.begin():
                yield Tx(conn)

    def _in_own_schema(self, pooled: Any) -> None:
        """Give a pooled PostgreSQL connection this database's search_path (a room's
        schema, or the default one) if it does not have it already.

        Set for the session, not per transaction: the connection keeps it until another
        view of the pool (another room, the root) takes it and sets its own. A room's
        read is then one statement, as the root's, instead of BEGIN, SET LOCAL, the
        statement and ROLLBACK.
        """
        if self.dialect != "postgresql" or pooled.info.get(_SEARCH_PATH) == self.search_path:
            return
        driver = pooled.driver_connection
        try:
            driver.autocommit = True  # a session's setting, outside any transaction
            try:
                if self.search_path is None:
                    driver.execute("RESET search_path")
                else:
                    driver.execute(f'SET search_path TO "{self.search_path}"')
            finally:
                driver.autocommit = False
        except self._driver_error as error:
            if self.engine.dialect.is_disconnect(error, pooled.dbapi_connection, None):  # type: ignore[arg-type]
                pooled.invalidate(error)
            raise DBAPIError.instance(
                "SET search_path", None, error, self._driver_error, hide_parameters=True
            ) from None
        pooled.info[_SEARCH_PATH] = self.search_path

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> RowMapping | None:
        """The first row of a query, or None."""
        rows, names = self._query(sql, params, many=False)
        return dict(zip(names, rows[0], strict=True)) if rows else None

    def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[RowMapping]:
        """Every row of a query."""
        rows, names = self._query(sql, params, many=True)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def value(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        rows, _ = self._query(sql, params, many=False)
        return rows[0][0] if rows else None

    def _driver_sql(self, sql: str) -> str:
        if self.dialect == "sqlite":
            return sql  # the driver takes `:name` as it is
        compiled = self._compiled.get(sql)
        if compiled is None:
            compiled = str(statement(sql).compile(dialect=self.engine.dialect))
            self._compiled[sql] = compiled
        return compiled

    def _query(
        self, sql: str, params: Mapping[str, Any] | None, many: bool
    ) -> tuple[Sequence[Sequence[Any]], list[str]]:
        """Rows and column names of a read outside any transaction, by the driver itself.

        SQLAlchemy's execution path costs a short query some 180 µs of CPU against 15 µs
        for the driver's, and the services read several times per request. Its pool,
        dialect and compiler still serve: the connection is a pooled one, the statement
        is compiled once for the engine's parameter style, a driver error is raised as
        the SQLAlchemy error the engine would have raised.
        """

        def fetched(cursor: Any) -> tuple[Sequence[Sequence[Any]], list[str]]:
            rows = cursor.fetchall() if many else cursor.fetchmany(1)
            return rows, [column[0] for column in cursor.description or ()]

        return self._by_driver(sql, params, fetched)

    def write_one(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """One statement that is a whole write by itself (an INSERT, a conditional UPDATE);
        its row count. On PostgreSQL it is sent alone, in autocommit: one round trip where
        a transaction takes three (BEGIN, the statement, COMMIT). Elsewhere (SQLite, whose
        writers take turns) it is a `write`."""
        if self.dialect != "postgresql":
            with self.write() as tx:
                return tx.execute(sql, params)
        return self._by_driver(sql, params, lambda cursor: int(cursor.rowcount))

    def _by_driver(
        self, sql: str, params: Mapping[str, Any] | None, result: Callable[[Any], _T]
    ) -> _T:
        """`result(cursor)` of one statement run by the driver on a pooled connection."""
        driver_sql = self._driver_sql(sql)

        def run(raw: Any, cursor: Any) -> _T:
            self._execute_alone(raw, cursor, driver_sql, params or {})
            return result(cursor)

        return self._on_driver(sql, params, run)

    def write_rows(self, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Insert `rows` (each an INSERT and its named parameters) in one transaction, by
        the driver: a journal's batch, where SQLAlchemy's execution path cost each row
        more than the driver's insert itself. Rows of one statement go in one
        `executemany`, in their order."""
        if not rows:
            return
        groups: list[tuple[str, list[Mapping[str, Any]]]] = []
        for sql, params in rows:
            if groups and groups[-1][0] == sql:
                groups[-1][1].append(params)
            else:
                groups.append((sql, [params]))

        def run(raw: Any, cursor: Any) -> None:
            if self.dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")  # the driver's own handling is off
            try:
                for sql, many in groups:
                    cursor.executemany(self._driver_sql(sql), many)
                if self.dialect == "sqlite":
                    cursor.execute("COMMIT")
                else:
                    raw.driver_connection.commit()
            except BaseException:
                if self.dialect == "sqlite":
                    if raw.driver_connection.in_transaction:
                        cursor.execute("ROLLBACK")
                else:
                    raw.driver_connection.rollback()
                raise

        with self._writers:
            self._on_driver(groups[0][0], None, run)

    def _on_driver(
        self, sql: str, params: Mapping[str, Any] | None, run: Callable[[Any, Any], _T]
    ) -> _T:
        """`run(connection, cursor)` on a pooled connection in its own schema; a driver
        error raised as SQLAlchemy's (without the parameters)."""
        with _busy_as_error():
            raw = self.engine.raw_connection()
            try:
                self._in_own_schema(raw)
                cursor = raw.cursor()
                try:
                    return run(raw, cursor)
                finally:
                    cursor.close()
            except self._driver_error as error:
                dialect = self.engine.dialect
                if dialect.is_disconnect(error, raw.dbapi_connection, None):  # type: ignore[arg-type]
                    raw.invalidate(error)
                raise DBAPIError.instance(
                    sql, params, error, self._driver_error, hide_parameters=True
                ) from None
            finally:
                raw.close()

    def _execute_alone(self, raw: Any, cursor: Any, sql: str, params: Mapping[str, Any]) -> None:
        if self.dialect == "sqlite":
            cursor.execute(sql, params)  # the driver's transaction handling is off: none
        else:
            # No BEGIN and ROLLBACK (or COMMIT) round trips around the statement: a read
            # has its own snapshot, as on SQLite, a write commits by itself.
            raw.driver_connection.autocommit = True
            try:
                cursor.execute(sql, params)
            finally:
                raw.driver_connection.autocommit = False

    def ensure(self, schema: Schema) -> None:
        """Make the schema's missing tables, or upgrade them to its version (once per
        process); raises SchemaError when a newer bsp made them."""
        if schema.name in self.schemas:
            return
        with self.write() as tx:
            tx.serialize("schema")
            conn = tx._conn
            found = tx.value(
                "SELECT version FROM schema_versions WHERE name = :name", {"name": schema.name}
            )
            if found is None:
                existing = set(inspect(conn).get_table_names())
                found = 1 if existing & set(schema.tables.tables) else schema.version
                tx.execute(
                    "INSERT INTO schema_versions (name, version) VALUES (:name, :version)",
                    {"name": schema.name, "version": found},
                )
            if found > schema.version:
                raise SchemaError(
                    f"Base de données faite par une version plus récente de bsp "
                    f"(schéma {schema.name} v{found}, celle-ci connaît v{schema.version})."
                )
            if found < schema.version or not found_tables(conn, schema):
                for version in range(found, schema.version):
                    step = schema.upgrades.get(version)
                    if step is None:
                        raise SchemaError(
                            f"Aucune mise à niveau du schéma {schema.name} "
                            f"de v{version} à v{version + 1}."
                        )
                    step(tx)
                schema.tables.create_all(conn)
                tx.execute(
                    "UPDATE schema_versions SET version = :version WHERE name = :name",
                    {"name": schema.name, "version": schema.version},
                )
        self.schemas[schema.name] = schema

    def table_names(self) -> list[str]:
        """Every table of the schemas this process opened, parents before children."""
        names: list[str] = []
        for schema in self.schemas.values():
            names.extend(table.name for table in schema.tables.sorted_tables)
        return names

    def warm(self, count: int = POOL_SIZE) -> None:
        """Open `count` pooled connections now (PostgreSQL; SQLite's cost nothing to
        open): a room's first sign-ins, all at once, would otherwise each wait for a
        connection of their own, and PostgreSQL start a process for each."""
        if self.dialect != "postgresql":
            return
        with ExitStack() as held:
            for _ in range(count):
                held.enter_context(self.engine.connect())

    def close(self) -> None:
        """Close every pooled connection (a schema's view leaves the pool to its owner)."""
        if self.search_path is None:
            BELL.stop_listening(self.engine.url)
            self.engine.dispose()
