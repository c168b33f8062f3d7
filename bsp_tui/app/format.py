"""Times and durations as the French interface shows them."""

from __future__ import annotations

import time


def clock_time(timestamp: float) -> str:
    """Local time of day, e.g. 14:05."""
    return time.strftime("%H:%M", time.localtime(timestamp))


def duration(seconds: float) -> str:
    """A short duration: 45 s, 3 min 05 s, 2 h 10."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d}"
