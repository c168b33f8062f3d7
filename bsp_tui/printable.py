"""Text from elsewhere made safe to show in a terminal.

A string that comes from the platform or from another person (a document title, a
break-glass reason, a dosage) may carry control characters: an escape sequence can
clear the screen, set the window title or write the clipboard (OSC 52), a carriage
return can overwrite what came before, a bidirectional override can reorder what is
read. Each such character is replaced by a visible stand-in, so nothing is hidden
and nothing is obeyed; newline and tab keep their meaning.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls (U+009B is CSI in one character),
# the bidirectional marks, embeddings, overrides and isolates, the line and paragraph
# separators, and lone surrogates (which cannot even be encoded for the terminal).
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _stand_in(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control picture: ␛ for ESC
    return "\ufffd"


def printable(text: str) -> str:
    """`text` with every control character but newline and tab shown, not obeyed."""
    return UNSAFE.sub(_stand_in, text)
