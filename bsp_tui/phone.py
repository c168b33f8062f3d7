"""The virtual e-CPS phone: sees pending requests, approves with PIN + device code, or denies.

The phone enrols one device per persona with an activation code: it makes an Ed25519
key, registers its public half and keeps the key and the device's TOTP seed in a 0600
file under the data folder (never in a log). Each call to the phone API carries a proof
signed by that key. On the embedded platform, which this process owns, the phone issues
itself the activation code through the local database: one person at a desk never sees
a code.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
from joserfc import jwt
from joserfc.jwk import OKPKey

from bsp_tui.config import folders
from bsp_tui.sso.store import FileStore

# The header the platform reads the proof from (bsp_tui.platform.psc.phone_api).
DEVICE_PROOF = "ECPS-Device-Proof"
DEVICE_ALGORITHM = "Ed25519"


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


class DeviceStore(FileStore):
    """This phone's enrolled devices, one per (platform, persona): a file readable by its
    owner only (the device keys and seeds are the phone's own secrets)."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path or folders().data / "ecps-devices.json")


def device_proof(device: dict, method: str, path: str, now: float) -> str:
    """A proof, signed by the device's key, that it makes this call now (once)."""
    key = OKPKey.import_key(device["key"])
    claims = {"htm": method, "htu": path, "iat": int(now), "jti": secrets.token_urlsafe(24)}
    header = {"alg": DEVICE_ALGORITHM, "kid": device["device_id"]}
    return jwt.encode(header, claims, key, algorithms=[DEVICE_ALGORITHM])


class _Proof(httpx.Auth):
    """Signs each request with the device's key: method and path, as sent."""

    def __init__(self, device: dict, clock: Callable[[], float]) -> None:
        self._device = device
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers[DEVICE_PROOF] = device_proof(
            self._device, request.method, request.url.path, self._clock()
        )
        yield request


class VirtualPhone:
    """The e-CPS app of the demo directory, over an HTTP client to the platform.

    `activation` issues codes without the trainer (the embedded platform's local path,
    which `bsp_tui.launcher.virtual_phone` hands in; none for a served one); `clock`
    dates the proofs.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        devices: DeviceStore | None = None,
        activation: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._devices = devices or DeviceStore()
        self._base = str(client.base_url).rstrip("/")
        self._activation = activation
        self._clock = clock

    def _key(self, name: str) -> str:
        return f"{self._base}#{name}"

    async def _device(self, name: str) -> dict:
        """The persona's enrolled device on this phone (enrolled locally when embedded)."""
        device = self._devices.get(self._key(name))
        if device is not None:
            return device
        await self.persona(name)  # a name that is no persona is told as such
        if self._activation is None:
            raise PhoneError(
                "not_enrolled",
                f"Ce téléphone n'est pas enrôlé pour « {name} » : "
                f"bsp phone enrol --persona {name} --code CODE (le code de votre carte).",
                401,
            )
        await self.enrol(name, self._activation(name))
        return self._devices.get(self._key(name)) or {}

    async def _signed(self, name: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        """A call proven by the persona's device; on the embedded platform, enrolled again
        once if the platform forgot the device (its database was replaced)."""
        response = await self._proven(name, method, path, **kwargs)
        if response.status_code == 401 and self._activation is not None:
            await self.enrol(name, self._activation(name))
            response = await self._proven(name, method, path, **kwargs)
        return response

    async def _proven(self, name: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        device = await self._device(name)
        return await self._client.request(method, path, auth=_Proof(device, self._clock), **kwargs)

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

    async def _enrolled(self) -> list[dict]:
        """The personas this phone can answer for (every one, on the embedded platform)."""
        personas = await self.personas()
        if self._activation is not None:
            return personas
        return [p for p in personas if self._devices.get(self._key(p["name"]))]

    async def pending(self, national_id: str | None = None) -> list[PendingRequest]:
        """Requests waiting for an answer (of one professional, or of every persona this
        phone is enrolled for), oldest first."""
        found: list[PendingRequest] = []
        enrolled = [p for p in await self._enrolled() if national_id in (None, p["national_id"])]
        if not enrolled:
            # Waiting would be forever: nothing can reach a phone with no device.
            raise PhoneError(
                "not_enrolled",
                "Ce téléphone n'est pas enrôlé : bsp phone enrol --persona NOM --code CODE "
                "(le code de votre carte).",
                401,
            )
        for persona in enrolled:
            found += await self._requests(persona["name"])
        return sorted(found, key=lambda r: r.expires)

    async def _requests(
        self, name: str, wait: float = 0, binding: str | None = None
    ) -> list[PendingRequest]:
        """One persona's pending requests (showing `binding`); with `wait`, the platform
        holds the answer until one arrives (at most that many seconds)."""
        usual = self._client.timeout
        # The platform's hold comes on top of the usual answer time.
        read = None if usual.read is None else usual.read + wait
        response = await self._signed(
            name,
            "GET",
            "/ecps/requests",
            params={name: value for name, value in (("wait", wait), ("binding", binding)) if value},
            timeout=httpx.Timeout(usual.connect, read=read, write=usual.write, pool=usual.pool),
        )
        _raise_for(response)
        return [
            PendingRequest(r["id"], r["national_id"], r["binding"], r["client_name"], r["expires"])
            for r in response.json()
        ]

    async def enrol(self, name: str, code: str | None = None) -> str:
        """Bind a new device of the persona with an activation code (issued locally when
        embedded); returns its `otpauth://` URI. This phone's previous device of that
        persona, if any, is revoked."""
        persona = await self.persona(name)
        if code is None:
            if self._activation is None:
                raise PhoneError(
                    "code_required",
                    "Un code d'activation est nécessaire sur une plateforme servie : "
                    "--code CODE (il figure sur votre carte).",
                    400,
                )
            code = self._activation(name)
        key = OKPKey.generate_key("Ed25519")
        previous = self._devices.get(self._key(name))
        body = {"persona": persona["name"], "code": code, "public_key": key.as_dict(private=False)}
        auth = _Proof(previous, self._clock) if previous else None
        response = await self._client.post("/ecps/devices", json=body, auth=auth)
        if response.status_code == 401 and previous:  # that device was already forgotten
            response = await self._client.post("/ecps/devices", json=body)
        _raise_for(response)
        answer = response.json()
        self._devices.put(
            self._key(name),
            {
                "device_id": answer["device_id"],
                "key": key.as_dict(private=True),
                "totp": pyotp.parse_uri(answer["otpauth_uri"]).secret,
            },
        )
        return answer["otpauth_uri"]

    async def otpauth_uri(self, name: str) -> str:
        """The `otpauth://` URI of this phone's device for the persona."""
        persona = await self.persona(name)
        seed = (await self._device(name))["totp"]
        return pyotp.TOTP(seed).provisioning_uri(
            name=persona["national_id"], issuer_name="e-CPS (bsp)"
        )

    async def code(self, name: str, steps_ahead: int = 0) -> str:
        """The device's one-time code now (or that many 30-second steps ahead)."""
        totp = pyotp.TOTP((await self._device(name))["totp"])
        return totp.at(self._clock() + steps_ahead * totp.interval)

    async def answer(self, request_id: str, approve: bool, name: str, pin: str = "") -> dict:
        """Approve (the PIN plus the device's current code) or deny one request."""
        if not approve:
            return await self._post_answer(name, request_id, {"approve": False})
        body = {"approve": True, "pin": pin, "otp": await self.code(name)}
        try:
            return await self._post_answer(name, request_id, body)
        except PhoneError as error:
            if error.code != "replayed_otp":
                raise
        # This device's code of this step already served (it approved another sign-in
        # within 30 s): the platform accepts the next step's code, as a person would wait
        # for it on a real phone.
        return await self._post_answer(name, request_id, body | {"otp": await self.code(name, 1)})

    async def _post_answer(self, name: str, request_id: str, body: dict) -> dict:
        response = await self._signed(
            name, "POST", f"/ecps/requests/{request_id}/answer", json=body
        )
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

    async def approve_binding(self, name: str, pin: str, binding: str, wait: float = 0) -> None:
        """Approve the persona's newest pending request that shows `binding`; with `wait`,
        waiting up to that many seconds for a first request to arrive."""
        # The device's proof names the persona: no directory to read first.
        waiting = await self._requests(name, wait, binding)
        if not waiting:
            raise PhoneError(
                "no_request", "La demande n'est pas arrivée sur le téléphone virtuel.", 404
            )
        await self.answer(waiting[-1].id, True, name, pin)
