"""The bsp themes: WCAG 2.1 contrast of the colours Textual derives from them, and
registration in an app.

Colours are resolved the way Textual resolves them: the theme becomes a
`ColorSystem`, whose `generate()` gives the CSS variables; a variable with alpha
("auto 87%", "#FFFFFF99") is painted over the background it sits on, and "auto" is
Textual's automatic black-or-white text for that background.
"""

from __future__ import annotations

import pytest
from textual.app import App
from textual.color import Color
from textual.theme import Theme

from themes import DEFAULT_THEME, THEMES

pytestmark = pytest.mark.anyio

AA = 4.5  # WCAG 2.1 SC 1.4.3, normal text
AAA = 7.0  # WCAG 2.1 SC 1.4.6, normal text

BY_NAME = {theme.name: theme for theme in THEMES}
STANDARD = ("bsp", "bsp-sombre", "bsp-projecteur")
HIGH_CONTRAST = "bsp-contraste"

PLAIN_BACKGROUNDS = ("background", "surface", "panel")
COLOURED_TEXT = ("text-primary", "text-secondary", "text-accent", "text-error")
COLOURED_TEXT += ("text-success", "text-warning")

# What a high-contrast theme paints text with, and on what: every text-* variable on
# every plain background, the bare theme colours used as text (markdown headings,
# footer keys, links), and the pairs that come together in widgets.
HIGH_CONTRAST_PAIRS = (
    [
        (text, back)
        for text in ("text", "text-muted", "text-disabled", *COLOURED_TEXT)
        for back in PLAIN_BACKGROUNDS
    ]
    + [
        (colour, back)
        for colour in ("primary", "secondary", "accent", "error", "success", "warning")
        for back in ("background", "surface")
    ]
    + [
        (text, back)
        for text in ("foreground", "foreground-muted", "foreground-disabled")
        for back in PLAIN_BACKGROUNDS
    ]
    + [
        ("footer-foreground", "footer-background"),
        ("footer-key-foreground", "footer-background"),
        ("footer-description-foreground", "footer-background"),
        ("block-cursor-foreground", "block-cursor-background"),
        ("block-cursor-blurred-foreground", "block-cursor-blurred-background"),
        ("input-cursor-foreground", "input-cursor-background"),
        ("input-selection-foreground", "input-selection-background"),
        ("link-color", "background"),
        ("link-color-hover", "link-background-hover"),
        ("markdown-h1-color", "background"),
        ("markdown-h2-color", "background"),
        ("markdown-h3-color", "background"),
        ("markdown-h4-color", "background"),
        ("markdown-h5-color", "background"),
        ("markdown-h6-color", "background"),
        ("screen-selection-foreground", "screen-selection-background"),
        ("button-color-foreground", "primary"),
        ("text", "block-hover-background"),
    ]
)


# --- WCAG 2.1 -------------------------------------------------------------------------


def channel(value: int) -> float:
    """An sRGB channel linearised, as in WCAG 2.1's definition of relative luminance."""
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(color: Color) -> float:
    """L = 0.2126 R + 0.7152 G + 0.0722 B (WCAG 2.1, "relative luminance")."""
    assert color.a == 1, f"{color} is not opaque: resolve it over a background first"
    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast_ratio(first: Color, second: Color) -> float:
    """(L1 + 0.05) / (L2 + 0.05), L1 the lighter (WCAG 2.1, "contrast ratio")."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)))[::-1]
    return (lighter + 0.05) / (darker + 0.05)


# --- Textual's colour resolution ------------------------------------------------------


def variables(theme: Theme) -> dict[str, str]:
    return theme.to_color_system().generate()


def parse(value: str) -> Color:
    """A colour variable as Textual's CSS reads it: a colour and/or "NN%" of alpha;
    "auto" keeps Color's `auto` flag (black or white, chosen by the background)."""
    colour: Color | None = None
    alpha = 1.0
    is_auto = False
    for token in value.split():
        if token == "auto":
            is_auto = True
        elif token.endswith("%"):
            alpha = float(token[:-1]) / 100
        else:
            colour = Color.parse(token)
    if is_auto:
        return Color.automatic(alpha * 100)
    if colour is None:
        colour = Color(255, 255, 255)
    return colour.multiply_alpha(alpha)


def over(value: str, beneath: Color) -> Color:
    """The opaque colour seen when `value` is painted over the opaque `beneath`."""
    colour = parse(value)
    if colour.auto:
        colour = beneath.get_contrast_text(colour.a)
    return beneath + colour


def backdrop(names: dict[str, str], name: str) -> Color:
    """A background variable as seen on screen: translucent ones sit on $background."""
    base = Color.parse(names["background"])
    assert base.a == 1, "the theme's background must be opaque"
    if names[name] in ("transparent", "initial"):
        return base
    return over(names[name], base)


def pair_ratio(theme: Theme, text: str, back: str) -> float:
    names = variables(theme)
    beneath = backdrop(names, back)
    value = names[text]
    if value in ("transparent", "initial"):  # text keeps its own colour: $foreground
        value = names["foreground"]
    return contrast_ratio(over(value, beneath), beneath)


# --- sanity of the helpers (known WCAG values) ----------------------------------------


