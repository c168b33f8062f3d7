"""`bsp rx …` input checks in process: every malformed value exits 2 naming the field,
before any session or request (the command would otherwise exit 3 without one)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from connectors.eprescription.cli import group
from connectors.eprescription.models import format_number
from tests.connectors.eprescription.conftest import IBUPROFENE, NOT_IN_CATALOGUE, PARACETAMOL

INS = "262037511122263"  # DUPONT Marie Louise
LINE = f"{PARACETAMOL};1 comprimé 3 fois par jour;2"
NUMBER = format_number("0" * 13)  # well formed: the check character of twelve 0 is 0
CIP_KEY = PARACETAMOL[:-1] + str((int(PARACETAMOL[-1]) + 1) % 10)

CASES = [
    (("create", INS[:13] + "00", "--line", LINE), "INS « 262037511122200 » : la clé"),
    (("create", INS, "--line", f"{CIP_KEY};1 cp;2"), "la clé du CIP13 ne correspond pas"),
    (("create", INS, "--line", "34009;1 cp;2"), "un CIP13 compte 13 chiffres"),
    (("create", INS, "--line", f"{NOT_IN_CATALOGUE};1 cp;2"), "--line 1 : CIP13"),
    (("create", INS, "--line", f"{PARACETAMOL};;2"), "la posologie est obligatoire"),
    (("create", INS, "--line", f"{PARACETAMOL};1 cp;beaucoup"), "--line 1 : quantité"),
    (("create", INS, "--line", f"{PARACETAMOL};1 cp;99"), "de 1 à 12 boîtes"),
    (("create", INS, "--line", f"{PARACETAMOL};1 cp;400j"), "de 1 à 365 jours"),
    (("create", INS, "--line", LINE, "--line", "x"), "--line 2 : ligne « x »"),
    (("create", INS, *["--line", LINE] * 21), "de 1 à 20 lignes"),
    (("create", INS, "--line", LINE, "--qr", "x.gif"), "un fichier .svg ou .png"),
    (("show", "ABCD-EFGH-JKMN-P"), "le caractère de contrôle ne correspond pas"),
    (("show", "ABC"), "compte 13 caractères"),
    (("show", "UUUU-UUUU-UUUU-U"), "sans U"),
    (("cancel", "ABC"), "Numéro d'ordonnance « ABC »"),
    (("qr", "ABC"), "Numéro d'ordonnance « ABC »"),
    (("qr", NUMBER, "--output", "qr.jpg"), "un fichier .svg ou .png"),
    (("dispense", "ABCD", "--line", "1=dispensed"), "numéro d'ordonnance"),
    (("dispense", NUMBER, "--line", "1=lost"), "choix inconnu"),
    (("dispense", NUMBER, "--line", "x=dispensed"), "attendu N=dispensed"),
    (("dispense", NUMBER, "--line", "0=dispensed"), "attendu N=dispensed"),
    (("dispense", NUMBER, "--line", "1=substituted:123"), "13 chiffres"),
    (("dispense", NUMBER, "--line", f"1=substituted:{NOT_IN_CATALOGUE}"), "absent du catalogue"),
    (("dispense", NUMBER, "--line", f"1=dispensed:{PARACETAMOL}"), "quantité de 1 à 365"),
    (("dispense", NUMBER, "--line", "1=dispensed", "--line", "1=not_dispensed"), "deux fois"),
]


@pytest.mark.parametrize(("args", "words"), CASES)
def test_bad_input_exits_2_with_one_french_sentence(args: tuple[str, ...], words: str) -> None:
    result = CliRunner().invoke(group, list(args))
    assert result.exit_code == 2, (result.output, result.stderr)
    assert words in result.stderr
    assert result.stderr.startswith("bsp: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_with_json_the_error_is_also_on_stdout() -> None:
    result = CliRunner().invoke(group, ["show", "ABC", "--json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "bad_input"
    assert error["message"].startswith("Numéro d'ordonnance « ABC »")


def test_meds_searches_the_catalogue_without_a_session() -> None:
    found = json.loads(CliRunner().invoke(group, ["meds", "IBUPROFENE 400", "--json"]).stdout)
    assert found["query"] == "IBUPROFENE 400"
    assert found["count"] == len(found["medications"]) >= 2
    assert IBUPROFENE in {m["cip13"] for m in found["medications"]}
    assert all("IBUPROFÈNE 400 mg" in m["name"] for m in found["medications"])
    text = CliRunner().invoke(group, ["meds", "paracétamol 1 g"])
    assert text.exit_code == 0
    assert text.stdout.splitlines()[0] == f"{PARACETAMOL}  PARACÉTAMOL 1 g, comprimé, boîte de 8"
    none = CliRunner().invoke(group, ["meds", "zzz"])
    assert none.exit_code == 0 and none.stdout == "" and "Aucun médicament" in none.stderr
