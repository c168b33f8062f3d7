"""The log file's redaction covers whole records: arguments, exceptions, tracebacks."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from bsp_tui.logs import REDACTED, log_to_file
from tests.support.shell import run_bsp


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


def test_the_log_rotates_and_keeps_its_backups(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "bsp.log"
    log_to_file(path, names=("bsp.rotation",), max_bytes=2_000, backups=2)
    log = logging.getLogger("bsp.rotation")
    try:
        for line in range(200):
            log.info("ligne %03d %s", line, "x" * 40)
    finally:
        for handler in log.handlers[:]:
            log.removeHandler(handler)
            handler.close()
    kept = sorted(p.name for p in path.parent.iterdir())
    assert kept == ["bsp.log", "bsp.log.1", "bsp.log.2"]
    assert all(p.stat().st_size <= 2_000 for p in path.parent.iterdir())
    assert "ligne 199" in path.read_text(encoding="utf-8")


def test_the_command_line_logs_its_commands_at_the_level_asked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run_bsp({"BSP_HOME": str(home), "BSP_TOKEN_STORE": "memory"}, "status")
    assert done.returncode == 3, done.stderr
    text = (home / "logs" / "bsp.log").read_text(encoding="utf-8")
    assert "INFO bsp.cli Commande : bsp status." in text
    assert "WARNING bsp.cli" in text and "code 3" in text
    assert "INFO bsp.main Fin de la commande : code 3." in text

    quiet = tmp_path / "quiet"
    env = {"BSP_HOME": str(quiet), "BSP_TOKEN_STORE": "memory", "BSP_LOG_LEVEL": "warning"}
    assert run_bsp(env, "status").returncode == 3
    text = (quiet / "logs" / "bsp.log").read_text(encoding="utf-8")
    assert "WARNING bsp.cli" in text and "INFO" not in text


def test_a_pin_given_to_a_command_never_reaches_its_log(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pin = "".join(secrets.choice("0123456789") for _ in range(4))
    env = {"BSP_HOME": str(home), "BSP_TOKEN_STORE": "memory", "BSP_PIN": pin}
    done = run_bsp(env, "phone", "approve", "--persona", "generaliste", "--pin", pin)
    assert done.returncode != 0
    text = (home / "logs" / "bsp.log").read_text(encoding="utf-8")
    # A four-digit PIN may well be in a timestamp: only what follows the level and the name.
    messages = [line.split(" ", 4)[4] for line in text.splitlines() if line.startswith("20")]
    assert "Commande : bsp phone." in messages and not [m for m in messages if pin in m]


def test_json_lines_are_redacted_too(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "platform.log"
    log_to_file(path, names=("bsp.jsonlines",), json_lines=True)
    log = logging.getLogger("bsp.jsonlines")
    token = fake_jwt()
    try:
        log.info("jeton %s", token)
        try:
            raise ValueError(token)
        except ValueError:
            log.exception("échec")
    finally:
        for handler in log.handlers[:]:
            log.removeHandler(handler)
            handler.close()
    text = path.read_text(encoding="utf-8")
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["message"] == f"jeton {REDACTED}" and first["level"] == "INFO"
    assert second["logger"] == "bsp.jsonlines" and "ValueError" in second["exception"]
    assert token not in text and token[:40] not in text
