"""The screen contract: what a connector's screen receives and how the launcher hosts it.

The launcher mounts a connector's view (a Textual widget) inside its own screen, with
the session bar, the patient context and, in demo mode, the trainer's panels around
it. The view never sees a token: its `context.client` adds and renews them.

Two rules hold for every connector screen, and this module is where they live:

- **One error boundary.** Every request a screen makes runs in a `service_worker`: a
  session that ended (logout elsewhere, revocation, expiry) sends the launcher back to
  its sign-in screen with one sentence, whichever screen is open; an unreachable
  platform, a refused token or an unexpected failure is said in place, in the widget's
  own status line. A worker never takes the launcher down.
- **Data is literal.** Text from the platform or typed by someone (titles, names,
  dosages, reasons) is shown as it is: `literal()` turns it into content that no
  markup and no control character can restyle, make clickable or break.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ClassVar, Protocol

import httpx
from rich.text import Text
from textual import events, work
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static

from bsp_tui.printable import printable
from connectors.base import ConnectorContext
from connectors.kit.errors import NoSessionError, SsoError

log = logging.getLogger(__name__)

UNREACHABLE = "La plateforme est injoignable : réessayez dans un instant."
# A view shorter than this (in rows) is compact: 80×24 leaves it 21.
COMPACT_BELOW = 34
# The launcher's rows around a view: header, session bar, footer.
FRAME_ROWS = 3
UNEXPECTED = "Erreur inattendue ({kind}) : réessayez, ou signalez-la au support."


def literal(text: object) -> Content:
    """`text` as plain content: never read as markup, control characters shown, not obeyed."""
    return Content(printable(str(text)))


def literal_row(values: Iterable[object]) -> tuple[Text, ...]:
    """A table row whose every cell is shown literally (sort it with `plain_text`)."""
    return tuple(Text(printable(str(value)), end="") for value in values)


def plain_text(cell: Text) -> str:
    """A literal cell's text: the sort key of tables filled with `literal_row`."""
    return cell.plain


class SessionEnded(Message):
    """A connector found the session over; the launcher goes back to sign-in."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SaysInPlace(Protocol):
    """A widget with a status line of its own."""

    def say(self, message: str, error: bool = False) -> None:
        """Show `message` in the widget's status line."""


def service_worker(
    *, group: str, unreachable: str = UNREACHABLE
) -> Callable[
    [Callable[..., Coroutine[Any, Any, None]]],
    Callable[..., Any],
]:
    """Run an async method of a widget as an exclusive worker inside the error boundary.

    The widget must have `say(message, error=True)` (`SaysInPlace`); `unreachable` is
    what it says when the platform does not answer.
    """

    def decorate(
        method: Callable[..., Coroutine[Any, Any, None]],
    ) -> Callable[..., Any]:
        @functools.wraps(method)
        async def guarded(self: Any, *args: Any, **kwargs: Any) -> None:
            try:
                await method(self, *args, **kwargs)
            except NoSessionError as error:
                self.post_message(SessionEnded(error.reason))
            except SsoError as error:
                _say(self, error.message)
            except httpx.HTTPError:
                _say(self, unreachable)
            except Exception as error:
                log.exception("connector worker %s failed", group)
                _say(self, UNEXPECTED.format(kind=type(error).__name__))

        return work(exclusive=True, group=group, exit_on_error=False)(guarded)

    return decorate


def _say(widget: SaysInPlace, message: str) -> None:
    # The widget may be leaving the screen as the answer comes: nothing is left to say.
    if getattr(widget, "is_attached", True):
        widget.say(message, error=True)


class StatusLine(Widget):
    """A widget with a status line of its own (`SaysInPlace`): the `Static` whose id is
    `STATUS_ID`, which `say` fills literally, with the `-error` class for a failure.

    Mix it in after the container (`class Editor(VerticalScroll, StatusLine)`): Textual
    takes a widget's default CSS along its first base only."""

    STATUS_ID: ClassVar[str] = "status"

    def say(self, message: str, error: bool = False) -> None:
        """Show `message` in the status line (in the error style with `error`)."""
        status = self.query_one(f"#{self.STATUS_ID}", Static)
        status.update(literal(message))
        status.set_class(error, "-error")


# What drops its border in a short terminal, and the class its `compact` toggles.
CONTROLS = (Input, Select, Button)
COMPACT_CLASS = "-textual-compact"
CONTROLS_SELECTOR = ", ".join(control.__name__ for control in CONTROLS)


class ConnectorView(Vertical, StatusLine):
    """Base class of every connector's screen (`Connector.screen` names a subclass).

    Its `say` shows a message in the Static of id `STATUS_ID` (`StatusLine`). In a
    short terminal (80×24 over SSH) the view's inputs, lists and buttons drop
    their borders and the view has the `-compact` class, so that a result and the
    control that acts on it stay on screen; what still does not fit scrolls.
    """

    DEFAULT_CSS = """
    ConnectorView { height: 1fr; padding: 0 1; }
    """

    def __init__(self, context: ConnectorContext) -> None:
        super().__init__(id=f"view-{context.connector.name}")
        self.context = context
        # Decided from the terminal before the view is first styled: a class set once it
        # is mounted would style the whole view again; a resize decides again.
        self.set_class(self.app.size.height - FRAME_ROWS < COMPACT_BELOW, "-compact", update=False)

    async def mount_composed_widgets(self, widgets: list[Widget]) -> None:
        """Mount what `compose` made, its controls compact first in a short terminal: made
        compact once mounted, each control and what it holds would be styled twice."""
        if self.has_class("-compact"):
            for widget in _unmounted(widgets):
                if isinstance(widget, CONTROLS):
                    # What `compact = True` does, without styling a widget not yet mounted.
                    widget.set_reactive(type(widget).compact, True)
                    widget.add_class(COMPACT_CLASS, update=False)
        await super().mount_composed_widgets(widgets)

    def on_mount(self) -> None:
        if self.has_class("-compact"):
            # The controls a child widget composed itself were not there to be made compact.
            self.fit_controls(True)

    def on_resize(self, event: events.Resize) -> None:
        self.fit(event.size.height)

    def fit(self, rows: int) -> None:
        """Compact below `COMPACT_BELOW` rows, bordered above."""
        compact = rows < COMPACT_BELOW
        if compact == self.has_class("-compact"):
            return
        self.set_class(compact, "-compact")
        self.fit_controls(compact)

    def fit_controls(self, compact: bool) -> None:
        """The view's inputs, lists and buttons without borders (`compact`) or with."""
        for widget in self.query(CONTROLS_SELECTOR):
            widget.compact = compact  # type: ignore[attr-defined]


def _unmounted(widgets: Iterable[Widget]) -> Iterable[Widget]:
    """`widgets` and what each holds to mount with it (`with Container():` in compose)."""
    for widget in widgets:
        yield widget
        # Textual keeps a container's composed children there until it mounts them.
        yield from _unmounted(getattr(widget, "_pending_children", ()))
