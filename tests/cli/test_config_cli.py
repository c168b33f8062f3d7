"""`bsp config`, `--profile` and `bsp completion`: the settings a script or a person sets once."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from bsp_tui.app.prefs import Prefs
from bsp_tui.config import config_file, write_setting
from bsp_tui.sso.profile import load_profile
from tests.cli.conftest import Bsp


def toml(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_set_writes_the_profile_ui_and_keymap_and_show_reads_them(bsp: Bsp) -> None:
    assert bsp("config", "set", "token_store", "memory").returncode == 0
    assert bsp("config", "set", "ui.lock_after", "300").returncode == 0
    assert bsp("config", "set", "keymap.lock", "ctrl+l").returncode == 0
    assert (
        bsp("--profile", "salle", "config", "set", "platform", "http://127.0.0.1:8700").returncode
        == 0
    )

    written = toml(config_file())
    assert written["profiles"]["default"] == {"token_store": "memory"}
    assert written["profiles"]["salle"] == {"platform": "http://127.0.0.1:8700"}
    assert written["ui"] == {"lock_after": 300} and written["keymap"] == {"lock": "ctrl+l"}
    assert config_file().stat().st_mode & 0o777 == 0o600

    shown = json.loads(bsp("config", "show", "--json").stdout)
    assert shown["profile"]["token_store"] == "memory" and shown["ui"]["lock_after"] == 300
    assert shown["keymap"] == {"lock": "ctrl+l"} and shown["overrides"] == []
    other = json.loads(bsp("--profile", "salle", "config", "show", "--json").stdout)
    assert other["profile"]["name"] == "salle"
    assert other["profile"]["platform"] == "http://127.0.0.1:8700"
    by_env = json.loads(bsp("config", "show", "--json", BSP_TOKEN_STORE="file").stdout)
    assert by_env["profile"]["token_store"] == "file" and by_env["overrides"] == ["BSP_TOKEN_STORE"]
    assert bsp("config", "path").stdout.strip() == str(config_file())

    assert bsp("config", "unset", "ui.lock_after").returncode == 0
    assert "ui" not in toml(config_file()) or "lock_after" not in toml(config_file())["ui"]


def test_the_persons_comments_survive_a_set(bsp: Bsp) -> None:
    config_file().parent.mkdir(parents=True, exist_ok=True)
    config_file().write_text(
        '# mon poste\n[profiles.default]\nflow = "ciba"  # la notification\n', encoding="utf-8"
    )
    assert bsp("config", "set", "token_store", "file").returncode == 0
    text = config_file().read_text(encoding="utf-8")
    assert "# mon poste" in text and "# la notification" in text
    assert toml(config_file())["profiles"]["default"] == {"flow": "ciba", "token_store": "file"}


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("token_store", "plaintext", "keyring, file, memory"),
        ("flow", "sms", "ciba, device, browser"),
        ("platform", "ftp://x", "http://"),
        ("ui.lock_after", "0", "secondes"),
        ("ui.lock_after", "dix", "secondes"),
        ("couleur", "rouge", "Clé inconnue"),
        ("keymap.", "f5", "Clé inconnue"),
    ],
)
def test_a_bad_setting_is_refused_and_nothing_is_written(
    bsp: Bsp, key: str, value: str, said: str
) -> None:
    refused = bsp("config", "set", key, value)
    assert refused.returncode == 2
    assert said in refused.stderr and refused.stderr.startswith("bsp: ")
    assert not config_file().exists()


def test_an_unreadable_config_is_said_and_left_as_it_is(bsp: Bsp) -> None:
    config_file().parent.mkdir(parents=True, exist_ok=True)
    config_file().write_text("[profiles.default\n", encoding="utf-8")
    refused = bsp("config", "set", "token_store", "file")
    assert refused.returncode == 1 and "illisible" in refused.stderr
    assert config_file().read_text(encoding="utf-8") == "[profiles.default\n"
    assert bsp("config", "show").returncode == 2


def test_an_unknown_profile_is_a_usage_error_naming_the_known_ones(bsp: Bsp) -> None:
    write_setting(("profiles", "salle"), "flow", "device")
    unknown = bsp("--profile", "sale", "status")
    assert unknown.returncode == 2
    assert "« sale » inconnu" in unknown.stderr and "salle" in unknown.stderr
    assert load_profile("salle").flow == "device"


def test_an_older_ui_json_is_read_then_folded_into_config_toml() -> None:
    legacy = config_file().parent / "ui.json"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text(json.dumps({"theme": "bsp-sombre", "lock_after": 120}), encoding="utf-8")
    prefs = Prefs.load()
    assert (prefs.theme, prefs.lock_after) == ("bsp-sombre", 120)
    prefs.theme = "bsp-contraste"
    prefs.save()
    assert not legacy.exists()
    assert toml(config_file())["ui"] == {"theme": "bsp-contraste", "lock_after": 120}
    assert Prefs.load().lock_after == 120


def test_a_run_override_of_the_lock_is_not_saved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSP_LOCK_AFTER", "5")
    prefs = Prefs.load()
    assert prefs.lock_after == 5
    prefs.save()
    assert "lock_after" not in toml(config_file())["ui"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_each_shells_script(bsp: Bsp, shell: str) -> None:
    script = bsp("completion", shell)
    assert script.returncode == 0 and "_BSP_COMPLETE" in script.stdout
    assert bsp("completion", "tcsh").returncode == 2


def test_completion_offers_commands_and_connectors(bsp: Bsp) -> None:
    # What the bash script asks bsp for: the words so far and the one to complete.
    asked = bsp("d", _BSP_COMPLETE="bash_complete", COMP_WORDS="bsp d", COMP_CWORD="1")
    assert "plain,dmp" in asked.stdout.splitlines()
    asked = bsp("c", _BSP_COMPLETE="bash_complete", COMP_WORDS="bsp c", COMP_CWORD="1")
    assert {"plain,completion", "plain,config"} <= set(asked.stdout.splitlines())
