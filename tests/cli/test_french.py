"""The command line speaks French: click's own words, usage errors, and every help text."""

from __future__ import annotations

import inspect
import re

import click
import pytest
from click.testing import CliRunner

from bsp_tui import clickfr
from bsp_tui.cli import cli
from tests.cli.conftest import Bsp

# Words that French help never has and English help nearly always does.
ENGLISH = re.compile(r"\b(the|and|of|with|for|from|this|that|to|is|are|when|your)\b", re.I)


def _click_source() -> str:
    return "\n".join(inspect.getsource(module) for module in clickfr._click_modules())


def test_every_catalogue_entry_is_a_message_click_still_has() -> None:
    source = _click_source()
    gone = [m for m in clickfr.FRENCH if repr(m)[1:-1] not in source and m not in source]
    gone += [p for pair in clickfr.PLURALS for p in pair if p not in source]
    assert gone == []


def test_usage_errors_are_in_french_with_exit_2(bsp: Bsp) -> None:
    unknown = bsp("--bogus")
    assert unknown.returncode == 2
    assert "Erreur : Option inconnue : '--bogus'." in unknown.stderr
    assert "Utilisation : bsp [OPTIONS]" in unknown.stderr and "Usage" not in unknown.stderr
    missing = bsp("config", "set", "token_store")
    assert missing.returncode == 2 and "Argument manquant 'VALUE'" in missing.stderr
    choice = bsp("token", "nope")
    assert choice.returncode == 2 and "n'est pas l'une des valeurs" in choice.stderr
    number = bsp("platform", "serve", "--port", "x")
    assert number.returncode == 2 and "n'est pas un nombre valide" in number.stderr


def test_help_headings_are_in_french() -> None:
    shown = CliRunner().invoke(cli, ["--help"], prog_name="bsp")
    assert shown.exit_code == 0
    assert shown.output.startswith("Utilisation : bsp")
    assert "Commandes:" in shown.output and "Afficher cette aide et quitter." in shown.output


def _commands(group: click.Group, ctx: click.Context, path: str) -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found.append((f"{path} {name}", command))
        if isinstance(command, click.Group):
            found += _commands(command, click.Context(command, parent=ctx), f"{path} {name}")
    return found


@pytest.mark.parametrize(
    ("path", "command"),
    _commands(cli, click.Context(cli), "bsp"),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_help_text_is_french(path: str, command: click.Command) -> None:
    texts = [command.help or ""] + [
        p.help or "" for p in command.params if isinstance(p, click.Option)
    ]
    english = [text for text in texts if ENGLISH.search(text.replace("--", ""))]
    assert english == [], path
