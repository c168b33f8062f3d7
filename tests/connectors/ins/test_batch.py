"""The INS batch in process: input read as it comes (CSV and NDJSON, bad rows in place),
output in input order with bounded concurrency, transport errors tried again, a stop
that leaves complete output, resuming from that output, and the progress line."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import httpx
import pytest

from bsp_tui.domain.patients import Identity, Traits
from bsp_tui.exitcodes import ExitCode
from bsp_tui.output import CommandError
from bsp_tui.platform.app import create_app
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.errors import NoSessionError
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from connectors.ins.batch import (
    FIELDS,
    Outcome,
    Progress,
    Row,
    RowReader,
    estimate_rows,
    parse_batch,
    resume_point,
    run_batch,
    summary,
)
from connectors.ins.client import InputError, InsClient, InsServiceError, LookupResult
from connectors.kit.errors import NOT_ALLOWED
from connectors.kit.identities import RECUPEREE, IdentityStore
from connectors.retry import Backoff
from tests.conftest import Emulation
from tests.connectors.ins.conftest import api_token, scenario

pytestmark = pytest.mark.anyio

NO_WAIT = Backoff(tries=3, first=0, cap=0)
JEAN_MARC = scenario("MARTIN", "JEAN MARC")


# -- batch input ------------------------------------------------------------------------


def test_csv_batches_name_bad_rows_in_place() -> None:
    text = (
        "\ufefffamily,given,sex,birthdate,birthplace\n"
        "Martin,Jean,M,1980-05-12,\n"
        "Martin,Jean,X,1980-05-12,\n"
        "short,row\n"
        '"Le Gall","Anne-Sophie Marie",F,1970-01-02,2A004\n'
    )
    rows = parse_batch(text.removeprefix("\ufeff"))
    assert [r.number for r in rows] == [1, 2, 3, 4]
    assert rows[0].traits == Traits("MARTIN", "JEAN", "M", "1980-05-12", "")
    assert (rows[1].field, rows[2].field) == ("sex", "sex")
    assert rows[3].traits == Traits("LE GALL", "ANNE-SOPHIE MARIE", "F", "1970-01-02", "2A004")


def test_csv_without_the_required_columns_is_refused_whole() -> None:
    with pytest.raises(InputError) as raised:
        parse_batch("nom,prenom,sexe,naissance\nMartin,Jean,M,1980-05-12\n")
    assert raised.value.field == "batch"
    assert "family" in raised.value.reason
    assert parse_batch("") == []
    assert parse_batch("family,given,sex,birthdate\n") == []


def test_ndjson_batches_name_bad_lines_in_place() -> None:
    text = "\n".join(
        [
            json.dumps(
                {"family": "Martin", "given": "Jean", "sex": "M", "birthdate": "1980-05-12"}
            ),
            "",
            "{not json",
            json.dumps(["Martin"]),
            json.dumps({"family": "Martin", "given": 3, "sex": "M", "birthdate": "1980-05-12"}),
            json.dumps({"family": "Martin", "sex": "M", "birthdate": "1980-05-12"}),
        ]
    )
    rows = parse_batch(text)
    assert [r.number for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].traits is not None
    assert [r.problem for r in rows[1:3]] == [
        "ligne JSON illisible",
        "chaque ligne est un objet JSON",
    ]
    assert (rows[3].field, rows[4].field) == ("given", "given")


# -- batch engine -----------------------------------------------------------------------


class FakeIns:
    """Answers by family name; rows finish in reverse order once `hold` have started."""

    def __init__(self, hold: int = 0) -> None:
        self.hold = hold
        self.started: list[str] = []
        self.finished: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.in_flight = 0
        self.most_in_flight = 0

    async def lookup(self, traits: Traits) -> LookupResult:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.started.append(traits.family)
        gate = self.gates.setdefault(traits.family, asyncio.Event())
        if len(self.started) == self.hold:
            for name in reversed(self.started):
                self.gates[name].set()
        if self.hold:
            await gate.wait()
        for _ in range(3):
            await asyncio.sleep(0)
        self.in_flight -= 1
        self.finished.append(traits.family)
        if traits.family == "REFUSE":
            raise InsServiceError(NOT_ALLOWED, "Refusé.", status=403, code="forbidden")
        if traits.family == "GONE":
            raise NoSessionError("Aucune session : connectez-vous avec `bsp login`.")
        if traits.family == "SLOW":
            raise httpx.ReadTimeout("timed out")
        if traits.family == "CUT":
            raise httpx.ConnectError("connection refused")
        if traits.family == "BLINK" and self.started.count("BLINK") == 1:
            raise httpx.RemoteProtocolError("server disconnected")
        code = {"UN": "00", "PERSONNE": "01"}.get(traits.family, "02")
        identity = Identity("1", "o", traits.family, traits.given, "M", "2000-01-01", "75111")
        return LookupResult(code, (identity,) if code == "00" else ())

    async def lookup_many(self, many: list[Traits]) -> list[LookupResult | InsServiceError]:
        """As the service's `/lookups`: a refusal of one in its place, any other failure
        the whole group's."""
        answers: list[LookupResult | InsServiceError] = []
        for traits in many:
            try:
                answers.append(await self.lookup(traits))
            except InsServiceError as error:
                answers.append(error)
        return answers


