"""`bsp rx …`: the ordonnance numérique from the shell, on the session.

Input is checked before anything is sent (INS key, each line's CIP13, dosage and
quantity, the number's check character, the QR file's suffix): a malformed value exits
2 naming the field. The service's refusals exit 4 with its reason, an unknown number
exits 5, no session exits 3, an unreachable platform exits 6 (see DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import click

from bsp_tui.domain.patients import ins_problem
from bsp_tui.exitcodes import ExitCode
from connectors.eprescription.catalogue import search
from connectors.eprescription.client import (
    RxClient,
    bad_input,
    catalogue_problem,
    checked_choices,
    checked_lines,
    checked_number,
)
from connectors.eprescription.models import (
    ACTIVE,
    DISPENSED,
    NON_SUBSTITUTABLE,
    NOT_DISPENSED,
    SUBSTITUTED,
    DispenseRequest,
    Given,
    Line,
    LineRequest,
    Prescription,
    amount,
    format_number,
    french_day,
    parse_agreement,
    parse_dispense,
    parse_line,
    parse_line_option,
    qr_text,
    save_qr,
)
from connectors.kit.cli import (
    CommandError,
    client,
    command,
    json_option,
    print_json,
    say,
)
from connectors.kit.identities import IdentityStore

T = TypeVar("T")

qr_option = click.option(
    "--qr",
    "qr_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Écrire aussi le QR code dans ce fichier (.svg ou .png), pour l'imprimer.",
)


def _parsed(parse: Callable[[str], T], value: str, option: str) -> T:
    try:
        return parse(value)
    except ValueError as error:
        raise bad_input(f"{option} : {error}") from None


def _line(text: str) -> LineRequest:
    line = parse_line(text)
    problem = catalogue_problem(line.cip13)
    if problem:
        raise ValueError(problem)
    return line


def _qualified(requests: list[LineRequest], text: str, option: str) -> tuple[int, str]:
    """(line, value) of an option qualifying one of the lines (`N=VALUE`)."""
    at, value = _parsed(lambda typed: parse_line_option(typed, option), text, option)
    if not 1 <= at <= len(requests):
        raise bad_input(f"{option} « {text} » : l'ordonnance n'a pas de ligne {at}")
    return at, value


def _qr_suffix(path: Path | None) -> None:
    if path is not None and path.suffix.lower() not in (".svg", ".png"):
        raise bad_input(f"--qr / --output « {path.name} » : un fichier .svg ou .png")


def _write_qr(number: str, path: Path | None) -> None:
    if path is None:
        return
    try:
        save_qr(number, path)
    except OSError as error:
        raise CommandError(
            f"Impossible d'écrire le QR code dans {path} : {error.strerror or error}.",
            ExitCode.FAILURE,
            "qr_file",
        ) from None
    say(f"QR code enregistré dans {path}.", err=True)


def _given_text(given: Given, line: Line | None) -> str:
    if given.outcome == NOT_DISPENSED:
        return f"ligne {given.line} non délivrée"
    in_boxes = line is None or line.boxes is not None
    text = f"ligne {given.line} : {amount(given.quantity, in_boxes)}"
    if given.outcome == SUBSTITUTED:
        text += f" de {given.label or given.cip13} (substitution)"
    if given.agreement:
        text += f", accord du prescripteur le {french_day(given.agreement)}"
    return text


def _print(prescription: Prescription, as_json: bool) -> None:
    """The prescription as JSON, or as text with its lines and each visit's dispensing."""
    if as_json:
        print_json(prescription.as_json())
        return
    say(f"Ordonnance {prescription.display_number} — {prescription.status_label}")
    say(f"Patient : {prescription.patient_name} (INS {prescription.ins})")
    prescriber, day = prescription.prescriber_name, french_day(prescription.created)
    say(f"Prescripteur : {prescriber} — le {day}")
    if prescription.valid_until and prescription.status == ACTIVE:
        say(f"À délivrer jusqu'au {french_day(prescription.valid_until)}.")
    for line in prescription.lines:
        say(f"{line.line}. {line.label} [{line.cip13}]")
        say(f"   {line.dosage} — {line.quantity}")
        if line.non_substitutable:
            mention = NON_SUBSTITUTABLE[line.non_substitutable]
            say(f"   non substituable ({line.non_substitutable} : {mention})")
        if line.delivered:
            say(f"   → délivré {line.progress}")
    lines = {line.line: line for line in prescription.lines}
    for dispensing in prescription.dispensings:
        given = " ; ".join(_given_text(g, lines.get(g.line)) for g in dispensing.given)
        say(
            f"Délivrance {dispensing.rank} le {french_day(dispensing.at)} par "
            f"{dispensing.pharmacy} ({dispensing.pharmacist_name}) : {given}."
        )
    if prescription.withheld:
        say(
            f"{prescription.withheld} délivrance(s) non communiquée(s) : le patient s'y est opposé."
        )


def _dmp_notice(prescription: Prescription) -> None:
    copy = prescription.dmp_copy
    if copy is None:
        return
    if copy.filed:
        say(f"Copie déposée dans le DMP du patient (document {copy.document_id}).", err=True)
    else:
        say(f"Copie non déposée dans le DMP : {copy.reason}", err=True)


@click.group("rx")
def group() -> None:
    """Ordonnance numérique : prescrire, consulter, délivrer, annuler ; les médicaments."""


@group.command("meds")
@click.argument("text")
@json_option
def meds(text: str, as_json: bool) -> None:
    """Chercher dans le catalogue des médicaments par nom (accents facultatifs) ou CIP13."""
    found = search(text)
    if as_json:
        print_json(
            {"query": text, "count": len(found), "medications": [m.as_json() for m in found]}
        )
        return
    if not found:
        say(f"Aucun médicament du catalogue ne correspond à « {text} ».", err=True)
        return
    for medication in found:
        say(f"{medication.cip13}  {medication.label}")


