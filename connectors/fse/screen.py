"""The FSE screen: a care-sheet editor on the context patient, and the outbox.

The editor reads the patient's rights (in a worker) and shows them; the amounts (base,
AMO, CSS share, participation forfaitaire, franchise, patient share, paid now, what the
AMO recovers later) follow each act added or removed (flagged or not as related to the
patient's ALD when added), and the tiers payant and degraded toggles. When the rights
cannot be read, the sheet can still be made in degraded mode with the rights typed from
the patient's certificate. "Mettre en boîte d'envoi" queues it locally: nothing needs the network.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import httpx
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    Select,
    Static,
    TabbedContent,
    TabPane,
)

from bsp_tui.domain.patients import PatientContext
from connectors.base import ConnectorContext
from connectors.fse.client import FseClient, FseError
from connectors.fse.models import (
    CATALOGUE,
    EXEMPTION_LABELS,
    MAX_ACTS,
    TIERS_PAYANT_REQUIRED,
    Rights,
    Used,
    build_sheet,
    compute,
    french_euros,
)
from connectors.fse.outbox import Outbox, profile_outbox
from connectors.fse.outbox_view import OutboxView
from connectors.kit.errors import NoSessionError, SsoError
from connectors.view import ConnectorView, literal, literal_row, service_worker

NO_PATIENT = "Choisissez d'abord un patient dans INS (tuile 1)."
RIGHTS_UNREAD = "Droits illisibles : mode dégradé, saisissez les droits de l'attestation."
LINE_COLUMNS = ("Acte", "Libellé", "Tarif", "Taux", "AMO", "PF", "Franchise")


def rights_text(rights: Rights) -> str:
    """The rights in French, on two lines."""
    closed = f" — FERMÉS depuis le {rights.closed_on}" if rights.closed_on else ""
    return (
        f"{rights.summary()}{closed}\nParticipation forfaitaire déjà payée cette année : "
        f"{french_euros(rights.pf_used)}"
    )


class FseView(ConnectorView):
    """Make care sheets for the context patient; follow and send the outbox."""

    STATUS_ID = "fse-status"

    BINDINGS = [
        Binding("a", "add_act", "Ajouter l'acte", id="fse.add-act"),
        Binding("d", "remove_act", "Retirer l'acte", id="fse.remove-act"),
        Binding("t", "toggle_tiers_payant", "Tiers payant", id="fse.tiers-payant"),
        Binding("m", "queue", "Mettre en boîte", id="fse.queue"),
        Binding("e", "send", "Envoyer", id="fse.send"),
        Binding("o", "show_outbox", "Boîte d'envoi", id="fse.outbox"),
        Binding("f", "show_sheet", "Feuille", id="fse.sheet"),
    ]
    DEFAULT_CSS = """
    FseView .title { text-style: bold; }
    FseView #fse-tabs { height: 1fr; }
    FseView TabPane { height: 1fr; padding: 0; }
    FseView #fse-patient, FseView #fse-rights { height: auto; }
    FseView .bar { height: auto; }
    FseView #fse-act { width: 1fr; max-width: 60; }
    FseView #fse-lines { height: 1fr; min-height: 5; }
    FseView #fse-amounts { height: auto; text-style: bold; padding: 0 1; }
    FseView #fse-status { height: auto; }
    FseView #fse-status.-error, FseView #fse-rights.-error { color: $error; }
    FseView #fse-typed { height: auto; display: none; }
    FseView #fse-typed.-shown { display: block; }
    FseView #fse-exemption { width: 30; }
    FseView #fse-ame { width: 1fr; }
    """

    def __init__(self, context: ConnectorContext, outbox: Outbox | None = None) -> None:
        super().__init__(context)
        self.outbox = outbox or profile_outbox()
        self.acts: list[str] = []
        self.ald: list[bool] = []  # per act: related to the patient's ALD (100 %)
        self.rights: Rights | None = None
        self.typed = False  # the rights could not be read: typed from the certificate
        self.today = date.today().isoformat()

    @property
    def patient(self) -> PatientContext | None:
        """The context patient (chosen in INS)."""
        return self.context.get_patient()

    def compose(self) -> ComposeResult:
        yield Static("Feuille de soins électronique", classes="title")
        with TabbedContent(id="fse-tabs"):
            with TabPane("Feuille", id="fse-tab-sheet"), VerticalScroll(id="fse-sheet"):
                yield Static("", id="fse-patient")
                yield Static("", id="fse-rights")
                with Horizontal(id="fse-typed", classes="bar"):
                    options = [(label, code) for code, label in EXEMPTION_LABELS.items()]
                    yield Select(
                        options,
                        value="",
                        allow_blank=False,
                        type_to_search=False,
                        id="fse-exemption",
                    )
                    yield Checkbox("Parcours coordonné", value=True, id="fse-coordinated")
                    yield Input(placeholder="N° d'admission AME", id="fse-ame")
                with Horizontal(classes="bar"):
                    acts = [(f"{a.code} — {a.label}", a.code) for a in CATALOGUE.values()]
                    yield Select(acts, prompt="Acte…", type_to_search=False, id="fse-act")
                    yield Checkbox("En rapport avec l'ALD", id="fse-ald")
                    yield Button("Ajouter (a)", id="fse-add")
                    yield Button("Retirer (d)", id="fse-remove")
                yield Static("", id="fse-status")
                table: DataTable = DataTable(id="fse-lines", cursor_type="row")
                table.add_columns(*LINE_COLUMNS)
                yield table
                yield Static("", id="fse-amounts")
                with Horizontal(classes="bar"):
                    yield Checkbox("Tiers payant (t)", id="fse-tiers-payant")
                    degraded = Checkbox("Mode dégradé", id="fse-degraded")
                    degraded.tooltip = "Sans carte Vitale : droits lus en ligne ou saisis."
                    yield degraded
                    yield Button("Mettre en boîte d'envoi (m)", id="fse-queue", variant="primary")
            with TabPane("Boîte d'envoi", id="fse-tab-outbox"):
                yield OutboxView(self.outbox, self.context.client)

    def on_mount(self) -> None:
        patient = self.patient
        if patient is None:
            self.query_one("#fse-patient", Static).update("Aucun patient choisi.")
            self.query_one("#fse-queue", Button).disabled = True
            self.say(NO_PATIENT, error=True)
            return
        self.query_one("#fse-patient", Static).update(
            literal(f"{patient.label} — né(e) le {patient.birthdate or '?'}")
        )
        self.update_amounts()
        self.query_one("#fse-act", Select).focus()
        self.read_rights()

    async def on_unmount(self) -> None:
        self.outbox.close()

    # -- rights ---------------------------------------------------------------------------

    @service_worker(group="fse-rights")
    async def read_rights(self) -> None:
        """Read the patient's rights; on failure, offer typed rights in degraded mode."""
        patient = self.patient
        if patient is None:
            return
        shown = self.query_one("#fse-rights", Static)
        shown.update("Lecture des droits…")
        problem = ""
        try:
            if self.context.client is None:
                raise SsoError("pas de session")
            self.rights = await FseClient(self.context.client).rights(patient.ins, self.today)
        except FseError as error:
            problem = error.message
        except NoSessionError:
            raise  # the boundary takes the launcher back to sign-in
        except SsoError as error:
            problem = error.message
        except httpx.HTTPError:
            problem = "plateforme injoignable"
        if problem:
            self.rights, self.typed = None, True
            shown.update(literal(f"{RIGHTS_UNREAD} ({problem})"))
            shown.add_class("-error")
            self.query_one("#fse-typed").add_class("-shown")
            self.query_one("#fse-degraded", Checkbox).value = True
        else:
            assert self.rights is not None
            shown.update(literal(rights_text(self.rights)))
            shown.set_class(bool(self.rights.closed_on), "-error")
            self.query_one("#fse-tiers-payant", Checkbox).value = bool(self.rights.exemption)
        self.update_amounts()

    def current_rights(self) -> Rights | None:
        """The rights the sheet uses: read, or typed from the certificate (degraded)."""
        if self.rights is not None:
            return self.rights
        patient = self.patient
        if not self.typed or patient is None or not patient.birthdate:
            return None
        exemption = self.query_one("#fse-exemption", Select).value
        return Rights(
            ins=patient.ins,
            birthdate=patient.birthdate,
            exemption=str(exemption) if isinstance(exemption, str) else "",
            coordinated=self.query_one("#fse-coordinated", Checkbox).value,
            family=patient.family,
            given=patient.given,
            source="saisie",
        )

    # -- acts and amounts -----------------------------------------------------------------

    @on(Button.Pressed, "#fse-add")
    def action_add_act(self) -> None:
        """Add the chosen act to the sheet."""
        code = self.query_one("#fse-act", Select).value
        if not isinstance(code, str) or code not in CATALOGUE:
            self.say("Choisissez d'abord un acte dans la liste.", error=True)
            return
        if len(self.acts) >= MAX_ACTS:
            self.say(f"Au plus {MAX_ACTS} actes par feuille.", error=True)
            return
        self.acts.append(code)
        self.ald.append(self.query_one("#fse-ald", Checkbox).value)
        self.say(f"Acte {code} ajouté.")
        self.update_amounts()
        # At 80x24 the totals sit below the fold: the clinician sees what the act costs.
        amounts = self.query_one("#fse-amounts", Static)
        self.call_after_refresh(amounts.scroll_visible, animate=False)

    @on(Button.Pressed, "#fse-remove")
    def action_remove_act(self) -> None:
        """Remove the act under the cursor (the last one by default)."""
        if not self.acts:
            self.say("Aucun acte à retirer.", error=True)
            return
        table = self.query_one("#fse-lines", DataTable)
        index = table.cursor_row if 0 <= table.cursor_row < len(self.acts) else -1
        removed = self.acts.pop(index)
        self.ald.pop(index)
        self.say(f"Acte {removed} retiré.")
        self.update_amounts()

    def action_toggle_tiers_payant(self) -> None:
        """Switch tiers payant on or off."""
        box = self.query_one("#fse-tiers-payant", Checkbox)
        box.value = not box.value

    @on(Checkbox.Changed)
    @on(Select.Changed, "#fse-exemption")
    def toggled(self) -> None:
        self.update_amounts()

    def _used(self, rights: Rights) -> Used:
        return rights.used + self.outbox.queued(rights.ins, self.today)

    def update_amounts(self) -> None:
        """Price the sheet again and show the lines and the totals."""
        table = self.query_one("#fse-lines", DataTable)
        table.clear()
        shown = self.query_one("#fse-amounts", Static)
        rights = self.current_rights()
        if rights is None:
            table.add_rows(
                [literal_row((c, CATALOGUE[c].label, "", "", "", "", "")) for c in self.acts]
            )
            shown.update("Montants : en attente des droits du patient.")
            return
        paying = self.query_one("#fse-tiers-payant", Checkbox).value
        amounts = compute(
            self.acts, rights, self.today, paying, self._used(rights), tuple(self.ald)
        )
        table.add_rows(
            [
                literal_row(
                    (
                        line.code,
                        line.label,
                        french_euros(line.price),
                        f"{line.rate} %",
                        french_euros(line.amo),
                        french_euros(line.pf),
                        french_euros(line.franchise),
                    )
                )
                for line in amounts.lines
            ]
        )
        css = f" · CSS {french_euros(amounts.complementary)}" if amounts.complementary else ""
        later = (
            f" · à récupérer plus tard par l'AMO : {french_euros(amounts.deferred)}"
            if amounts.deferred
            else ""
        )
        shown.update(
            f"Base {french_euros(amounts.base)} · AMO {french_euros(amounts.amo)}{css} · "
            f"Participation forfaitaire {french_euros(amounts.pf)} · Franchise "
            f"{french_euros(amounts.franchise)} · Part patient "
            f"{french_euros(amounts.patient)}\nÀ payer maintenant : "
            f"{french_euros(amounts.due_now)}"
            + (" (tiers payant)" if paying else " (sans tiers payant)")
            + later
        )

    # -- queue and send -------------------------------------------------------------------

    @on(Button.Pressed, "#fse-queue")
    def action_queue(self) -> None:
        """Put the sheet in the outbox; the acts stay on screen when something is missing."""
        rights = self.current_rights()
        if self.patient is None:
            self.say(NO_PATIENT, error=True)
            return
        if rights is None:
            self.say("Droits pas encore lus : attendez leur lecture.", error=True)
            return
        if not self.acts:
            self.say("Ajoutez au moins un acte.", error=True)
            return
        if not rights.open_on(self.today):
            self.say(f"Droits fermés depuis le {rights.closed_on} : feuille non créée.", True)
            return
        paying = self.query_one("#fse-tiers-payant", Checkbox).value
        if not paying and rights.exemption in TIERS_PAYANT_REQUIRED:
            self.say(f"Le tiers payant est obligatoire ({rights.exemption}).", error=True)
            return
        # Typed rights mean no card was read: such a sheet is always a degraded one.
        degraded = self.query_one("#fse-degraded", Checkbox).value or self.typed
        if degraded and rights.source == "carte":
            rights = rights.without_card()
        # An AME holder has no card: the sheet carries the admission document's number.
        ame_number = ""
        if self.typed and rights.exemption == "AME":
            ame_number = self.query_one("#fse-ame", Input).value.strip().upper()
            if not ame_number:
                self.say("AME : saisissez le numéro de l'attestation d'admission.", error=True)
                return
        used = self._used(rights)
        sheet = build_sheet(
            rights, self.acts, self.today, paying, degraded, used, ald=tuple(self.ald)
        )
        entry = self.outbox.add(replace(sheet, ame_number=ame_number))
        self.acts, self.ald = [], []
        self.update_amounts()
        self.say(f"Feuille {entry.number} mise en boîte d'envoi (en attente).")
        self.query_one(OutboxView).refresh_table()

    def action_show_outbox(self) -> None:
        """Show the outbox tab, its table focused (focus left in the other tab would
        bring that tab back)."""
        self.query_one(TabbedContent).active = "fse-tab-outbox"
        self.query_one("#fse-outbox", DataTable).focus()

    @on(TabbedContent.TabActivated)
    def tab_shown(self, event: TabbedContent.TabActivated) -> None:
        # Another terminal may have sent or queued sheets meanwhile: read the outbox again.
        if event.pane.id == "fse-tab-outbox":
            self.query_one(OutboxView).refresh_table()

    def action_show_sheet(self) -> None:
        """Back to the sheet, on the act list."""
        self.query_one(TabbedContent).active = "fse-tab-sheet"
        self.query_one("#fse-act", Select).focus()

    def action_send(self) -> None:
        """Show the outbox and send it."""
        self.action_show_outbox()
        self.query_one(OutboxView).send()
