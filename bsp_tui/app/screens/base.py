"""The frame every launcher screen shares: header, session bar, footer, demo panels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from bsp_tui.app.widgets.footer import KeysFooter
from bsp_tui.app.widgets.header import BspHeader
from bsp_tui.app.widgets.session_bar import SessionBar


class BspScreen(Screen):
    """A screen of the launcher; subclasses compose their body in `compose_body`."""

    def compose(self) -> ComposeResult:
        yield BspHeader()
        yield SessionBar()
        with Horizontal(id="frame"):
            with Vertical(id="body"):
                yield from self.compose_body()
            if self.app.demo:  # type: ignore[attr-defined]
                from bsp_tui.app.widgets.demo import DemoDock

                yield DemoDock()
        yield KeysFooter()

    def compose_body(self) -> ComposeResult:
        """The screen's own content."""
        yield from ()
