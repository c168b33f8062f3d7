"""The outbox view: every care sheet with its state, and the send action with its ARL."""

from __future__ import annotations

import httpx
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Static

from connectors.fse.client import FseClient, FseError
from connectors.fse.models import french_euros
from connectors.fse.outbox import Entry, Outbox, leftover
from connectors.fse.sender import SendBusyError, SendReport, send_outbox
from connectors.kit.errors import NoSessionError, SsoError
from connectors.view import StatusLine, literal_row, service_worker

COLUMNS = (("number", "Numéro"), ("patient", "Patient"), ("date", "Date"))
COLUMNS += (("amount", "Montant"), ("state", "État"))


def row_of(entry: Entry) -> tuple[str, str, str, str, str]:
    """One table row: number, patient, date, amount, state (with a rejection's reason)."""
    return (
        entry.number,
        entry.patient or f"INS {entry.ins}",
        entry.care_date,
        french_euros(entry.sheet.amounts.base),
        entry.state_label,
    )


def arl_summary(report: SendReport) -> str:
    """What the ARLs said, in French."""
    if not report.arls:
        return "Aucune feuille en attente."
    parts = []
    for arl in report.arls:
        if arl.positive:
            parts.append(f"ARL positif pour le lot {arl.batch_id}")
        else:
            parts.append(f"ARL négatif pour le lot {arl.batch_id} : {arl.code} {arl.reason}")
    return (
        " ; ".join(parts) + f". {report.accepted} acceptée(s), {report.rejected} rejetée(s), "
        f"{report.left} en attente."
    )


class OutboxView(Vertical, StatusLine):
    """The outbox table and the send button."""

    STATUS_ID = "fse-send-status"

    DEFAULT_CSS = """
    OutboxView #fse-outbox { height: 1fr; }
    OutboxView #fse-send-bar { height: auto; }
    OutboxView #fse-send-status { width: 1fr; padding: 1 1 0 1; }
    OutboxView #fse-send-status.-error { color: $error; }
    """

    def __init__(self, outbox: Outbox, client: httpx.AsyncClient | None) -> None:
        super().__init__(id="fse-outbox-view")
        self.outbox = outbox
        self.client = client

    def compose(self) -> ComposeResult:
        with Horizontal(id="fse-send-bar"):
            yield Button("Envoyer (e)", id="fse-send", variant="primary")
            yield Static("", id="fse-send-status")
        table: DataTable = DataTable(id="fse-outbox", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table

    def on_mount(self) -> None:
        self.refresh_table()

    def refresh_table(self) -> None:
        """Read the outbox again."""
        table = self.query_one(DataTable)
        table.clear()
        table.add_rows([literal_row(row_of(entry)) for entry in self.outbox.entries()])

    @on(Button.Pressed, "#fse-send")
    def send(self) -> None:
        """Send the unacknowledged sheets (in a worker)."""
        if self.client is None:
            self.say("Pas de session : reconnectez-vous pour envoyer.", error=True)
            return
        self.query_one("#fse-send", Button).disabled = True
        self.sending()

    @service_worker(group="fse-send")
    async def sending(self) -> None:
        try:
            report = await send_outbox(
                self.outbox, FseClient(self.client), progress=self.say, wait=False
            )
        except SendBusyError:
            self.say("Un envoi est déjà en cours (dans un autre terminal ?).", error=True)
        except NoSessionError:
            raise  # the sheets stay queued; the boundary takes the launcher back to sign-in
        except SsoError as error:
            self.say(f"{error.message} {leftover(self.outbox.waiting())}", error=True)
        except FseError as error:
            self.say(f"{error.message} {leftover(self.outbox.waiting())}", error=True)
        except httpx.HTTPError:
            self.say(f"Plateforme injoignable. {leftover(self.outbox.waiting())}", error=True)
        else:
            self.say(arl_summary(report), error=bool(report.left))
        finally:
            self.query_one("#fse-send", Button).disabled = False
            self.refresh_table()
