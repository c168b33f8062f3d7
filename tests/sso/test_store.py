"""Where tokens live: the OS keyring, or by explicit choice a 0600 file or memory."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from bsp_tui.launcher import open_session
from bsp_tui.sso import store as store_module
from bsp_tui.sso.errors import StoreUnavailableError, UsageError
from bsp_tui.sso.store import FileStore, KeyringStore, MemoryStore, open_store
from tests.support.keyring_backend import FileKeyring, HangingKeyring

ENTRY = {"refresh_token": "rt-secret", "who": {"name": "Jeanne Martin"}}


@pytest.fixture
def installed_keyring() -> Iterator[Callable[[KeyringBackend], KeyringBackend]]:
    """Install a keyring backend in this process; the previous one comes back afterwards."""
    previous = keyring.get_keyring()

    def install(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


@pytest.fixture
def no_secure_keyring(installed_keyring: Callable[[KeyringBackend], KeyringBackend]) -> None:
    """The keyring library's own "no backend" (what this machine has by default)."""
    installed_keyring(fail.Keyring())


@pytest.fixture
def file_keyring(
    installed_keyring: Callable[[KeyringBackend], KeyringBackend],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A test keyring kept in a JSON file outside BSP_HOME; returns that file."""
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("BSP_TEST_KEYRING", str(path))
    installed_keyring(FileKeyring())
    return path


@pytest.fixture
def hanging_keyring(
    installed_keyring: Callable[[KeyringBackend], KeyringBackend],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A keyring that never answers, with the bound cut to 0.2 s."""
    monkeypatch.setattr(store_module, "KEYRING_TIMEOUT", 0.2)
    installed_keyring(HangingKeyring())


@pytest.fixture
def fresh_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stores start empty, whatever other tests of this process kept."""
    monkeypatch.setattr(MemoryStore, "_shared", {})


def files_under(root: Path) -> list[Path]:
    """Every file (not folder) under `root`."""
    if not root.exists():
        return []
    return sorted(path for path in root.rglob("*") if not path.is_dir())


def write_config(home: Path, text: str) -> None:
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(text, encoding="utf-8")


# -- no secure keyring --------------------------------------------------------------


@pytest.mark.usefixtures("no_secure_keyring")
def test_keyring_refused_without_secure_backend_names_the_choices(bsp_home: Path) -> None:
    with pytest.raises(StoreUnavailableError) as caught:
        open_store("keyring", "default", bsp_home / "data")
    message = caught.value.message
    assert "BSP_TOKEN_STORE=file" in message
    assert "bsp config set token_store file" in message and "memory" in message
    assert caught.value.exit_code == 3  # no session can be kept: as without one
    assert not bsp_home.exists()


@pytest.mark.usefixtures("no_secure_keyring")
def test_session_open_without_secure_backend_writes_no_file(bsp_home: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="BSP_TOKEN_STORE=file"):
        open_session()
    assert files_under(bsp_home) == []


# -- file: an explicit, announced choice ----------------------------------------------


@pytest.mark.usefixtures("no_secure_keyring")
def test_file_store_is_0600_and_announced(bsp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSP_TOKEN_STORE", "file")
    session = open_session()
    assert isinstance(session.store, FileStore)
    path = session.store.path
    assert path.is_relative_to(bsp_home)
    assert not path.exists()  # nothing until the first entry
    assert len(session.warnings) == 1
    assert "en clair" in session.warnings[0]
    assert str(path) in session.warnings[0]

    session.store.put("session", ENTRY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text(encoding="utf-8")) == {"session": ENTRY}
    assert [p for p in files_under(bsp_home) if p.suffix == ".tmp"] == []

    again = open_session()  # every start warns again
    assert any("en clair" in warning for warning in again.warnings)
    assert again.store.get("session") == ENTRY


def test_file_store_keeps_0600_when_the_file_was_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o644)
    FileStore(path).put("access", {"token": "at"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_file_store_round_trip_and_delete(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "nested" / "tokens.json")
    assert store.get("session") is None
    store.put("session", ENTRY)
    store.put("access", {"token": "at"})
    assert store.get("session") == ENTRY
    store.delete("session")
    store.delete("session")  # absent: no error
    assert store.get("session") is None
    assert FileStore(store.path).get("access") == {"token": "at"}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b'{"session": {"refresh_token": "rt"',
        b"\xff\xfe\x00garbage",
        b"null",
        b"[1, 2, 3]",
        b'"a string"',
        b"42",
        b'{"session": "not an entry", "access": [1]}',
    ],
)
def test_damaged_file_reads_as_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    store = FileStore(path)
    assert store.get("session") is None
    assert store.get("access") is None
    store.delete("session")
    store.put("session", ENTRY)  # a new sign-in replaces the damaged file
    assert store.get("session") == ENTRY
    assert json.loads(path.read_text(encoding="utf-8")) == {"session": ENTRY}


# -- memory: nothing on disk ------------------------------------------------------------


@pytest.mark.usefixtures("no_secure_keyring", "fresh_memory")
def test_memory_store_writes_nothing_under_bsp_home(
    bsp_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BSP_TOKEN_STORE", "memory")
    session = open_session()
    assert isinstance(session.store, MemoryStore)
    assert session.warnings == []
    for key in ("session", "access", "api:dmp"):
        session.store.put(key, ENTRY | {"key": key})
    session.store.delete("api:dmp")
    assert session.store.get("access") == ENTRY | {"key": "access"}
    assert files_under(bsp_home) == []


@pytest.mark.usefixtures("fresh_memory")
def test_memory_stores_of_one_profile_share_entries(tmp_path: Path) -> None:
    first = open_store("memory", "default", tmp_path)
    second = open_store("memory", "default", tmp_path)
    other = open_store("memory", "formation", tmp_path)
    first.put("session", ENTRY)
    assert second.get("session") == ENTRY
    assert other.get("session") is None
    second.delete("session")
    assert first.get("session") is None
    assert files_under(tmp_path) == []


# -- the OS keyring ----------------------------------------------------------------------


def test_keyring_store_round_trips_and_deletes(file_keyring: Path, bsp_home: Path) -> None:
    store = open_store("keyring", "default", bsp_home / "data")
    assert isinstance(store, KeyringStore)
    assert store.get("session") is None
    store.put("session", ENTRY)
    store.put("access", {"token": "at"})
    assert store.get("session") == ENTRY
    assert set(json.loads(file_keyring.read_text())) == {
        "bsp:default/session",
        "bsp:default/access",
    }
    store.delete("session")
    store.delete("session")  # absent: no error
    assert store.get("session") is None
    assert store.get("access") == {"token": "at"}
    assert files_under(bsp_home) == []


def test_session_open_uses_the_keyring_without_warning(file_keyring: Path) -> None:
    session = open_session()
    assert session.store.kind == "keyring"
    assert session.warnings == []
    session.store.put("session", ENTRY)
    assert open_session().store.get("session") == ENTRY


def test_unreadable_keyring_entry_reads_as_none(file_keyring: Path) -> None:
    keyring.set_password("bsp:default", "session", "{not json")
    keyring.set_password("bsp:default", "access", "[1, 2]")
    store = KeyringStore("bsp:default")
    assert store.get("session") is None
    assert store.get("access") is None


@pytest.mark.usefixtures("hanging_keyring")
@pytest.mark.parametrize(
    "call",
    [
        lambda store: store.get("session"),
        lambda store: store.put("session", ENTRY),
        lambda store: store.delete("session"),
    ],
    ids=["get", "put", "delete"],
)
def test_hanging_keyring_is_bounded(call: Callable[[KeyringStore], object], bsp_home: Path) -> None:
    store = open_store("keyring", "default", bsp_home / "data")
    assert isinstance(store, KeyringStore)
    with pytest.raises(StoreUnavailableError) as caught:
        call(store)
    assert "ne répond pas" in caught.value.message
    assert "0,2 s" in caught.value.message
    assert "BSP_TOKEN_STORE=file" in caught.value.message


def test_keyring_failure_is_reported_not_raised_raw(
    installed_keyring: Callable[[KeyringBackend], KeyringBackend],
) -> None:
    installed_keyring(fail.Keyring())
    store = KeyringStore("bsp:default")  # built directly: open_store would refuse
    with pytest.raises(StoreUnavailableError, match="a refusé l'opération"):
        store.get("session")


# -- choosing the store -----------------------------------------------------------------


@pytest.mark.usefixtures("no_secure_keyring", "fresh_memory")
def test_profile_token_store_memory_is_used(bsp_home: Path) -> None:
    write_config(bsp_home, '[profiles.default]\ntoken_store = "memory"\n')
    session = open_session()
    assert session.profile.token_store == "memory"
    assert isinstance(session.store, MemoryStore)


@pytest.mark.usefixtures("no_secure_keyring")
def test_profile_token_store_file_is_used_and_announced(bsp_home: Path) -> None:
    write_config(bsp_home, '[profiles.default]\ntoken_store = "file"\n')
    session = open_session()
    assert isinstance(session.store, FileStore)
    assert any("en clair" in warning for warning in session.warnings)


@pytest.mark.usefixtures("no_secure_keyring")
def test_unknown_token_store_in_profile_is_a_usage_error(bsp_home: Path) -> None:
    write_config(bsp_home, '[profiles.default]\ntoken_store = "plaintext"\n')
    with pytest.raises(UsageError, match="plaintext") as caught:
        open_session()
    assert "keyring, file, memory" in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.usefixtures("no_secure_keyring")
def test_unknown_token_store_in_environment_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BSP_TOKEN_STORE", "clipboard")
    with pytest.raises(UsageError, match="clipboard"):
        open_session()


@pytest.mark.usefixtures("no_secure_keyring", "fresh_memory")
def test_environment_overrides_the_profile(bsp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(bsp_home, '[profiles.default]\ntoken_store = "memory"\n')
    monkeypatch.setenv("BSP_TOKEN_STORE", "file")
    assert isinstance(open_session().store, FileStore)

    write_config(bsp_home, '[profiles.default]\ntoken_store = "keyring"\n')
    monkeypatch.setenv("BSP_TOKEN_STORE", "memory")
    assert isinstance(open_session().store, MemoryStore)  # no refusal: keyring not asked
