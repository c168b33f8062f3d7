"""Profiles: which platform, which identity provider, which client, which flow.

Read from `config.toml` in the config folder:

    [profiles.default]
    platform = "embedded"          # or "http://127.0.0.1:8700"
    issuer = ""                    # default: the platform's PSC realm
    client_id = "bsp-launcher"
    flow = "ciba"                  # ciba | device | browser
    scope = "openid scope_all"
    acr = "eidas1"                 # "" to ask for no level
    token_store = "keyring"        # keyring | file | memory

`BSP_PROFILE` picks the profile, `BSP_PLATFORM_URL` overrides `platform` and
`BSP_TOKEN_STORE` overrides `token_store`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from bsp_tui.config import ConfigError, config_file, read_config
from bsp_tui.sso.errors import UsageError

EMBEDDED = "embedded"
# The base URL of an embedded platform: a name only its in-process transport serves.
EMBEDDED_BASE_URL = "http://plateforme.bsp"
REALM_PATH = "/auth/realms/esante-wallet"
FLOWS = ("ciba", "device", "browser")
STORES = ("keyring", "file", "memory")
# The embedded platform has no address a phone or a browser could open.
EMBEDDED_CIBA_ONLY = (
    "Sur la plateforme intégrée, seule la notification e-CPS fonctionne : le code à saisir "
    "et le navigateur ont besoin d'une plateforme servie (bsp platform serve, puis "
    "BSP_PLATFORM_URL)."
)


@dataclass(frozen=True)
class Profile:
    """One way of signing in; the embedded platform by default."""

    name: str = "default"
    platform: str = EMBEDDED
    issuer: str = ""
    client_id: str = "bsp-launcher"
    flow: str = "ciba"
    scope: str = "openid scope_all"
    acr: str = "eidas1"
    token_store: str = "keyring"  # noqa: S105 - the name of a store, not a secret

    @property
    def embedded(self) -> bool:
        """True when the platform runs in this process."""
        return self.platform == EMBEDDED

    @property
    def person_flows(self) -> tuple[str, ...]:
        """The flows a person can complete with this profile (CIBA only when embedded)."""
        if self.embedded and not self.issuer:
            return ("ciba",)
        return FLOWS

    def platform_base(self, embedded_base: str) -> str:
        """The platform's base URL (`embedded_base` for the embedded one)."""
        return embedded_base if self.embedded else self.platform.rstrip("/")

    def issuer_url(self, embedded_base: str) -> str:
        """The identity provider's issuer: configured, or the platform's PSC realm."""
        return self.issuer.rstrip("/") or self.platform_base(embedded_base) + REALM_PATH


def profile_name(name: str | None = None) -> str:
    """The profile in use: `name`, else `BSP_PROFILE` (which `--profile` sets), else default."""
    return name or os.environ.get("BSP_PROFILE") or "default"


def load_profile(name: str | None = None) -> Profile:
    """The profile named (or `BSP_PROFILE`, or `default`), with environment overrides."""
    name = profile_name(name)
    path = config_file()
    values: dict[str, Any] = {}
    if path.exists():
        try:
            document = read_config()
        except ConfigError as error:
            raise UsageError(str(error)) from None
        profiles = document.get("profiles", {})
        if name != "default" and name not in profiles:
            names = ", ".join(sorted(profiles)) or "aucun"
            raise UsageError(f"Profil « {name} » inconnu dans {path} (profils : {names}).")
        values = profiles.get(name, {})
        if not isinstance(values, dict):
            raise UsageError(f"Le profil « {name} » de {path} n'est pas une table.")
        known = {f.name for f in fields(Profile)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"Clés inconnues dans le profil « {name} » : {', '.join(unknown)}.")
    elif name != "default":
        raise UsageError(f"Profil « {name} » inconnu : aucun fichier {path}.")
    values = {k: str(v) for k, v in values.items()} | {"name": name}
    if os.environ.get("BSP_PLATFORM_URL"):
        values["platform"] = os.environ["BSP_PLATFORM_URL"]
    if os.environ.get("BSP_TOKEN_STORE"):
        values["token_store"] = os.environ["BSP_TOKEN_STORE"]
    profile = Profile(**values)
    if profile.flow not in FLOWS:
        raise UsageError(f"Parcours inconnu « {profile.flow} » : {', '.join(FLOWS)}.")
    if profile.token_store not in STORES:
        raise UsageError(
            f"Stockage des jetons inconnu « {profile.token_store} » : {', '.join(STORES)}."
        )
    return profile
