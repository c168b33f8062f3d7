"""Stored tokens: how a token is kept, and whether it is still fresh enough to use."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypedDict, TypeGuard


class TokenRecord(TypedDict):
    """A token as the store keeps it."""

    token: str
    expires_at: float
    lifetime: int


def _margin(record: Mapping[str, Any]) -> float:
    """Renew this long before expiry: 15 s, or a quarter of a short lifetime."""
    return min(15.0, float(record.get("lifetime", 60)) / 4)


def fresh(record: Mapping[str, Any] | None, min_valid: float = 0) -> TypeGuard[Mapping[str, Any]]:
    """True when a stored token stays valid for `min_valid` seconds and the margin."""
    if not record:
        return False
    return float(record["expires_at"]) - time.time() >= max(min_valid, _margin(record))


def token_record(token: str, expires_in: int) -> TokenRecord:
    """A token as the store keeps it, its expiry counted on this machine's clock (from
    `expires_in`: immune to clock skew)."""
    return {"token": token, "expires_at": time.time() + expires_in, "lifetime": expires_in}
