"""Logging to a file under the logs folder, with a filter that keeps secrets out."""

from __future__ import annotations

import logging
import re
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


def log_to_file(path: Path, level: int = logging.INFO, names: tuple[str, ...] = ("bsp",)) -> None:
    """Send the records of the loggers `names` (bsp's) to `path`, redacted, once per
    process, logger and path."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler: logging.FileHandler | None = None
    for name in names:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if any(
            isinstance(known, logging.FileHandler) and Path(known.baseFilename) == path
            for known in logger.handlers
        ):
            continue
        if handler is None:
            handler = logging.FileHandler(path, encoding="utf-8")
            handler.setFormatter(
                RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
            )
        logger.addHandler(handler)