@group.command("create")
@click.argument("ins")
@click.option(
    "--line",
    "lines",
    multiple=True,
    required=True,
    metavar="'CIP13;DOSAGE;QUANTITY'",
    help="Une ligne : CIP13, posologie, puis boîtes (2) ou durée (30j). À répéter.",
)
@click.option(
    "--renew",
    "renewals",
    multiple=True,
    metavar="N=COUNT",
    help="La ligne N est « à renouveler COUNT fois » (0 à 11). À répéter.",
)
@click.option(
    "--non-substitutable",
    "mentions",
    multiple=True,
    metavar="N=MTE|EFG|CIF",
    help="La ligne N est « non substituable », pour l'une des trois raisons admises.",
)
@qr_option
@json_option
@command
async def create(
    ins: str,
    lines: tuple[str, ...],
    renewals: tuple[str, ...],
    mentions: tuple[str, ...],
    qr_file: Path | None,
    as_json: bool,
) -> None:
    """Prescrire au patient ; écrit le numéro et son QR code."""
    ins = ins.strip().upper()
    problem = ins_problem(ins)
    if problem:
        raise bad_input(f"INS « {ins} » : {problem}")
    requests: list[LineRequest] = [
        _parsed(_line, text, f"--line {index}") for index, text in enumerate(lines, start=1)
    ]
    for text in renewals:
        at, count = _qualified(requests, text, "--renew")
        if not count.isdigit():
            raise bad_input(f"--renew « {text} » : un nombre de renouvellements")
        requests[at - 1] = replace(requests[at - 1], renewals=int(count))
    for text in mentions:
        at, mention = _qualified(requests, text, "--non-substitutable")
        requests[at - 1] = replace(requests[at - 1], non_substitutable=mention.upper())
    checked_lines(requests)
    _qr_suffix(qr_file)
    IdentityStore.of_profile().check_qualified(ins)  # the INS goes out only qualified
    async with client("eprescription") as http:
        prescription = await RxClient(http).create(ins, requests)
    _write_qr(prescription.number, qr_file)
    if as_json:
        print_json(prescription.as_json())
        return
    say(f"Ordonnance {prescription.display_number} pour {prescription.patient_name}.")
    say(qr_text(prescription.number))
    _dmp_notice(prescription)


@group.command("show")
@click.argument("number")
@json_option
@command
async def show(number: str, as_json: bool) -> None:
    """Une ordonnance par son numéro (saisi ou scanné), et comment elle a été délivrée."""
    checked_number(number)
    async with client("eprescription") as http:
        prescription = await RxClient(http).show(number)
    _print(prescription, as_json)


@group.command("dispense")
@click.argument("number")
@click.option(
    "--line",
    "choices",
    multiple=True,
    metavar="N=dispensed[:QTY]|not_dispensed|substituted:CIP13[:QTY]",
    help=(
        "Comment la ligne N est délivrée cette fois (QTY : boîtes ou jours) ; les lignes "
        "non nommées le sont comme prescrites (leur quantité, ou ce qu'il en reste)."
    ),
)
@click.option(
    "--agreement",
    "agreements",
    multiple=True,
    metavar="N=YYYY-MM-DD",
    help="Le prescripteur a accepté, ce jour-là, la modification de la ligne N.",
)
@click.option(
    "--opposition",
    is_flag=True,
    help="Le patient s'oppose à ce que le prescripteur voie cette délivrance.",
)
@json_option
@command
async def dispense(
    number: str,
    choices: tuple[str, ...],
    agreements: tuple[str, ...],
    opposition: bool,
    as_json: bool,
) -> None:
    """Enregistrer une délivrance (en une ou plusieurs fois) : le numéro est épuisé une fois
    tout délivré."""
    checked_number(number)
    parsed = checked_choices(_parsed(parse_dispense, text, "--line") for text in choices)
    requests = {request.line: request for request in parsed}
    for text in agreements:
        at, day = _parsed(parse_agreement, text, "--agreement")
        requests[at] = replace(requests.get(at) or DispenseRequest(at, DISPENSED), agreement=day)
    async with client("eprescription") as http:
        prescription = await RxClient(http).dispense(
            number, list(requests.values()), opposed=opposition
        )
    _print(prescription, as_json)


@group.command("cancel")
@click.argument("number")
@json_option
@command
async def cancel(number: str, as_json: bool) -> None:
    """Annuler une de vos ordonnances, avant sa délivrance."""
    checked_number(number)
    async with client("eprescription") as http:
        prescription = await RxClient(http).cancel(number)
    if as_json:
        print_json(prescription.as_json())
        return
    say(f"Ordonnance {prescription.display_number} annulée.")


@group.command("qr")
@click.argument("number")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Écrire le QR code dans ce fichier (.svg ou .png) plutôt que dans le terminal.",
)
@json_option
@command
async def qr(number: str, output: Path | None, as_json: bool) -> None:
    """Le QR code d'une ordonnance : dans le terminal, ou en SVG/PNG pour l'imprimer."""
    checked_number(number)
    _qr_suffix(output)
    async with client("eprescription") as http:
        prescription = await RxClient(http).show(number)
    _write_qr(prescription.number, output)
    if as_json:
        payload = {"number": format_number(prescription.number), "qr": prescription.qr}
        print_json(payload | ({"file": str(output)} if output else {}))
        return
    if output is None:
        say(qr_text(prescription.number))
