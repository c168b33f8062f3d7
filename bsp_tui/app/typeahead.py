"""Keys typed ahead reach the field that is focused when their turn comes.

Textual hands each key to the widget focused *when the key is read*, and a focus
move (Tab handled by a binding up the tree, Enter whose handler focuses the next
field) happens a few messages later. Keys that arrive in a burst — a paste without
bracketed paste, a barcode scanner, a person typing while the app is busy — were
then all given to the first field: « Dupont », Tab, « Marie » gave « DupontMarie ».

So the launcher releases typed keys one at a time: a key is handed on only once
everything the previous one set going (bindings, messages, focus changes) has been
handled, i.e. once every message queue of the app and its screen stays empty.
Work in the background (a request in flight) is not waited for: keys typed while
it runs go where the focus is, as the person sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from textual import events
from textual.app import App
from textual.message_pump import MessagePump

# A burst never waits longer than this for the app to settle between two keys.
SETTLE_LIMIT = 2.0
QUIET_TURNS = 3


def _pumps(app: App) -> Iterator[MessagePump]:
    yield app
    with contextlib.suppress(Exception):  # no screen yet, or one being replaced
        screen = app.screen
        yield screen
        yield from screen.walk_children(with_self=False)


def _queued(app: App) -> bool:
    return any(pump._message_queue.qsize() for pump in _pumps(app))


class TypeAhead:
    """The app's typed keys (and pastes), released in order once the app has settled."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._held: asyncio.Queue[events.Key | events.Paste] = asyncio.Queue()
        self._released: set[int] = set()
        self._running = False

    def hold(self, event: events.Event) -> bool:
        """True when `event` is a key or paste to queue (the app must not handle it now)."""
        if not isinstance(event, events.Key | events.Paste) or event.is_forwarded:
            return False
        if id(event) in self._released:
            self._released.discard(id(event))
            return False
        if not self._running:
            return False  # not started, or stopped: keys go straight through
        self._held.put_nowait(event)
        return True

    async def run(self) -> None:
        """Release held keys in order, each once the app has settled (the app's worker)."""
        self._running = True
        try:
            while True:
                event = await self._held.get()
                await self.settled()
                self._released.add(id(event))
                self._app.post_message(event)
        finally:
            self._running = False

    async def settled(self) -> None:
        """Wait until no message queue of the app or its screen has work left.

        A handler may be between two of its messages when the queues look empty for an
        instant, so they must stay empty over a few turns of the event loop.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_LIMIT
        quiet = 0
        while quiet < QUIET_TURNS and loop.time() < deadline:
            await asyncio.sleep(0)
            quiet = 0 if _queued(self._app) else quiet + 1
