"""The launcher's composition root: profile → store → transport → session.

The interface, the command line and the virtual phone reach the platform only over
HTTP. When the profile uses the embedded platform, this is the one place that builds
it, lazily and once per session (a script whose tokens are cached never starts it),
and hands its in-process transport to the session. Sign-in (`bsp_tui.sso`) never
imports the platform; an import-linter contract keeps it so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from bsp_tui.sso.profile import EMBEDDED_BASE_URL, Profile
from bsp_tui.sso.session import Session

if TYPE_CHECKING:
    from bsp_tui.phone import DeviceStore, VirtualPhone
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


def local_activation(name: str) -> str:
    """An activation code issued by the embedded platform's own database: the person at
    their desk owns that platform, so their phone needs no trainer to enrol."""
    from bsp_tui.platform.core import Platform
    from bsp_tui.platform.settings import PlatformSettings

    platform = Platform.open(PlatformSettings.from_env())
    try:
        return str(platform.ecps.issue_code(name)["code"])
    finally:
        platform.db.close()


def virtual_phone(client: httpx.AsyncClient, devices: DeviceStore | None = None) -> VirtualPhone:
    """The virtual e-CPS phone over `client`; on the embedded platform it enrols itself."""
    from bsp_tui.phone import VirtualPhone  # JOSE for device proofs: only for the phone

    embedded = str(client.base_url).rstrip("/") == EMBEDDED_BASE_URL
    return VirtualPhone(client, devices, activation=local_activation if embedded else None)
