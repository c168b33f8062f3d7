"""The durable outbox: care sheets wait here, in SQLite, until the platform acknowledges them.

One file per profile in the data folder (`fse-outbox-PROFILE.sqlite3`, WAL, synchronous
FULL). A sheet moves `pending` (en attente) → `sending` (envoyée: claimed for a batch,
not yet acknowledged) → `accepted` (acquittée by the ARL) or `rejected` (refused at
reception) → once its return has come back, `paid` (payée) or `rejected`. A sender
killed at any moment leaves sheets `pending` or `sending`; the next sender claims both,
and the platform, idempotent by sheet number, never bills one twice. Only one sender
works on an outbox at a time: `send_lock` is a lock file beside it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from filelock import AsyncFileLock

from bsp_tui.sqlite import SqliteFile
from connectors.fse.models import (
    NOTHING_USED,
    ZERO,
    Sheet,
    Used,
    french_euros,
    new_number,
    sheet_of,
)
from connectors.kit.local import profile_data

OUTBOX_STEM, OUTBOX_SUFFIX = "fse-outbox", ".sqlite3"
PENDING = "pending"
SENDING = "sending"
ACCEPTED = "accepted"
REJECTED = "rejected"
PAID = "paid"
STATES = {
    PENDING: "en attente",
    SENDING: "envoyée",
    ACCEPTED: "acquittée",
    REJECTED: "rejetée",
    PAID: "payée",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS sheets (
    number TEXT PRIMARY KEY, created REAL NOT NULL, ins TEXT NOT NULL, patient TEXT NOT NULL,
    care_date TEXT NOT NULL, content TEXT NOT NULL, state TEXT NOT NULL,
    batch_id TEXT NOT NULL DEFAULT '', code TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '', updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sheets_by_state ON sheets (state, created);
CREATE TABLE IF NOT EXISTS returns (
    number TEXT PRIMARY KEY, status TEXT NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL,
    amount TEXT NOT NULL, paid_on TEXT NOT NULL, recorded REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Entry:
    """A sheet in the outbox, with its state and, once acknowledged, the platform's answer."""

    number: str
    created: float
    ins: str
    patient: str
    care_date: str
    content: dict
    state: str
    batch_id: str
    code: str
    reason: str

    @property
    def sheet(self) -> Sheet:
        """The sheet itself."""
        return sheet_of(self.content)

    @property
    def state_label(self) -> str:
        """The state in French, with the rejection's code and reason."""
        label = STATES.get(self.state, self.state)
        if self.state == REJECTED:
            return f"{label} ({self.code} : {self.reason})"
        if self.state == PAID:
            return f"{label} ({self.reason})"
        return label

    def as_json(self) -> dict:
        """The CLI's JSON shape."""
        return self.content | {
            "patient": self.patient,
            "state": self.state,
            "batch_id": self.batch_id,
            "code": self.code,
            "reason": self.reason,
            "created": self.created,
        }


def leftover(count: int) -> str:
    """What happens to the sheets that could not go, in French."""
    if count == 1:
        return "1 feuille reste dans la boîte d'envoi ; elle partira au prochain envoi."
    return f"{count} feuilles restent dans la boîte d'envoi ; elles partiront au prochain envoi."


def outbox_path(data: Path, profile: str) -> Path:
    """Where a profile's outbox lives (`profile_data` names the configured one's)."""
    return data / f"{OUTBOX_STEM}-{profile}{OUTBOX_SUFFIX}"


