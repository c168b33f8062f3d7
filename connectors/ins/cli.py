"""`bsp ins …`: INSi lookups, verification and Vitale cards from the shell, on the session.

Input is checked before anything is sent: a malformed value exits 2 naming the field.
A lookup exits 0 whatever INSi answers (`00`, `01` or `02`: the answer is the data);
the batch exits 0 once it has run, each failed row reported on its own output line.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

import click
import httpx

from bsp_tui.domain.patients import Identity, Traits
from bsp_tui.exitcodes import ExitCode
from connectors.ins.client import (
    InputError,
    InsClient,
    InsServiceError,
    LookupResult,
    Verification,
    checked_ins,
    checked_serial,
    checked_traits,
)
from connectors.kit.cli import (
    CommandError,
    client,
    command,
    json_option,
    json_text,
    print_json,
    say,
)
from connectors.kit.errors import SsoError

FIELDS = ("family", "given", "sex", "birthdate", "birthplace")
REQUIRED = FIELDS[:4]
MAX_CONCURRENCY = 64
UNREACHABLE = "Plateforme injoignable : lancez `bsp platform serve` ou vérifiez BSP_PLATFORM_URL."


def bad_input(field: str, reason: str, as_json: bool, label: str | None = None) -> NoReturn:
    """Exit 2 naming the field and the reason (also as JSON with --json)."""
    message = f"{label or field} : {reason}"
    if as_json:
        print_json({"error": {"code": "bad_input", "field": field, "message": message}})
    say(f"bsp: {message}", err=True)
    sys.exit(int(ExitCode.USAGE))


def describe(identity: Identity) -> str:
    """One identity in a line for people."""
    kind = "NIA" if identity.ins[:1] in "78" else "NIR"
    return (
        f"{identity.family} {identity.given} — {identity.sex}, né(e) le {identity.birthdate} "
        f"à {identity.birthplace}\n  INS {identity.ins} ({kind}, OID {identity.oid}) — "
        f"statut {identity.status}"
    )


def print_lookup(result: LookupResult) -> None:
    """A lookup answer for people."""
    if result.identity is not None:
        say(f"00 — une identité :\n{describe(result.identity)}")
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
    help="Recherches menées en même temps (avec --batch).",
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
    as_json: bool,
) -> None:
    """Rechercher un patient par ses traits : 00 une identité, 01 aucune, 02 plusieurs.

    Avec --batch, une ligne NDJSON par ligne lue, dans l'ordre, sur la sortie standard ;
    l'avancement et un bilan sur la sortie d'erreur.
    """
    values = {
        "family": family,
        "given": given,
        "sex": sex,
        "birthdate": birthdate,
        "birthplace": birthplace,
    }
    if batch is not None:
        given_traits = [f"--{name}" for name, value in values.items() if value is not None]
        if given_traits:
            bad_input(
                "batch", f"ne se combine pas avec {', '.join(given_traits)}", as_json, "--batch"
            )
        rows = read_batch(batch)
        _batch(rows=rows, concurrency=concurrency, as_json=False)
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
    async with client("ins") as http:
        result = await InsClient(http).lookup(traits)
    if as_json:
        print_json(result.to_json())
    else:
        print_lookup(result)


# -- batch ------------------------------------------------------------------------------


@dataclass
class Row:
    """One input row: its number (from 1) and its traits, or why it cannot be read."""

    number: int
    traits: Traits | None = None
    field: str | None = None
    problem: str | None = None


def _row_from(number: int, record: dict[str, Any]) -> Row:
    values = {}
    for name in FIELDS:
        value = record.get(name)
        if value is None or value == "":
            if name in REQUIRED:
                return Row(number, field=name, problem="valeur manquante")
            value = ""
        if not isinstance(value, str):
            return Row(number, field=name, problem="une chaîne de caractères est attendue")
        values[name] = value
    try:
        return Row(number, traits=checked_traits(Traits(**values)))
    except InputError as error:
        return Row(number, field=error.field, problem=error.reason)


def parse_batch(text: str) -> list[Row]:
    """The rows of a batch: NDJSON when the first character is `{`, CSV with a header else.

    A CSV without the required columns is refused as a whole (exit 2); a row that
    cannot be read becomes an error row, reported in its place.
    """
    if text.lstrip()[:1] == "{":
        rows = []
        lines = (line for line in text.splitlines() if line.strip())
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except ValueError:
                rows.append(Row(number, problem="ligne JSON illisible"))
                continue
            if not isinstance(record, dict):
                rows.append(Row(number, problem="chaque ligne est un objet JSON"))
                continue
            rows.append(_row_from(number, record))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        return []
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise InputError(
            "batch",
            f"l'en-tête CSV doit nommer {','.join(FIELDS)} (manque : {', '.join(missing)})",
        )
    reader.fieldnames = header
    return [_row_from(number, record) for number, record in enumerate(reader, start=1)]


def read_batch(path: str) -> list[Row]:
    """Read and parse the batch file (or stdin for `-`); unreadable input exits 2."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        return parse_batch(raw.decode("utf-8-sig"))
    except OSError as error:
        bad_input("batch", f"lecture impossible de {path} ({error.strerror})", False, "--batch")
    except UnicodeDecodeError:
        bad_input("batch", "le fichier n'est pas en UTF-8", False, "--batch")
    except InputError as error:
        bad_input(error.field, error.reason, False, "--batch")


