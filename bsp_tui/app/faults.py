"""What each of the trainer's fault buttons does, for real, to the session or the platform."""

from __future__ import annotations

from textual.app import App

from bsp_tui.sso.session import Session

SLOW_NETWORK_MS = 1500


def expire_locally(session: Session, audiences: list[str], now: float) -> None:
    """Make this machine consider the access and connector tokens expired now."""
    for key in ("access", *(f"api:{audience}" for audience in audiences)):
        record = session.store.get(key)
        if record:
            session.store.put(key, record | {"expires_at": now - 1})


async def apply_fault(app: App, action: str, service: str | None) -> str:
    """Apply one fault; returns the sentence to show the room."""
    session: Session = app.session  # type: ignore[attr-defined]
    audiences = [c.audience for c in app.connectors]  # type: ignore[attr-defined]
    now = app.clock()  # type: ignore[attr-defined]
    if action == "expire":
        expire_locally(session, audiences, now)
        return "Jetons expirés : le lanceur les renouvelle sans rien demander."
    if action == "revoke":
        record = session.store.get("session") or {}
        await session.provider.post_form(
            "revocation_endpoint",
            {"token": record.get("refresh_token", ""), "token_type_hint": "refresh_token"},
        )
        expire_locally(session, audiences, now)
        return "Session révoquée chez PSC : il faudra se reconnecter."
    trainer = app.trainer_headers  # type: ignore[attr-defined]
    if action in ("down", "slow"):
        answer = await session.http.get("/demo/faults", headers=trainer)
        answer.raise_for_status()
        faults = answer.json()
        if action == "down":
            if service is None:
                return "Choisissez d'abord le service à couper."
            down = set(faults["down"]) ^ {service}
            faults["down"] = sorted(down)
            message = f"Service {service} {'coupé' if service in down else 'rétabli'}."
        else:
            faults["latency_ms"] = 0 if faults["latency_ms"] else SLOW_NETWORK_MS
            message = (
                f"Réseau ralenti ({SLOW_NETWORK_MS} ms)."
                if faults["latency_ms"]
                else "Réseau rétabli."
            )
        response = await session.http.put("/demo/faults", json=faults, headers=trainer)
        response.raise_for_status()
        return message
    if action == "reset":
        (await session.http.post("/demo/faults/reset", headers=trainer)).raise_for_status()
        return "Pannes levées."
    raise ValueError(f"unknown fault {action}")
