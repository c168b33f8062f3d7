"""`bsp fse …` for real, against a served platform, on one sign-in per professional.

Each persona signs in once for the module (its own BSP_HOME, hence its own outbox, and
test keyring); every command then runs in a fresh process on that session.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import httpx
import pytest

from tests.connectors.harness import data, ok, refused, signed_in
from tests.e2e.conftest import ServedPlatform, run_bsp
from tests.e2e.test_sso_cli import Launcher

pytestmark = pytest.mark.e2e
PERSONAS = ("generaliste", "infirmier", "pharmacien", "secretaire")
LEAVES_ONE = "1 feuille reste dans la boîte d'envoi ; elle partira au prochain envoi."


@pytest.fixture(scope="module")
def patients(served: ServedPlatform) -> dict[str, dict]:
    """The scenario patients, as `bsp platform patients --json` lists them."""
    result = run_bsp("platform", "patients", "--json", env=served.server_env())
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    return {"dupont": rows[0], "ouedraogo": rows[4], "lefevre": rows[8], "leroy": rows[1]}


@pytest.fixture(scope="module")
def cli(
    served: ServedPlatform, personas: dict[str, dict], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Launcher]:
    """One launcher per persona, each signed in once for the whole module."""
    return signed_in(served, personas, tmp_path_factory.mktemp("fse"), PERSONAS)


def billed(served: ServedPlatform, number: str) -> int:
    """How many times the platform billed that sheet."""
    with sqlite3.connect(served.home / "data" / "platform.sqlite3") as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM fse_sheets WHERE number = ? AND status = 'accepted'", (number,)
        ).fetchone()
    return count


def states(launcher: Launcher) -> dict[str, str]:
    return {
        s["number"]: s["state"] for s in data(launcher.run("fse", "outbox", "--json"))["sheets"]
    }


def test_the_act_catalogue(cli: dict[str, Launcher]) -> None:
    acts = {a["code"]: a for a in data(cli["generaliste"].run("fse", "acts", "--json"))["acts"]}
    codes = ("G", "GS", "VG", "MD", "APC", "AMI1", "IFD")
    assert {code: acts[code]["tariff"] for code in codes} == {
        "G": "30.00",
        "GS": "30.00",
        "VG": "30.00",
        "MD": "10.00",
        "APC": "60.00",
        "AMI1": "3.15",
        "IFD": "2.75",
    }
    assert acts["G"]["under_six"] == "35.00" and acts["AMI1"]["paramedical"] is True
    assert "Consultation de médecine générale" in ok(cli["infirmier"].run("fse", "acts")).stdout


def test_the_doctor_queues_sends_and_follows_a_sheet(
    cli: dict[str, Launcher], patients: dict[str, dict], served: ServedPlatform
) -> None:
    doctor, dupont = cli["generaliste"], patients["dupont"]["ins"]
    sheet = data(doctor.run("fse", "new", dupont, "--act", "G", "--json"))
    number = sheet["number"]
    assert sheet["amounts"] == {
        "base": "30.00",
        "amo": "19.00",
        "complementary": "0.00",
        "participation_forfaitaire": "2.00",
        "franchise": "0.00",
        "patient": "11.00",
        "due_now": "30.00",
        "deferred": "0.00",
    }
    assert (sheet["state"], sheet["rights"]["source"], sheet["patient"]) == (
        "pending",
        "carte",
        "DUPONT MARIE LOUISE",
    )
    plain = ok(doctor.run("fse", "new", dupont, "--act", "g", "--act", "APC", "--tiers-payant"))
    second = plain.stdout.split()[0]
    assert "mis en boîte d'envoi" in plain.stdout and "tiers payant" in plain.stdout
    # The participation of the first sheet, still waiting, counts for the second one (€4
    # a day); under tiers payant the AMO pays its whole share and the €2 are deferred.
    amounts = data(doctor.run("fse", "show", second, "--json"))["amounts"]
    assert (amounts["participation_forfaitaire"], amounts["deferred"]) == ("2.00", "2.00")
    assert (amounts["amo"], amounts["due_now"]) == ("63.00", "27.00")
    assert states(doctor) == {number: "pending", second: "pending"}
    shown = ok(doctor.run("fse", "show", number)).stdout
    assert "en attente" in shown and "AMO 19,00 €" in shown
    report = data(doctor.run("fse", "send", "--json"))
    assert (report["accepted"], report["rejected"], report["left"]) == (2, 0, 0)
    assert report["arls"][0]["status"] == "positive"
    assert states(doctor) == {number: "accepted", second: "accepted"}
    assert billed(served, number) == billed(served, second) == 1
    assert ok(doctor.run("fse", "send")).stdout == "Aucune feuille en attente.\n"
    listing = ok(doctor.run("fse", "outbox")).stdout
    assert "DUPONT MARIE LOUISE" in listing and "acquittée" in listing


def test_the_nurse_bills_paramedical_acts_and_a_rejection_is_shown(
    cli: dict[str, Launcher], patients: dict[str, dict], served: ServedPlatform
) -> None:
    nurse, ame = cli["infirmier"], patients["ouedraogo"]["ins"]
    with sqlite3.connect(served.home / "data" / "platform.sqlite3") as conn:
        (admission,) = conn.execute(
            "SELECT number FROM ame_admissions WHERE ins = ?", (ame,)
        ).fetchone()
    # No Vitale card for an AME holder: the card read fails, the admission is typed.
    refused(nurse.run("fse", "new", ame, "--act", "AMI1"), 5, "mode dégradé")
    without_card = ("--degraded", "--birthdate", "1990-05-30", "--ame", admission)
    refused(nurse.run("fse", "new", ame, "--act", "AMI1", "--ame", admission), 2, "--degraded")
    made = nurse.run("fse", "new", ame, "--act", "AMI1", "--act", "IFD", *without_card)
    assert f"attestation d'admission {admission}" in ok(made).stdout
    sheet = data(nurse.run("fse", "show", made.stdout.split()[0], "--json"))
    assert (sheet["rights"]["exemption"], sheet["tiers_payant"]) == ("AME", True)
    assert (sheet["amounts"]["amo"], sheet["amounts"]["due_now"]) == ("5.90", "0.00")
    refused(
        nurse.run("fse", "new", ame, "--act", "AMI1", *without_card, "--no-tiers-payant"),
        2,
        "obligatoire",
    )
    wrong = data(nurse.run("fse", "new", ame, "--act", "G", *without_card, "--json"))["number"]
    sent = ok(nurse.run("fse", "send"))
    assert "ARL positif" in sent.stdout
    assert f"{wrong}  rejetée (R06 : acte non facturable par votre profession)" in sent.stdout
    assert states(nurse) == {sheet["number"]: "accepted", wrong: "rejected"}
    shown = data(nurse.run("fse", "show", wrong, "--json"))
    assert (shown["code"], shown["state"]) == ("R06", "rejected")


@pytest.mark.parametrize("persona", ["pharmacien", "secretaire"])
def test_pharmacist_and_secretary_are_refused(
    cli: dict[str, Launcher], patients: dict[str, dict], persona: str
) -> None:
    launcher, dupont = cli[persona], patients["dupont"]
    refused(launcher.run("fse", "new", dupont["ins"], "--act", "G"), 4, "ne fait pas de feuilles")
    typed = ("--degraded", "--birthdate", dupont["birthdate"])
    ok(launcher.run("fse", "new", dupont["ins"], "--act", "G", *typed))
    result = launcher.run("fse", "send", "--json")
    refused(result, 4, LEAVES_ONE)
    assert json.loads(result.stdout)["error"]["code"] == "profession"


def test_bad_input_exits_2_naming_the_field_before_any_request(
    served: ServedPlatform, patients: dict[str, dict], tmp_path: Path
) -> None:
    nobody = Launcher(served, tmp_path)  # never signed in: a request would exit 3
    ins = patients["dupont"]["ins"]
    refused(nobody.run("fse", "new", "123", "--act", "G"), 2, "INS")
    refused(nobody.run("fse", "new", ins, "--act", "ZZ"), 2, "--act : acte inconnu")
    refused(nobody.run("fse", "new", ins), 2, "--act")
    refused(
        nobody.run("fse", "new", ins, "--act", "G", "--birthdate", "1962-03-14"), 2, "--degraded"
    )
    refused(nobody.run("fse", "new", ins, "--act", "G", "--exemption", "ALD"), 2, "--birthdate")
    future = ("--degraded", "--birthdate", "2999-01-01")
    refused(nobody.run("fse", "new", ins, "--act", "G", *future), 2, "--birthdate")
    refused(nobody.run("fse", "show", "42"), 2, "NUMBER")
    refused(nobody.run("fse", "show", "FSE-20250101-ABCDEFGH"), 5, "Aucune feuille")
    as_json = nobody.run("fse", "show", "FSE-20250101-ABCDEFGH", "--json")
    assert json.loads(as_json.stdout)["error"]["code"] == "not_found"
    assert ok(nobody.run("fse", "outbox")).stdout == "La boîte d'envoi est vide.\n"


def test_closed_rights_are_refused_before_queuing(
    cli: dict[str, Launcher], patients: dict[str, dict]
) -> None:
    result = cli["generaliste"].run("fse", "new", patients["lefevre"]["ins"], "--act", "G")
    refused(result, 4, "fermés depuis le 2026-01-01")


def test_after_the_session_ends_the_sheet_waits_then_goes(
    served: ServedPlatform, personas: dict[str, dict], patients: dict[str, dict], tmp_path: Path
) -> None:
    doctor, leroy = Launcher(served, tmp_path), patients["leroy"]
    doctor.login(personas["urgentiste"])
    ok(doctor.run("logout"))
    unread = doctor.run("fse", "new", leroy["ins"], "--act", "VG")
    refused(unread, 3, "Rien n'a été mis en boîte d'envoi")
    assert "--degraded --birthdate" in unread.stderr
    typed = ("--degraded", "--birthdate", leroy["birthdate"])
    number = data(doctor.run("fse", "new", leroy["ins"], "--act", "VG", *typed, "--json"))["number"]
    refused(doctor.run("fse", "send"), 3, LEAVES_ONE)
    assert states(doctor) == {number: "pending"}
    doctor.login(personas["urgentiste"])
    assert data(doctor.run("fse", "send", "--json"))["accepted"] == 1
    assert billed(served, number) == 1


def test_with_the_service_down_or_the_platform_gone_nothing_is_lost(
    cli: dict[str, Launcher], patients: dict[str, dict], served: ServedPlatform
) -> None:
    doctor, dupont = cli["generaliste"], patients["dupont"]["ins"]
    number = data(doctor.run("fse", "new", dupont, "--act", "G", "--json"))["number"]
    # The same person and session, but the platform's address answers nothing.
    gone = Launcher(served, Path(doctor.env["BSP_HOME"]), BSP_PLATFORM_URL="http://127.0.0.1:9")
    refused(gone.run("fse", "send"), 6, LEAVES_ONE)
    refused(gone.run("fse", "new", dupont, "--act", "G"), 6, "Rien n'a été mis en boîte")
    # Typed rights know nothing of the day's participation: the patient has not been
    # billed more than €2 today, so the €4 daily cap leaves the €2 typed offline.
    leroy = patients["leroy"]
    typed = ("--degraded", "--birthdate", leroy["birthdate"], "--json")
    offline = data(gone.run("fse", "new", leroy["ins"], "--act", "G", *typed))["number"]
    faults = f"{served.url}/demo/faults"
    assert httpx.put(faults, json={"down": ["fse"]}, headers=served.trainer).status_code == 200
    try:
        refused(
            doctor.run("fse", "send"),
            6,
            "Service fse indisponible (panne simulée). 2 feuilles restent dans la boîte",
        )
        refused(doctor.run("fse", "new", dupont, "--act", "G"), 6, "Droits illisibles")
    finally:
        assert httpx.post(f"{faults}/reset", headers=served.trainer).status_code == 200
    assert states(doctor)[number] == states(doctor)[offline] == "pending"
    assert data(doctor.run("fse", "send", "--json"))["accepted"] == 2
    assert billed(served, number) == billed(served, offline) == 1


def test_the_nurse_follows_her_sheets_to_their_returns(
    cli: dict[str, Launcher], patients: dict[str, dict], served: ServedPlatform
) -> None:
    nurse, leroy = cli["infirmier"], patients["leroy"]["ins"]
    prescription = ("--prescriber", "10003456789", "--prescribed-on", date.today().isoformat())
    refused(nurse.run("fse", "new", leroy, "--act", "AMI1", *prescription), 2, "--scan")
    made = nurse.run("fse", "new", leroy, "--act", "AMI1", *prescription, "--scan", "SCOR-42")
    prescribed = ok(made).stdout.split()[0]
    assert "Prescription du" in made.stdout and "copie SCOR-42" in made.stdout
    bare = data(nurse.run("fse", "new", leroy, "--act", "AMI2", "--json"))["number"]
    assert data(nurse.run("fse", "send", "--json"))["accepted"] >= 2
    assert {states(nurse)[n] for n in (prescribed, bare)} == {"accepted"}
    report = data(nurse.run("fse", "returns", "--json"))
    mine = {r["number"]: r for r in report["returns"]}
    assert report["recorded"] == report["count"] >= 2
    assert (mine[prescribed]["status"], mine[prescribed]["paid_on"]) == (
        "paid",
        date.today().isoformat(),
    )
    assert (mine[bare]["status"], mine[bare]["code"]) == ("rejected", "P01")
    assert (states(nurse)[prescribed], states(nurse)[bare]) == ("paid", "rejected")
    shown = ok(nurse.run("fse", "show", prescribed)).stdout
    assert f"payée ({mine[prescribed]['amount'].replace('.', ',')} €" in shown
    # Asked again: the same returns, none new, and nothing billed twice.
    again = ok(nurse.run("fse", "returns"))
    assert f"{bare}  rejetée (P01 : acte infirmier sans prescription)" in again.stdout
    assert "0 nouveau(x) retour(s)" in again.stderr
    assert billed(served, prescribed) == billed(served, bare) == 1
