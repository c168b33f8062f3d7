"""The DMP screen: the context patient's documents, a viewer, and the break-glass access.

The documents fill a `DataTable`, each row keyed by its document id so that Enter opens
the document under the cursor however the table is sorted (a click on a header, or
`s`). The
break-glass access asks for its reason first and says that it will be traced. The DMP's
refusals are shown in the view, in French. An identity that is not qualified is not
sent to the DMP: the view says why and offers to qualify it (« Qualifier l'identité »).
Outside the patient's care team the DMP refuses a reading without the patient's
authorisation: the view offers to record it (« Autorisation du patient »), once the
professional confirms that the patient gave it.
"""

from __future__ import annotations

from html.parser import HTMLParser

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Static

from bsp_tui.domain.patients import PatientContext
from connectors.base import ConnectorContext
from connectors.dmp.client import DmpClient, DmpError
from connectors.dmp.models import (
    BRIS_DE_GLACE,
    MODE_LABELS,
    NORMAL,
    SECURITY_LABELS,
    Document,
    DocumentInfo,
)
from connectors.kit.identities import (
    QUALIFIEE,
    STATUS_LABELS,
    IdentityStore,
    not_qualified_reason,
    professional_label,
)
from connectors.kit.vigilance import NOT_RETRIEVED, QualifyModal, record_document
from connectors.view import ConnectorView, literal, literal_row, plain_text, service_worker

NO_PATIENT = "Choisissez d'abord un patient dans INS."
TRACED = "Cet accès sera tracé et visible par le patient."
REASON_REQUIRED = "Le motif est obligatoire."
AUTHORIZATION_REQUIRED = "authorization_required"  # the DMP's reason code for that refusal
AUTHORIZATION_ASKED = (
    "Vous n'êtes pas de l'équipe de soins de ce patient. Le patient vous autorise-t-il à "
    "consulter son DMP ? L'autorisation est enregistrée dans le DMP et tracée dans son "
    "historique."
)
# The labels come before the title: at 80 columns a masked document says so on screen.
COLUMNS = (("date", "Date"), ("type", "Type"), ("labels", "Étiquettes"), ("title", "Titre"))
COLUMNS += (("author", "Auteur"),)


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "title"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """The text of an HTML document, without its tags, scripts and styles."""
    parser = _TextOnly()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def readable(document: Document) -> str:
    """What the viewer shows of a document's content."""
    kind = document.info.content_type
    if kind == "text/html":
        return html_text(document.text())
    if document.is_text:
        return document.text()
    return f"Contenu {kind} ({len(document.content)} octets) : non affichable ici."


UNREACHABLE = "Le DMP est injoignable : réessayez dans un instant."


def row_of(info: DocumentInfo) -> tuple[str, str, str, str, str]:
    shown = [SECURITY_LABELS.get(label, label) for label in info.labels]
    labels = ", ".join([*shown, "Archivé"] if info.archived else shown)
    return (info.date[:10], info.type_label, labels, info.title, info.author_name)


class DocumentViewer(ModalScreen[None]):
    """One document's content, as text."""

    BINDINGS = [Binding("escape", "close", "Fermer", id="dmp.close-document")]
    DEFAULT_CSS = """
    DocumentViewer { align: center middle; }
    DocumentViewer > Vertical {
        width: 90%; height: 85%; border: thick $primary; background: $surface; padding: 0 1;
    }
    DocumentViewer #viewer-title { text-style: bold; }
    DocumentViewer #viewer-scroll { height: 1fr; }
    """

    def __init__(self, document: Document) -> None:
        super().__init__(id="dmp-viewer")
        self.document = document

    def compose(self) -> ComposeResult:
        info = self.document.info
        with Vertical():
            yield Static(literal(f"{info.title} — {info.type_label}"), id="viewer-title")
            yield Static(literal(f"{info.date[:10]} · {info.author_name} · {info.content_type}"))
            with VerticalScroll(id="viewer-scroll"):
                yield Static(readable(self.document), id="viewer-text", markup=False)
            yield Button("Fermer", id="viewer-close")

    @on(Button.Pressed, "#viewer-close")
    def action_close(self) -> None:
        self.dismiss(None)


