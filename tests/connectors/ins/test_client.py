"""The INS client: input checked before any request, answers and refusals parsed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict

import httpx
import pytest

from bsp_tui.domain.patients import Traits
from connectors.ins.client import InputError, InsClient, InsServiceError, LookupResult
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


async def test_many_lookups_in_one_exchange_against_the_emulated_service(
    ins_http: httpx.AsyncClient,
) -> None:
    client = InsClient(ins_http)
    jean_marc = Traits("Martin", "Jean Marc", "M", "1980-05-12")
    answers = await client.lookup_many(
        [jean_marc, MARTIN, Traits("Inconnu", "Jean", "M", "1980-05-12")]
    )
    assert [a.code for a in answers if isinstance(a, LookupResult)] == ["00", "02", "01"]
    assert isinstance(answers[0], LookupResult) and answers[0].identity == JEAN_MARC
    hundred = await client.lookup_many([MARTIN] * 99 + [jean_marc])
    assert isinstance(hundred[-1], LookupResult) and hundred[-1].identity == JEAN_MARC
    for count in (0, 101):
        with pytest.raises(ValueError, match="lookups at once"):
            await client.lookup_many([MARTIN] * count)


async def test_many_lookups_check_every_input_first_and_read_refusals_in_place() -> None:
    client, sent = recording_client()
    with pytest.raises(InputError) as raised:
        await client.lookup_many([MARTIN, Traits("Martin", "Jean", "X", "1980-05-12")])
    assert raised.value.field == "sex" and sent == []
    refusal = {
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
    answer = {"answers": [{"code": "01", "identities": []}, {"status": 422, "outcome": refusal}]}
    client, sent = recording_client(httpx.Response(200, json=answer))
    first, second = await client.lookup_many([MARTIN, MARTIN])
    assert isinstance(first, LookupResult) and first.code == "01"
    assert isinstance(second, InsServiceError)
    assert (second.status, second.field, second.message) == (422, "sex", "sex : non")
    assert json.loads(sent[0].content) == {
        "lookups": [{"family": "MARTIN", "given": "JEAN", "sex": "M", "birthdate": "1980-05-12"}]
        * 2
    }
    client, _ = recording_client(httpx.Response(200, json={"answers": [answer["answers"][0]]}))
    with pytest.raises(InsServiceError, match="illisible"):
        await client.lookup_many([MARTIN, MARTIN])
