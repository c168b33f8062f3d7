"""Connectors' commands reach `bsp` through the registry: `cli` names a click group."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

import connectors.base
from bsp_tui import cli as bsp_cli
from connectors.base import Connector


@click.group("extra")
def extra_group() -> None:
    """A third party's connector."""


@extra_group.command("hello")
def hello() -> None:
    click.echo("bonjour du connecteur tiers")


THIRD_PARTY = Connector(
    name="extra",
    title="Extra",
    description="",
    order=99,
    cli="tests.connectors.ins.test_registry_cli:extra_group",
)


def test_the_ins_connector_declares_its_group() -> None:
    ins = connectors.base.connector_named("ins")
    assert ins is not None
    group = ins.load_cli()
    assert isinstance(group, click.Group)
    assert {"lookup", "verify", "card"} <= set(group.commands)
    assert Connector("x", "X", "", 1).load_cli() is None


def test_a_third_party_connector_gets_its_bsp_command(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = [*connectors.base.registry(), THIRD_PARTY]
    monkeypatch.setattr(connectors.base, "registry", lambda: installed)
    monkeypatch.setattr(bsp_cli.cli, "commands", dict(bsp_cli.cli.commands))
    runner = CliRunner()
    overview = runner.invoke(bsp_cli.cli, ["--help"])
    assert overview.exit_code == 0
    assert "extra" in overview.output and "ins" in overview.output
    result = runner.invoke(bsp_cli.cli, ["extra", "hello"])
    assert result.exit_code == 0, result.output
    assert result.output == "bonjour du connecteur tiers\n"
    assert runner.invoke(bsp_cli.cli, ["nothing-here"]).exit_code == 2


def test_a_connector_may_name_its_command_differently(monkeypatch: pytest.MonkeyPatch) -> None:
    short = Connector(
        name="extra-long-name",
        title="Extra",
        description="",
        order=99,
        cli="tests.connectors.ins.test_registry_cli:extra_group",
        command="xt",
    )
    installed = [*connectors.base.registry(), short]
    monkeypatch.setattr(connectors.base, "registry", lambda: installed)
    monkeypatch.setattr(bsp_cli.cli, "commands", dict(bsp_cli.cli.commands))
    runner = CliRunner()
    assert runner.invoke(bsp_cli.cli, ["xt", "hello"]).output == "bonjour du connecteur tiers\n"
    assert runner.invoke(bsp_cli.cli, ["extra-long-name", "hello"]).exit_code == 2
