"""`bsp rx …`: the ordonnance numérique from the shell, on the session.

Input is checked before anything is sent (INS key, each line's CIP13, dosage and
quantity, the number's check character, the QR file's suffix): a malformed value exits
2 naming the field. The service's refusals exit 4 with its reason, an unknown number
exits 5, no session exits 3, an unreachable platform exits 6 (see DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Callable
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
    OUTCOME_LABELS,
    STATUS_LABELS,
    DispenseRequest,
    LineRequest,
    Prescription,
    format_number,
    french_day,
    parse_dispense,
    parse_line,
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


def _print(prescription: Prescription, as_json: bool) -> None:
    """The prescription as JSON, or as text with its lines and how they were dispensed."""
    if as_json:
        print_json(prescription.as_json())
        return
    say(f"Ordonnance {prescription.display_number} — {STATUS_LABELS.get(prescription.status, '')}")
    say(f"Patient : {prescription.patient_name} (INS {prescription.ins})")
    prescriber, day = prescription.prescriber_name, french_day(prescription.created)
    say(f"Prescripteur : {prescriber} — le {day}")
    for line in prescription.lines:
        say(f"{line.line}. {line.label} [{line.cip13}]")
        say(f"   {line.dosage} — {line.quantity}")
        if line.outcome:
            given = OUTCOME_LABELS[line.outcome]
            if line.dispensed_cip13:
                given += f" par {line.dispensed_label or line.dispensed_cip13}"
            say(f"   → {given}")
    if prescription.pharmacy:
        say(
            f"Délivrée le {french_day(prescription.dispensed_at)} par {prescription.pharmacy}"
            f" ({prescription.pharmacist_name})."
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
@qr_option
@json_option
@command
async def create(ins: str, lines: tuple[str, ...], qr_file: Path | None, as_json: bool) -> None:
    """Prescrire au patient ; écrit le numéro et son QR code."""
    ins = ins.strip().upper()
    problem = ins_problem(ins)
    if problem:
        raise bad_input(f"INS « {ins} » : {problem}")
    requests: list[LineRequest] = [
        _parsed(_line, text, f"--line {index}") for index, text in enumerate(lines, start=1)
    ]
    checked_lines(requests)
    _qr_suffix(qr_file)
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
    metavar="N=dispensed|not_dispensed|substituted:CIP13",
    help="Comment la ligne N a été délivrée ; les lignes non nommées le sont comme prescrites.",
)
@json_option
@command
async def dispense(number: str, choices: tuple[str, ...], as_json: bool) -> None:
    """Enregistrer la délivrance (toutes les lignes, une fois) : le numéro est alors épuisé."""
    checked_number(number)
    requests: list[DispenseRequest] = [_parsed(parse_dispense, text, "--line") for text in choices]
    checked_choices(requests)
    async with client("eprescription") as http:
        prescription = await RxClient(http).dispense(number, requests)
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
