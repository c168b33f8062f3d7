"""`bsp dmp …` for real, against a served platform, on one sign-in per professional.

Each persona signs in once for the module (its own BSP_HOME and test keyring); every
command then runs in a fresh process on that session, as IT support's scripts do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.dmp.models import MAX_CONTENT_BYTES, READABLE_TYPES
from tests.connectors.harness import (
    data,
    json_error,
    ok,
    qualify,
    refused,
    scenario_ins,
    signed_in,
)
from tests.e2e.conftest import ServedPlatform, run_bsp
from tests.e2e.test_sso_cli import Launcher

pytestmark = pytest.mark.e2e
PERSONAS = ("generaliste", "urgentiste", "pharmacien", "infirmier", "secretaire")
PHARMACIST_TYPES = READABLE_TYPES["21"]


@pytest.fixture(scope="module")
def patients(served: ServedPlatform) -> dict[str, str]:
    """The scenario patients' INS, as `bsp platform patients --json` lists them."""
    result = run_bsp("platform", "patients", "--json", env=served.server_env())
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    return {"dupont": rows[0]["ins"], "leroy": rows[1]["ins"], "bernard": rows[2]["ins"]}


@pytest.fixture(scope="module")
def cli(
    served: ServedPlatform, personas: dict[str, dict], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Launcher]:
    """One launcher per persona, each signed in once for the whole module, with the
    scenario patients' identities qualified (the INS goes to the DMP only qualified)."""
    home = tmp_path_factory.mktemp("dmp")
    return signed_in(served, personas, home, PERSONAS, qualified=scenario_ins())


def test_the_doctor_lists_shows_adds_and_reads_the_history(
    cli: dict[str, Launcher], personas: dict[str, dict], patients: dict[str, str], tmp_path: Path
) -> None:
    doctor, ins = cli["generaliste"], patients["dupont"]
    listed = data(doctor.run("dmp", "list", ins, "--json"))
    assert (listed["ins"], listed["mode"]) == (ins, "normal")
    documents = listed["documents"]
    assert listed["count"] == len(documents) >= 11
    assert not any("MASQUE_PS" in d["labels"] for d in documents)
    assert any("INVISIBLE_PATIENT" in d["labels"] for d in documents)
    plain = ok(doctor.run("dmp", "list", ins)).stdout
    assert all(d["id"] in plain for d in documents)
    assert "[invisible patient]" in plain

    first = next(d for d in documents if d["content_type"] == "text/plain")
    shown = ok(doctor.run("dmp", "show", first["id"])).stdout
    assert f"Document {first['id']} — {first['loinc']}" in shown
    assert "DUPONT MARIE LOUISE" in shown
    as_json = data(doctor.run("dmp", "show", first["id"], "--json"))
    assert as_json["content_encoding"] == "utf-8"
    assert as_json["content"].startswith(first["type_label"])
    assert as_json["id"] == first["id"]

    report = tmp_path / "compte-rendu.txt"
    report.write_text("Consultation du jour : état général conservé.\n", encoding="utf-8")
    added = data(
        doctor.run(
            "dmp", "add", ins, str(report), "--type", "11488-4", "--title", "Suivi", "--json"
        )
    )
    assert (added["loinc"], added["title"], added["size"]) == (
        "11488-4",
        "Suivi",
        len(report.read_bytes()),
    )
    reports = data(doctor.run("dmp", "list", ins, "--type", "11488-4", "--json"))["documents"]
    assert reports[0]["id"] == added["id"]
    assert {d["loinc"] for d in reports} == {"11488-4"}
    back = ok(doctor.run("dmp", "show", added["id"])).stdout
    assert back.endswith("Consultation du jour : état général conservé.\n\n")

    events = data(doctor.run("dmp", "history", ins, "--json"))["events"]
    assert events[0]["action"] == "history"
    mine = [e for e in events if e["document_id"] == added["id"]]
    assert [e["action"] for e in mine] == ["read", "metadata", "add"]
    assert {e["national_id"] for e in mine} == {personas["generaliste"]["national_id"]}


