"""Requests that survive a lost answer or a platform that blinks.

Creating requests: a connection that drops, or an answer that times out, leaves the
client not knowing whether the service carried the request out; a busy platform (503
with `Retry-After`) asks to be asked again. The request goes again, once, with the same
`Idempotency-Key`: the service (bsp_tui.platform.idempotency) answers it as the first
time and creates nothing twice (`post_once`).

Reading requests, many in a row (a batch): a refused or cut connection is tried again a
few times, waiting longer each time (`with_backoff`), so that a platform restarting or
a network blinking costs a pause, not the batch.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_RETRY_AFTER = 5  # seconds: a longer wait is the caller's decision, not a silent one
T = TypeVar("T")


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


@dataclass(frozen=True)
class Backoff:
    """How many tries, and the waits between them: doubling from `first`, at most `cap`
    seconds, each drawn between half and all of that (so that many clients cut at once do
    not all come back at once). The defaults wait about 6 to 12 seconds in all."""

    tries: int = 6
    first: float = 0.5
    cap: float = 4.0

    def waits(self) -> Iterator[float]:
        """The wait before each try after the first."""
        for attempt in range(self.tries - 1):
            longest = min(self.cap, self.first * 2**attempt)
            yield longest / 2 + random.uniform(0, longest / 2)  # noqa: S311 - jitter, no secret


async def with_backoff(
    call: Callable[[], Awaitable[T]],
    errors: tuple[type[Exception], ...],
    backoff: Backoff = Backoff(),
) -> T:
    """`call()`, tried again after each of `errors` as `backoff` says; the last try's
    error when every try failed."""
    for wait in backoff.waits():
        try:
            return await call()
        except errors:
            await asyncio.sleep(wait)
    return await call()
