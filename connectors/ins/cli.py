"""`bsp ins …`: INSi lookups, verification and Vitale cards from the shell, on the session.

Input is checked before anything is sent: a malformed value exits 2 naming the field.
A lookup exits 0 whatever INSi answers (`00`, `01` or `02`: the answer is the data);
the batch exits 0 once it has run, each failed row reported on its own output line.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO, NoReturn

import click

from bsp_tui.domain.patients import Identity, Traits
from bsp_tui.exitcodes import ExitCode
from connectors.ins.batch import (
    FIELDS,
    REQUIRED,
    Outcome,
    Progress,
    RowReader,
    estimate_rows,
    read_rows,
    resume_point,
    run_batch,
)
from connectors.ins.client import (
    InputError,
    InsClient,
    LookupResult,
    Verification,
    checked_ins,
    checked_serial,
    checked_traits,
)
from connectors.kit.cli import CommandError, client, command, json_option, print_json, say
from connectors.kit.identities import (
    DOCUMENTS,
    STATUS_LABELS,
    IdentityStore,
    LocalIdentity,
    document_problem,
)

MAX_CONCURRENCY = 64
PYTHON_GC_THRESHOLDS = (700, 10, 10)  # the collector's defaults


def bad_input(field: str, reason: str, as_json: bool, label: str | None = None) -> NoReturn:
    """Exit 2 naming the field and the reason (also as JSON with --json)."""
    message = f"{label or field} : {reason}"
    if as_json:
        print_json({"error": {"code": "bad_input", "field": field, "message": message}})
    say(f"bsp: {message}", err=True)
    sys.exit(int(ExitCode.USAGE))


def describe(identity: Identity, status: str) -> str:
    """One identity in a line for people, with its local status."""
    kind = "NIA" if identity.ins[:1] in "78" else "NIR"
    return (
        f"{identity.family} {identity.given} — {identity.sex}, né(e) le {identity.birthdate} "
        f"à {identity.birthplace}\n  INS {identity.ins} ({kind}, OID {identity.oid}) — "
        f"identité {STATUS_LABELS[status]}"
    )


def print_lookup(result: LookupResult, identities: IdentityStore) -> None:
    """A lookup answer for people."""
    if result.identity is not None:
        status = identities.status(result.identity.ins)
        say(f"00 — une identité :\n{describe(result.identity, status)}")
    elif result.code == "01":
        say("01 — aucune identité ne correspond à ces traits.")
    else:
        say(
            "02 — plusieurs identités correspondent : précisez les autres prénoms de naissance "
            '(--given "PRÉNOM1 PRÉNOM2") ou le lieu de naissance (--birthplace CODE).'
        )


@click.group("ins")
def ins_group() -> None:
    """INS : rechercher un patient au téléservice INSi, vérifier un INS."""


# -- lookup -----------------------------------------------------------------------------


@ins_group.command("lookup")
@click.option("--family", help="Nom de naissance.")
@click.option(
    "--given", help="Prénoms de naissance, séparés par des espaces, dans l'ordre (« Jean Pierre »)."
)
@click.option("--sex", help="F ou M.")
@click.option("--birthdate", help="AAAA-MM-JJ.")
@click.option("--birthplace", help="Code INSEE du lieu de naissance (COG ; 99xxx à l'étranger).")
@click.option(
    "--batch",
    "batch",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
    help="Fichier CSV (en-tête family,given,sex,birthdate,birthplace) ou NDJSON ; - pour "
    "l'entrée standard.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    default=8,
    show_default=True,
    help="Requêtes menées en même temps (avec --batch), chacune de 50 lignes au plus.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Écrire les réponses NDJSON dans ce fichier plutôt que sur la sortie standard "
    "(avec --batch).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Reprendre un lot interrompu : les lignes déjà écrites dans le fichier --output "
    "sont sautées, les autres y sont ajoutées.",
)
@json_option
def lookup(
    family: str | None,
    given: str | None,
    sex: str | None,
    birthdate: str | None,
    birthplace: str | None,
    batch: str | None,
    concurrency: int,
    output: Path | None,
    resume: bool,
    as_json: bool,
) -> None:
    """Rechercher un patient par ses traits : 00 une identité, 01 aucune, 02 plusieurs.

    Avec --batch, une ligne NDJSON par ligne lue, dans l'ordre, sur la sortie standard
    (ou dans --output) ; sur un terminal, l'avancement sur la sortie d'erreur ; un bilan
    à la fin.
    """
    values = {
        "family": family,
        "given": given,
        "sex": sex,
        "birthdate": birthdate,
        "birthplace": birthplace,
    }
    if batch is None and (output or resume):
        option = "--output" if output else "--resume"
        bad_input(option.lstrip("-"), "ne va qu'avec --batch FICHIER", as_json, option)
    if batch is not None:
        given_traits = [f"--{name}" for name, value in values.items() if value is not None]
        if given_traits:
            bad_input(
                "batch", f"ne se combine pas avec {', '.join(given_traits)}", as_json, "--batch"
            )
        if resume and output is None:
            bad_input(
                "resume", "demande --output FICHIER (la sortie à compléter)", as_json, "--resume"
            )
        stream = _open_input(batch)
        # Errors are sentences on stderr: stdout (without --output) is the NDJSON.
        _batch(
            source=batch,
            stream=stream,
            output=output,
            resume=resume,
            concurrency=concurrency,
            as_json=False,
            quiet=as_json,
        )
        return
    for name in REQUIRED:
        if values[name] is None:
            bad_input(name, "option obligatoire (ou --batch FICHIER)", as_json, f"--{name}")
    try:
        traits = checked_traits(Traits(*(values[name] or "" for name in FIELDS)))
    except InputError as error:
        bad_input(error.field, error.reason, as_json, f"--{error.field}")
    _lookup(traits=traits, as_json=as_json)


@command
async def _lookup(traits: Traits, as_json: bool) -> None:
    identities = IdentityStore.of_profile()
    async with client("ins") as http:
        result = await InsClient(http, identities).lookup(traits)
    if as_json:
        print_json(result.to_json())
    else:
        print_lookup(result, identities)


# -- batch ------------------------------------------------------------------------------


def _open_input(path: str) -> BinaryIO:
    """The batch's bytes: the file, or standard input for `-`; unopenable exits 2."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return Path(path).open("rb")
    except OSError as error:
        bad_input("batch", f"lecture impossible de {path} ({error.strerror})", False, "--batch")


