"""The INS client: lookups, verification and Vitale cards over the session's HTTP client.

`InsClient` takes an `httpx.AsyncClient` whose base URL is the INS service's and whose
auth adds the connector's token (what `Session.client_for("ins")` and the screen
context give). Every input is checked before any request: a malformed value raises
`InputError(field, reason)` and nothing is sent. The service's refusals raise
`InsServiceError` with the HTTP status and the OperationOutcome's diagnostics; both are
the kit's `ConnectorError`, with their exit code.

    async with session.client_for("ins") as http:
        ins = InsClient(http)
        result = await ins.lookup(Traits("Martin", "Jean", "M", "1980-05-12"))
        if result.code == "02":
            result = await ins.lookup(Traits("Martin", "Jean", "M", "1980-05-12", "75115"))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import httpx

from bsp_tui.domain.patients import (
    Identity,
    Traits,
    card_serial_problem,
    identity_of,
    ins_problem,
)
from connectors.ins import LOOKUPS_MAX
from connectors.kit.errors import BAD_INPUT, FAILURE, ConnectorError
from connectors.kit.identities import IdentityStore, professional_label

FOUND, NONE, SEVERAL = "00", "01", "02"


class InputError(ConnectorError, ValueError):
    """A malformed input, caught before any request: which field, and why (in French)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(BAD_INPUT, f"{field} : {reason}", field=field)
        self.reason = reason


class InsServiceError(ConnectorError):
    """The INS service refused a request (an OperationOutcome, or an unreadable answer)."""

    UNREADABLE = "Réponse inattendue du service INS (HTTP {status})."


@dataclass(frozen=True)
class LookupResult:
    """An INSi answer: `00` with the one identity, `01` none, `02` several (none disclosed)."""

    code: str
    identities: tuple[Identity, ...]
    message: str = ""

    @property
    def identity(self) -> Identity | None:
        """The identity found, on a `00`."""
        return self.identities[0] if self.code == FOUND and self.identities else None

    def to_json(self) -> dict:
        """The JSON form the CLI prints: `{"code": …, "identities": […]}`."""
        return {"code": self.code, "identities": [asdict(i) for i in self.identities]}


@dataclass(frozen=True)
class Verification:
    """Whether an INS is known and, when traits were given, whether they are its own."""

    ins: str
    oid: str | None
    known: bool
    consistent: bool | None

    def to_json(self) -> dict:
        """The JSON form the CLI prints."""
        return asdict(self)


@dataclass(frozen=True)
class Beneficiary:
    """One person on a Vitale card, as the card shows them: rank, name, first name, birth."""

    rank: int
    family: str
    given: str
    birthdate: str


@dataclass(frozen=True)
class Card:
    """A Vitale card's beneficiaries, for the professional to choose one."""

    serial: str
    beneficiaries: tuple[Beneficiary, ...]

    def to_json(self) -> dict:
        """The JSON form the CLI prints."""
        return {"serial": self.serial, "beneficiaries": [asdict(b) for b in self.beneficiaries]}


def checked_traits(traits: Traits, partial: bool = False) -> Traits:
    """The traits normalised as INS compares them, or InputError for the first bad one."""
    traits = traits.normalised()
    problem = traits.problem_as_is(partial)
    if problem:
        raise InputError(*problem)
    return traits


def checked_ins(value: str) -> str:
    """A well-formed INS matricule (key checked), or InputError."""
    value = value.strip()
    problem = ins_problem(value)
    if problem:
        raise InputError("ins", problem)
    return value


def checked_serial(value: str) -> str:
    """A well-formed Vitale card serial, or InputError."""
    value = value.strip()
    problem = card_serial_problem(value)
    if problem:
        raise InputError("serial", problem)
    return value


def _lookup_result(body: dict) -> LookupResult:
    return LookupResult(
        str(body["code"]),
        tuple(identity_of(item) for item in body.get("identities", [])),
        str(body.get("message", "")),
    )


