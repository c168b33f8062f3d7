"""Benchmark of the access history's group commit (not a test): prints figures.

16 handler threads each append rows to a journal table at once, as a room's DMP reads
write their access lines: through `Database.append` (a batch per transaction) and, as
the reference, one write transaction per row (what `trace` did before). On the SQLite
file and on PostgreSQL (a server this script starts, as the tests do). Prints rows/s
of each and the ratio.

Run: `.venv/bin/python bench/journal.py [--rows 4000]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # this folder's platform.py would hide the standard library's

import argparse  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from sqlalchemy import Column, Double, Integer, MetaData, Table, Text  # noqa: E402

from bsp_tui.platform.db import Database, Schema  # noqa: E402
from tests.support import postgres  # noqa: E402

THREADS = 16
LINES = MetaData()
Table(
    "lines",
    LINES,
    Column("ins", Text, nullable=False),
    Column("at", Double, nullable=False),
    Column("writer", Integer, nullable=False),
    Column("action", Text, nullable=False),
)
INSERT = "INSERT INTO lines (ins, at, writer, action) VALUES (:ins, :at, :writer, :action)"


def one_transaction_each(db: Database) -> Callable[[dict], None]:
    def append(params: dict) -> None:
        with db.write() as tx:
            tx.execute(INSERT, params)

    return append


def rate(append: Callable[[dict], None], rows: int) -> float:
    """Rows per second, THREADS threads sharing `rows` appends."""
    start = threading.Barrier(THREADS + 1)

    def writer(number: int) -> None:
        start.wait()
        for n in range(rows // THREADS):
            append({"ins": f"{n:015d}", "at": time.time(), "writer": number, "action": "list"})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return rows // THREADS * THREADS / (time.perf_counter() - began)


def measure(label: str, target: str, rows: int) -> None:
    db = Database(target)
    db.ensure(Schema("lines", 1, LINES))
    try:
        plain = rate(one_transaction_each(db), rows)
        grouped = rate(lambda params: db.append(INSERT, params), rows)
    finally:
        db.close()
    print(
        f"{label}: group commit {grouped:,.0f} rows/s, one transaction each {plain:,.0f} "
        f"rows/s: {grouped / plain:.1f} ×"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        measure("SQLite", str(Path(folder) / "journal.sqlite3"), args.rows)
    with postgres.server() as server:
        url = server.create_database(seeded=False)
        measure("PostgreSQL", url, args.rows)
        server.drop_database(url)


if __name__ == "__main__":
    main()