def rows_for(*families: str) -> list[Row]:
    return [
        Row(n, traits=Traits(f, "JEAN", "M", "1980-05-12"))
        if f
        else Row(n, field="sex", problem="non")
        for n, f in enumerate(families, start=1)
    ]


async def each(rows: Iterable[Row], chunk: int = 1) -> AsyncIterator[list[Row]]:
    """The rows as a reader gives them: `chunk` at a time."""
    rows = list(rows)
    for first in range(0, len(rows), chunk):
        yield rows[first : first + chunk]


async def batch(
    fake: FakeIns | InsClient, rows: list[Row], concurrency: int, group: int = 1
) -> tuple[list[dict], str, Outcome]:
    out, err = io.StringIO(), io.StringIO()
    progress = Progress(err, len(rows), live=False)
    outcome = await run_batch(
        fake,  # type: ignore[arg-type]
        each(rows, chunk=len(rows) or 1),
        concurrency,
        out,
        progress,
        NO_WAIT,
        group=group,
    )
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return lines, err.getvalue(), outcome


async def test_output_keeps_input_order_when_answers_come_back_reversed() -> None:
    families = ["A", "B", "C", "D", "E"]
    fake = FakeIns(hold=5)
    lines, err, _ = await batch(fake, rows_for(*families), concurrency=5)
    assert fake.finished != families  # the answers did come back out of order
    assert [line["row"] for line in lines] == [1, 2, 3, 4, 5]
    assert [line["code"] for line in lines] == ["02"] * 5
    assert err.splitlines()[-1] == "5 lignes : 0 00, 0 01, 5 02, 0 erreur"


async def test_concurrency_is_bounded_and_used() -> None:
    fake = FakeIns()
    lines, _, _ = await batch(fake, rows_for(*[f"P{n}" for n in range(40)]), concurrency=3)
    assert len(lines) == 40
    assert fake.most_in_flight == 3


