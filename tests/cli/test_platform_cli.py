"""`bsp platform …`: inspect, reset and administer the emulated platform, as the real command."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

from bsp_tui.domain.identifiers import is_valid_rpps
from bsp_tui.platform.core import Platform
from bsp_tui.platform.psc.errors import OAuthError
from tests.cli.conftest import Bsp, pending_request
from tests.conftest import LAUNCHER

PERSONAS = {"generaliste", "urgentiste", "pharmacien", "infirmier", "secretaire"}


def test_personas_json(bsp: Bsp, platform: Platform) -> None:
    result = bsp("platform", "personas", "--json")
    assert result.returncode == 0, result.stderr
    personas = json.loads(result.stdout)
    assert len(personas) == 5
    assert {p["name"] for p in personas} == PERSONAS
    for persona in personas:
        assert {"name", "display_name", "profession_code", "national_id", "rpps", "pin"} <= set(
            persona
        )
        assert is_valid_rpps(persona["rpps"])
        assert persona["national_id"] == "8" + persona["rpps"]
        assert len(persona["pin"]) == 4 and persona["pin"].isdigit()
        assert persona["pin"] == platform.ecps.persona(name=persona["name"])["pin"]
        assert persona["display_name"].strip() == persona["display_name"]
    assert {"10", "21", "60"} <= {p["profession_code"] for p in personas}
    # Seeded once: the same PINs on the next run.
    assert json.loads(bsp("platform", "personas", "--json").stdout) == personas


def test_personas_table(bsp: Bsp, platform: Platform) -> None:
    result = bsp("platform", "personas")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:2] == ["NOM", "PROFESSIONNEL"]
    assert header.endswith("PIN  ACTIVATION")
    assert len(rows) == 5
    for row in rows:
        name = row.split()[0]
        persona = platform.ecps.persona(name=name)
        assert persona["national_id"] in row.split()
        assert row.split()[-2] == persona["pin"]
        assert row.split()[-1] == platform.ecps.activation_code(name)["code"]


def test_personas_show_each_persona_s_activation_code_until_it_is_spent(
    bsp: Bsp, platform: Platform
) -> None:
    listed = {p["name"]: p for p in json.loads(bsp("platform", "personas", "--json").stdout)}
    code = listed["infirmier"]["activation_code"]
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    assert listed["infirmier"]["activation_expires"] > time.time() + 24 * 3600
    again = json.loads(bsp("platform", "personas", "--json").stdout)
    assert {p["name"]: p["activation_code"] for p in again}["infirmier"] == code
    key = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    platform.ecps.enrol("infirmier", code, key)
    after = json.loads(bsp("platform", "personas", "--json").stdout)
    assert {p["name"]: p["activation_code"] for p in after}["infirmier"] != code


def test_cards_print_what_a_trainee_needs(bsp: Bsp, platform: Platform) -> None:
    result = bsp("platform", "cards")
    assert result.returncode == 0, result.stderr
    for persona in platform.ecps.directory(with_pins=True):
        code = persona["activation_code"]
        assert f"Identifiant national : {persona['national_id']}" in result.stdout
        assert f"Code PIN : {persona['pin']}" in result.stdout
        assert f"Code d'activation e-CPS : {code}" in result.stdout
        assert f"bsp phone enrol --persona {persona['name']} --code {code}" in result.stdout
        assert persona["display_name"] in result.stdout
    assert result.stdout.count("█") > 1000  # five QR codes


def test_cards_to_a_printable_file_readable_by_its_owner_only(
    bsp: Bsp, platform: Platform, tmp_path: Path
) -> None:
    output = tmp_path / "cartes.html"
    result = bsp("platform", "cards", "--output", str(output), "--copies", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"15 cartes écrites dans {output}.\n"
    assert output.stat().st_mode & 0o777 == 0o600
    page = output.read_text(encoding="utf-8")
    assert page.count('<section class="card">') == 15
    assert page.count("<svg") == 15
    codes = re.findall(r"Code d&#x27;activation e-CPS : ([A-Z2-9-]{14})", page)
    assert len(set(codes)) == 15, "each copy has its own single-use code"


def test_clients_add_json_gives_a_working_secret(bsp: Bsp, platform: Platform) -> None:
    result = bsp(
        "platform",
        "clients",
        "add",
        "cabinet-dupont",
        "--redirect-uri",
        "https://cabinet.example/retour",
        "--backchannel-logout-uri",
        "https://cabinet.example/deconnexion",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["client_id"] == "cabinet-dupont"
    assert body["redirect_uris"] == ["https://cabinet.example/retour"]
    assert body["backchannel_logout_uri"] == "https://cabinet.example/deconnexion"
    stored = platform.clients.get("cabinet-dupont")
    assert stored is not None
    assert stored["backchannel_logout_uri"] == "https://cabinet.example/deconnexion"
    secret = body["client_secret"]
    assert len(secret) >= 32
    client = platform.clients.authenticate({}, "cabinet-dupont", secret)
    assert client["client_id"] == "cabinet-dupont"
    with pytest.raises(OAuthError):
        platform.clients.authenticate({}, "cabinet-dupont", secret[:-1] + "x")


def test_clients_add_plain_shows_the_secret_once(bsp: Bsp) -> None:
    result = bsp("platform", "clients", "add", "pharmacie-centrale")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "client_id     : pharmacie-centrale"
    assert lines[1].startswith("client_secret : ")
    assert len(lines[1].removeprefix("client_secret : ")) >= 32
    assert "Conservez ce secret" in result.stderr


def test_clients_add_twice_is_refused(bsp: Bsp) -> None:
    assert bsp("platform", "clients", "add", "labo-ouest").returncode == 0
    again = bsp("platform", "clients", "add", "labo-ouest")
    assert again.returncode == 2
    assert again.stdout == ""
    assert again.stderr == "bsp: Un client « labo-ouest » est déjà enregistré.\n"
    as_json = bsp("platform", "clients", "add", "labo-ouest", "--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout) == {
        "error": {"code": "bad_client", "message": "Un client « labo-ouest » est déjà enregistré."}
    }


def test_the_launcher_itself_cannot_be_added_again(bsp: Bsp) -> None:
    result = bsp("platform", "clients", "add", LAUNCHER)
    assert result.returncode == 2
    assert "déjà enregistré" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Cabinet_Dupont"], "Le nom du client"),
        (["x"], "Le nom du client"),
        (["cabinet", "--redirect-uri", "ftp://cabinet.example/"], "URI de redirection invalide"),
        (["cabinet", "--redirect-uri", "https://cabinet.example/#x"], "URI de redirection"),
        (["cabinet", "--backchannel-logout-uri", "cabinet/logout"], "URI de déconnexion"),
    ],
)
def test_clients_add_bad_input(bsp: Bsp, platform: Platform, args: list[str], message: str) -> None:
    result = bsp("platform", "clients", "add", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert platform.clients.get(args[0]) is None


def test_reset_returns_to_the_seeded_state(bsp: Bsp, platform: Platform) -> None:
    pins = {p["name"]: p["pin"] for p in platform.ecps.personas()}
    kid = platform.keys.active().kid
    request_id = pending_request(platform, "generaliste")
    national_id = platform.ecps.persona(name="infirmier")["national_id"]
    sid = platform.tokens.open_session(national_id, LAUNCHER, "openid scope_all", None, "MOBILE")
    platform.clients.add("a-oublier", [])

    result = bsp("platform", "reset")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Plateforme remise à l'état initial.\n"
    assert platform.ecps.pending() == []
    assert platform.db.one("SELECT 1 FROM ecps_requests WHERE id = :id", {"id": request_id}) is None
    assert platform.db.one("SELECT 1 FROM sessions WHERE sid = :sid", {"sid": sid}) is None
    assert platform.clients.get("a-oublier") is None
    assert platform.clients.get(LAUNCHER) is not None
    # Keys and enrolled devices stay.
    assert {p["name"]: p["pin"] for p in platform.ecps.personas()} == pins
    assert platform.keys.active().kid == kid


def test_keys_rotate(bsp: Bsp, platform: Platform) -> None:
    old = platform.keys.active().kid
    result = bsp("platform", "keys", "rotate")
    assert result.returncode == 0, result.stderr
    prefix = "Nouvelle clé de signature : "
    assert result.stdout.startswith(prefix)
    new = result.stdout.removeprefix(prefix).strip()
    assert new and new != old
    assert platform.keys.active().kid == new
    # The retired key keeps verifying the tokens it signed.
    assert {key["kid"] for key in platform.keys.jwks()["keys"]} == {old, new}


@pytest.mark.parametrize(
    "args",
    [
        ["personas"],
        ["cards"],
        ["patients", "--json"],
        ["reset"],
        ["keys", "rotate"],
        ["clients", "add", "outil"],
    ],
)
def test_local_commands_refuse_to_answer_for_a_served_platform(
    bsp: Bsp, platform: Platform, args: list[str]
) -> None:
    kid = platform.keys.active().kid
    result = bsp("platform", *args, BSP_PLATFORM_URL="http://127.0.0.1:8700")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "BSP_PLATFORM_URL désigne la plateforme servie http://127.0.0.1:8700" in result.stderr
    assert "bsp platform serve" in result.stderr and "Traceback" not in result.stderr
    assert platform.keys.active().kid == kid  # nothing was done to the local platform


def test_a_bad_setting_is_bad_input(bsp: Bsp) -> None:
    result = bsp("platform", "personas", BSP_PSC_ACCESS_TTL="deux minutes")
    assert result.returncode == 2
    assert "BSP_PSC_ACCESS_TTL doit être un nombre entier" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_busy_port_fails_with_a_sentence(bsp: Bsp) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = bsp("platform", "serve", "--port", str(port))
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"Impossible d'écouter sur 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_rejects_a_port_out_of_range(bsp: Bsp) -> None:
    result = bsp("platform", "serve", "--port", "70000")
    assert result.returncode == 2
    assert "70000" in result.stderr