def test_several_files_go_in_one_submission_all_or_none(
    cli: dict[str, Launcher], patients: dict[str, str], tmp_path: Path
) -> None:
    ins = patients["dupont"]
    files = [tmp_path / f"piece-{n}.txt" for n in range(3)]
    for number, path in enumerate(files):
        path.write_text(f"Pièce {number} du dossier.\n", encoding="utf-8")
    added = data(cli["generaliste"].run("dmp", "add", ins, *map(str, files), "--json"))
    assert [d["size"] for d in added] == [len(p.read_bytes()) for p in files]
    listed = {
        d["id"] for d in data(cli["generaliste"].run("dmp", "list", ins, "--json"))["documents"]
    }
    assert {d["id"] for d in added} <= listed
    for document, path in zip(added, files, strict=True):  # first, middle and last
        shown = ok(cli["generaliste"].run("dmp", "show", document["id"])).stdout
        assert path.read_text(encoding="utf-8") in shown
    plain = ok(cli["generaliste"].run("dmp", "add", ins, *map(str, files[:2]))).stdout
    assert plain.count("Document ajouté au DMP") == 2
    # The nurse may not add imaging: a submission holding one refuses them all.
    before = data(cli["infirmier"].run("dmp", "list", ins, "--json"))["count"]
    error = json_error(
        cli["infirmier"].run("dmp", "add", ins, *map(str, files), "--type", "18748-4", "--json"), 4
    )
    assert error["code"] == "document_type"
    assert data(cli["infirmier"].run("dmp", "list", ins, "--json"))["count"] == before


