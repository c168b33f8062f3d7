"""`bsp ins …` end to end: the real CLI in subprocesses against a served platform, on one
sign-in — each answer code, the JSON shapes, malformed input (exit 2 naming the field),
a batch with bad rows mixed in, verification, Vitale cards, and no session (exit 3)."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest

from bsp_tui.domain.patients import OID_NIA, is_nia
from bsp_tui.platform.population import generate
from tests.connectors.ins.conftest import BY_INS, family_card, scenario, unknown_ins
from tests.e2e.conftest import ServedPlatform
from tests.e2e.test_sso_cli import Launcher

pytestmark = pytest.mark.e2e

MARTIN = ["--family", "Martin", "--given", "Jean", "--sex", "M", "--birthdate", "1980-05-12"]
JEAN_PIERRE = scenario("MARTIN", "JEAN PIERRE")
JEAN_MARC = scenario("MARTIN", "JEAN MARC")
JEAN = scenario("MARTIN", "JEAN")
AMINATA = scenario("OUEDRAOGO", "AMINATA")


@pytest.fixture(scope="module")
def launcher(
    served: ServedPlatform, personas: dict, tmp_path_factory: pytest.TempPathFactory
) -> Launcher:
    """One professional signed in once for the whole module."""
    launcher = Launcher(served, tmp_path_factory.mktemp("ins-cli"))
    launcher.login(personas["generaliste"])
    return launcher


def lookup_json(launcher: Launcher, *args: str) -> dict:
    result = launcher.run("ins", "lookup", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_each_answer_code_and_its_json_shape(launcher: Launcher) -> None:
    several = launcher.run("ins", "lookup", *MARTIN, "--json")
    assert several.returncode == 0, several.stderr
    assert json.loads(several.stdout) == {"code": "02", "identities": []}
    for person in (JEAN_PIERRE, JEAN_MARC, JEAN):
        assert person.ins not in several.stdout
    found = lookup_json(launcher, *MARTIN[:2], "--given", "jean marc", *MARTIN[4:])
    assert found == {"code": "00", "identities": [asdict(JEAN_MARC)]}
    nia = lookup_json(
        launcher,
        "--family",
        "Ouédraogo",
        "--given",
        "Aminata",
        "--sex",
        "F",
        "--birthdate",
        "1990-05-30",
    )
    assert nia["identities"] == [asdict(AMINATA)]
    nobody = lookup_json(launcher, *MARTIN, "--birthplace", "99350")
    assert nobody == {"code": "01", "identities": []}


def test_plain_answers_for_people(launcher: Launcher) -> None:
    several = launcher.run("ins", "lookup", *MARTIN)
    assert several.returncode == 0
    assert several.stdout.startswith("02 — plusieurs identités")
    assert "--birthplace" in several.stdout
    found = launcher.run("ins", "lookup", *MARTIN, "--birthplace", "2B033")
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("00 — une identité")
    assert JEAN.ins in found.stdout and "identité récupérée" in found.stdout
    nobody = launcher.run("ins", "lookup", *MARTIN, "--birthplace", "99350")
    assert nobody.stdout.startswith("01 — aucune identité")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["lookup", *MARTIN[:6], "--birthdate", "1980-13-12"], "--birthdate"),
        (["lookup", *MARTIN[:6], "--birthdate", "2999-01-01"], "--birthdate"),
        (["lookup", *MARTIN[:4], "--sex", "X", *MARTIN[6:]], "--sex"),
        (["lookup", "--family", "Mart1n", *MARTIN[2:]], "--family"),
        (["lookup", *MARTIN, "--birthplace", "7511"], "--birthplace"),
        (["lookup", *MARTIN[:2], *MARTIN[4:]], "--given"),
        (["lookup", *MARTIN, "--batch", "rows.csv"], "--batch"),
        (["lookup", "--batch", "/nonexistent/rows.csv"], "--batch"),
        (["verify", "180057511524888"], "INS"),
        (["verify", JEAN.ins, "--sex", "H"], "--sex"),
        (["card", "12AB"], "SERIAL"),
        (["card", "1000000000", "--rank", "0"], "--rank"),
    ],
)
def test_malformed_input_exits_2_naming_the_field(
    launcher: Launcher, args: list[str], named: str
) -> None:
    result = launcher.run("ins", *args)
    assert result.returncode == 2, result.stderr
    assert f"bsp: {named} : " in result.stderr
    assert result.stdout == ""


def test_malformed_input_with_json_names_the_field_on_stdout(launcher: Launcher) -> None:
    result = launcher.run("ins", "lookup", *MARTIN[:6], "--birthdate", "12/05/1980", "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "bad_input"
    assert error["field"] == "birthdate"
    assert "AAAA-MM-JJ" in error["message"]


def _batch_rows() -> tuple[list[dict[str, str]], list[tuple[str, str | None]]]:
    """About fifty rows — patients, homonyms, unknown people, bad rows — and what each
    must give: ("00", ins), ("01", None), ("02", None) or ("error", field)."""
    alike = Counter(
        (p.family, p.first_given, p.sex, p.birthdate, p.birthplace) for p in BY_INS.values()
    )
    people = [
        p
        for p in list(BY_INS.values())[9::7]
        if alike[(p.family, p.first_given, p.sex, p.birthdate, p.birthplace)] == 1
    ][:30]
    rows, expected = [], []
    bad = [
        ({"sex": "X"}, "sex"),
        ({"birthdate": "1980-02-30"}, "birthdate"),
        ({"family": ""}, "family"),
        ({"birthplace": "2C004"}, "birthplace"),
        ({"given": "J3an"}, "given"),
    ]
    martin = {"family": "Martin", "given": "Jean", "sex": "M", "birthdate": "1980-05-12"}
    for index, person in enumerate(people):
        rows.append(
            {
                "family": person.family.title(),
                "given": person.given.lower(),
                "sex": person.sex,
                "birthdate": person.birthdate,
                "birthplace": person.birthplace,
            }
        )
        expected.append(("00", person.ins))
        if index % 3 == 0:
            rows.append(martin | {"birthplace": ""})
            expected.append(("02", None))
        if index % 4 == 1:
            rows.append(martin | {"family": "Inconnu-Personne", "birthplace": ""})
            expected.append(("01", None))
        if index % 5 == 2:
            change, field = bad[(index // 5) % len(bad)]
            rows.append(martin | {"birthplace": ""} | change)
            expected.append(("error", field))
    return rows, expected


def test_a_batch_keeps_input_order_reports_bad_rows_in_place_and_sums_up(
    launcher: Launcher, tmp_path: Path
) -> None:
    rows, expected = _batch_rows()
    assert 45 <= len(rows) <= 60
    assert {kind for kind, _ in expected} == {"00", "01", "02", "error"}
    path = tmp_path / "rows.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["family", "given", "sex", "birthdate", "birthplace"]
        )
        writer.writeheader()
        writer.writerows(rows)
    result = launcher.run("ins", "lookup", "--batch", str(path), "--concurrency", "8")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["row"] for line in lines] == list(range(1, len(rows) + 1))
    for line, (kind, detail) in zip(lines, expected, strict=True):
        if kind == "error":
            assert line["error"]["code"] == "bad_input", line
            assert line["error"]["field"] == detail
        else:
            assert line["code"] == kind, (line, kind, detail)
            assert [i["ins"] for i in line["identities"]] == ([detail] if detail else [])
    counts = Counter(kind for kind, _ in expected)
    # stderr is no terminal here: no progress, the summary alone.
    assert result.stderr.splitlines() == [
        f"{len(rows)} lignes : {counts['00']} 00, {counts['01']} 01, {counts['02']} 02, "
        f"{counts['error']} erreurs"
    ]


def test_an_ndjson_batch_from_stdin(launcher: Launcher) -> None:
    lines = [
        json.dumps({"family": "Petit", "given": "Lucas", "sex": "M", "birthdate": "2012-01-09"}),
        "{broken",
        json.dumps(
            {"family": "Martin", "given": "Jean Pierre", "sex": "M", "birthdate": "1980-05-12"}
        ),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "bsp_tui", "ins", "lookup", "--batch", "-"],
        env=launcher.env,
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert out[0]["identities"][0]["ins"] == scenario("PETIT", "LUCAS").ins
    assert out[1] == {"row": 2, "error": {"code": "bad_input", "message": "ligne JSON illisible"}}
    assert out[2]["identities"][0]["ins"] == JEAN_PIERRE.ins
    assert result.stderr.splitlines()[-1] == "3 lignes : 2 00, 0 01, 0 02, 1 erreur"
    # Each identity the batch found is récupérée: a document checked qualifies it.
    lucas = scenario("PETIT", "LUCAS").ins
    qualified = launcher.run("ins", "qualify", lucas, "--document", "livret_famille", "--json")
    assert json.loads(qualified.stdout)["status"] == "QUAL", qualified.stderr


def test_verify_exits_0_known_1_inconsistent_5_unknown(launcher: Launcher) -> None:
    known = launcher.run("ins", "verify", JEAN_MARC.ins)
    assert known.returncode == 0, known.stderr
    assert f"INS {JEAN_MARC.ins} connu" in known.stdout
    consistent = launcher.run("ins", "verify", JEAN_MARC.ins, "--given", "Jean Marc", "--json")
    assert consistent.returncode == 0
    assert json.loads(consistent.stdout)["consistent"] is True
    other = launcher.run("ins", "verify", JEAN_MARC.ins, "--given", "Jean Pierre", "--json")
    assert other.returncode == 1
    assert json.loads(other.stdout) == {
        "ins": JEAN_MARC.ins,
        "oid": JEAN_MARC.oid,
        "known": True,
        "consistent": False,
    }
    assert "ne sont pas ceux" in other.stderr
    nobody = launcher.run("ins", "verify", unknown_ins())
    assert nobody.returncode == 5
    assert "INS inconnu" in nobody.stderr


def test_a_card_lists_its_beneficiaries_and_a_rank_gives_the_identity(launcher: Launcher) -> None:
    serial, beneficiaries = family_card()
    listed = launcher.run("ins", "card", serial, "--json")
    assert listed.returncode == 0, listed.stderr
    card = json.loads(listed.stdout)
    assert card["serial"] == serial
    assert [b["rank"] for b in card["beneficiaries"]] == [b.rank for b in beneficiaries]
    plain = launcher.run("ins", "card", serial)
    assert "--rank" in plain.stdout
    chosen = beneficiaries[1]
    identity = launcher.run("ins", "card", serial, "--rank", str(chosen.rank), "--json")
    assert json.loads(identity.stdout) == {"code": "00", "identities": [asdict(BY_INS[chosen.ins])]}
    missing = launcher.run("ins", "card", serial, "--rank", str(len(beneficiaries) + 1))
    assert missing.returncode == 5
    unknown = launcher.run("ins", "card", "0000000001")
    assert unknown.returncode == 5
    assert "Carte Vitale inconnue" in unknown.stderr


def test_without_a_session_exit_3_but_bad_input_is_still_2(
    served: ServedPlatform, tmp_path: Path
) -> None:
    nobody = Launcher(served, tmp_path)
    single = nobody.run("ins", "lookup", *MARTIN)
    assert single.returncode == 3
    assert "bsp login" in single.stderr
    path = tmp_path / "rows.csv"
    path.write_text("family,given,sex,birthdate\nMartin,Jean,M,1980-05-12\n", encoding="utf-8")
    batch = nobody.run("ins", "lookup", "--batch", str(path))
    assert batch.returncode == 3
    assert batch.stdout == ""
    as_json = nobody.run("ins", "verify", JEAN.ins, "--json")
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["error"]["code"] == "no_session"
    assert nobody.run("ins", "lookup", *MARTIN[:6], "--birthdate", "1980").returncode == 2


def test_everything_above_ran_on_one_sign_in(
    launcher: Launcher, served: ServedPlatform, personas: dict
) -> None:
    assert launcher.run("ins", "lookup", *MARTIN).returncode == 0
    database = served.home / "data" / "platform.sqlite3"
    with sqlite3.connect(database) as conn:
        (sessions,) = conn.execute(
            "SELECT count(*) FROM sessions WHERE national_id = ?",
            (personas["generaliste"]["national_id"],),
        ).fetchone()
    assert sessions == 1


def test_bsp_lists_the_connector_commands(launcher: Launcher) -> None:
    overview = launcher.run("--help")
    assert overview.returncode == 0
    assert "ins" in overview.stdout.split()
    usage = launcher.run("ins", "--help")
    assert all(command in usage.stdout for command in ("lookup", "verify", "card"))


def test_a_nia_is_validated_on_its_document_then_qualified_by_insi(
    launcher: Launcher, personas: dict
) -> None:
    # A NIA no other test of the module looks up: never retrieved on this launcher.
    person = next(p for p in generate().people[9:] if is_nia(p.ins) and " " not in p.given)
    validated = launcher.run("ins", "qualify", person.ins, "--document", "titre_sejour")
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith(f"Identité validée : INS {person.ins}, titre de séjour")
    assert "bsp ins lookup" in validated.stdout  # what is left to qualify them
    traits = ["--family", person.family, "--given", person.given, "--sex", person.sex]
    found = launcher.run(
        "ins", "lookup", *traits, "--birthdate", person.birthdate, "--birthplace", person.birthplace
    )
    assert found.returncode == 0, found.stderr
    assert f"(NIA, OID {OID_NIA}) — identité qualifiée" in found.stdout
    again = json.loads(
        launcher.run("ins", "qualify", person.ins, "--document", "cni", "--json").stdout
    )
    assert (again["status"], again["document"]) == ("QUAL", "cni")
    assert again["validated_by"].endswith(f"({personas['generaliste']['national_id']})")


def test_qualify_checks_its_input_and_needs_a_session(
    launcher: Launcher, served: ServedPlatform, tmp_path: Path
) -> None:
    bad_key = launcher.run("ins", "qualify", JEAN.ins[:13] + "00", "--document", "cni")
    assert bad_key.returncode == 2 and "INS :" in bad_key.stderr
    unknown = launcher.run("ins", "qualify", JEAN.ins, "--document", "permis", "--json")
    assert unknown.returncode == 2
    assert json.loads(unknown.stdout)["error"]["field"] == "document"
    nobody = Launcher(served, tmp_path / "nobody").run(
        "ins", "qualify", JEAN.ins, "--document", "cni"
    )
    assert nobody.returncode == 3, nobody.stderr
