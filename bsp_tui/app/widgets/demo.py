"""The trainer's panels docked beside the launcher: phone, faults, SSO trace."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from bsp_tui.app.widgets.fault_panel import FaultPanel
from bsp_tui.app.widgets.phone_panel import PhonePanel
from bsp_tui.app.widgets.trace_panel import TracePanel


class DemoDock(Vertical):
    """Docked on the right of every screen in `bsp --demo`."""

    DEFAULT_CSS = """
    DemoDock { width: 46; height: 1fr; border-left: vkey $primary; }
    """

    def compose(self) -> ComposeResult:
        yield PhonePanel()
        yield FaultPanel()
        yield TracePanel()
