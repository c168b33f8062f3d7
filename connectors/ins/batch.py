"""The INS batch: rows read, checked, looked up and written one by one, in input order.

The input (CSV with a header, or NDJSON) is read in chunks as it comes, from a file or
a pipe, and parsed as it goes: memory stays flat however long the file, since at most a
window of rows is in flight or waiting for an earlier one to be written. The rows a
chunk completes go to the service in groups of up to `GROUP` (its `/lookups`, one answer
per row): one exchange per row would cost more CPU than the lookups themselves, and a
pipe that brings one row at a time still gets each sent as it comes. A refused or cut
connection on a group is tried again with a growing wait (`connectors.retry`); only a
platform that stays unreachable, or a lost session, stops the batch. The rows written
until then are complete and in order, so a second run on the same output file can skip
them (`resume_point`) and do only the rest.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import json
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import httpx

from bsp_tui.domain.patients import Traits
from bsp_tui.exitcodes import ExitCode
from connectors.ins.client import (
    FOUND,
    InputError,
    InsClient,
    InsServiceError,
    LookupResult,
    checked_traits,
    identity_of,
)
from connectors.kit.cli import CommandError, json_text
from connectors.kit.errors import SsoError
from connectors.kit.identities import IdentityStore
from connectors.retry import Backoff, with_backoff

FIELDS = ("family", "given", "sex", "birthdate", "birthplace")
REQUIRED = FIELDS[:4]
CHUNK = 1 << 16
GROUP = 50  # rows in one request: 100 would save little more, and wait longer for a pipe
WINDOW = 4  # groups read ahead per request in flight: enough to keep every request busy
# A refused or cut connection: the platform restarting, or the network blinking. A row
# whose answer is merely slow fails alone (`timeout`) and is not sent again.
RETRIED = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
UNREACHABLE = "Plateforme injoignable"
BACKOFF = Backoff()


@dataclass(slots=True)
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


class RowReader:
    """The rows of a batch from its bytes as they come (`feed`, then `end`).

    NDJSON when the first non-blank line starts with `{`, CSV with a header else (UTF-8,
    with or without BOM). Rows are numbered from 1: CSV data rows after the header,
    NDJSON non-blank lines. The first `skip` rows are counted, not checked (an earlier
    run did them). A CSV header without the required columns, or bytes that are not
    UTF-8, raise InputError (field `batch`); a row that cannot be read becomes an error
    row in its place.
    """

    def __init__(self, skip: int = 0) -> None:
        self.skip = skip
        self.count = 0
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._tail = ""
        self._ndjson: bool | None = None
        self._header: list[str] | None = None
        self._record: list[str] = []
        self._quotes = 0

    def feed(self, data: bytes) -> list[Row]:
        """The rows that `data` completes."""
        lines = (self._tail + self._decode(data)).split("\n")
        self._tail = lines.pop()
        return self._rows(lines)

    def end(self) -> list[Row]:
        """The rows left at the end of the input (a last line without a newline)."""
        text, self._tail = self._tail + self._decode(b"", final=True), ""
        rows = self._rows([text] if text else [])
        if self._record:  # a quote never closed: csv reads it to the end, as it would
            rows += self._csv("".join(self._record))
            self._record = []
        return rows

    def _decode(self, data: bytes, final: bool = False) -> str:
        try:
            return self._decoder.decode(data, final)
        except UnicodeDecodeError:
            raise InputError(
                "batch", f"le fichier n'est pas en UTF-8 (après la ligne {self.count})"
            ) from None

    def _rows(self, lines: list[str]) -> list[Row]:
        rows: list[Row] = []
        for line in lines:
            if self._ndjson is None:
                if not line.strip():
                    continue
                self._ndjson = line.lstrip()[:1] == "{"
            if self._ndjson:
                if line.strip():
                    rows += self._json(line)
                continue
            self._record.append(line + "\n")
            self._quotes += line.count('"')
            if self._quotes % 2 == 0:  # no quoted field left open: the record is whole
                rows += self._csv("".join(self._record))
                self._record, self._quotes = [], 0
        return rows

    def _next(self) -> int | None:
        """The number of the next row, or None when it is to be skipped."""
        self.count += 1
        return self.count if self.count > self.skip else None

    def _json(self, line: str) -> list[Row]:
        number = self._next()
        if number is None:
            return []
        try:
            record = json.loads(line)
        except ValueError:
            return [Row(number, problem="ligne JSON illisible")]
        if not isinstance(record, dict):
            return [Row(number, problem="chaque ligne est un objet JSON")]
        return [_row_from(number, record)]

    def _csv(self, text: str) -> list[Row]:
        try:
            fields: list[str] | None = next(csv.reader([text]), [])
        except csv.Error:
            fields = None
        if self._header is None:
            if fields is not None and not fields:
                return []
            self._header = [name.strip() for name in fields or []]
            missing = [name for name in REQUIRED if name not in self._header]
            if missing:
                raise InputError(
                    "batch",
                    f"l'en-tête CSV doit nommer {','.join(FIELDS)} (manque : {', '.join(missing)})",
                )
            return []
        if fields is not None and not fields:
            return []  # a blank line
        number = self._next()
        if number is None:
            return []
        if fields is None:
            return [Row(number, problem="ligne CSV illisible")]
        return [_row_from(number, dict(zip(self._header, fields, strict=False)))]


async def read_rows(stream: BinaryIO, reader: RowReader) -> AsyncIterator[list[Row]]:
    """The rows of `stream` (a file or a pipe), those each chunk completes together, read
    off the event loop: a pipe that waits for its writer never holds up the lookups in
    flight."""
    while data := await asyncio.to_thread(stream.read1, CHUNK):  # type: ignore[attr-defined]
        if rows := reader.feed(data):
            yield rows
    if rows := reader.end():
        yield rows


def parse_batch(text: str) -> list[Row]:
    """Every row of a whole batch text (for tests and small inputs)."""
    reader = RowReader()
    return reader.feed(text.encode("utf-8")) + reader.end()


def estimate_rows(path: Path) -> int:
    """About how many rows the file holds (its lines, less a CSV header), read fast and
    in constant memory, for the time left; a quoted newline makes it a little high."""
    lines, first, last = 0, b"", b"\n"
    with path.open("rb") as handle:
        while data := handle.read(1 << 20):
            lines += data.count(b"\n")
            first = first or data.lstrip()[:1]
            last = data[-1:]
    lines += last != b"\n"
    return max(0, lines - (first not in (b"{", b"")))


def resume_point(path: Path) -> int:
    """How many rows an earlier run wrote to `path`, its output (rows 1 to N in order);
    a last line cut short (a run killed mid-write) is removed, to be done again. 0 when
    the file does not exist; InputError when it is not such an output."""
    done, kept, last = 0, 0, b""
    try:
        with path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                done, kept, last = done + 1, kept + len(line), line
    except FileNotFoundError:
        return 0
    try:
        row = json.loads(last)["row"] if done else 0
    except (ValueError, KeyError, TypeError):
        row = None
    if row != done:
        raise InputError(
            "output", f"{path} n'est pas la sortie d'un lot (ligne {done} : rang {row})"
        )
    with path.open("r+b") as handle:
        handle.truncate(kept)
    return done


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


class Progress:
    """Rows done, their rate and the time left, rewritten in place on stderr when it is a
    terminal (`live`); nothing else but the closing summary otherwise.

    `total` is the rows expected (an estimate), None when unknown (a pipe): then the
    rows done and the rate only."""

    def __init__(self, stream: IO[str], total: int | None, live: bool) -> None:
        self.done = 0
        self._total = total
        self._stream = stream
        self._live = live
        self._started = time.monotonic()
        self._shown = 0.0
        self._width = 0

    def advance(self, count: int) -> None:
        """`count` more rows written."""
        self.done += count
        now = time.monotonic()
        if self._live and now - self._shown >= 0.2:
            self._shown = now
            self._show(self.line(now - self._started))

    def line(self, elapsed: float) -> str:
        """The progress line after `elapsed` seconds."""
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self._total is None:
            return f"ins: {self.done} lignes — {rate:.0f} lignes/s"
        total = max(self._total, self.done)
        left = _duration((total - self.done) / rate) if rate else "?"
        return f"ins: {self.done}/{total} lignes — {rate:.0f} lignes/s — reste {left}"

    def _show(self, text: str) -> None:
        # Spaces over what a longer line before left on the terminal.
        self._stream.write("\r" + text.ljust(self._width))
        self._width = len(text)
        self._stream.flush()

    def finish(self, summary: str) -> None:
        """The closing summary, on a line of its own."""
        if self._live and self.done:
            self._show(self.line(time.monotonic() - self._started))
            self._stream.write("\n")
        self._stream.write(summary + "\n")
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


def _output_of(answer: LookupResult | InsServiceError) -> dict:
    if isinstance(answer, InsServiceError):
        return _row_error(answer.code, answer.message, answer.field, status=answer.status)
    return answer.to_json()


async def _answers(ins: InsClient, asked: list[Traits], backoff: Backoff) -> list[dict]:
    """The output objects of a group of lookups (without their row numbers)."""
    try:
        answers = await with_backoff(lambda: ins.lookup_many(asked), RETRIED, backoff)
        return [_output_of(answer) for answer in answers]
    except InsServiceError as error:  # the whole group refused: each row says why
        return [_output_of(error)] * len(asked)
    except SsoError as error:
        raise FatalError(CommandError(error.message, error.exit_code, error.code)) from None
    except httpx.TimeoutException:
        # One slow answer is this group's failure; the next groups may well be answered.
        return [_row_error("timeout", "Le service INS n'a pas répondu à temps.")] * len(asked)
    except httpx.TransportError:
        raise FatalError(CommandError(UNREACHABLE, ExitCode.UNREACHABLE, "unreachable")) from None
    except httpx.HTTPError as error:
        return [_row_error("failure", f"Échange HTTP impossible : {error}.")] * len(asked)


async def _group(ins: InsClient, rows: list[Row], backoff: Backoff) -> list[dict]:
    """The output objects of `rows`, in order: the readable ones looked up together, an
    unreadable one's problem in its place."""
    asked = [row.traits for row in rows if row.traits is not None]
    answers = iter(await _answers(ins, asked, backoff) if asked else [])
    objects = []
    for row in rows:
        if row.traits is None:
            label = f"{row.field} : " if row.field else ""
            objects.append(_row_error("bad_input", f"{label}{row.problem}", row.field))
        else:
            objects.append(next(answers))
    return objects


