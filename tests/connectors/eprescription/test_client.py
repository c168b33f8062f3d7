"""The e-prescription client over the emulated service in process: domain types, input
checks before any request, and each refusal's kind and code."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from connectors.eprescription.catalogue import search
from connectors.eprescription.client import (
    RxClient,
    RxError,
)
from connectors.eprescription.models import (
    DispenseRequest,
    LineRequest,
    check_character,
    format_number,
)
from connectors.kit.errors import BAD_INPUT, NOT_ALLOWED, NOT_FOUND, UNAVAILABLE
from tests.connectors.eprescription.conftest import (
    AMOXICILLINE,
    NOT_IN_CATALOGUE,
    PARACETAMOL,
    Harness,
)

pytestmark = pytest.mark.anyio
AMOXICILLINE_24 = search("amoxicilline 500 gelule 24")[0].cip13
LINES = [
    LineRequest(PARACETAMOL, "1 comprimé 3 fois par jour", 2),
    LineRequest(AMOXICILLINE, "1 gélule matin et soir", None, 7),
]


def no_request(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.method} {request.url}")


@pytest.fixture
async def offline() -> AsyncIterator[RxClient]:
    """A client whose every request fails the test."""
    transport = httpx.MockTransport(no_request)
    async with httpx.AsyncClient(transport=transport, base_url="http://rx.invalid") as http:
        yield RxClient(http)


async def test_create_show_dispense_and_cancel(rx: Harness) -> None:
    ins = rx.patient(0)
    async with await rx.http("generaliste") as http:
        created = await RxClient(http).create(ins.lower() + " ", LINES)
    assert created.status == "active" and created.ins == ins
    assert created.dmp_copy is not None and created.dmp_copy.filed
    assert [line.quantity for line in created.lines] == ["2 boîtes", "7 jours"]
    assert created.as_json()["qr"] == "RX1:" + created.number
    async with await rx.http("pharmacien") as http:
        pharmacy = RxClient(http)
        shown = await pharmacy.show(created.qr)
        assert shown.dmp_copy is None  # the copy's outcome is the prescriber's business
        handed = await pharmacy.dispense(
            created.display_number, [DispenseRequest(2, "substituted", AMOXICILLINE_24)]
        )
    (visit,) = handed.dispensings
    assert [(g.outcome, g.cip13, g.quantity) for g in visit.given] == [
        ("dispensed", "", 2),
        ("substituted", AMOXICILLINE_24, 7),
    ]
    assert visit.given[1].label.startswith("AMOXICILLINE 500 mg")
    assert visit.pharmacist_name == "Hugo Lefèvre"
    assert [line.remaining for line in handed.lines] == [0, 0]
    async with await rx.http("generaliste") as http:
        again = await RxClient(http).create(ins, LINES[:1])
        cancelled = await RxClient(http).cancel(again.number)
    assert cancelled.status == "cancelled"


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda c: c.create("123", LINES), "l'INS compte 15"),
        (lambda c: c.create("262037511122263", []), "de 1 à 20 lignes"),
        (
            lambda c: c.create("262037511122263", [LineRequest(NOT_IN_CATALOGUE, "x", 1)]),
            "absent du catalogue",
        ),
        (lambda c: c.show("ABC"), "13 caractères"),
        (lambda c: c.cancel("ABCD-EFGH-JKMN-P"), "caractère de contrôle"),
        (
            lambda c: c.dispense(
                format_number("0" * 13),
                [DispenseRequest(1, "dispensed"), DispenseRequest(1, "not_dispensed")],
            ),
            "deux fois",
        ),
    ],
)
async def test_bad_input_is_caught_before_any_request(offline: RxClient, call, words) -> None:
    with pytest.raises(RxError) as caught:
        await call(offline)
    assert caught.value.kind == BAD_INPUT and caught.value.status == 0
    assert words in caught.value.message


async def test_refusals_have_their_kind_and_code(rx: Harness) -> None:
    ins = rx.patient(0)
    unknown = "000000000001" + check_character("000000000001")
    async with await rx.http("infirmier") as http:
        nurse = RxClient(http)
        with pytest.raises(RxError) as caught:
            await nurse.create(ins, LINES)
        assert (caught.value.kind, caught.value.status, caught.value.code) == (
            NOT_ALLOWED,
            403,
            "not_prescriber",
        )
        with pytest.raises(RxError) as caught:
            await nurse.show(unknown)
        assert (caught.value.kind, caught.value.status) == (NOT_FOUND, 404)
    async with await rx.http("generaliste") as http:
        number = (await RxClient(http).create(ins, LINES)).number
    async with await rx.http("pharmacien") as http:
        await RxClient(http).dispense(number)
        with pytest.raises(RxError) as caught:
            await RxClient(http).dispense(number)
        assert (caught.value.kind, caught.value.status, caught.value.code) == (
            NOT_ALLOWED,
            409,
            "already_dispensed",
        )
        with pytest.raises(RxError) as caught:
            await RxClient(http).dispense(number, [DispenseRequest(3, "dispensed")])
        assert caught.value.kind == BAD_INPUT and "pas de ligne 3" in caught.value.message


async def test_a_service_down_is_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        diagnostics = "Service eprescription indisponible (panne simulée)."
        body = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": diagnostics}]}
        return httpx.Response(503, json=body)

    transport = httpx.MockTransport(down)
    async with httpx.AsyncClient(transport=transport, base_url="http://rx.invalid") as http:
        with pytest.raises(RxError) as caught:
            await RxClient(http).show(format_number("0" * 13))
    assert caught.value.kind == UNAVAILABLE and "panne simulée" in caught.value.message
