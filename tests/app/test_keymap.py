"""Every key of the launcher has a binding id, and `[keymap]` in config.toml rebinds it."""

from __future__ import annotations

import pytest
from textual.binding import Binding

from bsp_tui.app.app import BspApp
from bsp_tui.app.keymap import load_keymap
from bsp_tui.app.screens import connector, dashboard, lock, signin, store_choice, waiting
from bsp_tui.app.screens.lock import LockScreen
from bsp_tui.app.widgets import tile
from bsp_tui.config import folders
from connectors.base import registry
from tests.app.conftest import (  # noqa: F401 - autouse fixtures of the launcher's tests
    app_environment,
    shared_keyring,
    sign_in_outside,
    wait_for,
)
from tests.app.test_journey import on_screen
from tests.connectors.dmp.test_screen import choose_dupont
from tests.connectors.screens import SIZE, open_tile

pytestmark = pytest.mark.anyio


def bound_classes() -> list[type]:
    """Every class of the launcher and of the installed connectors' screens with keys."""
    from connectors.dmp import screen as dmp_screen
    from connectors.eprescription import editor, pharmacy
    from connectors.fse import screen as fse_screen
    from connectors.kit import vigilance

    modules = (connector, dashboard, lock, signin, store_choice, waiting, tile)
    modules += (dmp_screen, editor, pharmacy, fse_screen, vigilance)
    found = [BspApp]
    for module in modules:
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and value.__module__ == module.__name__  # ours, not what the module imports
            and "BINDINGS" in vars(value)
        ]
    for c in registry():
        view = c.load_screen()
        if view is not None and "BINDINGS" in vars(view) and view not in found:
            found.append(view)
    return found


def test_every_binding_has_an_id_of_its_own() -> None:
    ids: list[str] = []
    for cls in bound_classes():
        for binding in vars(cls)["BINDINGS"]:
            assert isinstance(binding, Binding), f"{cls.__name__}: {binding!r} has no id"
            assert binding.id, f"{cls.__name__}: {binding.key} has no id"
            ids.append(binding.id)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert {"lock", "dmp.reload", "fse.send", "rx.remove-line"} <= set(ids)


def write_config(text: str) -> None:
    path = folders().ensure().config / "config.toml"
    path.write_text(text, encoding="utf-8")


def test_a_keymap_with_a_bad_entry_keeps_the_good_ones() -> None:
    write_config('[keymap]\n"dmp.reload" = "f5"\n"lock" = 12\n')
    keymap, problems = load_keymap()
    assert keymap == {"dmp.reload": "f5"}
    assert len(problems) == 1 and "« lock »" in problems[0]
    write_config("[keymap\n")
    assert load_keymap()[0] == {}
    assert "illisible" in load_keymap()[1][0]


async def test_the_users_keymap_rebinds_a_connector_key() -> None:
    write_config('[keymap]\n"dmp.reload" = "f6"\n"lock" = "f12"\n')
    await sign_in_outside("generaliste")
    app = BspApp()
    async with app.run_test(size=SIZE) as pilot:
        await choose_dupont(pilot)
        screen = await open_tile(pilot, 2, "dmp")
        view = screen.query_one("DmpView")
        await wait_for(pilot, lambda: "document" in str(view.query_one("#dmp-status").render()))
        loads = []
        view.load = lambda: loads.append(1)  # count the reloads the keys ask for
        await pilot.press("r")
        await pilot.press("f6")
        assert loads == [1]  # "r" no longer reloads; F6 does
        await pilot.press("f12")
        await wait_for(pilot, lambda: on_screen(app, LockScreen), what="locked by F12")
