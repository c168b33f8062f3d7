"""The launcher's header: Textual's own, whose title survives a late update."""

from __future__ import annotations

from contextlib import suppress

from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.events import Mount
from textual.widgets import Header
from textual.widgets._header import HeaderTitle


class BspHeader(Header):
    """Textual's header, made safe against an update of the title that arrives as the
    screen is being taken apart (the launcher closing, a session ending on the way):
    Textual 8.2.8's own watcher lets `NoMatches` escape there, which stops the app."""

    def _on_mount(self, event: Mount) -> None:
        event.prevent_default()  # instead of Header's own watcher, not beside it

        async def set_title() -> None:
            with suppress(NoScreen, NoMatches):  # gone with its screen: nothing to show
                self.query_one(HeaderTitle).update(self.format_title())

        for owner in (self.app, self.screen):
            self.watch(owner, "title", set_title)
            self.watch(owner, "sub_title", set_title)