def summary(total: int, counts: Counter[str]) -> str:
    """The closing line: `2000 lignes : 1500 00, 300 01, 150 02, 50 erreurs`."""
    errors = counts["error"]
    # French plural: from 2 on (0 and 1 take the singular).
    return (
        f"{total} ligne{'s' if total > 1 else ''} : {counts['00']} 00, {counts['01']} 01, "
        f"{counts['02']} 02, {errors} erreur{'s' if errors > 1 else ''}"
    )


@dataclass
class Outcome:
    """How a batch went: the rows written by answer code (`error` for a failed row), the
    rows read, and the failure that stopped it (the rows after the last written are then
    left to do)."""

    counts: Counter[str]
    read: int
    fatal: CommandError | None = None

    @property
    def written(self) -> int:
        """Rows written."""
        return sum(self.counts.values())

    @property
    def left(self) -> int:
        """Rows read and not written: those a later run has to do."""
        return self.read - self.written


_LEFT: dict = {}  # the result of a row not done: it and the rows after it are not written


async def run_batch(
    ins: InsClient,
    rows: AsyncIterable[list[Row]],
    concurrency: int,
    out: IO[str],
    progress: Progress,
    backoff: Backoff = BACKOFF,
    identities: IdentityStore | None = None,
    group: int = GROUP,
) -> Outcome:
    """Look every row up, in groups of up to `group` rows and `concurrency` groups at a
    time, writing results in input order. `rows` are the rows read, those that came
    together in one list (a group never waits for rows still to come).

    At most `concurrency × group × WINDOW` rows are in flight or waiting for an earlier
    one. A row's failure is written in its place. After a fatal failure (no session, platform
    unreachable after every try) nothing more is sent, nothing more is written: the
    output ends at the last row done before it, and the rest is only counted.

    The identities found (`00`) are recorded in `identities` as retrieved, those of the
    lines written together in one transaction committed before they are written: a line
    in the output is a recorded identity, and a commit per row (its wait for the disk,
    on the event loop) would set the pace of the whole batch.
    """
    by = await ins.professional() if identities is not None else ""
    requests = asyncio.Semaphore(concurrency)
    size = concurrency * group * WINDOW
    window = asyncio.Semaphore(size)
    results: dict[int, dict] = {}
    outcome = Outcome(Counter(), 0)
    next_index = 0

    def flush() -> None:
        nonlocal next_index
        lines, found = [], []
        while (result := results.get(next_index)) is not None and result is not _LEFT:
            del results[next_index]
            outcome.counts["error" if "error" in result else result["code"]] += 1
            if result.get("code") == FOUND:
                found.append(identity_of(result["identities"][0]))
            lines.append(json_text(result))
            next_index += 1
            window.release()
        if identities is not None:
            identities.all_retrieved(found, by)
        if lines:
            out.write("\n".join(lines) + "\n")
            out.flush()
            progress.advance(len(lines))

    def stop(error: CommandError) -> None:
        if outcome.fatal is None:
            outcome.fatal = error
            # Rows behind the stop are never written, so they never free their place:
            # free the whole window at once, for the reading to go on counting.
            for _ in range(size):
                window.release()

    async def work(start: int, chunk: list[Row]) -> None:
        async with requests:
            answers = [_LEFT] * len(chunk)
            if outcome.fatal is None:
                try:
                    objects = await _group(ins, chunk, backoff)
                    answers = [{"row": r.number} | o for r, o in zip(chunk, objects, strict=True)]
                except FatalError as error:
                    stop(error.error)
        for offset, answer in enumerate(answers):
            results[start + offset] = answer
        flush()

    unreadable: InputError | None = None
    async with asyncio.TaskGroup() as tasks:
        try:
            async for read in rows:
                for first in range(0, len(read), group):
                    chunk = read[first : first + group]
                    start = outcome.read
                    outcome.read += len(chunk)
                    if outcome.fatal is None:
                        for _ in chunk:
                            await window.acquire()
                        tasks.create_task(work(start, chunk))
        except InputError as error:  # the rows in flight are still written
            unreadable = error
    if unreadable is not None:
        raise unreadable
    progress.finish(summary(outcome.written, outcome.counts))
    return outcome