@contextmanager
def _output(path: Path | None, append: bool) -> Iterator[IO[str]]:
    """Where the answers go: the --output file (added to, to resume), or stdout."""
    if path is None:
        yield sys.stdout
        return
    try:
        handle = path.open("a" if append else "w", encoding="utf-8", newline="\n")
    except OSError as error:
        raise CommandError(
            f"--output : écriture impossible dans {path} ({error.strerror}).",
            ExitCode.USAGE,
            "bad_input",
        ) from None
    with handle:
        yield handle


def _stopped(fatal: CommandError, outcome: Outcome, skip: int, output: Path | None) -> str:
    """The sentence of a batch that stopped: why, how many rows are left, how to go on."""
    left = outcome.left
    plural = "s" if left > 1 else ""
    again = "--resume" if output else "--output FICHIER --resume (FICHIER : la sortie de ce lot)"
    return (
        f"{fatal.message.rstrip('.')} — {left} ligne{plural} restante{plural} sur "
        f"{skip + outcome.read}, à partir de la ligne {skip + outcome.written + 1} ; "
        f"relancez la même commande avec {again}."
    )


@command
async def _batch(
    source: str,
    stream: BinaryIO,
    output: Path | None,
    resume: bool,
    concurrency: int,
    as_json: bool,
    quiet: bool,
) -> None:
    # A batch runs for minutes: with the collector's passes as rare as a short command
    # has them (bsp_tui.main), its cycles pile up until a full pass, and resident memory
    # grows by half over the first 100,000 rows. Python's own thresholds keep it flat.
    gc.set_threshold(*PYTHON_GC_THRESHOLDS)
    # Fails now (exit 3) rather than on every row when nobody is signed in.
    async with client("ins", signed_in=True) as http:
        try:
            skip = resume_point(output) if resume and output else 0
        except InputError as error:
            raise CommandError(f"--output : {error.reason}.", ExitCode.USAGE, "bad_input") from None
        live = sys.stderr.isatty() and not quiet
        total = max(0, estimate_rows(Path(source)) - skip) if live and source != "-" else None
        if skip:
            say(f"ins: reprise après les {skip} lignes déjà écrites dans {output}", err=True)
        with _output(output, append=resume) as out:
            try:
                outcome = await run_batch(
                    InsClient(http),
                    read_rows(stream, RowReader(skip)),
                    concurrency,
                    out,
                    Progress(sys.stderr, total, live),
                    identities=IdentityStore.of_profile(),
                )
            except InputError as error:
                raise CommandError(
                    f"--batch : {error.reason}", ExitCode.USAGE, "bad_input"
                ) from None
    if outcome.fatal is not None:
        fatal = outcome.fatal
        raise CommandError(_stopped(fatal, outcome, skip, output), fatal.exit_code, fatal.code)


# -- verify and card --------------------------------------------------------------------