class BatchProgress:
    """`ins: done/total` on stderr: rewritten in place on a terminal, every tenth else."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = total
        self.done = 0
        self._stream = stream
        self._live = stream.isatty()
        self._shown = 0.0
        self._step = max(1, total // 10)

    def advance(self, count: int) -> None:
        before, self.done = self.done, self.done + count
        if self._live:
            now = time.monotonic()
            if now - self._shown >= 0.1 or self.done == self.total:
                self._shown = now
                self._stream.write(f"\rins: {self.done}/{self.total}")
                self._stream.flush()
        elif before // self._step != self.done // self._step or self.done == self.total:
            self._stream.write(f"ins: {self.done}/{self.total}\n")
            self._stream.flush()

    def finish(self, summary: str) -> None:
        self._stream.write(("\n" if self._live and self.total else "") + summary + "\n")
        self._stream.flush()


class FatalError(Exception):
    """A failure that no further row can escape (no session, platform unreachable)."""

    def __init__(self, error: CommandError) -> None:
        super().__init__(error.message)
        self.error = error


def _row_error(code: str, message: str, field: str | None = None, **extra: Any) -> dict:
    error = {"code": code, "message": message} | extra
    if field:
        error["field"] = field
    return {"error": error}


async def _one(ins: InsClient, row: Row) -> dict:
    """The output object of one row (without its number)."""
    if row.traits is None:
        label = f"{row.field} : " if row.field else ""
        return _row_error("bad_input", f"{label}{row.problem}", row.field)
    try:
        return (await ins.lookup(row.traits)).to_json()
    except InputError as error:  # pragma: no cover - rows are checked when read
        return _row_error("bad_input", str(error), error.field)
    except InsServiceError as error:
        return _row_error(error.code, error.message, error.field, status=error.status)
    except SsoError as error:
        raise FatalError(CommandError(error.message, error.exit_code, error.code)) from None
    except httpx.TimeoutException:
        # One slow answer is this row's failure; the next rows may well be answered.
        return _row_error("timeout", "Le service INS n'a pas répondu à temps.")
    except httpx.TransportError:
        raise FatalError(CommandError(UNREACHABLE, ExitCode.UNREACHABLE, "unreachable")) from None
    except httpx.HTTPError as error:
        return _row_error("failure", f"Échange HTTP impossible : {error}.")


def summary(total: int, counts: Counter[str]) -> str:
    """The closing line: `2000 lignes : 1500 00, 300 01, 150 02, 50 erreurs`."""
    errors = counts["error"]
    # French plural: from 2 on (0 and 1 take the singular).
    return (
        f"{total} ligne{'s' if total > 1 else ''} : {counts['00']} 00, {counts['01']} 01, "
        f"{counts['02']} 02, {errors} erreur{'s' if errors > 1 else ''}"
    )


async def run_batch(
    ins: InsClient, rows: Iterable[Row], total: int, concurrency: int, out: IO[str], err: IO[str]
) -> tuple[Counter[str], CommandError | None]:
    """Look every row up, `concurrency` at a time, writing results in input order.

    At most a bounded window of rows is in flight or waiting for an earlier one, so
    memory stays flat on a long file. A row's failure is written in its place; after a
    fatal failure (no session, platform unreachable) the remaining rows are reported
    as not attempted. Returns the counts by answer code and the fatal failure, if any.
    """
    requests = asyncio.Semaphore(concurrency)
    window = asyncio.Semaphore(concurrency * 8)
    results: dict[int, dict] = {}
    counts: Counter[str] = Counter()
    progress = BatchProgress(total, err)
    fatal: list[CommandError] = []
    next_index = 0

    def flush() -> None:
        nonlocal next_index
        lines = []
        while next_index in results:
            result = results.pop(next_index)
            counts["error" if "error" in result else result["code"]] += 1
            lines.append(json_text(result))
            next_index += 1
            window.release()
        if lines:
            out.write("\n".join(lines) + "\n")
            out.flush()
            progress.advance(len(lines))

    async def work(index: int, row: Row) -> None:
        async with requests:
            if fatal:
                answer = _row_error("aborted", f"non traitée : {fatal[0].message}")
            else:
                try:
                    answer = await _one(ins, row)
                except FatalError as error:
                    fatal.append(error.error)
                    answer = _row_error(error.error.code, error.error.message)
        results[index] = {"row": row.number} | answer
        flush()

    async with asyncio.TaskGroup() as group:
        for index, row in enumerate(rows):
            await window.acquire()
            group.create_task(work(index, row))
    progress.finish(summary(total, counts))
    return counts, fatal[0] if fatal else None


@command
async def _batch(rows: list[Row], concurrency: int, as_json: bool) -> None:
    # Fails now (exit 3) rather than on every row when nobody is signed in.
    async with client("ins", signed_in=True) as http:
        _, fatal = await run_batch(
            InsClient(http), rows, len(rows), concurrency, sys.stdout, sys.stderr
        )
    if fatal is not None:
        raise fatal


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
    async with client("ins") as http:
        ins = InsClient(http)
        if rank is None:
            found = await ins.by_card(serial)
        else:
            result = await ins.card_identity(serial, rank)
    if rank is not None:
        if as_json:
            print_json(result.to_json())
        else:
            print_lookup(result)
        return
    if as_json:
        print_json(found.to_json())
        return
    say(f"Carte Vitale {found.serial} — choisissez un bénéficiaire (--rank) :")
    for b in found.beneficiaries:
        say(f"  {b.rank}  {b.family} {b.given}, né(e) le {b.birthdate}")
