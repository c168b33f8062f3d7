"""The virtual e-CPS phone: sees pending requests, approves with PIN + device code, or denies."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pyotp


class PhoneError(Exception):
    """The platform refused what the phone asked; `code` is stable, the message is French."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class PendingRequest:
    """An approval request as the phone shows it."""

    id: str
    national_id: str
    binding: str
    client_name: str
    expires: float


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        raise PhoneError(error["code"], error["message"], response.status_code)
    except (ValueError, KeyError, TypeError):
        raise PhoneError(
            "platform_error",
            f"La plateforme a répondu {response.status_code}.",
            response.status_code,
        ) from None


class VirtualPhone:
    """The e-CPS app of the demo directory, over an HTTP client to the platform."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def personas(self) -> list[dict]:
        """The demo professionals (no secrets)."""
        response = await self._client.get("/ecps/personas")
        _raise_for(response)
        return response.json()

    async def persona(self, name: str) -> dict:
        """One demo professional, by persona name."""
        for persona in await self.personas():
            if persona["name"] == name:
                return persona
        raise PhoneError(
            "unknown_persona", f"Aucun professionnel de démonstration « {name} ».", 404
        )

    async def pending(self, national_id: str | None = None) -> list[PendingRequest]:
        """Requests waiting for an answer, oldest first."""
        params = {"national_id": national_id} if national_id else {}
        response = await self._client.get("/ecps/requests", params=params)
        _raise_for(response)
        return [
            PendingRequest(r["id"], r["national_id"], r["binding"], r["client_name"], r["expires"])
            for r in response.json()
        ]

    async def enrol(self, name: str) -> str:
        """The `otpauth://` URI of the persona's enrolled device."""
        response = await self._client.post(f"/ecps/devices/{name}/enrol")
        try:
            _raise_for(response)
        except PhoneError as error:
            if error.code != "unknown_user":
                raise
            # The same answer as for any other command given a name that is not a persona.
            raise PhoneError(
                "unknown_persona", f"Aucun professionnel de démonstration « {name} ».", 404
            ) from None
        return response.json()["otpauth_uri"]

    async def code(self, name: str, steps_ahead: int = 0) -> str:
        """The device's one-time code now (or that many 30-second steps ahead)."""
        totp = pyotp.parse_uri(await self.enrol(name))
        return totp.at(time.time() + steps_ahead * totp.interval)

    async def answer(self, request_id: str, approve: bool, name: str = "", pin: str = "") -> dict:
        """Approve (the PIN plus the device's current code) or deny one request."""
        if not approve:
            return await self._post_answer(request_id, {"approve": False})
        body = {"approve": True, "pin": pin, "otp": await self.code(name)}
        try:
            return await self._post_answer(request_id, body)
        except PhoneError as error:
            if error.code != "replayed_otp":
                raise
        # This step's code already served (two sign-ins within 30 s): the platform
        # accepts the next step's code, as a person would wait for it on a real phone.
        return await self._post_answer(request_id, body | {"otp": await self.code(name, 1)})

    async def _post_answer(self, request_id: str, body: dict) -> dict:
        response = await self._client.post(f"/ecps/requests/{request_id}/answer", json=body)
        _raise_for(response)
        return response.json()

    async def answer_for(
        self, name: str, pin: str, approve: bool = True, binding: str | None = None
    ) -> PendingRequest:
        """Answer the persona's pending request that shows `binding` (the only one without it).

        With several requests pending and no `binding`, nothing is answered: guessing would
        let one trainee approve another's sign-in, the list tells which numbers are waiting.
        """
        persona = await self.persona(name)
        waiting = await self.pending(persona["national_id"])
        if binding is not None:
            waiting = [r for r in waiting if r.binding == binding]
        if not waiting:
            shown = f" affichant {binding}" if binding is not None else ""
            raise PhoneError(
                "no_request",
                f"Aucune demande en attente{shown} pour {persona['display_name']}.",
                404,
            )
        if len(waiting) > 1:
            listed = " ; ".join(f"{r.binding} « {r.client_name} »" for r in waiting)
            raise PhoneError(
                "several_requests",
                f"{len(waiting)} demandes en attente pour {persona['display_name']} ({listed}) : "
                "choisissez celle dont le nombre s'affiche sur votre écran avec --binding NN.",
                409,
            )
        await self.answer(waiting[0].id, approve, name, pin)
        return waiting[0]

    async def approve_binding(self, name: str, pin: str, binding: str) -> None:
        """Approve the persona's newest pending request that shows `binding`."""
        persona = await self.persona(name)
        waiting = [r for r in await self.pending(persona["national_id"]) if r.binding == binding]
        if not waiting:
            raise PhoneError(
                "no_request", "La demande n'est pas arrivée sur le téléphone virtuel.", 404
            )
        await self.answer(waiting[-1].id, True, name, pin)
