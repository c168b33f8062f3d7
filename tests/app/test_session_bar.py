"""The session bar: who, and how long the session and the PSC access token have left."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from bsp_tui.app.widgets.session_bar import SessionBar

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0


class BarApp(App):
    """Just the bar, on facts the test sets."""

    def __init__(self, access_left: float) -> None:
        super().__init__()
        self.clock = lambda: NOW
        self.session_facts = {
            "who": {"name": "Élise Martin-Dubois", "profession": "Médecin"},
            "session_expires_at": NOW + 3600,
            "access_expires_at": NOW + access_left,
        }

    def compose(self) -> ComposeResult:
        yield SessionBar()


@pytest.mark.parametrize(
    ("access_left", "shown"),
    [(95, "PSC 1 min 35 s"), (1, "PSC 1 s"), (0.5, "PSC à renouveler"), (-30, "PSC à renouveler")],
)
async def test_the_access_token_time_left_or_its_renewal(access_left: float, shown: str) -> None:
    app = BarApp(access_left)
    async with app.run_test():
        text = str(app.query_one(SessionBar).render())
    assert text == f"Élise Martin-Dubois — Médecin · session 1 h 00 · {shown}"