def test_each_profession_sees_its_own_document_types(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    ins = patients["dupont"]
    seen = {
        name: {d["loinc"] for d in data(cli[name].run("dmp", "list", ins, "--json"))["documents"]}
        for name in ("generaliste", "pharmacien", "infirmier")
    }
    assert seen["pharmacien"] <= PHARMACIST_TYPES
    assert seen["pharmacien"] < seen["generaliste"]
    assert "18748-4" in seen["generaliste"]
    assert seen["infirmier"] == seen["generaliste"] - {"18748-4"}
    # The arrêté of 26 Oct 2023: the pharmacist reads imaging reports.
    pharmacist = cli["pharmacien"]
    imaging = data(pharmacist.run("dmp", "list", ins, "--type", "18748-4", "--json"))
    assert imaging["count"] >= 1
    report = ok(pharmacist.run("dmp", "show", imaging["documents"][0]["id"])).stdout
    assert "18748-4" in report


def test_the_pharmacist_is_refused_other_types_with_the_reason(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    pharmacist, ins = cli["pharmacien"], patients["dupont"]
    result = pharmacist.run("dmp", "list", ins, "--type", "11488-4")
    refused(result, 4, "Votre profession (Pharmacien) n'a pas accès aux documents de type")
    error = json_error(pharmacist.run("dmp", "list", ins, "--type", "11488-4", "--json"), 4)
    assert error["code"] == "document_type"
    assert "Compte rendu de consultation" in error["message"]


def test_the_secretary_gets_nothing(cli: dict[str, Launcher], patients: dict[str, str]) -> None:
    secretary, ins = cli["secretaire"], patients["dupont"]
    refused(secretary.run("dmp", "list", ins), 4, "Secrétaire médicale")
    refused(secretary.run("dmp", "history", ins), 4, "n'a pas accès au DMP")
    error = json_error(secretary.run("dmp", "list", ins, "--json"), 4)
    assert error == {
        "code": "profession",
        "message": "Votre profession (Secrétaire médicale) n'a pas accès au DMP.",
    }


def test_the_blocked_professional_is_refused_even_in_an_emergency(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    urgentiste, ins = cli["urgentiste"], patients["bernard"]
    refused(urgentiste.run("dmp", "list", ins), 4, "Le patient vous a bloqué")
    emergency = ("--mode", "bris_de_glace", "--reason", "Polytraumatisme")
    refused(urgentiste.run("dmp", "list", ins, *emergency), 4, "même en urgence")
    error = json_error(urgentiste.run("dmp", "list", ins, "--mode", "centre_15", "--json"), 4)
    assert error["code"] == "blocked"
    assert data(cli["generaliste"].run("dmp", "list", ins, "--json"))["count"] > 0


def test_a_closed_dmp_accepts_nothing(
    cli: dict[str, Launcher], patients: dict[str, str], tmp_path: Path
) -> None:
    doctor, ins = cli["generaliste"], patients["leroy"]
    refused(doctor.run("dmp", "list", ins), 4, "Ce DMP est fermé")
    report = tmp_path / "cr.txt"
    report.write_text("Consultation.\n", encoding="utf-8")
    error = json_error(doctor.run("dmp", "add", ins, str(report), "--type", "11488-4", "--json"), 4)
    assert error["code"] == "closed"


def test_break_glass_shows_the_masked_document_and_the_history_shows_the_reason(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    nurse, ins = cli["infirmier"], patients["dupont"]
    reason = "Malaise au domicile, patiente inconsciente"
    normal = data(nurse.run("dmp", "list", ins, "--json"))["documents"]
    refused(nurse.run("dmp", "list", ins, "--mode", "bris_de_glace"), 2, "exige un motif")
    emergency = ("--mode", "bris_de_glace", "--reason", reason)
    glass = nurse.run("dmp", "list", ins, *emergency, "--json")
    documents = data(glass)["documents"]
    masked = [d for d in documents if "MASQUE_PS" in d["labels"]]
    assert len(masked) == 1
    assert masked[0]["id"] not in {d["id"] for d in normal}
    assert len(documents) == len(normal) + 1
    refused(nurse.run("dmp", "show", masked[0]["id"]), 5, "Aucun document accessible")
    shown = nurse.run("dmp", "show", masked[0]["id"], *emergency)
    assert "[masqué aux PS]" in ok(shown).stdout
    assert "tracé et visible du patient" in shown.stderr

    events = data(cli["generaliste"].run("dmp", "history", ins, "--json"))["events"]
    mine = [e for e in events if e["reason"] == reason]
    assert [(e["action"], e["mode"], e["outcome"]) for e in mine] == [
        ("read", "bris_de_glace", "success"),
        ("metadata", "bris_de_glace", "success"),
        ("list", "bris_de_glace", "success"),
        ("notify_treating", "bris_de_glace", "success"),
        ("notify_patient", "bris_de_glace", "success"),
    ]
    assert {e["name"] for e in mine} == {"Amandine N'Diaye"}
    hidden = [e for e in events if e["refusal"] == "masked"]
    assert hidden and hidden[0]["document_id"] == masked[0]["id"]
    plain = ok(cli["generaliste"].run("dmp", "history", ins)).stdout
    assert f"bris de glace  liste des documents — accordé — motif : {reason}" in plain
    assert "REFUSÉ (document masqué)" in plain
    assert "bris de glace notifié au médecin traitant — accordé" in plain


def test_break_glass_and_centre_15_are_refused_to_the_others(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    ins = patients["dupont"]
    emergency = ("--mode", "bris_de_glace", "--reason", "Urgence")
    refused(
        cli["pharmacien"].run("dmp", "list", ins, *emergency),
        4,
        "réservé aux médecins et aux infirmiers",
    )
    refused(
        cli["generaliste"].run("dmp", "list", ins, "--mode", "centre_15"),
        4,
        "réservé aux médecins régulateurs",
    )
    regulation = data(cli["urgentiste"].run("dmp", "list", ins, "--mode", "centre_15", "--json"))
    assert any("MASQUE_PS" in d["labels"] for d in regulation["documents"])


def test_bad_input_not_found_and_no_session(
    served: ServedPlatform,
    cli: dict[str, Launcher],
    patients: dict[str, str],
    tmp_path: Path,
) -> None:
    doctor, ins = cli["generaliste"], patients["dupont"]
    bad_key = ins[:13] + f"{(int(ins[13:]) + 1) % 100:02d}"
    refused(doctor.run("dmp", "list", bad_key), 2, "la clé de l'INS ne correspond pas")
    refused(doctor.run("dmp", "list", ins, "--type", "1234-5"), 2, "Type de document inconnu")
    refused(doctor.run("dmp", "show", "0123456789abcdef"), 5, "Aucun document accessible")
    big = tmp_path / "gros.txt"
    big.write_bytes(b"x" * (MAX_CONTENT_BYTES + 1))
    refused(doctor.run("dmp", "add", ins, str(big), "--type", "11488-4"), 2, "la limite est de")
    nobody = Launcher(served, tmp_path / "nobody")
    qualify(nobody.home, ins)
    refused(nobody.run("dmp", "list", ins), 3, "bsp login")


def test_the_dmp_takes_only_a_qualified_identity(
    served: ServedPlatform,
    personas: dict[str, dict],
    patients: dict[str, str],
    tmp_path: Path,
) -> None:
    """As a clinician: find the patient (récupérée), try her DMP (refused: not qualified,
    nothing sent), check her identity card (qualifiée), open her DMP."""
    doctor = signed_in(served, personas, tmp_path, ("generaliste",))["generaliste"]
    ins = patients["dupont"]
    refused(doctor.run("dmp", "list", ins), 4, "Identité provisoire")
    found = ok(
        doctor.run(
            "ins",
            "lookup",
            "--family",
            "Dupont",
            "--given",
            "Marie",
            "--sex",
            "F",
            "--birthdate",
            "1962-03-14",
        )
    )
    assert "identité récupérée" in found.stdout
    refused(doctor.run("dmp", "list", ins), 4, f"bsp ins qualify {ins} --document", alone=True)
    error = json_error(doctor.run("dmp", "history", ins, "--json"), 4)
    assert error["code"] == "not_qualified"
    refused(doctor.run("dmp", "add", ins, __file__), 4, "non qualifiée")
    refused(doctor.run("ins", "qualify", ins, "--document", "permis"), 2, "passeport, cni")
    qualified = data(doctor.run("ins", "qualify", ins, "--document", "passeport", "--json"))
    assert (qualified["status"], qualified["document"]) == ("QUAL", "passeport")
    me = personas["generaliste"]
    assert qualified["validated_by"] == f"Élise Martin-Dubois ({me['national_id']})"
    assert qualified["retrieved_by"] == qualified["validated_by"]
    assert qualified["validated"] and qualified["retrieved"]
    assert data(doctor.run("dmp", "list", ins, "--json"))["count"] >= 11


def test_authorize_records_the_patients_authorisation(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    """`bsp dmp authorize`: the pharmacist records the patient's authorisation; a blocked
    professional stays blocked."""
    ins = patients["dupont"]
    said = ok(cli["pharmacien"].run("dmp", "authorize", ins))
    assert said.stdout == "Autorisation d'accès de DUPONT MARIE LOUISE enregistrée.\n"
    record = data(cli["pharmacien"].run("dmp", "authorize", ins, "--json"))
    assert (record["ins"], record["access_authorization"]) == (ins, "autorisee")
    blocked = cli["urgentiste"].run("dmp", "authorize", patients["bernard"])
    refused(blocked, 4, "Le patient vous a bloqué")


def test_authorize_withdraw_records_that_the_patient_withdrew_it(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    """`bsp dmp authorize --withdraw`: the nurse's authorisation withdrawn, she no longer
    reads the DMP (exit 4); a second withdrawal has nothing to withdraw (exit 4); the
    history says so; authorised again, she reads it."""
    nurse, ins = cli["infirmier"], patients["dupont"]
    said = ok(nurse.run("dmp", "authorize", ins, "--withdraw"))
    assert said.stdout == "Autorisation d'accès de DUPONT MARIE LOUISE retirée.\n"
    error = json_error(nurse.run("dmp", "list", ins, "--json"), 4)
    assert error["code"] == "authorization_required"
    again = json_error(nurse.run("dmp", "authorize", ins, "--withdraw", "--json"), 4)
    assert again["code"] == "no_authorization"
    record = data(nurse.run("dmp", "authorize", ins, "--json"))
    assert record["access_authorization"] == "autorisee"
    plain = ok(cli["generaliste"].run("dmp", "history", ins)).stdout
    assert "autorisation d'accès du patient retirée — accordé" in plain
    assert "REFUSÉ (aucune autorisation à retirer)" in plain


def test_masking_archiving_and_deleting_a_document_from_the_shell(
    cli: dict[str, Launcher], patients: dict[str, str], tmp_path: Path
) -> None:
    """`bsp dmp mask|unmask|archive|delete …`: each prints the document changed (--json:
    with the update), the history names it; deletion asks --yes and is its author's (exit
    4 for another), a document that is not there exits 5, a malformed id 2."""
    doctor, ins = cli["generaliste"], patients["dupont"]
    report = tmp_path / "suivi.txt"
    report.write_text("Suivi : tension normale.\n", encoding="utf-8")
    document = data(doctor.run("dmp", "add", ins, str(report), "--json"))["id"]
    masked = data(doctor.run("dmp", "mask", document, "--json"))
    assert (masked["id"], masked["update"], masked["labels"]) == (document, "mask", ["MASQUE_PS"])
    nurse = cli["infirmier"]
    refused(nurse.run("dmp", "unmask", document), 5, "Aucun document")
    said = ok(doctor.run("dmp", "unmask", document)).stdout
    assert f"Document {document} démasqué aux professionnels." in said
    archived = ok(nurse.run("dmp", "archive", document)).stdout
    assert "archivé [archivé]" in archived
    assert data(nurse.run("dmp", "hide-from-patient", document, "--json"))["labels"] == [
        "INVISIBLE_PATIENT"
    ]
    refused(doctor.run("dmp", "hide-from-legal", document), 2, "majeur")
    refused(doctor.run("dmp", "delete", document), 2, "--yes")
    error = json_error(cli["urgentiste"].run("dmp", "delete", document, "--yes", "--json"), 4)
    assert error["code"] == "not_author"
    deleted = data(doctor.run("dmp", "delete", document, "--yes", "--json"))
    assert deleted["status"] == "entered-in-error"
    refused(doctor.run("dmp", "archive", document), 5, "Aucun document")
    refused(doctor.run("dmp", "mask", "pas-un-id"), 2, "Identifiant de document invalide")
    history = data(doctor.run("dmp", "history", ins, "--json"))["events"]
    mine = [e["action"] for e in history if e["document_id"] == document]
    for action in ("mask", "unmask", "archive", "hide_patient", "delete"):
        assert action in mine
    plain = ok(doctor.run("dmp", "history", ins)).stdout
    assert f"document masqué aux professionnels {document}" in plain
    assert "REFUSÉ (réservé à l'auteur)" in plain
