"""Creating requests that survive a lost answer: an `Idempotency-Key`, one retry.

A connection that drops, or an answer that times out, leaves the client not knowing
whether the service carried the request out. The request goes again, once, with the
same key: the service (bsp_tui.platform.idempotency) answers it as the first time and
creates nothing twice.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

IDEMPOTENCY_HEADER = "Idempotency-Key"


async def post_once(http: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """POST with a new Idempotency-Key; after a transport error, once more with that key."""
    headers = dict(kwargs.pop("headers", None) or {})
    headers[IDEMPOTENCY_HEADER] = str(uuid.uuid4())
    try:
        return await http.post(url, headers=headers, **kwargs)
    except httpx.TransportError:
        return await http.post(url, headers=headers, **kwargs)
