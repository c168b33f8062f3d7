"""`Idempotency-Key` on the services' creating requests: a retry gets the first answer.

A client that lost an answer (a dropped connection, a timeout) cannot know whether its
request was carried out; it sends it again with the same key. The service then answers
as the first time, and creates nothing more. The same key with another request (another
body or query) is refused 422: a key names one request.

The key is recorded in the same transaction as what the request creates, so a request
that created something always has its key, even if the platform died before answering;
two requests racing with one key cannot both create (the second one's transaction fails
on the key, rolls back, and answers as the first). A service records either the created
resource's id (its answer is built again from it) or the answer itself.

Keys are per professional and per operation, and kept for `KEPT_SECONDS`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.exc import IntegrityError

from bsp_tui.domain.fhir import Issue
from bsp_tui.platform.api import ServiceError, invalid
from bsp_tui.platform.db import Database, Tx

HEADER = "Idempotency-Key"
KEPT_SECONDS = 24 * 3600
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the IETF draft's examples


@dataclass(frozen=True)
class Stored:
    """What the first request with a key left: the resource it created, or its answer."""

    resource: str | None
    answer: Any


@dataclass(frozen=True)
class Idempotency:
    """The key of one request (None without the header), its scope and its fingerprint."""

    scope: str
    key: str | None
    fingerprint: str

    @classmethod
    def of(cls, request: Request, body: bytes, operation: str, caller_id: str) -> Idempotency:
        """The request's key, or a 400 ServiceError when the header is malformed."""
        key = request.headers.get(HEADER)
        if key is not None and not _KEY.fullmatch(key):
            raise invalid(f"En-tête {HEADER} invalide : de 1 à 255 caractères ASCII visibles.")
        digest = hashlib.sha256(request.url.query.encode())
        digest.update(b"\0" + body)
        return cls(f"{operation}:{caller_id}", key, digest.hexdigest())

    def stored(self, db: Database) -> Stored | None:
        """The first request's outcome when this key was already used, else None.

        Raises a 422 ServiceError when the key was used for another request.
        """
        if self.key is None:
            return None
        row = db.one(
            "SELECT fingerprint, resource, answer FROM idempotency_keys"
            " WHERE scope = :scope AND key = :key",
            {"scope": self.scope, "key": self.key},
        )
        if row is None:
            return None
        if row["fingerprint"] != self.fingerprint:
            raise ServiceError(
                422,
                Issue(
                    "conflict",
                    f"{HEADER} déjà utilisée pour une autre requête : "
                    "une clé nouvelle par opération.",
                ),
            )
        answer = json.loads(row["answer"]) if row["answer"] is not None else None
        return Stored(row["resource"], answer)

    def record(self, conn: Tx, now: float, resource: str | None = None, answer: Any = None) -> None:
        """Inside the creating transaction: keep the key with what it created.

        A key recorded meanwhile by a racing request raises IntegrityError, which rolls
        the whole transaction back: see `is_race`.
        """
        if self.key is None:
            return
        conn.execute(
            "DELETE FROM idempotency_keys WHERE created < :before", {"before": now - KEPT_SECONDS}
        )
        conn.execute(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, created, resource, answer)"
            " VALUES (:scope, :key, :fingerprint, :now, :resource, :answer)",
            {
                "scope": self.scope,
                "key": self.key,
                "fingerprint": self.fingerprint,
                "now": now,
                "resource": resource,
                "answer": None if answer is None else json.dumps(answer),
            },
        )


def is_race(error: IntegrityError) -> bool:
    """True when the error is another request having recorded the same key first."""
    return "idempotency_keys" in str(error)
