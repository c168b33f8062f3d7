"""The INS client: input checked before any request, answers and refusals parsed; and the
batch engine in process (input order kept, bounded concurrency, bad rows in place)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from dataclasses import asdict

import httpx
import pytest

from bsp_tui.domain.patients import Identity, Traits
from bsp_tui.exitcodes import ExitCode
from bsp_tui.output import CommandError
from bsp_tui.sso.errors import NoSessionError
from connectors.ins.cli import FIELDS, Row, parse_batch, run_batch, summary
from connectors.ins.client import InputError, InsClient, InsServiceError, LookupResult
from connectors.kit.errors import NOT_ALLOWED
from tests.connectors.ins.conftest import family_card, scenario, unknown_ins

pytestmark = pytest.mark.anyio

JEAN_MARC = scenario("MARTIN", "JEAN MARC")
MARTIN = Traits("Martin", "Jean", "M", "1980-05-12")


def recording_client(answer: httpx.Response | None = None) -> tuple[InsClient, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer or httpx.Response(200, json={"code": "01", "identities": []})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://s/api/ins")
    return InsClient(http), sent


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.lookup(Traits("Martin", "Jean", "M", "1980-02-30")), "birthdate"),
        (lambda c: c.lookup(Traits("Martin", "Jean", "H", "1980-05-12")), "sex"),
        (lambda c: c.lookup(Traits("Martin", "Je@n", "M", "1980-05-12")), "given"),
        (lambda c: c.lookup(Traits("", "Jean", "M", "1980-05-12")), "family"),
        (lambda c: c.lookup(Traits("Martin", "Jean", "M", "1980-05-12", "2C004")), "birthplace"),
        (lambda c: c.verify("180057511524888"), "ins"),
        (lambda c: c.verify("380057511524887"), "ins"),
        (lambda c: c.verify(JEAN_MARC.ins, Traits("", "", "", "05/12/1980")), "birthdate"),
        (lambda c: c.by_card("12345"), "serial"),
        (lambda c: c.card_identity("1000000000", 0), "rank"),
    ],
)
async def test_bad_input_raises_before_any_request(call: Callable, field: str) -> None:
    client, sent = recording_client()
    with pytest.raises(InputError) as raised:
        await call(client)
    assert raised.value.field == field
    assert raised.value.reason
    assert isinstance(raised.value, ValueError)
    assert sent == []


async def test_traits_are_sent_normalised_and_without_an_empty_birthplace() -> None:
    client, sent = recording_client()
    result = await client.lookup(Traits(" ouédraogo ", "aminata", "f", "1990-05-30"))
    assert result == LookupResult("01", (), "")
    (request,) = sent
    assert request.url.path == "/api/ins/lookup"
    assert json.loads(request.content) == {
        "family": "OUEDRAOGO",
        "given": "AMINATA",
        "sex": "F",
        "birthdate": "1990-05-30",
    }


async def test_a_refusal_becomes_an_ins_service_error_with_its_field() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "value",
                "diagnostics": "sex : non",
                "expression": ["sex"],
            }
        ],
    }
    client, _ = recording_client(httpx.Response(422, json=outcome))
    with pytest.raises(InsServiceError) as raised:
        await client.lookup(MARTIN)
    assert (raised.value.status, raised.value.code, raised.value.field) == (422, "value", "sex")
    assert raised.value.message == "sex : non"
    client, _ = recording_client(httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(InsServiceError, match="HTTP 502"):
        await client.lookup(MARTIN)


async def test_the_client_against_the_emulated_service(ins_http: httpx.AsyncClient) -> None:
    client = InsClient(ins_http)
    several = await client.lookup(MARTIN)
    assert (several.code, several.identities, several.identity) == ("02", (), None)
    found = await client.lookup(Traits("Martin", "Jean Marc", "M", "1980-05-12"))
    assert found.identity == JEAN_MARC
    assert found.to_json() == {"code": "00", "identities": [asdict(JEAN_MARC)]}
    verified = await client.verify(JEAN_MARC.ins, Traits("Martin", "", "M", ""))
    assert (verified.known, verified.consistent) == (True, True)
    assert (await client.verify(unknown_ins())).known is False
    serial, beneficiaries = family_card()
    card = await client.by_card(serial)
    assert [b.rank for b in card.beneficiaries] == [b.rank for b in beneficiaries]
    chosen = await client.card_identity(serial, beneficiaries[-1].rank)
    assert chosen.identity is not None and chosen.identity.ins == beneficiaries[-1].ins
    with pytest.raises(InsServiceError) as missing:
        await client.by_card("0000000001")
    assert missing.value.status == 404


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
        code = {"UN": "00", "PERSONNE": "01"}.get(traits.family, "02")
        identity = Identity(
            "1", "o", traits.family, traits.given, "M", "2000-01-01", "75111", "QUAL"
        )
        return LookupResult(code, (identity,) if code == "00" else ())


def rows_for(*families: str) -> list[Row]:
    return [
        Row(n, traits=Traits(f, "JEAN", "M", "1980-05-12"))
        if f
        else Row(n, field="sex", problem="non")
        for n, f in enumerate(families, start=1)
    ]


async def batch(fake: FakeIns, rows: list[Row], concurrency: int) -> tuple[list[dict], str, object]:
    out, err = io.StringIO(), io.StringIO()
    counts, fatal = await run_batch(fake, rows, len(rows), concurrency, out, err)  # type: ignore[arg-type]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return lines, err.getvalue(), (counts, fatal)


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
    lines, err, (counts, fatal) = await batch(fake, rows, concurrency=2)
    assert counts == {"00": 2, "01": 1, "02": 1, "error": 2}
    assert [line["row"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert lines[0]["code"] == "00" and lines[0]["identities"][0]["family"] == "UN"
    assert lines[1]["error"] == {"code": "bad_input", "message": "sex : non", "field": "sex"}
    assert lines[2] == {"row": 3, "code": "01", "identities": []}
    assert lines[3]["error"]["status"] == 403
    assert lines[4]["code"] == "02"
    assert fatal is None
    assert err.splitlines()[-1] == "6 lignes : 2 00, 1 01, 1 02, 2 erreurs"
    # The bad row never reached the service; every other one did.
    assert sorted(fake.started) == ["PERSONNE", "REFUSE", "UN", "UN", "X"]


async def test_a_lost_session_stops_the_batch_and_reports_every_row() -> None:
    fake = FakeIns()
    rows = rows_for("UN", "GONE", *[f"P{n}" for n in range(30)])
    lines, _, (_, fatal) = await batch(fake, rows, concurrency=1)
    assert [line["row"] for line in lines] == list(range(1, 33))
    assert lines[1]["error"]["code"] == "no_session"
    assert {line["error"]["code"] for line in lines[2:]} == {"aborted"}
    assert isinstance(fatal, CommandError) and fatal.exit_code == ExitCode.NO_SESSION
    assert len(fake.started) == 2  # nothing was sent after the session was lost


async def test_a_timeout_fails_its_row_but_an_unreachable_platform_stops_the_batch() -> None:
    fake = FakeIns()
    rows = rows_for("SLOW", "UN", "CUT", "UN", "UN")
    lines, _, (counts, fatal) = await batch(fake, rows, concurrency=1)
    assert lines[0]["error"]["code"] == "timeout"
    assert lines[1]["code"] == "00"
    assert lines[2]["error"]["code"] == "unreachable"
    assert [line["error"]["code"] for line in lines[3:]] == ["aborted", "aborted"]
    assert counts == {"00": 1, "error": 4}
    assert isinstance(fatal, CommandError) and fatal.exit_code == ExitCode.UNREACHABLE


async def test_progress_counts_up_to_the_total() -> None:
    _, err, _ = await batch(FakeIns(), rows_for(*[f"P{n}" for n in range(50)]), concurrency=4)
    progress = [line for line in err.splitlines() if line.startswith("ins: ")]
    assert progress[-1] == "ins: 50/50"
    done = [int(line.split()[1].split("/")[0]) for line in progress]
    assert done == sorted(done) and len(done) <= 11


def test_summary_wording() -> None:
    from collections import Counter

    counts = Counter({"00": 1500, "01": 300, "02": 150, "error": 50})
    assert summary(2000, counts) == "2000 lignes : 1500 00, 300 01, 150 02, 50 erreurs"
    assert summary(1, Counter({"00": 1})) == "1 ligne : 1 00, 0 01, 0 02, 0 erreur"
    assert summary(0, Counter()) == "0 ligne : 0 00, 0 01, 0 02, 0 erreur"
    assert FIELDS == ("family", "given", "sex", "birthdate", "birthplace")
