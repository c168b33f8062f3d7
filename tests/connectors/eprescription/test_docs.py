"""The e-prescription docs stay true: every `bsp rx` command the guide shows exists with
its options, the matrix in docs/emulation.md is the enforced one, the refusal codes
listed are the service's, and the CIP13 the docs quote are in the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.eprescription.catalogue import catalogue, medication
from connectors.eprescription.cli import group
from connectors.eprescription.models import DISPENSERS, PRESCRIBERS, READERS, REFUSALS

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end >= 0 else None]


def test_every_rx_command_in_the_guide_exists_with_its_options() -> None:
    guide = _section((DOCS / "it-support.md").read_text(encoding="utf-8"), "\n## Ordonnance")
    shown = re.findall(r"^bsp rx (\w+)(.*)$", guide, re.M)
    assert {command for command, _ in shown} == set(group.commands)
    for command, rest in shown:
        params = {o for p in group.commands[command].params for o in p.opts}
        for option in re.findall(r"(--[a-z-]+)", rest.split("#")[0]):
            assert option in params, (command, option)


def test_the_matrix_in_the_docs_is_the_enforced_one() -> None:
    emulation = (DOCS / "emulation.md").read_text(encoding="utf-8")
    matrix = _section(emulation, "### Who may do what")
    rows = {
        code: [cell.strip() for cell in line.split("|")[2:6]]
        for line in matrix.splitlines()
        for code in ("10", "21", "60", "SECR")
        if line.startswith("| ")
        and (f"({code})" in line.split("|")[1] or f"(`{code}`)" in line.split("|")[1])
    }
    assert set(rows) == {"10", "21", "60", "SECR"}
    for code, (prescribe, read, dispense, cancel) in rows.items():
        assert prescribe.startswith("yes") == (code in PRESCRIBERS), code
        assert read.startswith("yes") == (code in READERS), code
        assert dispense.startswith("yes") == (code in DISPENSERS), code
        assert cancel.startswith("their own") == (code in PRESCRIBERS), code
    documented = set(re.findall(r"^\| `(\w+)` \| (\d{3}) \|", matrix, re.M))
    assert {code: int(status) for code, status in documented} == REFUSALS


def test_the_codes_the_docs_quote_are_in_the_catalogue() -> None:
    codes = set()
    for name in ("it-support.md", "emulation.md", "trainer.md", "clinician.md"):
        codes |= set(re.findall(r"\b3400955\d{6}\b", (DOCS / name).read_text(encoding="utf-8")))
    assert codes and all(medication(code) is not None for code in codes)
    assert f"lists {len(catalogue())} presentations" in (DOCS / "emulation.md").read_text(
        encoding="utf-8"
    )
