"""The trainer's panels docked beside the launcher: phone, faults, SSO trace."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from bsp_tui.app.widgets.fault_panel import FaultPanel
from bsp_tui.app.widgets.phone_panel import PhonePanel
from bsp_tui.app.widgets.trace_panel import TracePanel


class DemoDock(Vertical):
    """Docked on the right of every screen in `bsp --demo`; the fault buttons only in the
    trainer's view (embedded, or a served platform with its trainer token)."""

    DEFAULT_CSS = """
    DemoDock { width: 46; height: 1fr; border-left: vkey $primary; }
    """

    def compose(self) -> ComposeResult:
        yield PhonePanel()
        if self.app.trainer_view:  # type: ignore[attr-defined]
            yield FaultPanel()
        yield TracePanel()

    def show_faults(self) -> None:
        """Add the fault buttons (the trainer token has just been given)."""
        if not self.query(FaultPanel):
            self.mount(FaultPanel(), after=self.query_one(PhonePanel))