class Outbox:
    """The outbox of one profile (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = SqliteFile(path, SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def send_lock(self) -> AsyncFileLock:
        """The lock a sender holds while it claims, sends and records."""
        return AsyncFileLock(str(self.path.with_suffix(".send.lock")))

    def add(self, sheet: Sheet) -> Entry:
        """Queue a sheet (a fresh number is drawn again in the rare case of a collision)."""
        now = time.time()
        with self.db.write() as conn:
            while conn.execute("SELECT 1 FROM sheets WHERE number = ?", (sheet.number,)).fetchone():
                sheet = sheet.with_number(new_number(sheet.care_date))
            conn.execute(
                "INSERT INTO sheets (number, created, ins, patient, care_date, content, state,"
                " updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sheet.number,
                    now,
                    sheet.ins,
                    sheet.rights.patient,
                    sheet.care_date,
                    json.dumps(sheet.content(), ensure_ascii=False),
                    PENDING,
                    now,
                ),
            )
        entry = self.get(sheet.number)
        assert entry is not None
        return entry

    def _entries(self, where: str = "", params: tuple = ()) -> list[Entry]:
        rows = self.db.all(
            f"SELECT * FROM sheets {where} ORDER BY created, number",  # noqa: S608
            params,
        )
        return [
            Entry(
                row["number"],
                row["created"],
                row["ins"],
                row["patient"],
                row["care_date"],
                json.loads(row["content"]),
                row["state"],
                row["batch_id"],
                row["code"],
                row["reason"],
            )
            for row in rows
        ]

    def entries(self) -> list[Entry]:
        """Every sheet, oldest first."""
        return self._entries()

    def get(self, number: str) -> Entry | None:
        """One sheet by its number, or None."""
        found = self._entries("WHERE number = ?", (number,))
        return found[0] if found else None

    def waiting(self) -> int:
        """How many sheets are not acknowledged yet (pending or sending)."""
        row = self.db.one("SELECT COUNT(*) FROM sheets WHERE state IN (?, ?)", (PENDING, SENDING))
        return int(row[0]) if row else 0

    def queued(self, ins: str, day: str) -> Used:
        """The participation forfaitaire and franchise of this patient's unacknowledged
        sheets in the year of `day` and on `day`.

        Counted with the platform's ledger when a new sheet is priced, so that the caps
        hold across sheets that have not gone out yet.
        """
        waiting = self._entries(
            "WHERE ins = ? AND care_date LIKE ? AND state IN (?, ?)",
            (ins, f"{day[:4]}-%", PENDING, SENDING),
        )
        used = NOTHING_USED
        for entry in waiting:
            a = entry.sheet.amounts
            today = entry.care_date == day
            used += Used(a.pf, a.pf if today else ZERO, a.franchise, a.franchise if today else ZERO)
        return used

    def claim(self, batch_id: str, limit: int) -> list[Entry]:
        """Mark up to `limit` unacknowledged sheets as sent in `batch_id`; return them.

        Sheets left `sending` by a sender that died are claimed again: the caller holds
        the send lock, so no other sender is working on them.
        """
        with self.db.write() as conn:
            numbers = [
                row[0]
                for row in conn.execute(
                    "SELECT number FROM sheets WHERE state IN (?, ?) ORDER BY created, number"
                    " LIMIT ?",
                    (PENDING, SENDING, limit),
                )
            ]
            conn.executemany(
                "UPDATE sheets SET state = ?, batch_id = ?, updated = ? WHERE number = ?",
                [(SENDING, batch_id, time.time(), number) for number in numbers],
            )
        return self._entries("WHERE state = ? AND batch_id = ?", (SENDING, batch_id))

    def release(self, numbers: list[str]) -> None:
        """Put sheets that could not be sent back to `pending`."""
        with self.db.write() as conn:
            conn.executemany(
                "UPDATE sheets SET state = ?, updated = ? WHERE number = ? AND state = ?",
                [(PENDING, time.time(), number, SENDING) for number in numbers],
            )

    def record_return(self, number: str, paid: bool, detail: dict) -> bool:
        """Record the return of an acknowledged sheet (its own transaction): `paid` with
        `detail["amount"]` and `detail["paid_on"]`, else rejected with its `code` and
        `reason`. False when the sheet is not waiting for its return (already recorded,
        not acknowledged yet, or not in this outbox): nothing changes then."""
        if paid:
            when = detail["paid_on"]
            code, reason = "", f"{french_euros(Decimal(detail['amount']))} le {when}"
        else:
            code, reason = detail["code"], detail["reason"]
        with self.db.write() as conn:
            changed = conn.execute(
                "UPDATE sheets SET state = ?, code = ?, reason = ?, updated = ?"
                " WHERE number = ? AND state = ?",
                (PAID if paid else REJECTED, code, reason, time.time(), number, ACCEPTED),
            ).rowcount
            if changed:
                conn.execute(
                    "INSERT INTO returns (number, status, code, reason, amount, paid_on,"
                    " recorded) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        number,
                        PAID if paid else REJECTED,
                        code,
                        detail.get("reason", ""),
                        detail.get("amount", "0.00"),
                        detail.get("paid_on", ""),
                        time.time(),
                    ),
                )
        return bool(changed)

    def record(self, number: str, accepted: bool, code: str = "", reason: str = "") -> None:
        """Record the platform's answer for one sheet (its own transaction)."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE sheets SET state = ?, code = ?, reason = ?, updated = ? WHERE number = ?",
                (ACCEPTED if accepted else REJECTED, code, reason, time.time(), number),
            )


def profile_outbox() -> Outbox:
    """The outbox of the configured profile (`BSP_PROFILE`), in its data folder."""
    return Outbox(profile_data(OUTBOX_STEM, OUTBOX_SUFFIX))
