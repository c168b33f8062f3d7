"""Keyring backends that tests install themselves (never the developer's real keyring).

`FileKeyring` keeps entries in the JSON file named by BSP_TEST_KEYRING, under a file
lock, so that several processes of one test share it like an OS keyring.
`HangingKeyring` never answers, like a locked Secret Service.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from filelock import FileLock
from keyring.backend import KeyringBackend


class FileKeyring(KeyringBackend):
    """A test keyring shared by the processes of one test."""

    priority = 10  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ["BSP_TEST_KEYRING"])

    def _update(self, change) -> None:
        with FileLock(str(self._path) + ".lock"):
            data = json.loads(self._path.read_text()) if self._path.exists() else {}
            change(data)
            self._path.write_text(json.dumps(data))

    def get_password(self, service: str, username: str) -> str | None:
        with FileLock(str(self._path) + ".lock"):
            if not self._path.exists():
                return None
            return json.loads(self._path.read_text()).get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._update(lambda data: data.__setitem__(f"{service}/{username}", password))

    def delete_password(self, service: str, username: str) -> None:
        self._update(lambda data: data.pop(f"{service}/{username}", None))


class HangingKeyring(KeyringBackend):
    """A keyring that never answers."""

    priority = 10  # type: ignore[assignment]
    _never = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self._never.wait()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._never.wait()

    def delete_password(self, service: str, username: str) -> None:
        self._never.wait()
