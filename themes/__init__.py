"""Textual themes for the bsp launcher.

Four themes for the app to register (`App.register_theme`), ``DEFAULT_THEME`` first;
the clinician or trainer switches between them like any Textual theme:

- ``bsp`` (default): the French state's visual identity (DSFR) in its light mode.
- ``bsp-sombre``: the DSFR dark mode, for dim consulting rooms and night shifts.
- ``bsp-contraste``: high contrast, white and yellow on black; every text colour the
  theme produces reaches WCAG 2.1 AA (4.5:1) on every background it produces.
- ``bsp-projecteur``: for a trainer's projector in a lit room, where light greys and
  pale tints wash out: pure white, near-black text, saturated dark colours.

This module only builds `textual.theme.Theme` objects: importing it starts no app.
The contrast each theme reaches is checked in ``tests/test_themes.py``.
"""

from __future__ import annotations

from textual.theme import Theme

__all__ = [
    "BSP",
    "BSP_CONTRASTE",
    "BSP_PROJECTEUR",
    "BSP_SOMBRE",
    "DEFAULT_THEME",
    "THEMES",
]

BSP = Theme(
    name="bsp",
    # DSFR light mode. Bleu France (blue-france-sun-113) is the primary colour and
    # rouge Marianne (red-marianne-main-472) the secondary/accent, as in the DSFR.
    # The error, success and warning colours are the DSFR's text-safe "425" tokens
    # (error-425 is the DSFR's own error red, darker than rouge Marianne, which is
    # too light for text on the grey panels).
    primary="#000091",
    secondary="#E1000F",
    accent="#E1000F",
    error="#CE0500",
    success="#18753C",
    warning="#B34000",
    foreground="#161616",  # grey-50 (text-default-grey)
    background="#FFFFFF",  # background-default-grey
    surface="#F6F6F6",  # background-alt-grey
    panel="#EEEEEE",  # background-contrast-grey
    boost="#E5E5E5",  # background-contrast-grey hover
    dark=False,
    variables={
        # Rouge Marianne on the grey footer is under 4.5:1: keys are in bleu France.
        "footer-key-foreground": "#000091",
        "foreground-muted": "#666666",  # text-mention-grey
        "border-blurred": "#DDDDDD",  # border-default-grey
    },
)
"""Default theme: DSFR light mode (bleu France on white), as on the state's sites."""

BSP_SOMBRE = Theme(
    name="bsp-sombre",
    # DSFR dark mode tokens.
    primary="#8585F6",  # blue-france-625 (bleu France, dark mode)
    secondary="#F95C5E",  # red-marianne-625 (rouge Marianne, dark mode)
    accent="#F95C5E",
    error="#FF5655",  # error-625
    success="#27A658",  # success-625
    warning="#FC5D00",  # warning-625
    foreground="#CECECE",  # text-default-grey (dark)
    background="#161616",  # background-default-grey (dark)
    surface="#1E1E1E",  # background-alt-grey (dark)
    panel="#242424",  # background-contrast-grey (dark)
    boost="#2A2A2A",  # background-contrast-grey hover (dark)
    dark=True,
    variables={
        "footer-key-foreground": "#8585F6",
        # Textual's 60 % of #CECECE is just under 4.5:1 on the panel.
        "foreground-muted": "#929292",  # text-mention-grey (dark)
        "border-blurred": "#353535",  # border-default-grey (dark)
    },
)
"""Dark theme: the DSFR dark mode, for dim rooms and night shifts."""

BSP_CONTRASTE = Theme(
    name="bsp-contraste",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FFFF00",
    error="#FF6B6B",
    success="#5CFF5C",
    warning="#FFA500",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1A1A1A",
    boost="#FFFFFF14",
    dark=True,
    variables={
        # Textual's defaults are white at 87 %, 60 % and 38 %: the last is under
        # 4.5:1 on black. Here even disabled text stays readable (it is told apart
        # by its grey, not by fading away).
        "text": "#FFFFFF",
        "text-muted": "#D0D0D0",
        "text-disabled": "#A0A0A0",
        "foreground-muted": "#D0D0D0",
        "foreground-disabled": "#A0A0A0",
        "block-cursor-foreground": "#000000",
        "block-cursor-background": "#FFFF00",
        "block-cursor-blurred-foreground": "#000000",
        "block-cursor-blurred-background": "#D0D0D0",
        "block-hover-background": "#333333",
        "border": "#FFFF00",
        "border-blurred": "#FFFFFF",
        "footer-key-foreground": "#FFFF00",
        "input-cursor-background": "#FFFF00",
        "input-cursor-foreground": "#000000",
        "input-selection-background": "#FFFF00",
        "input-selection-foreground": "#000000",
        "link-color": "#00FFFF",
        "link-color-hover": "#000000",
        "link-background-hover": "#00FFFF",
        "button-color-foreground": "#000000",
        "screen-selection-background": "#FFFF00",
        "screen-selection-foreground": "#000000",
        "scrollbar": "#FFFF00",
        "scrollbar-hover": "#FFFFFF",
        "scrollbar-background": "#333333",
    },
)
"""High-contrast theme: white and yellow on black, every text pair at least AA."""

BSP_PROJECTEUR = Theme(
    name="bsp-projecteur",
    primary="#0000C8",
    secondary="#B00000",
    accent="#B00000",
    error="#B00000",
    success="#006400",
    warning="#8F3300",
    foreground="#0A0A0A",
    background="#FFFFFF",
    surface="#FFFFFF",
    # A clearly darker grey than the DSFR's: pale greys vanish on a projected image.
    panel="#D6D6D6",
    boost="#E0E0E0",
    dark=False,
    luminosity_spread=0.25,
    variables={
        # Full-strength text: a projector already washes contrast out.
        "text": "auto",
        "text-muted": "auto 80%",
        "foreground-muted": "#3A3A3A",
        "footer-key-foreground": "#0000C8",
        "border-blurred": "#707070",
    },
)
"""Projector theme: pure white, near-black text, saturated dark colours, for lit rooms."""

THEMES: tuple[Theme, ...] = (BSP, BSP_SOMBRE, BSP_CONTRASTE, BSP_PROJECTEUR)
"""All bsp themes, the default first."""

DEFAULT_THEME = "bsp"
"""Name of the theme the launcher starts with."""
