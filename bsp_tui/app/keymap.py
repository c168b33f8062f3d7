"""The user's keymap: `[keymap]` in `config.toml` rebinds any of the launcher's keys.

Every binding of the launcher and of its connector screens has an id (`lock`,
`dmp.reload`, `fse.send`…); a keymap entry gives that id other keys, for example

    [keymap]
    "dmp.reload" = "f5"
    "lock" = "ctrl+l,f12"

An entry that is not a string is reported and left out: a typo never stops bsp.
"""

from __future__ import annotations

from bsp_tui.config import ConfigError, config_file, read_config


def load_keymap() -> tuple[dict[str, str], list[str]]:
    """The keymap of `config.toml` (binding id → keys) and the problems found in it."""
    path = config_file()
    try:
        document = read_config()
    except ConfigError as error:
        return {}, [f"Raccourcis ignorés : {error}"]
    table = document.get("keymap", {})
    if not isinstance(table, dict):
        return {}, [f"Raccourcis ignorés : [keymap] de {path} n'est pas une table."]
    keymap = {str(k): v.strip() for k, v in table.items() if isinstance(v, str) and v.strip()}
    problems = [
        f'Raccourci « {k} » ignoré : donnez ses touches entre guillemets (ex. "f5").'
        for k, v in table.items()
        if str(k) not in keymap
    ]
    return keymap, problems
