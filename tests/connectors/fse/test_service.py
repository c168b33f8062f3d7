"""The emulated FSE reception in process: rights, batches and their ARL, every rejection
code, idempotency by sheet number, access refusals, and malformed bodies."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from bsp_tui.domain.patients import ins_key, is_nia
from connectors.fse.client import FseError
from connectors.fse.models import Prescription, Used, build_sheet, new_number
from connectors.fse.seed import CLOSED_SCENARIO_ON
from connectors.fse.service import MAX_SHEETS
from tests.connectors.fse.conftest import TODAY, Harness, outcome, refusal, rights

pytestmark = pytest.mark.anyio
DUPONT = "262037511122263"
LEFEVRE = "255095935018608"  # rights closed since CLOSED_SCENARIO_ON


async def test_rights_come_from_the_card(fse: Harness) -> None:
    read = await (await fse.client("generaliste")).rights(DUPONT, TODAY)
    assert (read.family, read.birthdate, read.source) == ("DUPONT", "1962-03-14", "carte")
    assert read.serial and read.rank == 1 and read.rate == 70
    assert read.pf_used == Decimal("0.00") and read.closed_on == ""
    closed = await (await fse.client("generaliste")).rights(LEFEVRE, TODAY)
    assert closed.closed_on == CLOSED_SCENARIO_ON and not closed.open_on(TODAY)


async def test_an_ame_holder_has_no_card_and_the_sheet_carries_the_admission(
    fse: Harness,
) -> None:
    row = fse.db.one(
        "SELECT a.number, a.ins, p.birthdate FROM ame_admissions a"
        " JOIN patients p ON p.ins = a.ins WHERE p.family = 'OUEDRAOGO'"
    )
    number, ame, born = row["number"], row["ins"], row["birthdate"]
    missing = await fse.post("infirmier", "/rights", {"ins": ame})
    assert (missing.status_code, refusal(missing)) == (404, "no_rights")
    typed = rights(born, ins=ame, exemption="AME")
    sheet = build_sheet(typed, ["AMI1", "IFD"], TODAY, True, True)
    assert (sheet.amounts.amo, sheet.amounts.due_now) == (Decimal("5.90"), Decimal("0.00"))
    for wrong in ("", "AME0000000000001"):
        content = replace(sheet, number=new_number(TODAY), ame_number=wrong).content()
        code, reason = await rejection(fse, "infirmier", content)
        assert (code, reason) == ("R08", "AME sans le numéro de l'admission du patient")
    admitted = replace(sheet, ame_number=number)
    (result,) = (
        await (await fse.client("infirmier")).send_batch("LOT-A", [admitted.content()])
    ).sheets
    assert result.accepted and fse.billed(admitted.number) == 1
    # AME has nothing to do with a NIA: a holder without one, and NIA holders on cards.
    others = fse.db.all("SELECT ins FROM ame_admissions")
    assert any(not is_nia(r["ins"]) for r in others)
    assert fse.db.value("SELECT count(*) FROM card_beneficiaries WHERE exemption = 'AME'") == 0


async def test_rights_refusals(fse: Harness) -> None:
    no_card = fse.beneficiary("p.family = 'MARTIN' AND p.given = 'JEAN'")
    with fse.db.write() as conn:  # every demo patient has a card: this one loses it
        conn.execute("DELETE FROM card_beneficiaries WHERE ins = :ins", {"ins": no_card})
    missing = await fse.post("generaliste", "/rights", {"ins": no_card})
    assert (missing.status_code, refusal(missing)) == (404, "no_rights")
    assert "mode dégradé" in outcome(missing)["diagnostics"]
    bad = await fse.post("generaliste", "/rights", {"ins": "123"})
    assert bad.status_code == 422 and outcome(bad)["expression"] == ["ins"]
    day = await fse.post("generaliste", "/rights", {"ins": DUPONT, "care_date": "2025-02-30"})
    assert day.status_code == 422 and outcome(day)["expression"] == ["care_date"]
    with pytest.raises(FseError) as raised:
        await (await fse.client("generaliste")).rights("1234")
    assert (raised.value.kind, raised.value.status) == ("bad_input", 0)


@pytest.mark.parametrize("persona", ["pharmacien", "secretaire"])
async def test_pharmacists_and_secretaries_are_refused(fse: Harness, persona: str) -> None:
    for path, body in (("/rights", {"ins": DUPONT}), ("/batches", {"batch_id": "x"})):
        answer = await fse.post(persona, path, body)
        assert (answer.status_code, refusal(answer)) == (403, "profession")
        assert (
            "ne fait pas de feuilles de soins : la feuille de soins se signe avec"
            in (outcome(answer)["diagnostics"])
        )
    billing = await fse.emu.http.get(
        "/api/fse/billing", headers={"Authorization": f"Bearer {await fse.token(persona)}"}
    )
    assert billing.status_code == 403


async def test_no_token_is_a_401(fse: Harness) -> None:
    answer = await fse.emu.http.post("/api/fse/rights", json={"ins": DUPONT})
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"{" * 5000],
    ids=["broken", "array", "string", "bytes", "deep"],
)
async def test_garbage_is_a_400_never_a_500(fse: Harness, body: bytes) -> None:
    for path in ("/rights", "/batches"):
        answer = await fse.post("generaliste", path, content=body)
        assert answer.status_code == 400, answer.text
        assert refusal(answer) == "structure"


async def test_a_positive_arl_bills_each_sheet_once(fse: Harness) -> None:
    client = await fse.client("generaliste")
    first = await fse.sheet("generaliste", DUPONT, ["G"])
    second = await fse.sheet(
        "generaliste", fse.beneficiary("c.exemption = 'CSS' AND c.rank = 1"), ["G"], True
    )
    arl = await client.send_batch("LOT-1", [first.content(), second.content()])
    assert arl.positive and arl.batch_id == "LOT-1" and arl.received_at.endswith("Z")
    assert [(s.number, s.accepted, s.already_received) for s in arl.sheets] == [
        (first.number, True, False),
        (second.number, True, False),
    ]
    # The same sheets again, in another batch: acknowledged, not billed again.
    again = await client.send_batch("LOT-2", [second.content(), first.content()])
    assert [(s.accepted, s.already_received) for s in again.sheets] == [(True, True)] * 2
    assert fse.billed() == 2
    billing = await client.billing()
    assert billing["billed"] == 2 and billing["amo_total"] == "40.00"  # 19 + 21 (CSS pays 9)
    # The participation of the first sheet counts in the patient's year.
    assert (await client.rights(DUPONT, TODAY)).pf_used == Decimal("2.00")


async def test_the_same_number_with_other_content_is_rejected(fse: Harness) -> None:
    client = await fse.client("generaliste")
    sheet = await fse.sheet("generaliste", DUPONT, ["G"])
    await client.send_batch("LOT-1", [sheet.content()])
    other = build_sheet(sheet.rights, ["VG"], TODAY, False, False, number=sheet.number)
    (result,) = (await client.send_batch("LOT-2", [other.content()])).sheets
    assert (result.accepted, result.code) == (False, "R04")
    assert "déjà utilisé" in result.reason
    row = fse.db.one("SELECT fingerprint FROM fse_sheets WHERE number = :n", {"n": sheet.number})
    assert row["fingerprint"] == sheet.fingerprint()  # the first content stays billed
    assert fse.billed(sheet.number) == 1


async def rejection(fse: Harness, persona: str, content: dict) -> tuple[str, str]:
    arl = await (await fse.client(persona)).send_batch("LOT-R", [content])
    assert arl.positive
    (result,) = arl.sheets
    assert not result.accepted
    return result.code, result.reason


async def test_each_rejection_code(fse: Harness) -> None:
    good = await fse.sheet("generaliste", DUPONT, ["G"])
    closed = build_sheet(rights("1955-09-03", ins=LEFEVRE), ["G"], TODAY, False, True)
    assert await rejection(fse, "generaliste", closed.content()) == (
        "R01",
        "droits fermés à la date des soins",
    )
    unknown_act = good.content() | {"number": new_number(TODAY), "acts": ["ZZ9"]}
    assert (await rejection(fse, "generaliste", unknown_act))[0] == "R02"
    cheaper = good.content() | {"number": new_number(TODAY)}
    cheaper["amounts"] = cheaper["amounts"] | {"amo": "21.00", "patient": "9.00"}
    assert (await rejection(fse, "generaliste", cheaper))[0] == "R03"
    # R04 is above; R05: an INS no patient has.
    stranger_ins = "1781275111001" + ins_key("1781275111001")
    stranger = build_sheet(rights(ins=stranger_ins), ["G"], TODAY, False, True)
    assert (await rejection(fse, "generaliste", stranger.content()))[0] == "R05"
    nurse_act = build_sheet(good.rights, ["AMI1"], TODAY, False, False)
    assert (await rejection(fse, "generaliste", nurse_act.content()))[0] == "R06"
    assert (await rejection(fse, "infirmier", good.content() | {"number": new_number(TODAY)}))[
        0
    ] == "R06"
    future = build_sheet(good.rights, ["G"], "2999-01-01", False, False)
    assert (await rejection(fse, "generaliste", future.content()))[0] == "R07"
    broken = {"number": new_number(TODAY), "acts": "G"}
    assert (await rejection(fse, "generaliste", broken))[0] == "R07"
    assert fse.billed() == 0


async def test_the_yearly_cap_is_the_platform_s(fse: Harness) -> None:
    client = await fse.client("generaliste")
    with fse.db.write() as conn:
        conn.execute(
            "INSERT INTO fse_sheets VALUES ('FSE-20250101-00000000', 'LOT-0', 'x', :ins, :day,"
            " 'f', 'accepted', '', '', '{}', '49.00', '0.00', 0)",
            # Earlier in the year, so that only the yearly cap binds today.
            {"ins": DUPONT, "day": TODAY[:5] + ("01-02" if TODAY[5:] == "01-01" else "01-01")},
        )
    read = await client.rights(DUPONT, TODAY)
    assert read.pf_used == Decimal("49.00")
    stale = build_sheet(read, ["G"], TODAY, False, False)  # priced as if nothing was paid
    assert stale.amounts.pf == Decimal("2.00")
    assert (await rejection(fse, "generaliste", stale.content()))[0] == "R03"
    fresh = build_sheet(read, ["G", "G"], TODAY, False, False, read.used)
    (result,) = (await client.send_batch("LOT-C", [fresh.content()])).sheets
    assert result.accepted and fresh.amounts.pf == Decimal("1.00")
    assert (await client.rights(DUPONT, TODAY)).pf_used == Decimal("50.00")


async def test_negative_arls_process_nothing(fse: Harness) -> None:
    client = await fse.client("generaliste")
    sheet = await fse.sheet("generaliste", DUPONT, ["G"])
    empty = await client.send_batch("LOT-E", [])
    assert (empty.positive, empty.code, empty.sheets) == (False, "L01", ())
    big = await fse.post(
        "generaliste", "/batches", {"batch_id": "LOT-B", "sheets": [{}] * (MAX_SHEETS + 1)}
    )
    assert (big.json()["status"], big.json()["code"]) == ("negative", "L01")
    twice = await client.send_batch("LOT-D", [sheet.content(), sheet.content()])
    assert (twice.positive, twice.code) == (False, "L02")
    nameless = await client.send_batch("LOT-N", [sheet.content(), {"acts": ["G"]}])
    assert (nameless.positive, nameless.code) == (False, "L03")
    no_id = await fse.post("generaliste", "/batches", {"sheets": [sheet.content()]})
    assert (no_id.status_code, no_id.json()["code"]) == (200, "L03")
    assert fse.billed() == 0
    assert fse.db.value("SELECT COUNT(*) FROM fse_sheets") == 0


@pytest.mark.parametrize(
    "change",
    [
        {"acts": [{"code": "G"}]},
        {"acts": []},
        {"rights": {"rate": "70"}},
        {"rights": {"exemption": {"ALD": True}}},
        {"rights": {"coordinated": "oui"}},
        {"rights": {"birthdate": 1962}},
        {"amounts": {"base": "Infinity"}},
        {"amounts": {"amo": "NaN"}},
        {"amounts": {"patient": [1]}},
        {"care_date": "demain"},
        {"lines": "G"},
    ],
    ids=lambda change: json.dumps(change)[:40],
)
async def test_a_malformed_sheet_is_rejected_r07_never_a_500(fse: Harness, change: dict) -> None:
    content = (await fse.sheet("generaliste", DUPONT, ["G"])).content()
    for key, value in change.items():
        content[key] = content[key] | value if isinstance(value, dict) else value
    answer = await fse.post("generaliste", "/batches", {"batch_id": "LOT-M", "sheets": [content]})
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["sheets"]
    assert (result["status"], result["code"]) == ("rejected", "R07")


async def test_the_platform_prices_with_the_rights_it_holds(fse: Harness) -> None:
    client = await fse.client("generaliste")
    read = await client.rights(DUPONT, TODAY)
    assert read.exemption == ""
    ald = (True,)
    generous = build_sheet(replace(read, exemption="ALD"), ["G"], TODAY, True, False, ald=ald)
    assert generous.amounts.amo == Decimal("30.00")
    (result,) = (await client.send_batch("LOT-G", [generous.content()])).sheets
    assert (result.accepted, result.code) == (False, "R03")
    # A patient no card carries: the rights typed from the certificate are the ones used.
    with fse.db.write() as conn:
        conn.execute("DELETE FROM card_beneficiaries WHERE ins = :ins", {"ins": DUPONT})
    typed_rights = replace(read, exemption="ALD", source="saisie")
    typed = build_sheet(typed_rights, ["G"], TODAY, True, True, ald=ald)
    (result,) = (await client.send_batch("LOT-T", [typed.content()])).sheets
    assert result.accepted and fse.billed(typed.number) == 1


PRESCRIPTION = Prescription("10003456789", TODAY, "SCOR-0001")


async def test_rights_read_from_the_card_bind_the_caisse_after_closure(fse: Harness) -> None:
    client = await fse.client("generaliste")
    # LEFÈVRE Hélène's card still shows her rights open; the caisse closed them since.
    on_card = replace(await client.rights(LEFEVRE, TODAY), closed_on="")
    sheet = build_sheet(on_card, ["G"], TODAY, False, False, on_card.used)
    (result,) = (await client.send_batch("LOT-V", [sheet.content()])).sheets
    assert result.accepted and fse.billed(sheet.number) == 1
    # The same rights without the card (read online, degraded mode) carry no guarantee.
    online = build_sheet(on_card.without_card(), ["G"], TODAY, False, True, on_card.used)
    assert (await rejection(fse, "generaliste", online.content()))[0] == "R01"
    # Nor do card-read rights that already showed the closure on the day of care.
    closed = await client.rights(LEFEVRE, TODAY)
    shown_closed = build_sheet(closed, ["G"], TODAY, False, False, closed.used)
    assert (await rejection(fse, "generaliste", shown_closed.content()))[0] == "R01"


async def test_the_platform_counts_the_daily_cap_and_the_franchise(fse: Harness) -> None:
    doctor, nurse = await fse.client("generaliste"), await fse.client("infirmier")
    two = await fse.sheet("generaliste", DUPONT, ["G", "APC"])
    assert (await doctor.send_batch("LOT-D1", [two.content()])).sheets[0].accepted
    read = await doctor.rights(DUPONT, TODAY)
    assert (read.pf_used, read.pf_today) == (Decimal("4.00"), Decimal("4.00"))
    # Priced as if nothing had been paid today: refused; priced with the day's: no PF.
    stale = build_sheet(read, ["G"], TODAY, False, False, Used(read.pf_used))
    assert (await rejection(fse, "generaliste", stale.content()))[0] == "R03"
    fresh = build_sheet(read, ["G"], TODAY, False, False, read.used)
    assert fresh.amounts.pf == Decimal("0.00")
    assert (await doctor.send_batch("LOT-D2", [fresh.content()])).sheets[0].accepted
    # The nurse's acts take the €1 franchise, in the platform's ledger too.
    read = await nurse.rights(DUPONT, TODAY)
    care = build_sheet(
        read, ["AMI1", "AMI2", "IFD"], TODAY, False, False, read.used, prescription=PRESCRIPTION
    )
    assert (care.amounts.franchise, care.amounts.pf) == (Decimal("2.00"), Decimal("0.00"))
    assert (await nurse.send_batch("LOT-N", [care.content()])).sheets[0].accepted
    after = await nurse.rights(DUPONT, TODAY)
    assert (after.franchise_used, after.franchise_today) == (Decimal("2.00"), Decimal("2.00"))


async def test_returns_pay_or_reject_each_acknowledged_sheet_later(fse: Harness) -> None:
    doctor, nurse = await fse.client("generaliste"), await fse.client("infirmier")
    assert await nurse.returns() == []
    consultation = await fse.sheet("generaliste", DUPONT, ["G"], True)
    refused_act = await fse.sheet("generaliste", DUPONT, ["AMI1"])
    arl = await doctor.send_batch("LOT-R1", [consultation.content(), refused_act.content()])
    assert [s.accepted for s in arl.sheets] == [True, False]
    read = await nurse.rights(DUPONT, TODAY)
    prescribed = build_sheet(
        read, ["AMI1", "IFD"], TODAY, True, False, read.used, prescription=PRESCRIPTION
    )
    taken = prescribed.amounts.franchise
    used = read.used + Used(franchise_year=taken, franchise_day=taken)
    unprescribed = build_sheet(read, ["AMI2"], TODAY, True, False, used)
    bad = build_sheet(
        read, ["AMI1"], TODAY, True, False, prescription=Prescription("123", TODAY, "SCOR-1")
    )
    arl = await nurse.send_batch("LOT-R2", [prescribed.content(), unprescribed.content()])
    assert [s.accepted for s in arl.sheets] == [True, True]  # the ARL only acknowledges
    assert await rejection(fse, "infirmier", bad.content()) == (
        "R07",
        "feuille incomplète ou mal formée (prescription)",
    )
    # The doctor's return: the AMO's whole share under tiers payant; none for the refusal.
    (paid,) = await doctor.returns()
    assert (paid["number"], paid["status"], paid["amount"]) == (
        consultation.number,
        "paid",
        "21.00",
    )
    assert paid["paid_on"] == TODAY and paid["batch_id"] == "LOT-R1"
    # Returns settled at the same moment come in the order of their numbers.
    first, second = sorted(await nurse.returns(), key=lambda r: r["number"] != prescribed.number)
    assert (first["number"], first["status"], first["amount"]) == (
        prescribed.number,
        "paid",
        prescribed.amounts.amo.to_eng_string(),
    )
    assert (second["number"], second["status"], second["code"], second["reason"]) == (
        unprescribed.number,
        "rejected",
        "P01",
        "acte infirmier sans prescription",
    )
    # Asked again: the same returns; the rejected sheet took no franchise from the patient.
    assert sorted(await nurse.returns(), key=lambda r: r["number"]) == sorted(
        [first, second], key=lambda r: r["number"]
    )
    assert (await nurse.rights(DUPONT, TODAY)).franchise_today == prescribed.amounts.franchise
    assert fse.billed() == 3
