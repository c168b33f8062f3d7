"""The keys at the bottom of every screen: Textual's footer, rebuilt only when they change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # not exported, but what Footer yields

Shown = tuple[object, ...]


class KeysFooter(Footer):
    """Textual's `Footer`, recomposed only when the keys it shows change.

    Textual rebuilds its footer (unmounts and mounts every key) at each change of the
    screen's bindings: a focus move, the screen suspended or resumed; that is six times
    for one connector screen opened, most of them showing the same keys.
    """

    def __init__(self) -> None:
        super().__init__()
        self.composed_keys: Shown | None = None

    def keys_shown(self) -> Shown:
        """What `compose` makes of the screen's bindings: the shown keys, the palette's."""
        palette = self.app.COMMAND_PALETTE_BINDING
        return (
            self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE,
            *(
                (binding, enabled, tooltip)
                for _node, binding, enabled, tooltip in self.screen.active_bindings.values()
                if binding.show or binding.key == palette
            ),
        )

    def compose(self) -> ComposeResult:
        # Before the first change of bindings, Textual's footer shows nothing yet.
        self.composed_keys = self.keys_shown() if self._bindings_ready else None
        for widget in super().compose():
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                # Textual makes a key compact, then binds it to the footer's compactness:
                # two restyles of each key. It is born with the footer's instead.
                widget.set_reactive(FooterKey.compact, self.compact)
            yield widget

    async def recompose(self) -> None:
        if self.is_attached and self.composed_keys == self.keys_shown():
            return
        await super().recompose()
