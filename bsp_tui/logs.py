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


class RedactingFilter(logging.Filter):
    """Rewrites each record's message so that a token never reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def log_to_file(path: Path, level: int = logging.INFO) -> None:
    """Send bsp's log records to `path`, redacted, once per process and path."""
    root = logging.getLogger("bsp")
    root.setLevel(level)
    for handler in root.handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path:
            return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
