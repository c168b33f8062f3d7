"""Long polls answered the moment something arrives: the e-CPS app's push, emulated.

A real e-CPS app is woken by a push notification. The virtual phone instead asks for
its pending requests with `wait`, and the platform holds that request until one
arrives: a room of phones costs one request each per sign-in, not one every fraction
of a second.

The writer rings a topic after its commit and every waiter on it in this process
wakes. Several workers on PostgreSQL hear one another through `NOTIFY`: each worker
keeps one connection that `LISTEN`s and rings its own waiters. A waiter still looks
again every `RECHECK_SECONDS`, so a notification lost while that connection was being
made again only delays it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager, suppress
from typing import Generic, TypeVar

import psycopg
from sqlalchemy.engine import URL

CHANNEL = "bsp_bell"
RECHECK_SECONDS = 5.0
# How long a worker waits before connecting again after its listening connection broke.
RELISTEN_SECONDS = 1.0
# How soon a listening thread sees that it is to stop.
STOP_SECONDS = 1.0

log = logging.getLogger(__name__)
T = TypeVar("T")


class Bell:
    """Topics that async waiters in this process wait on, rung from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        # The listening threads, by database: each stops when its event is set.
        self._listeners: dict[str, threading.Event] = {}
        # How many times each watched topic rang (see `rung`).
        self._rung: dict[str, int] = {}

    def ring(self, topic: str) -> None:
        """Wake every waiter on `topic` in this process (safe from any thread)."""
        with self._lock:
            if topic in self._rung:
                self._rung[topic] += 1
            waiting = list(self._waiters.get(topic, ()))
        for loop, event in waiting:
            loop.call_soon_threadsafe(event.set)

    @asynccontextmanager
    async def listening(self, topic: str) -> AsyncIterator[asyncio.Event]:
        """An event set when `topic` rings, registered before the caller looks: a ring
        between its look and its wait is not missed."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.setdefault(topic, set()).add(waiter)
        try:
            yield waiter[1]
        finally:
            with self._lock:
                left = self._waiters[topic]
                left.discard(waiter)
                if not left:
                    del self._waiters[topic]

    def rung(self, topic: str) -> int:
        """How many times `topic` rang in this process since it was first asked: what a
        worker keeps of the state it announces is stale once this number changes."""
        with self._lock:
            return self._rung.setdefault(topic, 0)

    def waiting(self, topic: str) -> int:
        """How many long polls of this process wait on `topic`."""
        with self._lock:
            return len(self._waiters.get(topic, ()))

    def listen_to(self, url: URL) -> None:
        """Ring this process's waiters on the notifications of a PostgreSQL database
        (once per database; a daemon thread keeps one connection)."""
        conninfo = _conninfo(url)
        with self._lock:
            if conninfo in self._listeners:
                return
            stop = self._listeners[conninfo] = threading.Event()
        threading.Thread(
            target=self._listen, args=(conninfo, stop), name="bsp-bell", daemon=True
        ).start()

    def stop_listening(self, url: URL) -> None:
        """End the listening connection to that database, if any (it is being closed)."""
        with self._lock:
            stop = self._listeners.pop(_conninfo(url), None)
        if stop is not None:
            stop.set()

    def _listen(self, conninfo: str, stop: threading.Event) -> None:
        failing = False  # told once a streak of failures, not once a second
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if failing:
                        log.info("notifications rétablies")
                        failing = False
                    while not stop.is_set():
                        for notification in conn.notifies(timeout=STOP_SECONDS):
                            self.ring(notification.payload)
            except psycopg.Error as error:
                # The waiters' own look every RECHECK_SECONDS covers the gap.
                if not failing:
                    log.warning("notifications interrompues (%s), reprise", type(error).__name__)
                    failing = True
                stop.wait(RELISTEN_SECONDS)


def _conninfo(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def wait_for(event: asyncio.Event, seconds: float) -> None:
    """Until the event is set or `seconds` (at most RECHECK_SECONDS) have passed."""
    with suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), min(seconds, RECHECK_SECONDS))
    event.clear()


BELL = Bell()


class Kept(Generic[T]):
    """What a worker keeps of state another worker may change: trusted until the change
    rings `topic` in this process, or `seconds` after it was read (a change by another
    process over the same SQLite file rings nothing, nor one made while the listening
    connection was down). Values are kept by key; at `most` keys, all are forgotten."""

    def __init__(self, topic: str, seconds: float, most: int = 1024) -> None:
        self.topic = topic
        self.seconds = seconds
        self.most = most
        self._values: dict[Hashable, tuple[int, float, T]] = {}

    def stamp(self) -> tuple[int, float]:
        """When a read begins: what `keep` is given, so that a change during the read
        makes its value stale at once."""
        return BELL.rung(self.topic), time.monotonic()

    def get(self, key: Hashable) -> T | None:
        """The value kept for `key` if it is still fresh, else None."""
        kept = self._values.get(key)
        if kept is None:
            return None
        rung, read_at, value = kept
        if rung != BELL.rung(self.topic) or time.monotonic() - read_at >= self.seconds:
            return None
        return value

    def keep(self, stamp: tuple[int, float], key: Hashable, value: T) -> None:
        """Keep `value` for `key`, as read from the moment `stamp` was taken."""
        if len(self._values) >= self.most:
            self._values.clear()
        self._values[key] = (stamp[0], stamp[1], value)
