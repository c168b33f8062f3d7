"""Where bsp keeps its files, the environment overrides that move them, and `config.toml`:
read by the profile, the interface's preferences and the keymap, written by `bsp config set`
and by the interface's own choices (one file, one writer)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class ConfigError(ValueError):
    """`config.toml` cannot be read or written (the message is a French sentence)."""


def config_file() -> Path:
    """The configuration file of this run."""
    return folders().config / "config.toml"


def read_config() -> dict[str, Any]:
    """The configuration document ({} when there is no file)."""
    path = config_file()
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"Fichier de configuration illisible ({path}) : {error}.") from None


def write_setting(table: tuple[str, ...], key: str, value: str | int | None) -> Path:
    """Set (or, with None, remove) `key` in the table `table` of `config.toml`, keeping the
    rest of the file, its comments included; the file is replaced whole, private to the user."""
    import tomlkit  # only when something is written: reading needs no more than tomllib

    path = config_file()
    folders().ensure()
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else None
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.ParseError) as error:
        raise ConfigError(f"Fichier de configuration illisible ({path}) : {error}.") from None
    document = document if document is not None else tomlkit.document()
    container: Any = document
    for name in table:
        if name not in container:
            container[name] = tomlkit.table(is_super_table=name == "profiles")
        container = container[name]
        if not isinstance(container, dict):
            raise ConfigError(f"{'.'.join(table)} n'est pas une table dans {path}.")
    if value is None:
        container.pop(key, None)
    else:
        container[key] = value
    spare = path.with_name(path.name + ".tmp")
    descriptor = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(tomlkit.dumps(document))
    spare.replace(path)
    return path