def test_contrast_formula_matches_known_values() -> None:
    black, white = Color.parse("#000000"), Color.parse("#FFFFFF")
    assert contrast_ratio(black, white) == pytest.approx(21.0)
    assert contrast_ratio(white, white) == pytest.approx(1.0)
    # #767676 on white is the classic "just passes AA" grey: 4.54:1.
    assert contrast_ratio(Color.parse("#767676"), white) == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio(Color.parse("#777777"), white) < AA


def test_alpha_and_auto_are_resolved_over_the_background() -> None:
    white, black = Color.parse("#FFFFFF"), Color.parse("#000000")
    # "auto 60%" on white is black at 60 %: #666666.
    assert over("auto 60%", white).hex == "#666666"
    assert over("auto 60%", black).hex == "#999999"
    assert over("#FFFFFF99", black).hex == "#999999"
    assert over("#000091", white).hex == "#000091"


# --- the themes -----------------------------------------------------------------------


def test_four_themes_with_the_default_first() -> None:
    assert [t.name for t in THEMES] == ["bsp", "bsp-sombre", "bsp-contraste", "bsp-projecteur"]
    assert THEMES[0].name == DEFAULT_THEME
    assert all(isinstance(t, Theme) for t in THEMES)
    assert [t.dark for t in THEMES] == [False, True, True, False]


def test_default_theme_is_the_dsfr_palette() -> None:
    bsp = BY_NAME["bsp"]
    assert bsp.primary.upper() == "#000091"  # bleu France
    assert "#E1000F" in {(bsp.accent or "").upper(), (bsp.secondary or "").upper()}
    assert (bsp.foreground or "").upper() == "#161616"
    assert (bsp.success or "").upper() == "#18753C"
    assert (bsp.warning or "").upper() == "#B34000"


@pytest.mark.parametrize("name", STANDARD)
@pytest.mark.parametrize("back", PLAIN_BACKGROUNDS)
def test_foreground_reaches_aa(name: str, back: str) -> None:
    ratio = pair_ratio(BY_NAME[name], "foreground", back)
    assert ratio >= AA, f"{name}: foreground on {back} is {ratio:.2f}:1"


@pytest.mark.parametrize("name", STANDARD)
@pytest.mark.parametrize("back", PLAIN_BACKGROUNDS)
@pytest.mark.parametrize("text", ("text", "text-muted", "foreground-muted"))
def test_body_and_muted_text_reach_aa(name: str, text: str, back: str) -> None:
    ratio = pair_ratio(BY_NAME[name], text, back)
    assert ratio >= AA, f"{name}: {text} on {back} is {ratio:.2f}:1"


@pytest.mark.parametrize("name", STANDARD)
@pytest.mark.parametrize("back", ("background", "surface"))
@pytest.mark.parametrize("text", COLOURED_TEXT)
def test_coloured_text_reaches_aa(name: str, text: str, back: str) -> None:
    ratio = pair_ratio(BY_NAME[name], text, back)
    assert ratio >= AA, f"{name}: {text} on {back} is {ratio:.2f}:1"


@pytest.mark.parametrize("name", STANDARD)
@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("footer-foreground", "footer-background"),
        ("footer-key-foreground", "footer-background"),
        ("block-cursor-foreground", "block-cursor-background"),
    ],
)
def test_footer_and_cursor_reach_aa(name: str, text: str, back: str) -> None:
    ratio = pair_ratio(BY_NAME[name], text, back)
    assert ratio >= AA, f"{name}: {text} on {back} is {ratio:.2f}:1"


@pytest.mark.parametrize(("text", "back"), HIGH_CONTRAST_PAIRS)
def test_high_contrast_every_text_pair_reaches_aa(text: str, back: str) -> None:
    ratio = pair_ratio(BY_NAME[HIGH_CONTRAST], text, back)
    assert ratio >= AA, f"{HIGH_CONTRAST}: {text} on {back} is {ratio:.2f}:1"


def test_high_contrast_covers_every_text_variable() -> None:
    names = variables(BY_NAME[HIGH_CONTRAST])
    text_variables = {name for name in names if name.startswith("text-")} | {"text"}
    checked = {text for text, back in HIGH_CONTRAST_PAIRS if back == "background"}
    assert text_variables <= checked


@pytest.mark.parametrize("back", ("background", "surface"))
@pytest.mark.parametrize("text", ("foreground", "text"))
def test_high_contrast_body_text_reaches_aaa(text: str, back: str) -> None:
    ratio = pair_ratio(BY_NAME[HIGH_CONTRAST], text, back)
    assert ratio >= AAA, f"{HIGH_CONTRAST}: {text} on {back} is {ratio:.2f}:1"


def test_projector_body_text_reaches_aaa() -> None:
    theme = BY_NAME["bsp-projecteur"]
    for text in ("foreground", "text"):
        for back in PLAIN_BACKGROUNDS:
            ratio = pair_ratio(theme, text, back)
            assert ratio >= AAA, f"bsp-projecteur: {text} on {back} is {ratio:.2f}:1"


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
async def test_theme_registers_in_an_app(theme: Theme) -> None:
    app: App[None] = App()
    app.register_theme(theme)
    async with app.run_test():
        app.theme = theme.name
        assert app.theme == theme.name
        assert app.current_theme is theme
        # The stylesheet now uses the colours checked above.
        resolved = app.get_css_variables()
        expected = variables(theme)
        for name in ("primary", "background", "surface", "panel", "foreground", "text-muted"):
            assert resolved[name] == expected[name], name
    assert app.theme == theme.name