async def test_bad_rows_and_refusals_are_reported_in_place_and_the_batch_goes_on() -> None:
    fake = FakeIns()
    rows = rows_for("UN", "", "PERSONNE", "REFUSE", "X", "UN")
    lines, err, outcome = await batch(fake, rows, concurrency=2)
    assert outcome.counts == {"00": 2, "01": 1, "02": 1, "error": 2}
    assert [line["row"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert lines[0]["code"] == "00" and lines[0]["identities"][0]["family"] == "UN"
    assert lines[1]["error"] == {"code": "bad_input", "message": "sex : non", "field": "sex"}
    assert lines[2] == {"row": 3, "code": "01", "identities": []}
    assert lines[3]["error"]["status"] == 403
    assert lines[4]["code"] == "02"
    assert outcome.fatal is None and outcome.left == 0
    assert err.splitlines() == ["6 lignes : 2 00, 1 01, 1 02, 2 erreurs"]
    # The bad row never reached the service; every other one did.
    assert sorted(fake.started) == ["PERSONNE", "REFUSE", "UN", "UN", "X"]


async def test_a_lost_session_stops_the_batch_and_leaves_the_rest_unwritten() -> None:
    fake = FakeIns()
    rows = rows_for("UN", "GONE", *[f"P{n}" for n in range(30)])
    lines, err, outcome = await batch(fake, rows, concurrency=1)
    assert [line["row"] for line in lines] == [1]
    assert (outcome.read, outcome.written, outcome.left) == (32, 1, 31)
    assert isinstance(outcome.fatal, CommandError)
    assert outcome.fatal.exit_code == ExitCode.NO_SESSION
    assert len(fake.started) == 2  # nothing was sent after the session was lost
    assert err.splitlines()[-1] == "1 ligne : 1 00, 0 01, 0 02, 0 erreur"


async def test_a_timeout_fails_its_row_a_blink_is_tried_again_and_a_lasting_cut_stops() -> None:
    fake = FakeIns()
    rows = rows_for("SLOW", "BLINK", "UN", "CUT", "UN", "UN")
    lines, _, outcome = await batch(fake, rows, concurrency=1)
    assert lines[0]["error"]["code"] == "timeout"
    assert fake.started.count("SLOW") == 1  # a slow answer is not asked again
    assert lines[1]["code"] == "02" and fake.started.count("BLINK") == 2
    assert [line["row"] for line in lines] == [1, 2, 3]
    assert fake.started.count("CUT") == NO_WAIT.tries
    assert outcome.counts == {"00": 1, "02": 1, "error": 1}
    assert outcome.left == 3
    assert isinstance(outcome.fatal, CommandError)
    assert outcome.fatal.exit_code == ExitCode.UNREACHABLE


async def test_a_stop_with_many_rows_in_flight_ends_and_counts_every_row() -> None:
    """The rows behind the stop hold their place in the window: reading must go on."""
    fake = FakeIns()
    rows = rows_for(*[f"P{n}" for n in range(5)], "CUT", *[f"Q{n}" for n in range(200)])
    lines, _, outcome = await batch(fake, rows, concurrency=4)
    assert [line["row"] for line in lines] == list(range(1, len(lines) + 1))
    assert len(lines) <= 5
    assert outcome.read == 206 and outcome.left == 206 - len(lines)


def test_summary_wording() -> None:
    counts = Counter({"00": 1500, "01": 300, "02": 150, "error": 50})
    assert summary(2000, counts) == "2000 lignes : 1500 00, 300 01, 150 02, 50 erreurs"
    assert summary(1, Counter({"00": 1})) == "1 ligne : 1 00, 0 01, 0 02, 0 erreur"
    assert summary(0, Counter()) == "0 ligne : 0 00, 0 01, 0 02, 0 erreur"
    assert FIELDS == ("family", "given", "sex", "birthdate", "birthplace")


# -- progress ---------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_shows_rows_rate_and_time_left() -> None:
    stream = Terminal()
    progress = Progress(stream, 1000, live=True)
    assert progress.line(0.0) == "ins: 0/1000 lignes — 0 lignes/s — reste ?"
    progress.done = 250
    assert progress.line(2.0) == "ins: 250/1000 lignes — 125 lignes/s — reste 6 s"
    progress.done = 100
    assert progress.line(20.0) == "ins: 100/1000 lignes — 5 lignes/s — reste 3 min 00 s"
    progress.done = 1200  # the estimate was low: never more done than expected
    assert progress.line(1.0).startswith("ins: 1200/1200 lignes — 1200 lignes/s — reste 0 s")
    unknown = Progress(stream, None, live=True)
    unknown.done = 50
    assert unknown.line(10.0) == "ins: 50 lignes — 5 lignes/s"


async def test_progress_is_written_in_place_on_a_terminal_and_never_elsewhere() -> None:
    rows = rows_for(*[f"P{n}" for n in range(50)])
    out, terminal = io.StringIO(), Terminal()
    await run_batch(FakeIns(), each(rows), 4, out, Progress(terminal, 50, live=True), group=1)  # type: ignore[arg-type]
    shown, summary_line = terminal.getvalue().rsplit("\n", 2)[:2]
    assert re.fullmatch(r"ins: 50/50 lignes — \d+ lignes/s — reste 0 s *", shown.split("\r")[-1])
    assert summary_line == "50 lignes : 0 00, 0 01, 50 02, 0 erreur"
    assert "ins:" not in out.getvalue()
    _, err, _ = await batch(FakeIns(), rows, concurrency=4)
    assert err == "50 lignes : 0 00, 0 01, 50 02, 0 erreur\n"


# -- reading as it comes, resuming --------------------------------------------------------


def test_rows_come_whole_whatever_the_chunks() -> None:
    text = (
        b"family,given,sex,birthdate\n"
        b'Martin,"Jean\nMarc",M,1980-05-12\r\n'
        b"\n"
        b"Dupont,Marie,F,1962-03-14\n"
        b"Durand,Paul,M,1975-06-30"
    )
    whole = parse_batch(text.decode())
    reader = RowReader()
    pieces = [row for byte in range(len(text)) for row in reader.feed(text[byte : byte + 1])]
    pieces += reader.end()
    assert [(r.number, r.traits, r.field) for r in pieces] == [
        (r.number, r.traits, r.field) for r in whole
    ]
    assert [r.number for r in whole] == [1, 2, 3]
    # The quoted newline stays inside its field: one record, read as names are.
    assert whole[0].traits == Traits("MARTIN", "JEAN MARC", "M", "1980-05-12", "")
    assert whole[2].traits == Traits("DURAND", "PAUL", "M", "1975-06-30", "")


def test_accents_cut_across_chunks_and_bytes_that_are_not_utf8() -> None:
    text = "family,given,sex,birthdate\nOuédraogo,Aminata,F,1990-01-01\n".encode()
    cut = text.index("é".encode()) + 1
    reader = RowReader()
    rows = reader.feed(text[:cut]) + reader.feed(text[cut:]) + reader.end()
    assert rows[0].traits is not None and rows[0].traits.family == "OUEDRAOGO"
    broken = RowReader()
    broken.feed(text)
    with pytest.raises(InputError) as raised:
        broken.feed(b"Martin,Jean,M,1980-05-12\n\xff\xfe\n")
    assert raised.value.field == "batch" and "UTF-8" in raised.value.reason


def test_skipped_rows_are_counted_not_returned() -> None:
    lines = [
        json.dumps({"family": f"P{n}", "given": "Jean", "sex": "M", "birthdate": "1980-05-12"})
        for n in range(5)
    ]
    reader = RowReader(skip=3)
    rows = reader.feed("\n".join(lines).encode()) + reader.end()
    assert [r.number for r in rows] == [4, 5]
    assert reader.count == 5


def test_an_estimate_of_the_rows_of_a_file(tmp_path: Path) -> None:
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("family,given,sex,birthdate\n" + "A,B,M,1980-05-12\n" * 3)
    ndjson = tmp_path / "rows.ndjson"
    ndjson.write_text('{"family": "A"}\n{"family": "B"}')
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert [estimate_rows(p) for p in (csv_file, ndjson, empty)] == [3, 2, 0]


def test_resume_point_counts_complete_rows_and_cuts_a_torn_last_line(tmp_path: Path) -> None:
    output = tmp_path / "answers.ndjson"
    assert resume_point(output) == 0
    done = "".join(json.dumps({"row": n, "code": "01"}) + "\n" for n in range(1, 4))
    output.write_text(done + '{"row": 4, "co')
    assert resume_point(output) == 3
    assert output.read_text() == done
    output.write_text(done + json.dumps({"row": 7, "code": "01"}) + "\n")
    with pytest.raises(InputError) as raised:
        resume_point(output)
    assert raised.value.field == "output" and "ligne 4" in raised.value.reason


# -- a transport fault on the real platform -------------------------------------------------


class Flaky(httpx.AsyncBaseTransport):
    """The platform's transport, but the first lookup of `family` finds the connection
    refused: a fault that a served platform cannot be made to produce on one row."""

    def __init__(self, inner: httpx.AsyncBaseTransport, family: str) -> None:
        self.inner = inner
        self.family = family
        self.failed = 0
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        families = [lookup["family"] for lookup in json.loads(request.content)["lookups"]]
        if self.family in families and not self.failed:
            self.failed += 1
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


async def test_a_refused_connection_on_one_row_is_tried_again_on_the_real_platform(
    emu: Emulation, settings: PlatformSettings
) -> None:
    token = await api_token(emu)
    flaky = Flaky(httpx.ASGITransport(app=create_app(settings)), "MARTIN")
    traits = [
        Traits("Inconnu", "Jean", "M", "1980-05-12"),
        Traits(JEAN_MARC.family, JEAN_MARC.given, JEAN_MARC.sex, JEAN_MARC.birthdate),
        Traits("Inconnue", "Anne", "F", "1970-01-02"),
    ]
    rows = [Row(n, traits=t.normalised()) for n, t in enumerate(traits, start=1)]
    async with httpx.AsyncClient(
        transport=flaky,
        base_url=f"{EMBEDDED_BASE_URL}/api/ins",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        lines, _, outcome = await batch(InsClient(http), rows, concurrency=2, group=2)
    # The group of rows 1 and 2 was refused once and sent again; row 3 went alone.
    assert (flaky.failed, flaky.requests) == (1, 3)
    assert outcome.fatal is None
    assert [line["row"] for line in lines] == [1, 2, 3]
    assert [line["code"] for line in lines] == ["01", "00", "01"]
    assert lines[1]["identities"][0]["ins"] == JEAN_MARC.ins


async def test_rows_go_in_groups_to_the_real_platform_each_answered_in_its_place(
    emu: Emulation, settings: PlatformSettings
) -> None:
    token = await api_token(emu)
    counting = Flaky(httpx.ASGITransport(app=create_app(settings)), family="")
    unknown = Traits("INCONNU", "JEAN", "M", "1980-05-12")
    found = Traits(JEAN_MARC.family, JEAN_MARC.given, JEAN_MARC.sex, JEAN_MARC.birthdate)
    asked = [unknown, found, None, unknown, found, unknown, found.normalised()]
    rows = [
        Row(n, traits=t.normalised()) if t else Row(n, field="sex", problem="F ou M")
        for n, t in enumerate(asked, start=1)
    ]
    async with httpx.AsyncClient(
        transport=counting,
        base_url=f"{EMBEDDED_BASE_URL}/api/ins",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        lines, err, outcome = await batch(InsClient(http), rows, concurrency=2, group=3)
    assert counting.requests == 3  # rows 1–3 (the bad one not sent), 4–6, and 7
    assert [line["row"] for line in lines] == list(range(1, 8))
    assert [line.get("code") for line in lines] == ["01", "00", None, "01", "00", "01", "00"]
    assert lines[2]["error"] == {"code": "bad_input", "message": "sex : F ou M", "field": "sex"}
    assert lines[1]["identities"] == lines[6]["identities"]
    assert lines[6]["identities"][0]["ins"] == JEAN_MARC.ins
    assert outcome.counts == {"00": 3, "01": 3, "error": 1}
    assert err == "7 lignes : 3 00, 3 01, 0 02, 1 erreur\n"


class FoundIns(FakeIns):
    """Finds everyone, each a person of their own (the INS is the family name)."""

    async def professional(self) -> str:
        return "Élise Martin (810000012301)"

    async def lookup(self, traits: Traits) -> LookupResult:
        await super().lookup(traits)
        person = Identity(traits.family, "o", traits.family, "JEAN", "M", "1980-05-12", "75111")
        return LookupResult("00", (person,))


class CheckedOutput(io.StringIO):
    """An output that, as each line is written, finds its identity already recorded."""

    def __init__(self, store: IdentityStore) -> None:
        super().__init__()
        self.store = store
        self.unrecorded: list[str] = []

    def write(self, text: str) -> int:
        for line in filter(None, text.split("\n")):
            ins = json.loads(line)["identities"][0]["ins"]
            if self.store.status(ins) != RECUPEREE:
                self.unrecorded.append(ins)
        return super().write(text)


async def test_the_identities_found_are_recorded_a_group_at_a_time_before_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = IdentityStore(tmp_path / "identities.sqlite3")
    groups: list[int] = []
    record = store.all_retrieved
    monkeypatch.setattr(
        store, "all_retrieved", lambda found, by: groups.append(len(found)) or record(found, by)
    )
    families = [f"P{n:02}" for n in range(30)]
    out = CheckedOutput(store)
    progress = Progress(io.StringIO(), len(families), live=False)
    fake = FoundIns(hold=len(families))  # all come back together, in reverse
    rows = each(rows_for(*families), chunk=len(families))
    await run_batch(fake, rows, 30, out, progress, NO_WAIT, store, group=1)  # type: ignore[arg-type]
    assert out.unrecorded == []
    for ins in (families[0], families[15], families[-1]):
        local = store.require(ins)
        assert (local.status, local.retrieved_by) == (RECUPEREE, "Élise Martin (810000012301)")
    assert sum(groups) == len(families)
    assert len([size for size in groups if size]) < len(families)  # grouped, not one each
    store.close()
