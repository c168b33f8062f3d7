"""The INS screen: a lookup by traits, its answer, and the choice of the patient context.

Every field is checked before any request, with the reason in French next to it. A `00`
shows the identity, recorded *récupérée* in the launcher's identity store, with its
status; checking a high-trust document qualifies it (the document chosen, then
« Pièce vérifiée ») and a button makes it the patient every connector opens on;
`01` says none was found; `02` asks for more traits in place (the form stays filled and
the birthplace field takes the focus).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from bsp_tui.domain.patients import (
    Identity,
    PatientContext,
    Traits,
    birthdate_problem,
    cog_problem,
    name_problem,
    normalise_name,
    sex_problem,
)
from connectors.base import ConnectorContext
from connectors.ins.client import FOUND, NONE, SEVERAL, InputError, InsClient, InsServiceError
from connectors.kit.identities import DOCUMENTS, STATUS_LABELS, IdentityStore, professional_label
from connectors.view import ConnectorView, literal, service_worker

FIELDS = ("family", "given", "sex", "birthdate", "birthplace")
LABELS = {
    "family": "Nom de naissance",
    "given": "Prénom(s)",
    "sex": "Sexe",
    "birthdate": "Date de naissance",
    "birthplace": "Lieu de naissance",
}
NOT_FOUND = "Aucune identité trouvée."
SEVERAL_FOUND = "Plusieurs identités : précisez (autres prénoms, lieu de naissance)."
UNREACHABLE = "Le service INS est injoignable : réessayez dans un instant."


def field_problems(traits: Traits) -> dict[str, str]:
    """Every field's problem (not only the first), keyed by field name."""
    checks = {
        "family": name_problem(normalise_name(traits.family), "le nom de naissance"),
        "given": name_problem(normalise_name(traits.given), "le prénom"),
        "sex": sex_problem(traits.sex) if traits.sex else "choisissez le sexe",
        "birthdate": birthdate_problem(traits.birthdate.strip()),
        "birthplace": cog_problem(traits.birthplace.strip().upper())
        if traits.birthplace.strip()
        else None,
    }
    return {name: reason for name, reason in checks.items() if reason}


