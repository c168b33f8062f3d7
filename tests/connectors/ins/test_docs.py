"""The INS docs stay true: the scenario patients and the card named in docs/ are the
population's, and every `bsp ins` command the guide shows exists."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.ins.cli import ins_group
from tests.connectors.ins.conftest import PEOPLE, cards

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end >= 0 else None]


def test_the_scenario_table_is_the_populations_first_patients() -> None:
    table = _section((DOCS / "emulation.md").read_text(encoding="utf-8"), "### Scenario patients")
    rows = re.findall(r"^\| `(\w{15})` \| ([^|]+) \| (F|M), ([\d-]+), (\w{5}) \|", table, re.M)
    assert len(rows) == 9
    for (ins, names, sex, born, place), person in zip(rows, PEOPLE[:9], strict=True):
        assert ins == person.ins
        assert names.strip() == f"{person.family} {person.given}"
        assert (sex, born, place) == (person.sex, person.birthdate, person.birthplace)


def test_the_cards_named_in_the_docs_are_as_described() -> None:
    by_serial = cards()
    jean_pierre = next(p for p in PEOPLE if p.given == "JEAN PIERRE" and p.family == "MARTIN")
    card = by_serial["1000031676"]
    assert card[0].ins == jean_pierre.ins
    assert len(card) == 3  # "with two children"
    assert len(by_serial["1000015838"]) == 2
    guide = (DOCS / "it-support.md").read_text(encoding="utf-8")
    assert "bsp ins card 1000031676 --rank 2" in guide


def test_every_ins_command_in_the_guide_exists_with_its_options() -> None:
    guide = _section((DOCS / "it-support.md").read_text(encoding="utf-8"), "## INS")
    shown = re.findall(r"^bsp ins (\w+)(.*)$", guide, re.M)
    assert {command for command, _ in shown} == {"lookup", "verify", "card", "qualify"}
    for command, rest in shown:
        assert command in ins_group.commands, command
        params = {o for p in ins_group.commands[command].params for o in p.opts}
        for option in re.findall(r"(--[a-z-]+)", rest.split("#")[0]):
            assert option in params, (command, option)
