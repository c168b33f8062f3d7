"""Where bsp keeps its files, and the environment overrides that move them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "bsp"


@dataclass(frozen=True)
class Folders:
    """The four folders of one run: config, data, cache and logs."""

    config: Path
    data: Path
    cache: Path
    logs: Path

    def ensure(self) -> Folders:
        """Create the folders (private to the user) and return self."""
        for folder in (self.config, self.data, self.cache, self.logs):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def folders() -> Folders:
    """The folders for this run: under `BSP_HOME` when set, else the platform's own."""
    home = os.environ.get("BSP_HOME")
    if home:
        root = Path(home).expanduser()
        return Folders(root / "config", root / "data", root / "cache", root / "logs")
    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    return Folders(
        Path(dirs.user_config_dir),
        Path(dirs.user_data_dir),
        Path(dirs.user_cache_dir),
        Path(dirs.user_log_dir),
    )


def platform_url() -> str | None:
    """The served platform to use, or None for the embedded one."""
    return os.environ.get("BSP_PLATFORM_URL") or None
