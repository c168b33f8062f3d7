"""The app each worker of `bsp platform serve` builds for itself."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from bsp_tui.platform import app as app_module
from bsp_tui.platform.app import served_app
from bsp_tui.platform.settings import TRAINER_TOKEN_ENV


@pytest.fixture
def worker_logging() -> Iterator[None]:
    """A worker sets up its own logging: undone after the test."""
    loggers = [logging.getLogger(name) for name in ("bsp.platform", "uvicorn")]
    kept = [(logger.handlers[:], logger.propagate) for logger in loggers]
    yield
    for logger, (handlers, propagate) in zip(loggers, kept, strict=True):
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:], logger.propagate = handlers, propagate


def test_a_worker_reads_its_signing_key_before_the_first_request(
    bsp_home: Path, monkeypatch: pytest.MonkeyPatch, worker_logging: None
) -> None:
    """Reading the key's PEM costs some 57 ms of CPU: paid at start, not by a room's first
    sign-in."""
    monkeypatch.setenv(TRAINER_TOKEN_ENV, "jeton-du-formateur-pour-le-test")
    monkeypatch.delenv("BSP_BIND_CORE")  # as served: each worker binds itself to a core
    bound: list[Path] = []  # this test's process stays on every core
    monkeypatch.setattr(app_module, "bind_to_a_core", bound.append)
    app = served_app()
    platform = app.state.platform
    try:
        reads: list[str] = []
        real = RSAKey.import_key
        monkeypatch.setattr(
            RSAKey, "import_key", lambda *a, **k: reads.append("pem") or real(*a, **k)
        )
        assert platform.keys.active().kid
        assert reads == []
        assert [lock.parent for lock in bound] == [bsp_home / "cache"]
    finally:
        platform.db.close()


def test_a_worker_left_to_the_scheduler_binds_nothing(
    monkeypatch: pytest.MonkeyPatch, worker_logging: None
) -> None:
    monkeypatch.setenv(TRAINER_TOKEN_ENV, "jeton-du-formateur-pour-le-test")
    monkeypatch.setenv("BSP_BIND_CORE", "0")
    bound: list[Path] = []
    monkeypatch.setattr(app_module, "bind_to_a_core", bound.append)
    served_app().state.platform.db.close()
    assert bound == []
