"""The FSE client: rights and batches over an httpx client that already carries the FSE token.

Input is checked before any request (INS key, act codes, sheet number, typed rights);
the service's refusals come back as `FseError`, the kit's `ConnectorError`: a `kind` a
caller can branch on, the reason in French, the field at fault and the exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import httpx

from bsp_tui.domain.patients import birthdate_problem, ins_problem
from connectors.fse.models import (
    EXEMPTIONS,
    MAX_ACTS,
    REGIMES,
    TIERS_PAYANT_REQUIRED,
    Rights,
    act_problem,
    number_problem,
)
from connectors.kit.errors import ConnectorError
from connectors.retry import post_once


class FseError(ConnectorError):
    """A refusal or a failure of the FSE service (see `ConnectorError`)."""

    UNREADABLE = "Le service FSE a répondu {status}."


def bad_input(field: str, problem: str) -> FseError:
    """A `bad_input` error naming the field."""
    return FseError.bad_input(f"{field} : {problem}.", field=field)


def checked_ins(ins: str) -> str:
    """The INS, stripped, or a `bad_input` error."""
    ins = ins.strip().upper()
    problem = ins_problem(ins)
    if problem:
        raise bad_input("INS", problem)
    return ins


def checked_acts(codes: list[str]) -> list[str]:
    """Act codes of the catalogue (upper case), at least one, or a `bad_input` error."""
    codes = [code.strip().upper() for code in codes]
    if not codes:
        raise bad_input("--act", "au moins un acte est nécessaire")
    if len(codes) > MAX_ACTS:
        raise bad_input("--act", f"au plus {MAX_ACTS} actes par feuille")
    for code in codes:
        problem = act_problem(code)
        if problem:
            raise bad_input("--act", problem)
    return codes


def checked_number(number: str) -> str:
    """A sheet number, or a `bad_input` error."""
    number = number.strip().upper()
    problem = number_problem(number)
    if problem:
        raise bad_input("NUMBER", problem)
    return number


def typed_rights(
    ins: str, birthdate: str, regime: str = "01", exemption: str = "", coordinated: bool = True
) -> Rights:
    """Rights typed from a paper certificate (degraded mode), checked."""
    problem = birthdate_problem(birthdate)
    if problem:
        raise bad_input("--birthdate", problem)
    if date.fromisoformat(birthdate) > date.today():
        raise bad_input("--birthdate", "date dans le futur")
    if regime not in REGIMES:
        raise bad_input("--regime", f"régime inconnu « {regime} » : {', '.join(REGIMES)}")
    if exemption and exemption not in EXEMPTIONS:
        raise bad_input("--exemption", f"exonération inconnue : {', '.join(EXEMPTIONS)}")
    return Rights(
        ins=checked_ins(ins),
        birthdate=birthdate,
        regime=regime,
        exemption=exemption,
        coordinated=coordinated,
        source="saisie",
    )


def tiers_payant_for(rights: Rights, asked: bool | None) -> bool:
    """Tiers payant: by default with any exemption; CSS and AME cannot go without it."""
    if asked is None:
        return bool(rights.exemption)
    if not asked and rights.exemption in TIERS_PAYANT_REQUIRED:
        raise bad_input(
            "--no-tiers-payant", f"le tiers payant est obligatoire ({rights.exemption})"
        )
    return asked


@dataclass(frozen=True)
class SheetResult:
    """The ARL's answer for one sheet."""

    number: str
    accepted: bool
    code: str
    reason: str
    already_received: bool


@dataclass(frozen=True)
class Arl:
    """An ARL (accusé de réception logique): positive with per-sheet results, or negative."""

    batch_id: str
    positive: bool
    code: str
    reason: str
    received_at: str
    sheets: tuple[SheetResult, ...]

    def as_json(self) -> dict:
        """The JSON shape."""
        return {
            "batch_id": self.batch_id,
            "status": "positive" if self.positive else "negative",
            "code": self.code,
            "reason": self.reason,
            "received_at": self.received_at,
            "sheets": [
                {
                    "number": s.number,
                    "status": "accepted" if s.accepted else "rejected",
                    "code": s.code,
                    "reason": s.reason,
                    "already_received": s.already_received,
                }
                for s in self.sheets
            ],
        }


def arl_of(body: dict) -> Arl:
    """An ARL from the service's JSON answer."""
    return Arl(
        batch_id=body["batch_id"],
        positive=body["status"] == "positive",
        code=body.get("code", ""),
        reason=body.get("reason", ""),
        received_at=body.get("received_at", ""),
        sheets=tuple(
            SheetResult(
                s["number"],
                s["status"] == "accepted",
                s.get("code", ""),
                s.get("reason", ""),
                bool(s.get("already_received")),
            )
            for s in body.get("sheets", [])
        ),
    )


class FseClient:
    """The FSE service's operations over `client` (base URL: the service; auth: its token)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._http = client

    async def _post(self, path: str, body: dict) -> dict:
        response = await post_once(self._http, path, json=body)
        if response.status_code != 200:
            raise FseError.from_response(response)
        return response.json()

    async def rights(self, ins: str, care_date: str | None = None) -> Rights:
        """The patient's rights on the day of care (read from the card, or online)."""
        body = {"ins": checked_ins(ins)} | ({"care_date": care_date} if care_date else {})
        return Rights.from_json(await self._post("/rights", body))

    async def send_batch(self, batch_id: str, contents: list[dict]) -> Arl:
        """Send a batch of sheets (as they travel); the platform's ARL."""
        return arl_of(await self._post("/batches", {"batch_id": batch_id, "sheets": contents}))

    async def _get(self, path: str) -> dict:
        response = await self._http.get(path)
        if response.status_code != 200:
            raise FseError.from_response(response)
        return response.json()

    async def billing(self) -> dict:
        """The caller's sheets as the platform holds them, billed or rejected."""
        return await self._get("/billing")

    async def returns(self) -> list[dict]:
        """The returns of the caller's settled sheets: paid (amount, date) or rejected."""
        return (await self._get("/returns"))["returns"]
