"""`bsp phone …`, the virtual e-CPS phone, as the real command in subprocesses."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import pyotp
import pytest

from bsp_tui.config import folders
from bsp_tui.platform.core import Platform
from tests.cli.conftest import Bsp, Terminal, pending_request, shows_number


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound but never listens: connecting to it is refused."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def device_of(name: str) -> dict:
    """The persona's device as this home's phone keeps it."""
    devices = json.loads((folders().data / "ecps-devices.json").read_text())
    return devices[f"http://plateforme.bsp#{name}"]


def test_enrol_prints_the_otpauth_uri_and_its_qr_code(bsp: Bsp, platform: Platform) -> None:
    result = bsp("phone", "enrol", "--persona", "generaliste")
    assert result.returncode == 0, result.stderr
    uri, *qr = result.stdout.splitlines()
    totp = pyotp.parse_uri(uri)
    persona = platform.ecps.persona(name="generaliste")
    device = platform.db.one(
        "SELECT * FROM ecps_devices WHERE id = :id", {"id": device_of("generaliste")["device_id"]}
    )
    assert uri.startswith("otpauth://totp/")
    assert totp.secret == device["totp_secret"]
    assert totp.name == persona["national_id"]
    assert totp.issuer == "e-CPS (bsp)"
    assert len(qr) >= 10
    assert all(set(line) <= set(" █▀▄") for line in qr if line.strip())
    assert any("█" in line for line in qr)


def test_enrol_json(bsp: Bsp, platform: Platform) -> None:
    result = bsp("phone", "enrol", "--persona", "pharmacien", "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"otpauth_uri"}
    assert pyotp.parse_uri(body["otpauth_uri"]).secret == device_of("pharmacien")["totp"]


def test_enrol_on_the_embedded_platform_needs_no_code_and_keeps_the_key_private(
    bsp: Bsp, platform: Platform
) -> None:
    assert bsp("phone", "enrol", "--persona", "infirmier").returncode == 0
    path = folders().data / "ecps-devices.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert set(device_of("infirmier")["key"]) == {"kty", "crv", "x", "d"}


def test_enrol_with_a_code_nobody_issued_is_refused(bsp: Bsp) -> None:
    result = bsp("phone", "enrol", "--persona", "infirmier", "--code", "AAAA-BBBB-CCCC")
    assert result.returncode == 4
    assert "Code d'activation refusé" in result.stderr
    assert "otpauth" not in result.stdout


@pytest.mark.parametrize("as_json", [False, True])
def test_code_is_the_enrolled_device_current_code(
    bsp: Bsp, platform: Platform, as_json: bool
) -> None:
    enrolled = bsp("phone", "enrol", "--persona", "infirmier", "--json")
    totp = pyotp.parse_uri(json.loads(enrolled.stdout)["otpauth_uri"])
    before = time.time()
    result = bsp("phone", "code", "--persona", "infirmier", *(["--json"] if as_json else []))
    after = time.time()
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)["code"] if as_json else result.stdout.removesuffix("\n")
    assert re.fullmatch(r"\d{6}", value)
    # Either side of a 30-second step boundary the command may have crossed.
    assert value in {totp.at(before), totp.at(after)}


def test_approve_answers_the_oldest_request(bsp: Bsp, platform: Platform) -> None:
    request_id = pending_request(platform, "generaliste", binding="37")
    pin = platform.ecps.persona(name="generaliste")["pin"]
    result = bsp("phone", "approve", "--persona", "generaliste", "--pin", pin)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Demande 37 de « Lanceur bsp » approuvée.\n"
    assert platform.ecps.request(request_id).status == "approved"
    assert not shows_number(result.stdout + result.stderr, pin)


def test_approve_json(bsp: Bsp, platform: Platform) -> None:
    request_id = pending_request(platform, "urgentiste", binding="08")
    pin = platform.ecps.persona(name="urgentiste")["pin"]
    result = bsp("phone", "approve", "--persona", "urgentiste", "--pin", pin, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "request": request_id,
        "binding": "08",
        "client": "Lanceur bsp",
        "outcome": "approved",
    }


def test_deny_refuses_without_a_pin(bsp: Bsp, platform: Platform) -> None:
    request_id = pending_request(platform, "secretaire", binding="64")
    result = bsp("phone", "approve", "--persona", "secretaire", "--deny")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Demande 64 de « Lanceur bsp » refusée.\n"
    assert platform.ecps.request(request_id).status == "denied"
    again = bsp("phone", "approve", "--persona", "secretaire", "--deny", "--json")
    assert again.returncode == 5  # nothing left to answer


def test_deny_json(bsp: Bsp, platform: Platform) -> None:
    pending_request(platform, "infirmier")
    result = bsp("phone", "approve", "--persona", "infirmier", "--deny", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "denied"


def test_approve_with_no_pending_request_is_not_found(bsp: Bsp) -> None:
    result = bsp("phone", "approve", "--persona", "generaliste", "--pin", "1234")
    assert result.returncode == 5
    assert result.stdout == ""
    assert "Aucune demande en attente pour Élise Martin-Dubois" in result.stderr


def test_wrong_pin_is_not_allowed_and_never_printed(bsp: Bsp, platform: Platform) -> None:
    request_id = pending_request(platform, "pharmacien")
    pin = platform.ecps.persona(name="pharmacien")["pin"]
    wrong = f"{(int(pin) + 1) % 10_000:04d}"
    result = bsp("phone", "approve", "--persona", "pharmacien", "--pin", wrong)
    assert result.returncode == 4
    assert "Code PIN ou appareil refusé" in result.stderr
    assert "Il reste 4 essais" in result.stderr
    assert result.stdout == ""
    assert not shows_number(result.stderr, wrong)
    assert not shows_number(result.stderr, pin)
    # The request still waits: the right PIN approves it.
    assert platform.ecps.request(request_id).status == "pending"
    right = bsp("phone", "approve", "--persona", "pharmacien", "--pin", pin)
    assert right.returncode == 0, right.stderr
    assert platform.ecps.request(request_id).status == "approved"


def test_wrong_pin_json_error(bsp: Bsp, platform: Platform) -> None:
    pending_request(platform, "urgentiste")
    pin = platform.ecps.persona(name="urgentiste")["pin"]
    wrong = f"{(int(pin) + 5) % 10_000:04d}"
    result = bsp("phone", "approve", "--persona", "urgentiste", "--pin", wrong, "--json")
    assert result.returncode == 4
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "refused"
    assert error["message"].startswith("Code PIN ou appareil refusé.")
    assert not shows_number(result.stdout + result.stderr, wrong)


@pytest.mark.parametrize(
    "args",
    [
        ["approve", "--persona", "personne", "--pin", "1234"],
        ["enrol", "--persona", "personne"],
        ["code", "--persona", "personne"],
    ],
    ids=["approve", "enrol", "code"],
)
def test_unknown_persona_is_bad_input(bsp: Bsp, args: list[str]) -> None:
    result = bsp("phone", *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == "bsp: Aucun professionnel de démonstration « personne ».\n"


def test_unknown_persona_json_error(bsp: Bsp) -> None:
    result = bsp("phone", "enrol", "--persona", "personne", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "error": {
            "code": "unknown_persona",
            "message": "Aucun professionnel de démonstration « personne ».",
        }
    }


def test_approve_needs_a_pin_or_deny(bsp: Bsp) -> None:
    result = bsp("phone", "approve", "--persona", "generaliste", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "error": {
            "code": "usage",
            "message": "Le PIN est obligatoire pour approuver (--pin-stdin, ou BSP_PIN), "
            "ou --deny pour refuser.",
        }
    }
    assert "Le PIN est obligatoire" in result.stderr


def test_interactive_phone_refuses_without_a_terminal(bsp: Bsp) -> None:
    result = bsp("phone")
    assert result.returncode == 2
    assert "demande un terminal" in result.stderr
    assert "bsp phone approve" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["approve", "--persona", "generaliste", "--pin", "1234"],
        ["enrol", "--persona", "generaliste"],
        ["code", "--persona", "generaliste"],
    ],
    ids=["approve", "enrol", "code"],
)
def test_unreachable_platform(bsp: Bsp, closed_port: int, args: list[str]) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    result = bsp("phone", *args, BSP_PLATFORM_URL=url)
    assert result.returncode == 6
    assert "Plateforme injoignable" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_platform_json_error(bsp: Bsp, closed_port: int) -> None:
    result = bsp(
        "phone",
        "approve",
        "--persona",
        "generaliste",
        "--deny",
        "--json",
        BSP_PLATFORM_URL=f"http://127.0.0.1:{closed_port}",
    )
    assert result.returncode == 6
    error = json.loads(result.stdout)["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == "unreachable"
    assert error["message"].startswith("Plateforme injoignable")


# -- several requests for one professional: the number on the screen picks the request ---


def test_several_pending_without_binding_refuse_and_list_them(bsp: Bsp, platform: Platform) -> None:
    first = pending_request(platform, "generaliste", binding="37")
    second = pending_request(platform, "generaliste", binding="52")
    pin = platform.ecps.persona(name="generaliste")["pin"]
    result = bsp("phone", "approve", "--persona", "generaliste", "--pin", pin)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "2 demandes en attente" in result.stderr
    assert "37 « Lanceur bsp »" in result.stderr
    assert "52 « Lanceur bsp »" in result.stderr
    assert "--binding" in result.stderr
    assert {platform.ecps.request(r).status for r in (first, second)} == {"pending"}


def test_binding_answers_the_request_that_shows_it(bsp: Bsp, platform: Platform) -> None:
    older = pending_request(platform, "generaliste", binding="37")
    newer = pending_request(platform, "generaliste", binding="52")
    pin = platform.ecps.persona(name="generaliste")["pin"]
    args = ["phone", "approve", "--persona", "generaliste", "--pin", pin, "--json"]
    result = bsp(*args, "--binding", "37")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["request"] == older
    assert platform.ecps.request(older).status == "approved"
    assert platform.ecps.request(newer).status == "pending"
    denied = bsp("phone", "approve", "--persona", "generaliste", "--deny", "--binding", "52")
    assert denied.returncode == 0, denied.stderr
    assert denied.stdout == "Demande 52 de « Lanceur bsp » refusée.\n"
    assert platform.ecps.request(newer).status == "denied"


def test_binding_nobody_shows_is_not_found(bsp: Bsp, platform: Platform) -> None:
    request_id = pending_request(platform, "infirmier", binding="37")
    result = bsp("phone", "approve", "--persona", "infirmier", "--deny", "--binding", "73")
    assert result.returncode == 5
    assert "Aucune demande en attente affichant 73" in result.stderr
    assert platform.ecps.request(request_id).status == "pending"


def test_binding_must_be_two_digits(bsp: Bsp) -> None:
    result = bsp("phone", "approve", "--persona", "infirmier", "--deny", "--binding", "7")
    assert result.returncode == 2
    assert "deux chiffres" in result.stderr


def test_interactive_phone_lists_every_request_and_answers_the_typed_number(
    platform: Platform,
) -> None:
    older = pending_request(platform, "pharmacien", binding="37")
    newer = pending_request(platform, "pharmacien", binding="52")
    pin = platform.ecps.persona(name="pharmacien")["pin"]
    with Terminal("phone", "--persona", "pharmacien") as phone:
        phone.expect("37  ")
        phone.expect("52  ")
        screen = phone.expect("Nombre affiché sur votre écran")
        assert "« Lanceur bsp » demande une connexion" in screen
        phone.send("52\n")
        phone.expect("Demande 52 — code PIN")
        phone.send(f"{pin}\n")
        phone.expect("Connexion approuvée.")
    assert platform.ecps.request(newer).status == "approved"
    assert platform.ecps.request(older).status == "pending"
