"""Where the session lives: the OS keyring, or (by explicit choice) a 0600 file or memory.

Only what must persist is kept: the session record (refresh token, ID token, who),
the PSC access token and the connector tokens, each as a small JSON entry so that
every entry stays under Windows' 2560-byte credential limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bsp_tui.sso.errors import StoreUnavailableError

KEYRING_TIMEOUT = float(os.environ.get("BSP_KEYRING_TIMEOUT", "5"))
T = TypeVar("T")

NO_SECURE_STORE = (
    "Aucun trousseau sécurisé n'est disponible : rien n'est enregistré. Choisissez une "
    "fois pour ce profil : bsp config set token_store file (fichier 0600 en clair, signalé "
    "à chaque démarrage) ou bsp config set token_store memory (ce processus seulement) ; "
    "ou BSP_TOKEN_STORE=file ou memory pour cette commande."
)


class TokenStore(Protocol):
    """A small key-value store for one profile's session."""

    kind: str

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry, or None."""

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        """Write (replace) an entry."""

    def delete(self, key: str) -> None:
        """Remove an entry if present."""


class MemoryStore:
    """This process only: nothing reaches the disk."""

    kind = "memory"
    _shared: dict[str, dict[str, dict[str, Any]]] = {}  # noqa: RUF012 - per-process by design

    def __init__(self, namespace: str) -> None:
        self._data = self._shared.setdefault(namespace, {})

    def get(self, key: str) -> dict[str, Any] | None:
        return self._data.get(key)

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        self._data[key] = dict(value)

    def delete(self, key: str) -> None:
        self._data.pop(key, None)


class FileStore:
    """A JSON file readable by its owner only: a plaintext store the person opted into."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (ValueError, UnicodeDecodeError):
            # A damaged file is a lost session, not a crash: the person signs in again.
            return {}
        if not isinstance(data, dict):
            return {}
        return {key: value for key, value in data.items() if isinstance(value, dict)}

    def _write(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        temporary.replace(self.path)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._read().get(key)

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        self._write(self._read() | {key: dict(value)})

    def delete(self, key: str) -> None:
        data = self._read()
        if data.pop(key, None) is not None:
            self._write(data)


def _seconds(value: float) -> str:
    """A duration as a French reader writes it: 5, 0,2."""
    return f"{value:g}".replace(".", ",")


def _bounded(call: Callable[[], T], what: str) -> T:
    """Run a keyring call in a daemon thread and give up after KEYRING_TIMEOUT seconds.

    A locked or absent Secret Service can block forever; a daemon thread left behind
    does not keep the process alive.
    """
    outcome: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = call()
        except Exception as error:  # reported below, whatever the backend raised
            outcome["error"] = error
        done.set()

    threading.Thread(target=run, daemon=True, name=f"keyring-{what}").start()
    if not done.wait(KEYRING_TIMEOUT):
        raise StoreUnavailableError(
            f"Le trousseau du système ne répond pas ({what}, {_seconds(KEYRING_TIMEOUT)} s) : "
            "déverrouillez-le, ou choisissez BSP_TOKEN_STORE=file ou memory."
        )
    if "error" in outcome:
        error = outcome["error"]
        raise StoreUnavailableError(
            f"Le trousseau du système a refusé l'opération ({what}) : {type(error).__name__}."
        )
    return outcome["value"]  # type: ignore[return-value]


class KeyringStore:
    """The OS keyring (Secret Service, macOS Keychain, Windows Credential Manager)."""

    kind = "keyring"

    def __init__(self, service: str) -> None:
        self.service = service

    def get(self, key: str) -> dict[str, Any] | None:
        import keyring

        raw = _bounded(lambda: keyring.get_password(self.service, key), "lecture")
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        import keyring

        raw = json.dumps(value, separators=(",", ":"))
        _bounded(lambda: keyring.set_password(self.service, key, raw), "écriture")

    def delete(self, key: str) -> None:
        import keyring
        from keyring.errors import PasswordDeleteError

        def remove() -> None:
            with contextlib.suppress(PasswordDeleteError):
                keyring.delete_password(self.service, key)

        _bounded(remove, "suppression")


def secure_keyring_available() -> bool:
    """True when the keyring library found a backend that keeps secrets safe."""
    import keyring

    backend = _bounded(keyring.get_keyring, "détection")
    return backend.priority >= 1 and "fail" not in type(backend).__module__


def open_store(kind: str, profile: str, data_dir: Path) -> TokenStore:
    """The store for `profile`; refuses to fall back to plaintext on its own."""
    if kind == "memory":
        return MemoryStore(profile)
    if kind == "file":
        return FileStore(data_dir / f"tokens-{profile}.json")
    if not secure_keyring_available():
        raise StoreUnavailableError(NO_SECURE_STORE)
    return KeyringStore(f"bsp:{profile}")
