"""The FSE docs stay true: every `bsp fse` command the guide shows exists with its options,
and the ARL codes written in docs/emulation.md are the ones the service answers."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.fse.cli import group
from connectors.fse.models import CATALOGUE
from connectors.fse.service import NEGATIVE, REJECTIONS, SETTLEMENT_REJECTIONS

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end >= 0 else None]


def test_every_fse_command_in_the_guide_exists_with_its_options() -> None:
    guide = _section((DOCS / "it-support.md").read_text(encoding="utf-8"), "\n## Feuille de soins")
    shown = re.findall(r"^bsp fse (\w+)(.*)$", guide, re.M)
    assert {command for command, _ in shown} == set(group.commands)
    for command, rest in shown:
        params = {o for p in group.commands[command].params for o in p.opts + p.secondary_opts}
        for option in re.findall(r"(--[a-z-]+)", rest.split("#")[0]):
            assert option in params, (command, option)


def test_the_arl_codes_in_the_docs_are_the_service_s() -> None:
    section = _section((DOCS / "emulation.md").read_text(encoding="utf-8"), "\n## FSE")
    rows = dict(re.findall(r"^\| `([LRP]\d\d)` \| [^|]+ \| ([^|]+) \|$", section, re.M))
    codes = NEGATIVE | REJECTIONS | SETTLEMENT_REJECTIONS
    assert {code: reason.strip() for code, reason in rows.items()} == codes


def test_the_clinician_guide_names_the_acts_it_prices() -> None:
    guide = (DOCS / "clinician.md").read_text(encoding="utf-8")
    section = _section(guide, "\n## Feuille de soins")
    for code in ("G", "GS", "VG", "APC"):
        assert code in section and code in CATALOGUE
    assert "remboursée 19 €" in section
