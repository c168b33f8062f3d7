"""The interface's remembered choices (theme, idle lock), in `ui.json` in the config folder."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from bsp_tui.config import folders

DEFAULT_LOCK_AFTER = 10 * 60


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
        path = folders().config / "ui.json"
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        prefs = cls()
        if isinstance(saved, dict):
            if isinstance(saved.get("theme"), str):
                prefs.theme = saved["theme"]
            if isinstance(saved.get("lock_after"), int) and saved["lock_after"] > 0:
                prefs.lock_after = saved["lock_after"]
        override = os.environ.get("BSP_LOCK_AFTER", "")
        if override.isdigit() and int(override) > 0:
            prefs.lock_after = int(override)
        return prefs

    def save(self) -> None:
        """Write the choices (best effort: a read-only config folder is not an error)."""
        path = folders().ensure().config / "ui.json"
        try:
            path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        except OSError:
            return
