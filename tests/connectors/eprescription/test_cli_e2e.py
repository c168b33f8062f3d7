"""`bsp rx …` for real, against a served platform, on one sign-in per professional.

Each persona signs in once for the module (its own BSP_HOME and test keyring); every
command then runs in a fresh process on that session, as IT support's scripts do.
"""

from __future__ import annotations

import io
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import segno

from bsp_tui.platform.population import generate
from connectors.eprescription.models import check_character, format_number, qr_payload
from tests.connectors import harness
from tests.connectors.eprescription.conftest import (
    AMOXICILLINE,
    NOT_IN_CATALOGUE,
    PARACETAMOL,
)
from tests.connectors.harness import data, json_error, ok
from tests.e2e.conftest import ServedPlatform
from tests.e2e.test_sso_cli import Launcher

pytestmark = pytest.mark.e2e
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def refused(result: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    """Exit `code` with one French sentence on stderr, and nothing else there."""
    harness.refused(result, code, words, alone=True)


LINES = (
    "--line",
    f"{PARACETAMOL};1 comprimé 3 fois par jour si douleur;2",
    "--line",
    f"{AMOXICILLINE};1 gélule matin et soir;7j",
)


def prescribe(cli: dict[str, Launcher], ins: str, doctor: str = "generaliste") -> dict:
    return data(cli[doctor].run("rx", "create", ins, *LINES, "--json"))


def test_create_show_dispense_and_a_second_dispensing_refused(
    cli: dict[str, Launcher], patients: dict[str, str], personas: dict[str, dict]
) -> None:
    created = prescribe(cli, patients["dupont"])
    number = created["number"]
    assert created["qr"] == "RX1:" + number.replace("-", "")
    assert created["status"] == "active"
    assert created["dmp_copy"]["filed"] is True
    assert [(x["cip13"], x["boxes"], x["duration_days"]) for x in created["lines"]] == [
        (PARACETAMOL, 2, None),
        (AMOXICILLINE, None, 7),
    ]
    plain = ok(cli["generaliste"].run("rx", "create", patients["dupont"], *LINES))
    assert plain.stdout.startswith("Ordonnance ") and "DUPONT MARIE LOUISE" in plain.stdout
    assert "█" in plain.stdout  # the QR code, in the terminal
    assert "Copie déposée dans le DMP" in plain.stderr

    for reader in ("infirmier", "pharmacien", "urgentiste"):
        shown = data(cli[reader].run("rx", "show", number.lower(), "--json"))
        assert shown["number"] == number and shown["status"] == "active"
    text = ok(cli["infirmier"].run("rx", "show", number)).stdout
    assert "PARACÉTAMOL 1 g" in text and "7 jours" in text and "à délivrer" in text

    substitute = data(cli["pharmacien"].run("rx", "meds", "amoxicilline 500 gelule 24", "--json"))
    other = substitute["medications"][0]["cip13"]
    handed = data(
        cli["pharmacien"].run(
            "rx", "dispense", created["qr"], "--line", f"2=substituted:{other}", "--json"
        )
    )
    assert handed["status"] == "completed"
    (visit,) = handed["dispensings"]
    assert [(x["outcome"], x["cip13"], x["quantity"]) for x in visit["given"]] == [
        ("dispensed", "", 2),
        ("substituted", other, 7),
    ]
    assert visit["pharmacy"] == "Pharmacie de l'Hôtel de Ville"
    day = visit["at"][:10]

    again = cli["pharmacien"].run("rx", "dispense", number)
    refused(again, 4, "déjà entièrement délivrée (le")
    assert f"{day[8:10]}/{day[5:7]}/{day[:4]}" in again.stderr
    assert "Pharmacie de l'Hôtel de Ville" in again.stderr
    error = json_error(cli["pharmacien"].run("rx", "dispense", number, "--json"), 4)
    assert error["code"] == "already_dispensed"
    shown = ok(cli["generaliste"].run("rx", "show", number)).stdout
    assert "7 jours de AMOXICILLINE 500 mg, gélule, boîte de 24 (substitution)" in shown
    assert "Délivrance 1 le" in shown
    refused(cli["generaliste"].run("rx", "cancel", number), 4, "ne peut plus être annulée")


def test_dispense_without_lines_and_a_line_not_dispensed(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    number = prescribe(cli, patients["dupont"])["number"]
    handed = data(cli["pharmacien"].run("rx", "dispense", number, "--json"))
    assert [x["outcome"] for x in handed["dispensings"][0]["given"]] == ["dispensed", "dispensed"]
    number = prescribe(cli, patients["dupont"])["number"]
    text = ok(cli["pharmacien"].run("rx", "dispense", number, "--line", "1=not_dispensed")).stdout
    assert "ligne 1 non délivrée ; ligne 2 : 7 jours." in text and "délivrée en partie" in text


def test_cancel_is_the_prescribers_before_dispensing(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    number = prescribe(cli, patients["dupont"])["number"]
    refused(cli["urgentiste"].run("rx", "cancel", number), 4, "Seul le prescripteur")
    error = json_error(cli["pharmacien"].run("rx", "cancel", number, "--json"), 4)
    assert error["code"] == "not_prescriber"
    assert ok(cli["generaliste"].run("rx", "cancel", number)).stdout == (
        f"Ordonnance {number} annulée.\n"
    )
    refused(cli["pharmacien"].run("rx", "dispense", number), 4, "annulée par son prescripteur")
    assert data(cli["infirmier"].run("rx", "show", number, "--json"))["status"] == "cancelled"


def test_the_access_matrix(cli: dict[str, Launcher], patients: dict[str, str]) -> None:
    ins = patients["dupont"]
    refused(
        cli["pharmacien"].run("rx", "create", ins, *LINES),
        4,
        "Votre profession (Pharmacien) ne peut pas prescrire",
    )
    error = json_error(cli["infirmier"].run("rx", "create", ins, *LINES, "--json"), 4)
    assert error["code"] == "not_prescriber"
    number = prescribe(cli, ins)["number"]
    refused(
        cli["infirmier"].run("rx", "dispense", number),
        4,
        "Votre profession (Infirmier) ne peut pas délivrer",
    )
    refused(cli["generaliste"].run("rx", "dispense", number), 4, "réservé aux pharmaciens")
    for command in (("show", number), ("create", ins, *LINES), ("dispense", number)):
        result = cli["secretaire"].run("rx", *command, "--json")
        assert json_error(result, 4) == {
            "code": "profession",
            "message": "Votre profession (Secrétaire médicale) n'a pas accès "
            "à l'ordonnance numérique.",
        }


def test_the_dmp_copy_not_filed_says_why(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    closed = cli["generaliste"].run("rx", "create", patients["leroy"], *LINES, "--json")
    copy = data(closed)["dmp_copy"]
    assert (copy["filed"], copy["code"]) == (False, "closed")
    assert "Ce DMP est fermé" in copy["reason"]
    blocked = cli["urgentiste"].run("rx", "create", patients["bernard"], *LINES)
    assert "Copie non déposée dans le DMP : Le patient vous a bloqué" in ok(blocked).stderr


def test_a_prescription_carries_only_a_qualified_ins(cli: dict[str, Launcher]) -> None:
    # Past the scenario patients, nobody's identity is qualified on these launchers.
    stranger = generate().people[9].ins
    refused(cli["generaliste"].run("rx", "create", stranger, *LINES), 4, "non qualifiée")
    error = json_error(cli["generaliste"].run("rx", "create", stranger, *LINES, "--json"), 4)
    assert error["code"] == "not_qualified"
    assert f"bsp ins qualify {stranger}" in error["message"]


def test_bad_input_exits_2_naming_the_field_before_any_request(
    served: ServedPlatform, cli: dict[str, Launcher], patients: dict[str, str], tmp_path: Path
) -> None:
    """A few cases in real processes (test_cli.py has them all, in process): without a
    session, each fails on its input before the missing session could matter."""
    ins = patients["dupont"]
    nobody = Launcher(served, tmp_path / "nobody")
    bad_key = ins[:13] + f"{(int(ins[13:]) + 1) % 100:02d}"
    refused(nobody.run("rx", "create", bad_key, *LINES), 2, "la clé de l'INS ne correspond pas")
    refused(
        nobody.run("rx", "create", ins, "--line", f"{NOT_IN_CATALOGUE};1 cp;2"),
        2,
        "absent du catalogue",
    )
    refused(nobody.run("rx", "show", "ABC"), 2, "compte 13 caractères")
    error = json_error(cli["generaliste"].run("rx", "show", "ABC", "--json"), 2)
    assert error["code"] == "bad_input"


def test_no_session_unknown_number_and_unreachable_platform(
    served: ServedPlatform, cli: dict[str, Launcher], tmp_path: Path
) -> None:
    unknown = format_number("000000000001" + check_character("000000000001"))
    nobody = Launcher(served, tmp_path / "nobody")
    refused(nobody.run("rx", "show", unknown), 3, "bsp login")
    refused(cli["pharmacien"].run("rx", "show", unknown), 5, "Aucune ordonnance ne porte")
    refused(cli["pharmacien"].run("rx", "qr", unknown, "--output", "x.svg"), 5, "Aucune")
    dead = Launcher(served, tmp_path / "dead", BSP_PLATFORM_URL="http://127.0.0.1:9")
    dead.keyring.parent.mkdir(parents=True, exist_ok=True)
    dead.keyring.write_text(cli["pharmacien"].keyring.read_text())
    refused(dead.run("rx", "show", unknown), 6, "Plateforme injoignable")


def segno_bytes(number: str, kind: str) -> bytes:
    out = io.BytesIO()
    segno.make(qr_payload(number), error="m", boost_error=False).save(
        out, kind=kind, scale=8, border=4
    )
    return out.getvalue()


def test_qr_export_writes_svg_and_png_of_the_number(
    cli: dict[str, Launcher], patients: dict[str, str], tmp_path: Path
) -> None:
    png = tmp_path / "ordonnance.png"
    created = data(
        cli["generaliste"].run(
            "rx", "create", patients["dupont"], *LINES, "--qr", str(png), "--json"
        )
    )
    number = created["number"]
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert png.read_bytes()[12:16] == b"IHDR"
    assert png.read_bytes() == segno_bytes(number, "png")
    svg = tmp_path / "ordonnance.svg"
    exported = data(cli["pharmacien"].run("rx", "qr", number, "--output", str(svg), "--json"))
    assert exported == {"number": number, "qr": created["qr"], "file": str(svg)}
    root = ET.fromstring(svg.read_bytes())  # noqa: S314 - our own file, just written
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.read_bytes() == segno_bytes(number, "svg")
    terminal = ok(cli["pharmacien"].run("rx", "qr", number)).stdout
    assert set(terminal) <= set("█▀▄ \n") and terminal.count("\n") > 10


def test_a_three_month_treatment_a_month_at_a_time_from_two_terminals(
    cli: dict[str, Launcher],
    patients: dict[str, str],
    served: ServedPlatform,
    personas: dict[str, dict],
    tmp_path: Path,
) -> None:
    monthly = ("--line", f"{PARACETAMOL};1 comprimé 3 fois par jour;30j", "--renew", "1=2")
    number = data(cli["generaliste"].run("rx", "create", patients["dupont"], *monthly, "--json"))[
        "number"
    ]
    # The same pharmacist at a second terminal of the pharmacy: a session of its own.
    counter = harness.signed_in(served, personas, tmp_path, ["pharmacien"])["pharmacien"]
    first = ok(cli["pharmacien"].run("rx", "dispense", number)).stdout
    assert "délivrée en partie" in first and "→ délivré 30 / 90 jours" in first
    second = data(counter.run("rx", "dispense", number, "--json"))
    assert [line["remaining"] for line in second["lines"]] == [30]
    third = data(cli["pharmacien"].run("rx", "dispense", number, "--json"))
    assert third["status"] == "completed"
    assert [(d["rank"], d["given"][0]["quantity"]) for d in third["dispensings"]] == [
        (1, 30),
        (2, 30),
        (3, 30),
    ]
    fourth = counter.run("rx", "dispense", number)
    refused(fourth, 4, "Ordonnance déjà entièrement délivrée (le")
    for visit in third["dispensings"]:
        day = visit["at"][:10]
        assert f"le {day[8:10]}/{day[5:7]}/{day[:4]} à {visit['at'][11:16]} UTC" in fourth.stderr
    assert fourth.stderr.count("par Pharmacie de l'Hôtel de Ville") == 3
    shown = ok(cli["generaliste"].run("rx", "show", number)).stdout
    assert shown.splitlines()[0].endswith("— délivrée") and "Délivrance 3 le" in shown


def test_non_substituable_exits_4_with_its_reason_and_an_agreement_is_recorded(
    cli: dict[str, Launcher], patients: dict[str, str]
) -> None:
    other = data(cli["pharmacien"].run("rx", "meds", "ibuprofene 400 20", "--json"))
    ibuprofene = other["medications"][0]["cip13"]
    line = ("--line", f"{AMOXICILLINE};1 gélule matin et soir;2")
    guarded = data(
        cli["generaliste"].run(
            "rx", "create", patients["dupont"], *line, "--non-substitutable", "1=MTE", "--json"
        )
    )
    assert guarded["lines"][0]["non_substitutable"] == "MTE"
    refused(
        cli["pharmacien"].run(
            "rx", "dispense", guarded["number"], "--line", f"1=substituted:{ibuprofene}"
        ),
        4,
        "marge thérapeutique étroite",
    )
    plain = data(cli["generaliste"].run("rx", "create", patients["dupont"], *line, "--json"))
    error = json_error(
        cli["pharmacien"].run(
            "rx", "dispense", plain["number"], "--line", f"1=substituted:{ibuprofene}", "--json"
        ),
        4,
    )
    assert error["code"] == "agreement_required"
    today = plain["created"][:10]
    handed = data(
        cli["pharmacien"].run(
            "rx",
            "dispense",
            plain["number"],
            "--line",
            f"1=substituted:{ibuprofene}",
            "--agreement",
            f"1={today}",
            "--json",
        )
    )
    assert handed["dispensings"][0]["given"][0]["agreement"] == today
