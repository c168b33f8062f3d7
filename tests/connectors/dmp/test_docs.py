"""The DMP docs stay true: every `bsp dmp` command the guide shows exists with its
options, and the access matrix written in docs/emulation.md is the one enforced."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.dmp.cli import group
from connectors.dmp.models import DOCUMENT_TYPES, MAX_PAGE_SIZE, PAGE_SIZE, READABLE_TYPES

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end >= 0 else None]


def test_every_dmp_command_in_the_guide_exists_with_its_options() -> None:
    guide = _section((DOCS / "it-support.md").read_text(encoding="utf-8"), "\n## DMP")
    shown = re.findall(r"^bsp dmp (\w+)(.*)$", guide, re.M)
    assert {command for command, _ in shown} == {"list", "show", "add", "history"}
    for command, rest in shown:
        params = {o for p in group.commands[command].params for o in p.opts}
        for option in re.findall(r"(--[a-z-]+)", rest.split("#")[0]):
            assert option in params, (command, option)


def test_the_matrix_in_the_docs_is_the_enforced_one() -> None:
    matrix = _section((DOCS / "emulation.md").read_text(encoding="utf-8"), "### The access matrix")
    rows = {
        code: line
        for line in matrix.splitlines()
        for code in ("10", "21", "60")
        if line.startswith("| ") and f"({code})" in line.split("|")[1]
    }
    codes = {
        code: set(re.findall(r"`(\d{5}-\d)`", line.split("|")[2])) for code, line in rows.items()
    }
    assert codes["10"] == set(DOCUMENT_TYPES) == READABLE_TYPES["10"]
    assert codes["21"] == READABLE_TYPES["21"]
    assert codes["60"] == set(DOCUMENT_TYPES) - READABLE_TYPES["60"]  # "all but …"
    assert "all but" in rows["60"]


def test_the_page_sizes_in_the_docs_are_the_service_s() -> None:
    guide = (DOCS / "emulation.md").read_text(encoding="utf-8")
    choices = _section(guide, "### The emulation's own choices")
    assert f"`_count` {PAGE_SIZE} by default, 1 to {MAX_PAGE_SIZE}" in choices
