"""`bsp dmp …`: the patient's shared medical record from the shell, on the session.

Input is checked before anything is sent (INS key, mode and reason, LOINC type, file):
a malformed value exits 2. The DMP's refusals exit 4 with its reason, a document or
DMP that is not there exits 5, no session exits 3 (see DESIGN.md for every code).
"""

from __future__ import annotations

import base64
import time
from datetime import datetime
from pathlib import Path

import click

from bsp_tui.domain import professions
from connectors.dmp.client import DmpClient, DmpError, checked_ins, checked_loinc, checked_mode
from connectors.dmp.models import (
    BRIS_DE_GLACE,
    CENTRE_15,
    CONSULTATION_REPORT,
    DOCUMENT_TYPES,
    INVISIBLE_LEGAL,
    MODE_LABELS,
    MODES,
    NORMAL,
    UPDATES,
    AccessEntry,
    DocumentInfo,
)
from connectors.kit.cli import client, command, json_option, print_json, say
from connectors.kit.identities import IdentityStore

ACTIONS = {
    "check": "vérification des droits",
    "list": "liste des documents",
    "metadata": "fiche du document",
    "read": "lecture du document",
    "add": "ajout du document",
    "history": "consultation de l'historique",
    "authorize": "autorisation d'accès du patient enregistrée",
    "withdraw": "autorisation d'accès du patient retirée",
    "notify_patient": "bris de glace notifié au patient",
    "notify_treating": "bris de glace notifié au médecin traitant",
    **{verb: f"document {done}" for verb, done in UPDATES.items()},
    "update": "mise à jour du document (sans changement)",
}
REFUSALS = {
    "authorization_required": "sans autorisation du patient",
    "profession": "profession sans accès",
    "mode_profession": "mode non autorisé",
    "reason_required": "motif manquant",
    "blocked": "professionnel bloqué",
    "emergency_opposed": "bris de glace refusé par le patient",
    "closed": "DMP fermé",
    "document_type": "type de document non autorisé",
    "masked": "document masqué",
    "too_large": "document trop volumineux",
    "patch": "mise à jour non applicable",
    "deleted": "document supprimé",
    "not_author": "réservé à l'auteur",
    "not_minor": "patient majeur",
    "no_authorization": "aucune autorisation à retirer",
}

mode_option = click.option(
    "--mode",
    type=click.Choice(MODES),
    default=NORMAL,
    show_default=True,
    help="Mode d'accès : bris_de_glace (urgence, avec --reason) ou centre_15 (régulation).",
)
reason_option = click.option(
    "--reason", help="Motif (obligatoire en bris_de_glace) : tracé et montré au patient."
)


def _checked(mode: str, reason: str | None, loinc: str | None = None) -> None:
    """Client-side checks before the session is even opened (exit 2)."""
    checked_mode(mode, reason)
    if loinc is not None:
        checked_loinc(loinc)


def _shareable(ins: str) -> str:
    """The INS, well formed (exit 2) and of a qualified identity (exit 4): only then is it
    sent to the DMP."""
    ins = checked_ins(ins)
    IdentityStore.of_profile().check_qualified(ins)
    return ins


def _emergency_notice(mode: str, reason: str | None) -> None:
    if mode == BRIS_DE_GLACE:
        say(f"Accès en bris de glace, motif « {reason} » : tracé et visible du patient.", err=True)
    elif mode == CENTRE_15:
        say("Accès en mode centre 15 : tracé et visible du patient.", err=True)


def _day(value: str) -> str:
    return value[:10]


def _flags(info: DocumentInfo) -> str:
    if not info.labels and not info.archived and info.status != "entered-in-error":
        return ""  # most documents: nothing to look for
    flags = []
    if info.masked:
        flags.append("masqué aux PS")
    if info.invisible_to_patient:
        flags.append("invisible patient")
    if INVISIBLE_LEGAL in info.labels:
        flags.append("invisible représentants légaux")
    if info.archived:
        flags.append("archivé")
    if info.status == "entered-in-error":
        flags.append("supprimé")
    return f" [{', '.join(flags)}]" if flags else ""


@click.group("dmp")
def group() -> None:
    """DMP : le dossier médical partagé du patient (list, show, add, history)."""