class InsClient:
    """The INSi connector's calls; each checks its input before sending anything.

    With an identity store, every identity INSi gives is recorded there as *récupérée*,
    by `by` (the professional, asked of the service once when not given).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        identities: IdentityStore | None = None,
        by: str | None = None,
    ) -> None:
        self._client = client
        self._identities = identities
        self._by = by

    async def professional(self) -> str:
        """Who is calling, as the identity store names them: name (national id)."""
        if self._by is None:
            response = await self._client.get("me")
            if not response.is_success:
                raise InsServiceError.from_response(response)
            me = response.json()
            name = f"{me.get('given_name', '')} {me.get('family_name', '')}".strip()
            self._by = professional_label(name, str(me.get("national_id", "")))
        return self._by

    async def _recorded(self, result: LookupResult) -> LookupResult:
        if self._identities is not None and result.identity is not None:
            self._identities.retrieved(result.identity, await self.professional())
        return result

    async def _post(self, path: str, body: dict) -> dict:
        response = await self._client.post(path, json=body)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success and isinstance(data, dict):
            return data
        raise InsServiceError.from_response(response)

    async def lookup(self, traits: Traits) -> LookupResult:
        """Look an identity up by its traits (the birthplace is optional)."""
        traits = checked_traits(traits)
        body = asdict(traits)
        if not traits.birthplace:
            del body["birthplace"]
        try:
            result = _lookup_result(await self._post("lookup", body))
        except (KeyError, TypeError, ValueError) as error:
            raise InsServiceError(
                FAILURE, f"Réponse INS illisible : {error}.", status=200, code="unknown"
            ) from None
        return await self._recorded(result)

    async def lookup_many(self, many: list[Traits]) -> list[LookupResult | InsServiceError]:
        """Look up to `LOOKUPS_MAX` identities up in one exchange (for batches): for each, in
        order, its answer or the service's refusal of that one. The identities found are
        not recorded here: the batch records them a group at a time."""
        if not 1 <= len(many) <= LOOKUPS_MAX:
            raise ValueError(f"1 to {LOOKUPS_MAX} lookups at once, not {len(many)}")
        bodies = []
        for traits in many:
            body = asdict(checked_traits(traits))
            if not body["birthplace"]:
                del body["birthplace"]
            bodies.append(body)
        data = await self._post("lookups", {"lookups": bodies})
        try:
            answers = data["answers"]
            if len(answers) != len(many):
                raise ValueError(f"{len(answers)} réponses pour {len(many)} recherches")
            return [
                InsServiceError.from_outcome(int(item["status"]), item.get("outcome"))
                if "outcome" in item
                else _lookup_result(item)
                for item in answers
            ]
        except (KeyError, TypeError, ValueError) as error:
            raise InsServiceError(
                FAILURE, f"Réponse INS illisible : {error}.", status=200, code="unknown"
            ) from None

    async def verify(self, ins: str, traits: Traits | None = None) -> Verification:
        """Is the INS known; with traits (all optional), are they its own?"""
        body: dict = {"ins": checked_ins(ins)}
        if traits is not None:
            body |= {k: v for k, v in asdict(checked_traits(traits, partial=True)).items() if v}
        data = await self._post("verify", body)
        return Verification(
            data["ins"], data.get("oid"), bool(data["known"]), data.get("consistent")
        )

    async def by_card(self, serial: str) -> Card:
        """The beneficiaries of a Vitale card, for the professional to choose one."""
        data = await self._post("card", {"serial": checked_serial(serial)})
        return Card(
            data["serial"],
            tuple(
                Beneficiary(int(b["rank"]), b["family"], b["given"], b["birthdate"])
                for b in data["beneficiaries"]
            ),
        )

    async def card_identity(self, serial: str, rank: int) -> LookupResult:
        """The identity of the beneficiary of that rank on the card (a `00` answer)."""
        serial = checked_serial(serial)
        if not 1 <= rank <= 99:
            raise InputError("rank", "le rang est un entier de 1 à 99")
        answer = await self._post("card/identity", {"serial": serial, "rank": rank})
        return await self._recorded(_lookup_result(answer))
