"""The guides show the screenshots that `make docs` takes, and only those."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_screenshot_is_shown_and_every_image_shown_exists() -> None:
    shown = {
        match
        for guide in DOCS.glob("*.md")
        for match in re.findall(r"\]\((img/[^)]+)\)", guide.read_text(encoding="utf-8"))
    }
    taken = {f"img/{path.name}" for path in (DOCS / "img").glob("*.svg")}
    assert shown - taken == set(), "shown but not taken"
    assert taken - shown == set(), "taken but shown nowhere"
    script = (DOCS / "screenshots.py").read_text(encoding="utf-8")
    for name in taken:
        assert f'"{Path(name).stem}"' in script, f"{name} is not taken by docs/screenshots.py"
