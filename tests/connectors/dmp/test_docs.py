"""The DMP docs stay true: every `bsp dmp` command the guide shows exists with its
options, and the access matrix written in docs/emulation.md is the one enforced."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.dmp.cli import group
from connectors.dmp.models import (
    CATEGORIES,
    DOCUMENT_TYPES,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    readable_types,
)

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end >= 0 else None]


def test_every_dmp_command_in_the_guide_exists_with_its_options() -> None:
    guide = _section((DOCS / "it-support.md").read_text(encoding="utf-8"), "\n## DMP")
    shown = re.findall(r"^bsp dmp ([\w-]+)(.*)$", guide, re.M)
    assert {command for command, _ in shown} == set(group.commands)
    for command, rest in shown:
        params = {o for p in group.commands[command].params for o in p.opts}
        for option in re.findall(r"(--[a-z-]+)", rest.split("#")[0]):
            assert option in params, (command, option)


def test_the_matrix_in_the_docs_is_the_enforced_one_cell_by_cell() -> None:
    matrix = _section((DOCS / "emulation.md").read_text(encoding="utf-8"), "### The access matrix")
    header = next(line for line in matrix.splitlines() if line.startswith("| LOINC type"))
    codes = [re.search(r"\((\w+)\)|`(\w+)`", cell) for cell in header.split("|")[3:-1]]
    professions = [match.group(1) or match.group(2) for match in codes if match]
    assert professions == ["10", "21", "60", "SECR"]
    rows = [line for line in matrix.splitlines() if re.match(r"^\| `\d{5}-\d`", line)]
    assert [re.search(r"`(\d{5}-\d)`", row).group(1) for row in rows] == list(DOCUMENT_TYPES)
    for row in rows:
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        loinc = re.search(r"`(\d{5}-\d)`", cells[0]).group(1)
        assert cells[1] == CATEGORIES[loinc]
        for profession, cell in zip(professions, cells[2:], strict=True):
            assert (cell == "yes") == (loinc in readable_types(profession)), (loinc, profession)


def test_the_page_sizes_in_the_docs_are_the_service_s() -> None:
    guide = (DOCS / "emulation.md").read_text(encoding="utf-8")
    choices = _section(guide, "### The emulation's own choices")
    assert f"`_count` {PAGE_SIZE} by default, 1 to {MAX_PAGE_SIZE}" in choices
