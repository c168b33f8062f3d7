"""The log file's redaction covers whole records: arguments, exceptions, tracebacks."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from bsp_tui.logs import REDACTED, log_to_file


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs" / "platform.log"
    log_to_file(path)
    yield path
    for handler in logging.getLogger("bsp").handlers[:]:
        logging.getLogger("bsp").removeHandler(handler)
        handler.close()


def fake_jwt() -> str:
    return "eyJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(40) + "." + secrets.token_urlsafe(64)


def test_a_token_in_an_exception_is_redacted_in_the_traceback(logged: Path) -> None:
    token, refresh = fake_jwt(), secrets.token_urlsafe(48)
    log = logging.getLogger("bsp.platform.http")
    try:
        raise ValueError(f"jeton refusé : {token} (refresh {refresh})")
    except ValueError:
        log.exception("échec de %s", "l'échange")
    try:
        raise RuntimeError("enveloppe") from KeyError(token)
    except RuntimeError:
        log.error("chaîne", exc_info=True)
    log.info("arguments %s %r", token, {"refresh_token": refresh})
    text = logged.read_text(encoding="utf-8")
    assert "Traceback" in text and "ValueError" in text and "KeyError" in text
    assert token not in text and token[:60] not in text and refresh not in text
    assert text.count(REDACTED) >= 6
