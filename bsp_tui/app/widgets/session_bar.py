"""Who is signed in, and how long the session and its access token have left."""

from __future__ import annotations

from textual.widgets import Static

from bsp_tui.app.format import duration


class SessionBar(Static):
    """One line under the header; updated every second from the app's session facts."""

    DEFAULT_CSS = """
    SessionBar { height: 1; padding: 0 1; background: $primary; color: $background; }
    SessionBar.-none { display: none; }
    """

    def on_mount(self) -> None:
        self.update_facts()
        self.set_interval(1, self.update_facts)

    def update_facts(self) -> None:
        """Redraw from the app's cached session facts."""
        facts = self.app.session_facts  # type: ignore[attr-defined]
        self.set_class(facts is None, "-none")
        if facts is None:
            return
        now = self.app.clock()  # type: ignore[attr-defined]
        who = facts["who"]
        profession = f" — {who['profession']}" if who.get("profession") else ""
        access_left = facts["access_expires_at"] - now
        # A spent access token is renewed silently at the next check: say so, not "0 s".
        access = duration(access_left) if access_left >= 1 else "à renouveler"
        self.update(
            f"{who['name']}{profession} · session {duration(facts['session_expires_at'] - now)}"
            f" · PSC {access}"
        )