class InsView(ConnectorView):
    """Look an identity up by its traits and choose it as the patient."""

    STATUS_ID = "ins-outcome"

    DEFAULT_CSS = """
    InsView #ins-scroll { height: 1fr; }
    InsView .title { text-style: bold; margin-bottom: 1; }
    InsView .row { height: auto; }
    InsView .row Label { width: 20; padding-top: 1; }
    InsView .row Input, InsView .row Select { width: 30; }
    InsView .field-error { color: $error; padding: 1 0 0 1; width: 1fr; }
    InsView.-compact .row Label { padding-top: 0; }
    InsView.-compact .field-error { padding: 0 0 0 1; }
    InsView.-compact .row { margin-bottom: 0; }
    InsView.-compact .title { margin: 0; }
    InsView #ins-actions { height: auto; margin-top: 1; }
    InsView #ins-outcome { margin-top: 1; height: auto; }
    InsView #ins-outcome.-error { color: $error; }
    InsView #ins-result { height: auto; display: none; border: round $primary; padding: 0 1; }
    InsView #ins-result.-shown { display: block; }
    InsView #ins-choose { margin-top: 1; }
    InsView #ins-vigilance { height: auto; margin-top: 1; }
    InsView #ins-document { width: 40; }
    """

    def __init__(self, context: ConnectorContext) -> None:
        super().__init__(context)
        self.identity: Identity | None = None
        self.requests = 0
        self.identities = IdentityStore.of_profile()
        who = context.who
        self.by = professional_label(str(who.get("name", "")), str(who.get("national_id", "")))

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="ins-scroll"):
            yield from self.compose_form()

    def compose_form(self) -> ComposeResult:
        yield Static("INS — recherche d'identité par les traits", classes="title")
        for name in FIELDS:
            with Horizontal(classes="row"):
                yield Label(LABELS[name], classes="field-label")
                if name == "sex":
                    yield Select(
                        [("Féminin (F)", "F"), ("Masculin (M)", "M")],
                        prompt="F ou M",
                        id="ins-sex",
                    )
                else:
                    yield Input(placeholder=_placeholder(name), id=f"ins-{name}")
                yield Static("", id=f"ins-{name}-error", classes="field-error")
        with Horizontal(id="ins-actions"):
            yield Button("Rechercher", id="ins-search", variant="primary")
        yield Static("", id="ins-outcome")
        with Vertical(id="ins-result"):
            yield Static("", id="ins-identity")
            with Horizontal(id="ins-vigilance"):
                yield Select(
                    [(label, code) for code, label in DOCUMENTS.items()],
                    prompt="Pièce d'identité vérifiée",
                    id="ins-document",
                )
                yield Button("Pièce vérifiée", id="ins-qualify")
            yield Button("Choisir comme patient", id="ins-choose", variant="success")

    def on_mount(self) -> None:
        self.query_one("#ins-family", Input).focus()

    # -- the form -----------------------------------------------------------------------

    def traits(self) -> Traits:
        """The traits as typed (not yet normalised)."""
        sex = self.query_one("#ins-sex", Select).value

        def value(name: str) -> str:
            return self.query_one(f"#ins-{name}", Input).value

        return Traits(
            value("family"),
            value("given"),
            sex if isinstance(sex, str) else "",
            value("birthdate"),
            value("birthplace"),
        )

    def show_problems(self, problems: dict[str, str]) -> None:
        for name in FIELDS:
            reason = problems.get(name, "")
            shown = literal(f"⚠ {reason}" if reason else "")
            self.query_one(f"#ins-{name}-error", Static).update(shown)

    @on(Input.Submitted)
    @on(Button.Pressed, "#ins-search")
    def search(self) -> None:
        traits = self.traits()
        problems = field_problems(traits)
        self.show_problems(problems)
        self.show_identity(None)
        if problems:
            self.say("Corrigez les champs signalés.", error=True)
            self.query_one(f"#ins-{next(iter(problems))}").focus()
            return
        self.say("Recherche en cours…")
        self.lookup(traits)

    @service_worker(group="ins-lookup", unreachable=UNREACHABLE)
    async def lookup(self, traits: Traits) -> None:
        self.requests += 1
        try:
            result = await InsClient(self.context.client, self.identities, self.by).lookup(traits)
        except InputError as error:
            self.show_problems({error.field: error.reason})
            self.say("Corrigez les champs signalés.", error=True)
            return
        except InsServiceError as error:
            self.say(f"Le service INS a refusé la recherche : {error.message}", error=True)
            return
        if result.code == FOUND and result.identity is not None:
            self.say("Identité trouvée (code 00).")
            self.show_identity(result.identity)
            # The next thing to do is to choose her: Enter again does it.
            choose = self.query_one("#ins-choose", Button)
            choose.focus()
            choose.scroll_visible()
        elif result.code == NONE:
            self.say(NOT_FOUND, error=True)
        elif result.code == SEVERAL:
            self.say(SEVERAL_FOUND, error=True)
            self.query_one("#ins-birthplace", Input).focus()
        else:
            self.say(f"Réponse INS inattendue (code {result.code}).", error=True)

    # -- the result ---------------------------------------------------------------------

    def show_identity(self, identity: Identity | None) -> None:
        self.identity = identity
        box = self.query_one("#ins-result")
        box.set_class(identity is not None, "-shown")
        if identity is None:
            return
        status = STATUS_LABELS[self.identities.status(identity.ins)]
        self.query_one("#ins-identity", Static).update(
            literal(
                f"{identity.family} {identity.given} — {identity.sex}, né(e) le "
                f"{identity.birthdate} à {identity.birthplace}\n"
                f"INS {identity.ins} (OID {identity.oid}) — identité {status}"
            )
        )

    @on(Button.Pressed, "#ins-qualify")
    def qualify(self) -> None:
        if self.identity is None:
            return
        document = self.query_one("#ins-document", Select).value
        if not isinstance(document, str):
            self.say("Choisissez la pièce d'identité vérifiée.", error=True)
            self.query_one("#ins-document", Select).focus()
            return
        recorded = self.identities.validated(self.identity.ins, document, self.by)
        self.show_identity(self.identity)
        self.say(f"Identité {recorded.status_label} ({DOCUMENTS[document]}).")
        self.query_one("#ins-choose", Button).focus()

    @on(Button.Pressed, "#ins-choose")
    def choose(self) -> None:
        if self.identity is None:
            return
        self.context.set_patient(PatientContext.of(self.identity))
        self.say(f"Patient choisi : {self.identity.family} {self.identity.given}.")


def _placeholder(name: str) -> str:
    return {
        "family": "ex. DUPONT",
        "given": "ex. Marie",
        "birthdate": "AAAA-MM-JJ",
        "birthplace": "code INSEE (facultatif)",
    }[name]
