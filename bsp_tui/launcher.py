"""The launcher's composition root: profile → store → transport → session.

The interface, the command line and the virtual phone reach the platform only over
HTTP. When the profile uses the embedded platform, this is the one place that builds
it, lazily and once per session (a script whose tokens are cached never starts it),
and hands its in-process transport to the session. Sign-in (`bsp_tui.sso`) never
imports the platform; an import-linter contract keeps it so.
"""

from __future__ import annotations

import httpx

from bsp_tui.sso.profile import EMBEDDED_BASE_URL, Profile
from bsp_tui.sso.session import Session
from bsp_tui.sso.trace import Tracer

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def embedded_transport() -> httpx.AsyncBaseTransport:
    """The transport to a platform app built in this process (its state in SQLite)."""
    from bsp_tui.platform.app import create_app

    return httpx.ASGITransport(app=create_app())


def open_session(profile: Profile | None = None, tracer: Tracer | None = None) -> Session:
    """The session of `profile` (default: the configured one), embedded platform included."""
    return Session.open(profile, tracer, embedded=embedded_transport)


def platform_client(url: str | None) -> httpx.AsyncClient:
    """A client for the served platform at `url`, or for an embedded one when `url` is None.

    Embedded, the same HTTP requests go through `httpx.ASGITransport` to the app in this
    process, over the same SQLite state a served platform would use.
    """
    if url:
        return httpx.AsyncClient(base_url=url.rstrip("/"), timeout=TIMEOUT)
    transport = embedded_transport()
    return httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL, timeout=TIMEOUT)
