"""`bsp config path / show / set / unset`: the settings of `config.toml`, from the shell.

Profile keys are written to the profile in use (`--profile`, `BSP_PROFILE`, or
`default`); `ui.theme` and `ui.lock_after` to `[ui]`; `keymap.ID` to `[keymap]`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import click

from bsp_tui.config import ConfigError, config_file, folders, read_config, write_setting
from bsp_tui.exitcodes import ExitCode
from bsp_tui.output import CommandError, echo, fail, json_option, print_json
from bsp_tui.sso.errors import UsageError
from bsp_tui.sso.profile import EMBEDDED, FLOWS, STORES, Profile, load_profile, profile_name

PROFILE_KEYS = tuple(f.name for f in dataclasses.fields(Profile) if f.name != "name")
UI_KEYS = ("ui.theme", "ui.lock_after")
OVERRIDES = {"platform": "BSP_PLATFORM_URL", "token_store": "BSP_TOKEN_STORE"}


def _url_problem(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return None
    return "une adresse http:// ou https://"


def _problem(key: str, value: str) -> str | None:
    """Why `value` cannot be set for `key`, or None."""
    if key == "flow" and value not in FLOWS:
        return f"l'un de {', '.join(FLOWS)}"
    if key == "token_store" and value not in STORES:
        return f"l'un de {', '.join(STORES)}"
    if key == "platform" and value != EMBEDDED:
        problem = _url_problem(value)
        return f"« {EMBEDDED} » ou {problem}" if problem else None
    if key == "issuer" and value:
        return _url_problem(value)
    if key == "ui.lock_after" and not (value.isdigit() and int(value) > 0):
        return "un nombre de secondes supérieur à 0"
    if key in ("client_id", "ui.theme") and not value.strip():
        return "une valeur non vide"
    return None


def _place(key: str) -> tuple[tuple[str, ...], str]:
    """The table and the name a key is written under; a usage error for unknown keys."""
    if key in PROFILE_KEYS:
        return ("profiles", profile_name()), key
    if key in UI_KEYS:
        return ("ui",), key.removeprefix("ui.")
    if key.startswith("keymap.") and len(key) > len("keymap."):
        return ("keymap",), key.removeprefix("keymap.")
    known = ", ".join((*PROFILE_KEYS, *UI_KEYS, "keymap.ID"))
    raise CommandError(f"Clé inconnue « {key} » : {known}.", ExitCode.USAGE, "usage")


@contextmanager
def _writing() -> Iterator[None]:
    """config.toml's read and write failures as one sentence and exit 1."""
    try:
        yield
    except ConfigError as error:
        fail(CommandError(str(error), ExitCode.FAILURE, "config"), as_json=False)
    except OSError as error:
        message = f"Écriture impossible ({config_file()}) : {error.strerror}."
        fail(CommandError(message, ExitCode.FAILURE, "config"), as_json=False)


@click.group("config")
def config_group() -> None:
    """Réglages de config.toml : où il est, ce qui s'applique, écrire ou retirer une clé."""


@config_group.command("path")
@json_option
def path(as_json: bool) -> None:
    """Écrire où est config.toml (il peut ne pas exister encore)."""
    if as_json:
        print_json({"config": str(config_file())})
    else:
        echo(str(config_file()))


@config_group.command("show")
@json_option
def show(as_json: bool) -> None:
    """Ce qui s'applique : le profil (et ce que l'environnement remplace), les réglages de
    l'interface, les raccourcis et les dossiers."""
    try:
        profile = load_profile()
        document = read_config()
    except (UsageError, ConfigError) as error:
        fail(CommandError(str(error), ExitCode.USAGE, "usage"), as_json)
    from bsp_tui.app.prefs import Prefs

    prefs = Prefs.load()
    where = folders()
    keymap = document.get("keymap", {}) if isinstance(document.get("keymap"), dict) else {}
    report = {
        "file": str(config_file()),
        "profile": dataclasses.asdict(profile),
        "overrides": sorted(v for k, v in OVERRIDES.items() if os.environ.get(v)),
        "ui": dataclasses.asdict(prefs),
        "keymap": {str(k): v for k, v in keymap.items()},
        "folders": {
            name: str(getattr(where, name)) for name in ("config", "data", "cache", "logs")
        },
    }
    if as_json:
        print_json(report)
        return
    echo(f"Fichier : {report['file']}")
    echo(f"Profil « {profile.name} » :")
    for key in PROFILE_KEYS:
        by_env = OVERRIDES.get(key) if OVERRIDES.get(key) in report["overrides"] else ""
        echo(f"  {key} = {getattr(profile, key)!s}" + (f"  (par {by_env})" if by_env else ""))
    echo(f"Interface : thème {prefs.theme}, verrouillage après {prefs.lock_after} s")
    for binding, keys in report["keymap"].items():
        echo(f"  touche {binding} = {keys}")
    for name, folder in report["folders"].items():
        echo(f"Dossier {name} : {folder}")


@config_group.command("set")
@click.argument("key")
@click.argument("value")
def set_key(key: str, value: str) -> None:
    """Donner VALUE à KEY : une clé du profil (token_store, platform, flow…), ui.theme,
    ui.lock_after ou keymap.ID."""
    try:
        table, name = _place(key)
    except CommandError as error:
        fail(error, as_json=False)
    problem = _problem(key, value)
    if problem:
        fail(CommandError(f"{key} attend {problem}.", ExitCode.USAGE, "usage"), as_json=False)
    with _writing():
        written = write_setting(table, name, int(value) if key == "ui.lock_after" else value)
    echo(f"{key} = {value} ({written}).", err=True)


@config_group.command("unset")
@click.argument("key")
def unset_key(key: str) -> None:
    """Retirer KEY de config.toml : sa valeur par défaut s'applique de nouveau."""
    try:
        table, name = _place(key)
    except CommandError as error:
        fail(error, as_json=False)
    with _writing():
        written = write_setting(table, name, None)
    echo(f"{key} retiré ({written}).", err=True)
