"""What the FSE reception refuses from a sheet whatever the client checked: too many acts,
amounts out of range, care before birth, and another professional's sheet number."""

from __future__ import annotations

import pytest

from connectors.fse.models import MAX_ACTS, build_sheet
from tests.connectors.fse.conftest import TODAY, Harness, rights

pytestmark = pytest.mark.anyio
DUPONT = "262037511122263"  # born 1962-03-14


async def _send(fse: Harness, persona: str, content: dict) -> dict:
    answer = await fse.post(persona, "/batches", {"batch_id": "LOT-I", "sheets": [content]})
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["sheets"]
    return result


async def test_a_sheet_has_at_most_max_acts_acts(fse: Harness) -> None:
    read = await (await fse.client("generaliste")).rights(DUPONT, TODAY)
    many = build_sheet(read, ["APC"] * (MAX_ACTS + 1), TODAY, False, False, read.used)
    result = await _send(fse, "generaliste", many.content())
    assert (result["status"], result["code"]) == ("rejected", "R07")
    assert "(acts)" in result["reason"]
    # The 5,000 acts, without their priced lines: refused the same way, never billed.
    huge = many.content() | {"acts": ["APC"] * 5000, "lines": []}
    huge["number"] = build_sheet(read, ["G"], TODAY, False, False).number
    assert (await _send(fse, "generaliste", huge))["code"] == "R07"
    assert fse.billed() == 0


@pytest.mark.parametrize("amount", ["1e30", "-1e30", "1E999999999", "100000.01"])
async def test_amounts_out_of_range_are_rejected_with_their_field(
    fse: Harness, amount: str
) -> None:
    content = (await fse.sheet("generaliste", DUPONT, ["G"])).content()
    content["amounts"] = content["amounts"] | {"base": amount}
    result = await _send(fse, "generaliste", content)
    assert (result["status"], result["code"]) == ("rejected", "R07")
    assert "(amounts.base)" in result["reason"]


async def test_care_before_the_patient_s_birth_is_refused(fse: Harness) -> None:
    read = await (await fse.client("generaliste")).rights(DUPONT, TODAY)
    assert read.birthdate == "1962-03-14"
    old = build_sheet(read, ["G"], "1901-05-02", False, True)  # once priced as under-6
    result = await _send(fse, "generaliste", old.content())
    assert (result["code"], result["reason"].endswith("(care_date)")) == ("R07", True)
    # Declaring an older birth date does not help: the platform's own date counts.
    lying = build_sheet(rights("1900-01-01", ins=DUPONT), ["G"], "1901-05-02", False, True)
    result = await _send(fse, "generaliste", lying.content())
    assert (result["code"], result["reason"].endswith("(care_date)")) == ("R07", True)
    assert fse.billed() == 0


async def test_a_sheet_number_belongs_to_the_professional_who_sent_it(fse: Harness) -> None:
    doctor = await fse.sheet("generaliste", DUPONT, ["G"])
    assert (await _send(fse, "generaliste", doctor.content()))["status"] == "accepted"
    # The nurse resends the doctor's very sheet, then her own act under the same number.
    copied = await _send(fse, "infirmier", doctor.content())
    assert (copied["status"], copied["code"], copied["already_received"]) == (
        "rejected",
        "R04",
        False,
    )
    assert copied["amounts"] == {}  # nothing of the doctor's sheet is told
    nurse = await fse.sheet("infirmier", DUPONT, ["AMI1"])
    reused = await _send(fse, "infirmier", nurse.content() | {"number": doctor.number})
    assert reused["code"] == "R04"
    billing = await fse.emu.http.get(
        "/api/fse/billing", headers={"Authorization": f"Bearer {await fse.token('infirmier')}"}
    )
    assert billing.json()["sheets"] == []
    assert fse.billed(doctor.number) == 1
    again = await _send(fse, "generaliste", doctor.content())
    assert (again["status"], again["already_received"]) == ("accepted", True)
