"""The e-CPS device as a real second factor: activation codes, device-key proofs, lockout.

Each test is a finding of a platform served to a room: someone with only its URL must not
enrol, list, deny or lock anyone; trainees sharing a persona must all be able to approve.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from joserfc.jwk import OKPKey

from bsp_tui.phone import DEVICE_PROOF, DeviceStore, VirtualPhone, device_proof
from tests.conftest import Emulation

pytestmark = pytest.mark.anyio


def public_key() -> dict:
    return OKPKey.generate_key("Ed25519").as_dict(private=False)


def code_for(emu: Emulation, name: str) -> str:
    return emu.platform.ecps.issue_code(name)["code"]


async def enrol(emu: Emulation, name: str, code: str) -> int:
    body = {"persona": name, "code": code, "public_key": public_key()}
    response = await emu.http.post("/ecps/devices", json=body)
    if response.status_code != 200:
        assert "otpauth" not in response.text
    return response.status_code


def phone_of(emu: Emulation, path: Path) -> VirtualPhone:
    """Another phone (its own device file) on the same platform."""
    return VirtualPhone(
        emu.http, DeviceStore(path), activation=lambda n: code_for(emu, n), clock=emu.clock
    )


async def new_request(emu: Emulation, name: str, binding: str) -> str:
    assert (await emu.start_ciba(name, binding=binding)).status_code == 200
    return (await emu.phone_requests(name))[-1]["id"]


# -- enrolment ---------------------------------------------------------------------------


async def test_the_public_enrolment_of_a_persona_is_gone(emu: Emulation) -> None:
    old = await emu.http.post("/ecps/devices/generaliste/enrol")
    assert old.status_code in (404, 405)
    assert "otpauth" not in old.text
    without_code = await emu.http.post(
        "/ecps/devices", json={"persona": "generaliste", "public_key": public_key()}
    )
    assert without_code.status_code == 422
    assert await enrol(emu, "generaliste", "AAAA-BBBB-CCCC") == 403


async def test_an_activation_code_serves_once(emu: Emulation) -> None:
    code = code_for(emu, "infirmier")
    assert await enrol(emu, "infirmier", code) == 200
    assert await enrol(emu, "infirmier", code) == 403


async def test_an_activation_code_is_typed_loosely(emu: Emulation) -> None:
    code = code_for(emu, "infirmier")
    assert await enrol(emu, "infirmier", code.replace("-", " ").lower()) == 200


async def test_an_activation_code_expires(emu: Emulation) -> None:
    code = code_for(emu, "infirmier")
    emu.clock.advance(emu.platform.settings.activation_ttl + 1)
    assert await enrol(emu, "infirmier", code) == 403


async def test_an_activation_code_enrols_only_its_persona(emu: Emulation) -> None:
    code = code_for(emu, "secretaire")
    assert await enrol(emu, "generaliste", code) == 403
    assert await enrol(emu, "secretaire", code) == 200


async def test_enrolling_again_revokes_this_phone_s_previous_device(
    emu: Emulation, tmp_path: Path
) -> None:
    phone = phone_of(emu, tmp_path / "phone.json")
    await phone.enrol("pharmacien")
    first = DeviceStore(tmp_path / "phone.json").get(f"{emu.http.base_url}#pharmacien")
    await phone.enrol("pharmacien")
    second = DeviceStore(tmp_path / "phone.json").get(f"{emu.http.base_url}#pharmacien")
    assert first["device_id"] != second["device_id"]
    for device, status in ((first, 401), (second, 200)):
        headers = {DEVICE_PROOF: device_proof(device, "GET", "/ecps/requests", emu.clock())}
        assert (await emu.http.get("/ecps/requests", headers=headers)).status_code == status


# -- proofs of the device ----------------------------------------------------------------


async def test_listing_and_denying_need_the_device(emu: Emulation) -> None:
    request_id = await new_request(emu, "generaliste", "42")
    listed = await emu.http.get("/ecps/requests")
    assert listed.status_code == 401
    assert listed.json()["error"]["code"] == "device_refused"
    forged = await emu.http.get("/ecps/requests", headers={DEVICE_PROOF: "eyJ.eyJ.x"})
    assert forged.status_code == 401
    denied = await emu.http.post(f"/ecps/requests/{request_id}/answer", json={"approve": False})
    assert denied.status_code == 401
    shown = await emu.http.get(f"/ecps/requests/{request_id}")
    assert shown.status_code == 401
    assert await emu.request_status("generaliste", request_id) == "pending"


async def test_a_device_answers_only_its_professional_s_requests(emu: Emulation) -> None:
    theirs = await new_request(emu, "generaliste", "42")
    path = f"/ecps/requests/{theirs}/answer"
    headers = await emu.proof("pharmacien", "POST", path)
    denied = await emu.http.post(path, json={"approve": False}, headers=headers)
    assert denied.status_code == 404
    assert await emu.request_status("generaliste", theirs) == "pending"
    assert await emu.phone_requests("pharmacien") == []


@pytest.mark.parametrize("flaw", ["replayed", "other_path", "other_method", "stale", "future"])
async def test_a_proof_is_fresh_and_for_this_call_only(emu: Emulation, flaw: str) -> None:
    device = await emu.device("urgentiste")
    now = emu.clock()
    method, path, when = "GET", "/ecps/requests", now
    if flaw == "other_path":
        path = "/ecps/requests/x"
    elif flaw == "other_method":
        method = "POST"
    elif flaw == "stale":
        when = now - 120
    elif flaw == "future":
        when = now + 120
    headers = {DEVICE_PROOF: device_proof(device, method, path, when)}
    if flaw == "replayed":
        assert (await emu.http.get("/ecps/requests", headers=headers)).status_code == 200
    assert (await emu.http.get("/ecps/requests", headers=headers)).status_code == 401


async def test_without_the_device_nobody_can_lock_a_professional_out(emu: Emulation) -> None:
    request_id = await new_request(emu, "generaliste", "42")
    for pin in range(50):  # bounded: ten times the lockout threshold
        body = {"approve": True, "pin": f"{pin:04d}", "otp": "000000"}
        answered = await emu.http.post(f"/ecps/requests/{request_id}/answer", json=body)
        assert answered.status_code == 401
    assert emu.persona("generaliste")["failures"] == 0
    assert emu.persona("generaliste")["locked_until"] == 0
    assert (await emu.start_ciba("generaliste")).status_code == 200


async def test_each_lockout_lasts_twice_the_one_before(emu: Emulation) -> None:
    wrong = f"{(int(emu.persona('infirmier')['pin']) + 1) % 10_000:04d}"
    lockout = emu.platform.settings.lockout_seconds
    for expected in (lockout, 2 * lockout, 4 * lockout):
        request_id = await new_request(emu, "infirmier", "42")
        for _ in range(5):
            answered = await emu.answer(request_id, "infirmier", pin=wrong)
        assert answered.status_code == 423
        locked_for = emu.persona("infirmier")["locked_until"] - emu.clock()
        assert locked_for == pytest.approx(expected)
        emu.clock.advance(expected + 1)
    # A right answer starts the scale again.
    await emu.sign_in("infirmier")
    request_id = await new_request(emu, "infirmier", "42")
    for _ in range(5):
        await emu.answer(request_id, "infirmier", pin=wrong)
    assert emu.persona("infirmier")["locked_until"] - emu.clock() == pytest.approx(lockout)


async def test_many_devices_of_one_persona_approve_within_the_same_30_seconds(
    emu: Emulation, tmp_path: Path
) -> None:
    """Twenty trainees on five personas: four phones of one persona, one time step."""
    pin = emu.persona("generaliste")["pin"]
    phones = [phone_of(emu, tmp_path / f"phone{i}.json") for i in range(4)]
    bindings = ["11", "22", "33", "44"]
    for binding in bindings:
        await new_request(emu, "generaliste", binding)
    for phone, binding in zip(phones, bindings, strict=True):
        await phone.answer_for("generaliste", pin, True, binding)
    statuses = [r["status"] for r in emu.platform.db.all("SELECT status FROM ecps_requests")]
    assert statuses == ["approved"] * 4
    assert emu.persona("generaliste")["failures"] == 0
