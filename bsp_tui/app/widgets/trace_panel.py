"""The SSO trace: every exchange between launcher, PSC and services, tokens redacted."""

from __future__ import annotations

import time

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from bsp_tui.sso.trace import TraceEntry
from connectors.view import literal


def entry_line(entry: TraceEntry) -> str:
    """One line of the list: time, step, status, duration."""
    clock = time.strftime("%H:%M:%S", time.localtime(entry.at))
    error = f" {entry.error}" if entry.error else ""
    return f"{clock} {entry.step} · {entry.status}{error} · {entry.duration_ms:.0f} ms"


def entry_details(entry: TraceEntry) -> str:
    """The exchange in full: endpoint, and each token's header and claims, never usable."""
    lines = [f"{entry.method} {entry.endpoint}", f"→ {entry.status} en {entry.duration_ms:.0f} ms"]
    if entry.error:
        lines.append(f"erreur : {entry.error}")
    for token in entry.tokens:
        lines.append(f"\n{token.field} :")
        lines.append(token.display)
    return "\n".join(lines)


class TracePanel(Vertical):
    """Newest exchange at the bottom; highlight one to see its tokens decoded."""

    DEFAULT_CSS = """
    TracePanel { height: 1fr; border: round $secondary; border-title-color: $secondary; }
    TracePanel OptionList { height: 1fr; min-height: 4; border: none; }
    TracePanel #trace-details { height: 1fr; min-height: 4; border-top: solid $panel; }
    """

    def __init__(self) -> None:
        super().__init__(id="trace")
        self.border_title = "Trace SSO"
        self._entries: list[TraceEntry] = []

    def compose(self) -> ComposeResult:
        yield OptionList(id="trace-list")
        with VerticalScroll(id="trace-details"):
            yield Static("Choisissez un échange pour voir ses jetons décodés.", id="trace-detail")

    def on_mount(self) -> None:
        tracer = self.app.tracer  # type: ignore[attr-defined]
        for entry in tracer.entries:
            self.add(entry)
        tracer.subscribe(self.add)

    def on_unmount(self) -> None:
        self.app.tracer.unsubscribe(self.add)  # type: ignore[attr-defined]

    def add(self, entry: TraceEntry) -> None:
        """Append one exchange (called by the tracer as it happens)."""
        self._entries.append(entry)
        options = self.query_one("#trace-list", OptionList)
        options.add_option(Option(literal(entry_line(entry))))
        options.highlighted = options.option_count - 1

    @on(OptionList.OptionHighlighted, "#trace-list")
    def show(self, event: OptionList.OptionHighlighted) -> None:
        entry = self._entries[event.option_index]
        # Claims and errors quote the platform: shown literally, never read as markup.
        self.query_one("#trace-detail", Static).update(literal(entry_details(entry)))
