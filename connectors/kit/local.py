"""Where a connector keeps its own files on this machine: per profile, in bsp's data folder."""

from __future__ import annotations

from pathlib import Path


def profile_data(stem: str, suffix: str) -> Path:
    """The file `STEM-PROFILE.SUFFIX` of the configured profile (`BSP_PROFILE`), in the
    data folder (`BSP_HOME`, or the platform's own): one per profile, so that two
    profiles on one machine never share a connector's local state."""
    # Imported when asked for: reading the profile loads the configuration.
    from bsp_tui.config import folders
    from bsp_tui.sso.profile import load_profile

    return folders().data / f"{stem}-{load_profile().name}{suffix}"