class BreakGlassModal(ModalScreen[str | None]):
    """Asks the break-glass reason (required) and says the access will be traced."""

    BINDINGS = [Binding("escape", "cancel", "Annuler", id="dmp.cancel-break-glass")]
    DEFAULT_CSS = """
    BreakGlassModal { align: center middle; }
    BreakGlassModal > Vertical {
        width: 70; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    BreakGlassModal #bg-title { text-style: bold; }
    BreakGlassModal #bg-error { color: $error; height: auto; }
    BreakGlassModal Horizontal { height: auto; margin-top: 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="dmp-break-glass")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Accès en bris de glace", id="bg-title")
            yield Static(TRACED, id="bg-traced")
            yield Input(placeholder="Motif de l'accès (obligatoire)", id="bg-reason")
            yield Static("", id="bg-error")
            with Horizontal():
                yield Button("Confirmer", id="bg-confirm", variant="error")
                yield Button("Annuler", id="bg-cancel")

    def on_mount(self) -> None:
        self.query_one("#bg-reason", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#bg-confirm")
    def confirm(self) -> None:
        reason = self.query_one("#bg-reason", Input).value.strip()
        if not reason:
            self.query_one("#bg-error", Static).update(REASON_REQUIRED)
            self.query_one("#bg-reason", Input).focus()
            return
        self.dismiss(reason)

    @on(Button.Pressed, "#bg-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class AuthorizeModal(ModalScreen[bool]):
    """Asks the professional to confirm that the patient authorises the DMP's reading."""

    BINDINGS = [Binding("escape", "cancel", "Annuler", id="dmp.cancel-authorize")]
    DEFAULT_CSS = """
    AuthorizeModal { align: center middle; }
    AuthorizeModal > Vertical {
        width: 70; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    AuthorizeModal #auth-title { text-style: bold; }
    AuthorizeModal Horizontal { height: auto; margin-top: 1; }
    """

    def __init__(self, patient: PatientContext) -> None:
        super().__init__(id="dmp-authorize-modal")
        self.patient = patient

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Autorisation d'accès du patient", id="auth-title")
            yield Static(self.patient.label, id="auth-patient", markup=False)
            yield Static(AUTHORIZATION_ASKED, id="auth-asked")
            with Horizontal():
                yield Button("Le patient m'autorise", id="auth-confirm", variant="warning")
                yield Button("Annuler", id="auth-cancel")

    def on_mount(self) -> None:
        self.query_one("#auth-cancel", Button).focus()  # the safe choice first

    @on(Button.Pressed, "#auth-confirm")
    def confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#auth-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class DmpView(ConnectorView):
    """The context patient's DMP documents."""

    STATUS_ID = "dmp-status"

    BINDINGS = [
        Binding("s", "sort_next", "Trier", id="dmp.sort"),
        Binding("b", "break_glass", "Bris de glace", id="dmp.break-glass"),
        Binding("r", "reload", "Recharger", id="dmp.reload"),
    ]
    DEFAULT_CSS = """
    DmpView .title { text-style: bold; }
    DmpView #dmp-bar { height: auto; }
    DmpView #dmp-patient { width: 1fr; padding-top: 1; }
    DmpView #dmp-status { height: auto; }
    DmpView #dmp-status.-error { color: $error; }
    DmpView #dmp-documents { height: 1fr; }
    DmpView #dmp-qualify, DmpView #dmp-authorize { display: none; }
    DmpView #dmp-qualify.-offered, DmpView #dmp-authorize.-offered { display: block; }
    """

    def __init__(self, context: ConnectorContext) -> None:
        super().__init__(context)
        self.mode = NORMAL
        self.reason: str | None = None
        self.documents: dict[str | None, DocumentInfo] = {}  # by document id, the row key
        self.sorted_by: tuple[str, bool] | None = None
        self.identities = IdentityStore.of_profile()
        who = context.who
        self.by = professional_label(str(who.get("name", "")), str(who.get("national_id", "")))

    @property
    def patient(self) -> PatientContext | None:
        return self.context.get_patient()

    def compose(self) -> ComposeResult:
        yield Static("DMP — documents du patient", classes="title")
        with Horizontal(id="dmp-bar"):
            yield Static("", id="dmp-patient")
            yield Button("Qualifier l'identité", id="dmp-qualify", variant="warning")
            yield Button("Autorisation du patient", id="dmp-authorize", variant="warning")
            yield Button("Bris de glace", id="dmp-break-glass", variant="error")
        yield Static("", id="dmp-status")
        table: DataTable = DataTable(id="dmp-documents", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table

    def on_mount(self) -> None:
        patient = self.patient
        if patient is None:
            self.query_one("#dmp-patient", Static).update("Aucun patient choisi.")
            self.query_one("#dmp-break-glass", Button).disabled = True
            self.say(NO_PATIENT, error=True)
            return
        self.query_one("#dmp-patient", Static).update(literal(patient.label))
        self.query_one(DataTable).focus()
        self.load()

    @property
    def client(self) -> DmpClient:
        return DmpClient(self.context.client)

    # -- the list -----------------------------------------------------------------------

    def qualified(self, patient: PatientContext) -> bool:
        """Whether the patient's INS may be sent; if not, say why and offer to qualify."""
        status = self.identities.status(patient.ins)
        offer = self.query_one("#dmp-qualify", Button)
        offer.set_class(status != QUALIFIEE, "-offered")
        if status == QUALIFIEE:
            return True
        self.show_documents([])
        self.say(not_qualified_reason(patient.ins, status), error=True)
        offer.focus()
        return False

    @on(Button.Pressed, "#dmp-qualify")
    def action_qualify(self) -> None:
        patient = self.patient
        if patient is None:
            return
        label = STATUS_LABELS[self.identities.status(patient.ins)]
        self.app.push_screen(QualifyModal(patient, label), self.qualify_answered)

    def qualify_answered(self, document: str | None) -> None:
        patient = self.patient
        if patient is None:
            return
        recorded = record_document(self.identities, patient.ins, document, self.by)
        if recorded is None:
            return
        if recorded.status != QUALIFIEE:
            self.say(NOT_RETRIEVED, error=True)
            return
        self.query_one(DataTable).focus()
        self.load()

    @service_worker(group="dmp-list", unreachable=UNREACHABLE)
    async def load(self) -> None:
        patient = self.patient
        if patient is None or not self.qualified(patient):
            return
        self.say("Chargement des documents…")
        offer = self.query_one("#dmp-authorize", Button)
        try:
            documents = await self.client.list(patient.ins, mode=self.mode, reason=self.reason)
        except DmpError as error:
            self.show_documents([])
            self.say(f"Accès refusé par le DMP : {error.message}", error=True)
            offer.set_class(error.code == AUTHORIZATION_REQUIRED, "-offered")
            if offer.has_class("-offered"):
                offer.focus()
            return
        offer.remove_class("-offered")
        self.show_documents(documents)

    @on(Button.Pressed, "#dmp-authorize")
    def action_authorize(self) -> None:
        patient = self.patient
        if patient is not None:
            self.app.push_screen(AuthorizeModal(patient), self.authorize_answered)

    def authorize_answered(self, given: bool | None) -> None:
        if given:
            self.record_authorization()

    @service_worker(group="dmp-authorize", unreachable=UNREACHABLE)
    async def record_authorization(self) -> None:
        patient = self.patient
        if patient is None:
            return
        try:
            await self.client.authorize(patient.ins)
        except DmpError as error:
            self.say(f"Autorisation refusée par le DMP : {error.message}", error=True)
            return
        self.query_one(DataTable).focus()
        self.load()

    def show_documents(self, documents: list[DocumentInfo]) -> None:
        """Fill the table, one row per document keyed by its id."""
        table = self.query_one(DataTable)
        table.clear()
        self.documents = {}
        for info in documents:
            table.add_row(*literal_row(row_of(info)), key=info.id)
            self.documents[info.id] = info
        if self.sorted_by:
            table.sort(self.sorted_by[0], key=plain_text, reverse=self.sorted_by[1])
        mode = "" if self.mode == NORMAL else f" (mode {MODE_LABELS[self.mode]})"
        count = len(documents)
        self.say(f"{count} document{'s' if count > 1 else ''}{mode}.")

    def sort_by(self, column: str) -> None:
        reverse = self.sorted_by == (column, False)
        self.sorted_by = (column, reverse)
        self.query_one(DataTable).sort(column, key=plain_text, reverse=reverse)

    @on(DataTable.HeaderSelected)
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    def action_sort_next(self) -> None:
        keys = [key for key, _ in COLUMNS]
        current = self.sorted_by[0] if self.sorted_by else keys[-1]
        if self.sorted_by and not self.sorted_by[1]:
            self.sort_by(current)  # same column, the other way
        else:
            self.sorted_by = None
            self.sort_by(keys[(keys.index(current) + 1) % len(keys)])

    def action_reload(self) -> None:
        if self.patient is not None:
            self.load()

    # -- a document ---------------------------------------------------------------------

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        info = self.documents.get(event.row_key.value)
        if info is not None:
            self.open_document(info.id)

    @service_worker(group="dmp-show", unreachable=UNREACHABLE)
    async def open_document(self, document_id: str) -> None:
        try:
            document = await self.client.show(document_id, mode=self.mode, reason=self.reason)
        except DmpError as error:
            self.say(f"Document refusé par le DMP : {error.message}", error=True)
            return
        self.app.push_screen(DocumentViewer(document))

    # -- break-glass --------------------------------------------------------------------

    @on(Button.Pressed, "#dmp-break-glass")
    def action_break_glass(self) -> None:
        if self.patient is None:
            return
        self.app.push_screen(BreakGlassModal(), self.broken)

    def broken(self, reason: str | None) -> None:
        if not reason:
            return
        self.mode, self.reason = BRIS_DE_GLACE, reason
        self.load()
