"""The objects that live as long as the launcher, kept out of Python's full collections."""

from __future__ import annotations

import functools
import gc


@functools.cache
def freeze_long_lived() -> None:
    """Collect once, then freeze what is left; once per process, after the first sign-in.

    A full collection walks every object the collector tracks. Once signed in, the
    launcher holds some 160,000 that live as long as it does (modules, the session, the
    embedded platform, the dashboard), and a full collection came every other connector
    screen opened: 120-180 ms each time. Frozen, they are not walked again. The garbage
    of the sign-in is collected first: nothing already dead is frozen.
    """
    gc.collect()
    gc.freeze()
