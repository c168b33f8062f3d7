"""Logging to rotating files under the logs folder, redacted so that no secret is kept:
`bsp.log` for the launcher and the command line, `platform.log` for a served platform."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from logging.handlers import RotatingFileHandler
from pathlib import Path

# A JWT (three base64url parts starting with a JSON header) or a long opaque token.
_SECRET_PATTERNS = [
    re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"),
    re.compile(r"\b[A-Za-z0-9_-]{40,}\b"),
]
REDACTED = "[masqué]"


def redact(text: str) -> str:
    """Replace anything shaped like a token in `text`."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats a record, then redacts the whole text: message, arguments, traceback, stack.

    Redacting `record.msg` alone misses a token that reaches the log as an argument
    formatted late, inside an exception's message, or in a traceback's source lines.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLineFormatter(RedactingFormatter):
    """Each record as one JSON object: time (UTC), level, logger, and either the
    record's `fields` (an access line's: request id, method, path, status, duration,
    pid) or its message (and traceback); redacted like the text lines."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line |= fields
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, ensure_ascii=False))


LEVEL_ENV = "BSP_LOG_LEVEL"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5


def level_from_env(default: int = logging.INFO) -> int:
    """The level `BSP_LOG_LEVEL` names (DEBUG, INFO, WARNING, ERROR), else `default`."""
    named = logging.getLevelName(os.environ.get(LEVEL_ENV, "").strip().upper())
    return named if isinstance(named, int) else default


def log_to_file(
    path: Path,
    level: int | None = None,
    names: tuple[str, ...] = ("bsp",),
    max_bytes: int = MAX_BYTES,
    backups: int = BACKUPS,
    json_lines: bool = False,
) -> None:
    """Send the records of the loggers `names` (bsp's) to `path`, redacted, once per
    process, logger and path; the file rotates past `max_bytes`, keeping `backups` old ones.

    The level is `level`, else `BSP_LOG_LEVEL`, else INFO. With `json_lines`, each
    record is one JSON object (a served platform's log, read by tools)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler: logging.Handler | None = None
    for name in names:
        logger = logging.getLogger(name)
        logger.setLevel(level if level is not None else level_from_env())
        if any(
            isinstance(known, logging.FileHandler) and Path(known.baseFilename) == path
            for known in logger.handlers
        ):
            continue
        if handler is None:
            handler = RotatingFileHandler(
                path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
            handler.setFormatter(
                JsonLineFormatter()
                if json_lines
                else RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
            )
        logger.addHandler(handler)
