"""The launcher's header outlives a title update that arrives as its screen goes."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Header
from textual.widgets._header import HeaderTitle

from bsp_tui.app.widgets.header import BspHeader

pytestmark = pytest.mark.anyio


class Framed(App):
    def __init__(self, header: type[Header]) -> None:
        super().__init__()
        self.header = header

    def compose(self) -> ComposeResult:
        yield self.header()


async def test_a_title_update_after_the_title_is_gone_is_harmless() -> None:
    app = Framed(BspHeader)
    async with app.run_test() as pilot:
        await app.query_one(HeaderTitle).remove()  # as when the screen is taken apart
        app.sub_title = "Patient : Jean-Marc Martin"
        await pilot.pause()
        assert app.is_running
        assert app.return_code is None


async def test_textuals_own_header_stops_the_app_there() -> None:
    """Why BspHeader exists: should Textual mend its header, this fails and it can go."""
    app = Framed(Header)
    with pytest.raises(Exception, match="HeaderTitle"):
        async with app.run_test() as pilot:
            await app.query_one(HeaderTitle).remove()
            app.sub_title = "Patient : Jean-Marc Martin"
            await pilot.pause()