@group.command("list")
@click.argument("ins")
@click.option("--type", "loinc", metavar="LOINC", help="Seulement ce type de document.")
@click.option("--since", metavar="YYYY-MM-DD", help="Seulement les documents de ce jour et après.")
@mode_option
@reason_option
@json_option
@command
async def list_documents(
    ins: str, loinc: str | None, since: str | None, mode: str, reason: str | None, as_json: bool
) -> None:
    """Les documents du DMP du patient que vous pouvez voir, du plus récent au plus ancien."""
    _checked(mode, reason, loinc)
    if since is not None:
        try:
            datetime.strptime(since, "%Y-%m-%d")
        except ValueError:
            raise DmpError.bad_input(f"--since s'écrit AAAA-MM-JJ (reçu « {since} »).") from None
    ins = _shareable(ins)
    async with client("dmp") as http:
        documents = await DmpClient(http).list(
            ins, type=loinc, since=since, mode=mode, reason=reason
        )
    if as_json:
        print_json(
            {
                "ins": ins.strip().upper(),
                "mode": mode,
                "count": len(documents),
                "documents": [d.as_json() for d in documents],
            }
        )
        return
    _emergency_notice(mode, reason)
    if not documents:
        say("Aucun document visible dans ce DMP.")
        return
    lines = [f"{'DATE':<10}  {'TYPE':<36}  {'ID':<16}  {'AUTEUR':<28}  TITRE"]
    for d in documents:
        kind = f"{d.loinc} {d.type_label}"[:36]
        lines.append(
            f"{_day(d.date):<10}  {kind:<36}  {d.id:<16}  {d.author_name[:28]:<28}  "
            f"{d.title}{_flags(d)}"
        )
    say("\n".join(lines))  # at once: a long DMP is thousands of lines
    say(f"{len(documents)} document(s), mode {MODE_LABELS[mode]}.", err=True)


@group.command("show")
@click.argument("document_id")
@mode_option
@reason_option
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Écrire le contenu dans ce fichier.",
)
@json_option
@command
async def show(
    document_id: str, mode: str, reason: str | None, output: Path | None, as_json: bool
) -> None:
    """Un document : sa fiche, puis son contenu quand c'est du texte."""
    _checked(mode, reason)
    async with client("dmp") as http:
        document = await DmpClient(http).show(document_id, mode=mode, reason=reason)
    if output is not None:
        output.write_bytes(document.content)
    info = document.info
    if as_json:
        content = (
            {"content_encoding": "utf-8", "content": document.text()}
            if document.is_text
            else {
                "content_encoding": "base64",
                "content": base64.b64encode(document.content).decode("ascii"),
            }
        )
        print_json(info.as_json() | content)
        return
    _emergency_notice(mode, reason)
    say(f"Document {info.id} — {info.loinc} {info.type_label}{_flags(info)}")
    say(f"Titre : {info.title}")
    say(f"Date : {_day(info.date)} — auteur : {info.author_name} ({info.author_id})")
    say(f"Contenu : {info.content_type}, {info.size} octets")
    say("")
    if document.is_text:
        say(document.text())
    elif output is None:
        say("Contenu binaire : utilisez --output FICHIER ou --json pour le récupérer.")
    if output is not None:
        say(f"Contenu enregistré dans {output}.", err=True)


@group.command("add")
@click.argument("ins")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--type",
    "loinc",
    metavar="LOINC",
    default=CONSULTATION_REPORT,
    show_default=True,
    help="Type de document (LOINC) : " + ", ".join(DOCUMENT_TYPES) + ".",
)
@click.option("--title", help="Titre affiché dans le DMP (par défaut : le libellé du type).")
@json_option
@command
async def add(
    ins: str, files: tuple[Path, ...], loinc: str, title: str | None, as_json: bool
) -> None:
    """Ajouter un ou plusieurs documents (un compte rendu de consultation par défaut) au DMP
    du patient. Plusieurs fichiers partent en un seul envoi : tous sont ajoutés, ou aucun."""
    _checked(NORMAL, None, loinc)
    ins = _shareable(ins)
    async with client("dmp") as http:
        dmp = DmpClient(http)
        if len(files) == 1:
            added = [await dmp.add(ins, files[0], loinc, title)]
        else:
            added = await dmp.submit(ins, list(files), loinc, title)
    if as_json:
        print_json(added[0].as_json() if len(files) == 1 else [i.as_json() for i in added])
        return
    for info in added:
        say(
            f"Document ajouté au DMP de {info.ins} : {info.id} "
            f"({info.loinc} {info.type_label}, {info.size} octets)."
        )