@ins_group.command("verify")
@click.argument("ins")
@click.option("--family", help="Nom de naissance à vérifier pour cet INS.")
@click.option("--given", help="Prénoms de naissance à vérifier.")
@click.option("--sex", help="F ou M.")
@click.option("--birthdate", help="AAAA-MM-JJ.")
@click.option("--birthplace", help="Code INSEE du lieu de naissance.")
@json_option
def verify(
    ins: str,
    family: str | None,
    given: str | None,
    sex: str | None,
    birthdate: str | None,
    birthplace: str | None,
    as_json: bool,
) -> None:
    """Cet INS (NIR ou NIA, clé vérifiée) est-il connu ; avec des traits, sont-ils les siens ?

    Code 0 s'il est connu (et cohérent), 5 s'il est inconnu, 1 si les traits diffèrent.
    """
    try:
        ins = checked_ins(ins)
        traits = None
        if any(v is not None for v in (family, given, sex, birthdate, birthplace)):
            values = (family, given, sex, birthdate, birthplace)
            traits = checked_traits(Traits(*(v or "" for v in values)), partial=True)
    except InputError as error:
        label = "INS" if error.field == "ins" else f"--{error.field}"
        bad_input(error.field, error.reason, as_json, label)
    result = _verify(ins=ins, traits=traits, as_json=as_json)
    if as_json:
        print_json(result.to_json())
    problem = None
    if not result.known:
        problem = (f"INS inconnu : {ins}.", ExitCode.NOT_FOUND)
    elif result.consistent is False:
        problem = (f"Les traits donnés ne sont pas ceux de l'INS {ins}.", ExitCode.FAILURE)
    if problem:
        # The answer is data (printed above with --json); the exit code says how it went.
        say(f"bsp: {problem[0]}", err=True)
        sys.exit(int(problem[1]))
    if not as_json:
        checked = " ; les traits donnés sont les siens" if result.consistent else ""
        say(f"INS {ins} connu (OID {result.oid}){checked}.")


@command
async def _verify(ins: str, traits: Traits | None, as_json: bool) -> Verification:
    async with client("ins") as http:
        return await InsClient(http).verify(ins, traits)


@ins_group.command("card")
@click.argument("serial")
@click.option("--rank", type=int, help="Le rang du bénéficiaire sur la carte : son identité.")
@json_option
def card(serial: str, rank: int | None, as_json: bool) -> None:
    """Les bénéficiaires d'une carte Vitale ; avec --rank, l'identité de ce bénéficiaire."""
    try:
        serial = checked_serial(serial)
        if rank is not None and not 1 <= rank <= 99:
            raise InputError("rank", "le rang est un entier de 1 à 99")
    except InputError as error:
        label = "SERIAL" if error.field == "serial" else f"--{error.field}"
        bad_input(error.field, error.reason, as_json, label)
    _card(serial=serial, rank=rank, as_json=as_json)


@command
async def _card(serial: str, rank: int | None, as_json: bool) -> None:
    identities = IdentityStore.of_profile()
    async with client("ins") as http:
        ins = InsClient(http, identities)
        if rank is None:
            found = await ins.by_card(serial)
        else:
            result = await ins.card_identity(serial, rank)
    if rank is not None:
        if as_json:
            print_json(result.to_json())
        else:
            print_lookup(result, identities)
        return
    if as_json:
        print_json(found.to_json())
        return
    say(f"Carte Vitale {found.serial} — choisissez un bénéficiaire (--rank) :")
    for b in found.beneficiaries:
        say(f"  {b.rank}  {b.family} {b.given}, né(e) le {b.birthdate}")


# -- identity vigilance -----------------------------------------------------------------


@ins_group.command("qualify")
@click.argument("ins")
@click.option(
    "--document",
    required=True,
    help="La pièce d'identité à haut niveau de confiance vérifiée : " + ", ".join(DOCUMENTS) + ".",
)
@json_option
def qualify(ins: str, document: str, as_json: bool) -> None:
    """Noter que l'identité a été vérifiée sur une pièce à haut niveau de confiance.

    Récupérée par INSi, l'identité devient qualifiée ; sinon, validée. Le statut est
    celui de ce poste (profil), avec qui et quand.
    """
    try:
        ins = checked_ins(ins)
    except InputError as error:
        bad_input(error.field, error.reason, as_json, "INS")
    problem = document_problem(document)
    if problem:
        bad_input("document", problem, as_json, "--document")
    recorded = _qualify(ins=ins, document=document)
    if as_json:
        print_json(recorded.as_json())
        return
    say(f"Identité {recorded.status_label} : INS {ins}, {DOCUMENTS[document]} vérifié(e).")
    if recorded.status != "QUAL":
        say(
            "Pour la qualifier, récupérez aussi l'identité par INSi (bsp ins lookup ou "
            "bsp ins card)."
        )


@command
async def _qualify(ins: str, document: str) -> LocalIdentity:
    # Signed in: a professional checks the document, and the store says who.
    async with client("ins", signed_in=True) as http:
        by = await InsClient(http).professional()
    return IdentityStore.of_profile().validated(ins, document, by)
