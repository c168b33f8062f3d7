"""An HTTP client to the platform: served at a URL, or embedded in this process."""

from __future__ import annotations

import httpx

from bsp_tui.platform.settings import PlatformSettings

EMBEDDED_BASE_URL = "http://plateforme.bsp"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def platform_client(url: str | None, settings: PlatformSettings | None = None) -> httpx.AsyncClient:
    """A client for the served platform at `url`, or for an embedded one when `url` is None.

    Embedded, the same HTTP requests go through `httpx.ASGITransport` to the app in this
    process, over the same SQLite state a served platform would use.
    """
    if url:
        return httpx.AsyncClient(base_url=url.rstrip("/"), timeout=TIMEOUT)
    from bsp_tui.platform.app import create_app  # the app is built only when embedded

    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL, timeout=TIMEOUT)