def _local(recorded: str) -> str:
    try:
        at = datetime.fromisoformat(recorded.replace("Z", "+00:00"))
    except ValueError:
        return recorded
    return time.strftime("%d/%m/%Y %H:%M:%S", time.localtime(at.timestamp()))


def _history_line(entry: AccessEntry) -> str:
    action = ACTIONS.get(entry.action, entry.action)
    if entry.document_id:
        action += f" {entry.document_id}"
    result = (
        f"REFUSÉ ({REFUSALS.get(entry.refusal, entry.refusal)})" if entry.refused else "accordé"
    )
    profession = professions.label(entry.profession)
    line = (
        f"{_local(entry.at)}  {entry.name[:26]:<26}  {profession[:11]:<11}  "
        f"{MODE_LABELS.get(entry.mode, entry.mode):<13}  {action} — {result}"
    )
    return line + (f" — motif : {entry.reason}" if entry.reason else "")


@group.command("authorize")
@click.argument("ins")
@click.option(
    "--withdraw", is_flag=True, help="Enregistrer que le patient retire son autorisation."
)
@json_option
@command
async def authorize(ins: str, withdraw: bool, as_json: bool) -> None:
    """Enregistrer l'autorisation du patient : hors de son équipe de soins, vous lisez
    son DMP avec son accord, à lui demander avant (--withdraw : il la retire)."""
    ins = _shareable(ins)
    async with client("dmp") as http:
        dmp = DmpClient(http)
        record = await (dmp.withdraw_authorization(ins) if withdraw else dmp.authorize(ins))
    if as_json:
        print_json(record.as_json())
        return
    done = "retirée" if withdraw else "enregistrée"
    say(f"Autorisation d'accès de {record.family} {record.given} {done}.")


@group.command("history")
@click.argument("ins")
@json_option
@command
async def history(ins: str, as_json: bool) -> None:
    """Qui a accédé au DMP du patient, quand, dans quel mode et pourquoi (du plus récent)."""
    ins = _shareable(ins)
    async with client("dmp") as http:
        entries = await DmpClient(http).history(ins)
    if as_json:
        print_json({"ins": ins.strip().upper(), "events": [e.as_json() for e in entries]})
        return
    say(f"{'DATE':<19}  {'PROFESSIONNEL':<26}  {'PROFESSION':<11}  {'MODE':<13}  ACTION")
    for entry in entries:
        say(_history_line(entry))


# The update commands: the CLI's name of each update (models.UPDATES), and its help.
UPDATE_COMMANDS = {
    "mask": (
        "mask",
        "Masquer un document aux professionnels (sauf son auteur et le médecin traitant).",
    ),
    "unmask": ("unmask", "Démasquer un document aux professionnels."),
    "hide-from-patient": (
        "hide_patient",
        "Rendre un document invisible au patient (en attendant de le lui annoncer, par exemple).",
    ),
    "show-to-patient": ("show_patient", "Rendre un document de nouveau visible au patient."),
    "hide-from-legal": (
        "hide_legal",
        "Rendre un document invisible aux représentants légaux d'un patient mineur.",
    ),
    "show-to-legal": (
        "show_legal",
        "Rendre un document de nouveau visible aux représentants légaux.",
    ),
    "archive": ("archive", "Archiver un document (il reste dans le DMP)."),
    "unarchive": ("unarchive", "Désarchiver un document."),
    "delete": (
        "delete",
        "Supprimer un document dont vous êtes l'auteur (il ne sera plus "
        "consultable) ; demande --yes.",
    ),
}


def _update_command(name: str, action: str, help_text: str) -> None:
    @group.command(name, help=help_text)
    @click.argument("document_id")
    @json_option
    @command
    async def update(document_id: str, as_json: bool, **options: bool) -> None:
        if action == "delete" and not options.get("yes"):
            raise DmpError.bad_input("La suppression est définitive : confirmez-la avec --yes.")
        async with client("dmp") as http:
            info = await DmpClient(http).update(document_id, action)
        if as_json:
            print_json(info.as_json() | {"update": action})
            return
        say(f"Document {info.id} {UPDATES[action]}{_flags(info)}.")

    if action == "delete":
        click.option("--yes", is_flag=True, help="Confirmer la suppression.")(update)


for _name, (_action, _help) in UPDATE_COMMANDS.items():
    _update_command(_name, _action, _help)
