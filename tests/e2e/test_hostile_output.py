"""What a colleague stored can never drive the terminal of whoever reads it.

A doctor stores a DMP title and content, an emergency doctor a break-glass reason, a
prescriber a dosage, each full of terminal escapes (clear the screen, set the window
title, write the clipboard with OSC 52, CSI in one C1 character, a bidi override);
`bsp dmp list|show|history` and `bsp rx show` print them visible and inert, newlines
and tabs kept, and their `--json` gives the stored strings back exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.connectors.eprescription.conftest import PARACETAMOL
from tests.connectors.harness import data, ok, scenario_ins, signed_in
from tests.e2e.conftest import ServedPlatform, run_bsp
from tests.e2e.test_sso_cli import Launcher

pytestmark = pytest.mark.e2e
TITLE = "Bilan \x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZWNobyBwd25lZA==\x07\x9b31m fin\u202e"
CONTENT = "ligne 1\n\x1b[31mrouge\x1b[0m\tfin\r\n"
REASON = "Urgence vitale \x1b]52;c;cGF5bG9hZA==\x07"
DOSAGE = "1 comprimé \x1b[2J\x1b[H matin"
ACTIVE = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


def inert(result) -> str:  # type: ignore[no-untyped-def]
    """What the command printed, on both streams, checked free of any active character."""
    printed = ok(result).stdout + result.stderr
    for char in ACTIVE:
        assert char not in printed, (char, printed)
    return printed


@pytest.fixture(scope="module")
def cli(
    served: ServedPlatform, personas: dict[str, dict], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Launcher]:
    return signed_in(
        served,
        personas,
        tmp_path_factory.mktemp("hostile"),
        ("generaliste", "urgentiste"),
        qualified=scenario_ins(),
    )


@pytest.fixture(scope="module")
def ins(served: ServedPlatform) -> str:
    result = run_bsp("platform", "patients", "--json", env=served.server_env())
    return json.loads(result.stdout)[0]["ins"]


def test_dmp_titles_contents_and_reasons_print_inert(
    cli: dict[str, Launcher], ins: str, tmp_path: Path
) -> None:
    doctor, emergency = cli["generaliste"], cli["urgentiste"]
    report = tmp_path / "cr.txt"
    report.write_bytes(CONTENT.encode())
    added = data(
        doctor.run("dmp", "add", ins, str(report), "--type", "11488-4", "--title", TITLE, "--json")
    )
    assert added["title"] == TITLE
    glass = ("--mode", "bris_de_glace", "--reason", REASON)
    inert(emergency.run("dmp", "list", ins, *glass))

    listed = inert(doctor.run("dmp", "list", ins))
    assert "␛]0;pwned␇" in listed and "\ufffd31m fin\ufffd" in listed
    shown = inert(doctor.run("dmp", "show", added["id"]))
    assert "ligne 1\n␛[31mrouge␛[0m\tfin␍\n" in shown  # newline and tab kept
    history = inert(doctor.run("dmp", "history", ins))
    assert "Urgence vitale ␛]52;c;cGF5bG9hZA==␇" in history

    # JSON stays exact: the same strings, escaped as JSON, never raw on the terminal.
    for args in (("list", ins), ("show", added["id"]), ("history", ins)):
        inert(doctor.run("dmp", *args, "--json"))
    document = data(doctor.run("dmp", "show", added["id"], "--json"))
    assert (document["title"], document["content"]) == (TITLE, CONTENT)
    listed_json = data(doctor.run("dmp", "list", ins, "--json"))["documents"]
    assert TITLE in {d["title"] for d in listed_json}
    events = data(doctor.run("dmp", "history", ins, "--json"))["events"]
    assert REASON in {e.get("reason") for e in events}


def test_a_prescription_s_dosage_prints_inert(cli: dict[str, Launcher], ins: str) -> None:
    doctor = cli["generaliste"]
    created = data(doctor.run("rx", "create", ins, "--line", f"{PARACETAMOL};{DOSAGE};2", "--json"))
    shown = inert(doctor.run("rx", "show", created["number"]))
    assert "1 comprimé ␛[2J␛[H matin" in shown
    inert(doctor.run("rx", "show", created["number"], "--json"))
    again = data(doctor.run("rx", "show", created["number"], "--json"))
    assert again["lines"][0]["dosage"] == DOSAGE
