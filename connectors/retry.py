"""Creating requests that survive a lost answer: an `Idempotency-Key`, one retry.

A connection that drops, or an answer that times out, leaves the client not knowing
whether the service carried the request out; a busy platform (503 with `Retry-After`)
asks to be asked again. The request goes again, once, with the same key: the service
(bsp_tui.platform.idempotency) answers it as the first time and creates nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_RETRY_AFTER = 5  # seconds: a longer wait is the caller's decision, not a silent one


def _retry_after(response: httpx.Response) -> int | None:
    """The seconds a 503 asks to wait before sending again, when it asks for few."""
    value = response.headers.get("Retry-After", "")
    if response.status_code == 503 and value.isdigit() and int(value) <= MAX_RETRY_AFTER:
        return int(value)
    return None


async def post_once(http: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """POST with a new Idempotency-Key; after a transport error, or a 503 asking to retry
    soon (`Retry-After`), once more with that key."""
    headers = dict(kwargs.pop("headers", None) or {})
    headers[IDEMPOTENCY_HEADER] = str(uuid.uuid4())
    try:
        response = await http.post(url, headers=headers, **kwargs)
    except httpx.TransportError:
        return await http.post(url, headers=headers, **kwargs)
    wait = _retry_after(response)
    if wait is None:
        return response
    await asyncio.sleep(wait)
    return await http.post(url, headers=headers, **kwargs)
