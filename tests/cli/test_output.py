"""The CLI's one output path: text shown, never obeyed (newline and tab kept); JSON exact."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from bsp_tui.output import json_text
from bsp_tui.printable import UNSAFE, printable

BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Any text at all: surrogates and every control character included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=200)


def active(char: str) -> bool:
    """A character a terminal may act on (or that cannot be encoded at all)."""
    category = unicodedata.category(char)
    if char in "\n\t":
        return False
    return category in ("Cc", "Cs", "Zl", "Zp") or char in BIDI


@given(ANY_TEXT)
def test_shown_text_has_nothing_a_terminal_acts_on(text: str) -> None:
    shown = printable(text)
    assert not any(active(char) for char in shown)
    assert shown.count("\n") == text.count("\n") and shown.count("\t") == text.count("\t")
    shown.encode("utf-8")  # printable on any UTF-8 terminal: no lone surrogate left
    assert printable(shown) == shown  # already safe: unchanged


@given(st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=200))
def test_safe_text_is_printed_as_it_is(text: str) -> None:
    text = "".join(char for char in text if char not in BIDI)
    assert printable(text + "\n\tfin") == text + "\n\tfin"


@given(
    st.recursive(
        st.none() | ANY_TEXT | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: st.lists(inner) | st.dictionaries(ANY_TEXT, inner),
        max_leaves=20,
    )
)
def test_json_output_is_exact_and_inert(data: object) -> None:
    text = json_text(data, indent=2)
    assert json.loads(text) == data
    assert not any(active(char) for char in text)


@given(
    st.recursive(
        st.none() | st.booleans() | ANY_TEXT | st.integers(),
        lambda inner: st.lists(inner) | st.dictionaries(ANY_TEXT, inner),
        max_leaves=20,
    )
)
def test_indented_json_is_the_standard_library_s_to_the_character(data: object) -> None:
    # The fast encoder must not change a character of what scripts already read (floats
    # aside: their figures may differ, their values not, as the test above shows).
    standard = json.dumps(data, ensure_ascii=False, indent=2)
    assert json_text(data, indent=2) == UNSAFE.sub(
        lambda match: f"\\u{ord(match.group()):04x}", standard
    )


def test_the_escapes_of_the_issue_are_shown_not_run() -> None:
    osc52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"
    assert printable(f"titre{osc52}\x1b[2J\x9b\r") == "titre␛]52;c;ZWNobyBwd25lZA==␇␛[2J\ufffd␍"
