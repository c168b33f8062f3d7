"""The interface's remembered choices (theme, idle lock), in `[ui]` of `config.toml`.

An older launcher kept them in `ui.json`: read when `[ui]` says nothing, and folded into
`config.toml` (then removed) the first time a choice is saved.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsp_tui.config import ConfigError, folders, read_config, write_setting

DEFAULT_LOCK_AFTER = 10 * 60


def _legacy() -> dict[str, Any]:
    try:
        saved = json.loads(_legacy_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _legacy_file() -> Path:
    return folders().config / "ui.json"


def _saved() -> dict[str, Any]:
    try:
        table = read_config().get("ui")
    except ConfigError:
        table = None
    return table if isinstance(table, dict) and table else _legacy()


@dataclass
class Prefs:
    """What the interface remembers between runs."""

    theme: str = "bsp"
    lock_after: int = DEFAULT_LOCK_AFTER

    @classmethod
    def load(cls) -> Prefs:
        """The saved choices; defaults for anything missing or unreadable.

        `BSP_LOCK_AFTER` (seconds) overrides the idle lock for this run.
        """
        saved = _saved()
        prefs = cls()
        if isinstance(saved.get("theme"), str):
            prefs.theme = saved["theme"]
        if isinstance(saved.get("lock_after"), int) and saved["lock_after"] > 0:
            prefs.lock_after = saved["lock_after"]
        override = os.environ.get("BSP_LOCK_AFTER", "")
        if override.isdigit() and int(override) > 0:
            prefs.lock_after = int(override)
        return prefs

    def save(self) -> None:
        """Write the theme into `[ui]` (best effort: a read-only or unreadable configuration
        is not an error; the interface goes on with it in memory). The idle lock is the
        person's own setting (`bsp config set ui.lock_after`), never this run's override."""
        legacy = _legacy().get("lock_after")
        try:
            write_setting(("ui",), "theme", self.theme)
            if isinstance(legacy, int) and legacy > 0:
                write_setting(("ui",), "lock_after", legacy)
        except (OSError, ConfigError):
            return
        _legacy_file().unlink(missing_ok=True)
