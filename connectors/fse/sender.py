"""Sending the outbox: claim, send as a batch, record the ARL, sheet by sheet.

Failpoints make the crash tests deterministic: with `BSP_FSE_FAILPOINT=NAME`, the sender
writes `bsp-fse-failpoint NAME` on stderr when it reaches that point and then waits
forever, so that a test can kill it exactly there. The points are `claimed` (sheets
marked sent, request not made), `acknowledged` (the platform has billed the batch and
answered, nothing recorded) and `recording` (the first sheet's result recorded, not
the others); for the returns, `returned` (fetched, nothing recorded) and
`recording-returns` (the first new return recorded, not the others). Without the variable
they cost nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from filelock import Timeout

from bsp_tui import failpoints
from connectors.fse.client import Arl, FseClient
from connectors.fse.outbox import Outbox

FAILPOINT_ENV = "BSP_FSE_FAILPOINT"
BATCH_SIZE = 100
LOCK_WAIT = 120.0


def failpoint(name: str) -> None:
    """Announce the point on stderr and wait forever, when BSP_FSE_FAILPOINT names it."""
    failpoints.failpoint(FAILPOINT_ENV, name)


def new_batch_id() -> str:
    """A batch id: LOT-, the UTC time, and 6 random hex digits."""
    return f"LOT-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3).upper()}"


class SendBusyError(Exception):
    """Another sender holds the outbox."""


@dataclass
class SendReport:
    """What a send did: the ARLs received and the sheets accepted, rejected, left."""

    arls: list[Arl] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    already_received: int = 0
    left: int = 0

    @property
    def sent(self) -> int:
        """How many sheets the platform acknowledged."""
        return self.accepted + self.rejected

    def as_json(self) -> dict:
        """The JSON shape."""
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "already_received": self.already_received,
            "left": self.left,
            "arls": [arl.as_json() for arl in self.arls],
        }


async def send_outbox(
    outbox: Outbox,
    client: FseClient,
    progress: Callable[[str], None] = lambda _: None,
    wait: bool = True,
) -> SendReport:
    """Send every unacknowledged sheet, in batches of at most 100; record each ARL.

    Holds the outbox's send lock throughout (waiting up to two minutes for another
    sender when `wait`, else not at all; SendBusyError when it is still busy). On any
    error the claimed sheets go back to `pending` and the error propagates: nothing is
    lost, and the platform's idempotency makes a later send safe even when the batch
    had arrived.
    """
    lock = outbox.send_lock()
    try:
        await lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise SendBusyError from None
        progress("Un autre envoi est en cours : attente de sa fin…")
        try:
            await lock.acquire(timeout=LOCK_WAIT)
        except Timeout:
            raise SendBusyError from None
    report = SendReport()
    try:
        while claimed := outbox.claim(new_batch_id(), BATCH_SIZE):
            batch_id = claimed[0].batch_id
            failpoint("claimed")
            progress(f"Envoi du lot {batch_id} ({len(claimed)} feuille(s))…")
            try:
                arl = await client.send_batch(batch_id, [e.content for e in claimed])
            except BaseException:
                outbox.release([e.number for e in claimed])
                raise
            failpoint("acknowledged")
            report.arls.append(arl)
            if not arl.positive:
                outbox.release([e.number for e in claimed])
                progress(f"ARL négatif pour le lot {batch_id} : {arl.code} {arl.reason}.")
                break
            for index, result in enumerate(arl.sheets):
                outbox.record(result.number, result.accepted, result.code, result.reason)
                if index == 0:
                    failpoint("recording")
                report.accepted += result.accepted
                report.rejected += not result.accepted
                report.already_received += result.already_received
            progress(
                f"ARL positif pour le lot {batch_id} : {report.accepted} acceptée(s), "
                f"{report.rejected} rejetée(s)."
            )
    finally:
        report.left = outbox.waiting()
        await lock.release()
    return report


@dataclass
class ReturnsReport:
    """What fetching the returns did: every return the platform holds for the caller,
    and how many of them this fetch recorded (the others were recorded before)."""

    returns: list[dict] = field(default_factory=list)
    recorded: int = 0

    def as_json(self) -> dict:
        """The JSON shape."""
        paid = [r for r in self.returns if r["status"] == "paid"]
        return {
            "count": len(self.returns),
            "recorded": self.recorded,
            "paid": len(paid),
            "rejected": len(self.returns) - len(paid),
            "returns": self.returns,
        }


async def fetch_returns(outbox: Outbox, client: FseClient) -> ReturnsReport:
    """Fetch the returns and record each in the outbox, one transaction per sheet.

    Recording is idempotent (a sheet takes its return once, only once acknowledged), so
    a fetch interrupted anywhere is completed by the next one; returns only report on
    sheets, they never bill one.
    """
    report = ReturnsReport(await client.returns())
    failpoint("returned")
    for item in report.returns:
        if outbox.record_return(item["number"], item["status"] == "paid", item):
            report.recorded += 1
            if report.recorded == 1:
                failpoint("recording-returns")
    return report
