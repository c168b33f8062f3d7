"""The emulated INSi (national patient identity service), as a FastAPI router.

The real INSi is a SOAP web service that professional software reaches with the
professional's card; its operations are not reproduced here. The emulation answers
JSON on paths of its own, mounted by the platform under `/api/ins`:

    POST /api/ins/lookup         {family, given, sex, birthdate, birthplace?}
                                 → {code, identities, message}
    POST /api/ins/lookups        {lookups: [traits, …]}  (1 to 100)
                                 → {answers: [answer | {status, outcome}, …]}
    POST /api/ins/verify         {ins, family?, given?, sex?, birthdate?, birthplace?}
                                 → {ins, oid, known, consistent}
    POST /api/ins/card           {serial}
                                 → {serial, beneficiaries: [{rank, family, given, birthdate}]}
    POST /api/ins/card/identity  {serial, rank}
                                 → {code, identities, message}

Answer codes, as INSi's: `00` one identity (in `identities`), `01` none, `02` several
— INSi then discloses no identity, not even how many: ask for more traits (other
birth first names, the birthplace code). Traits travel in the body, never in the URL,
so that access logs hold no patient's name.

Matching works on normalised traits (capitals, no diacritics, see `normalise_name`):
the birth name, sex and birth date must be equal; the first given name asked must be
the first birth first name; each further given name asked must be among the other
birth first names; a birthplace, when given, must be equal. So a `02` narrows with
another first name or the birthplace.

Every call needs a live API token for the audience `ins` and a profession the INS
connector allows. Errors are FHIR OperationOutcome: 400 for a body that is not a
JSON object, 422 for a missing or malformed trait (the issue's `expression` names
the field), 401 without a valid token, 403 for a profession without access, 404 for
an unknown card or rank.

`/lookups` is the emulation's own, for identity-qualification campaigns (`bsp ins
lookup --batch`): up to `LOOKUPS_MAX` lookups in one exchange, each answered in its place
as `/lookup` would — or, for a malformed one, with the status and OperationOutcome
`/lookup` would have answered (`{"status": 422, "outcome": …}`), the others still
answered. One HTTP exchange per row costs both ends several milliseconds of CPU: half a
million rows, one exchange each, would not fit in ten minutes on two cores.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends

from bsp_tui.domain.fhir import operation_outcome
from bsp_tui.domain.patients import Identity, Traits, card_serial_problem, ins_problem
from bsp_tui.platform.api import (
    Body,
    ServiceContext,
    ServiceError,
    field_error,
    invalid,
    not_found,
    refused,
    service_context,
)
from connectors import ins as ins_package
from connectors.ins import LOOKUPS_MAX

router = APIRouter(tags=["INSi"])
Context = Annotated[ServiceContext, Depends(service_context("ins"))]

MESSAGES = {
    "00": "Une identité trouvée.",
    "01": "Aucune identité ne correspond à ces traits.",
    "02": (
        "Plusieurs identités correspondent : précisez les autres prénoms de naissance "
        "ou le lieu de naissance."
    ),
}
FIELD_MAX = 1000  # before any normalisation: a huge value costs nothing to refuse
_TEXT = {"type": "string"}
_TRAITS_SCHEMA = {
    "family": _TEXT | {"description": "Birth name (nom de naissance)."},
    "given": _TEXT | {"description": "Birth first names, space separated, in order."},
    "sex": {"type": "string", "enum": ["F", "M"]},
    "birthdate": _TEXT | {"format": "date", "description": "YYYY-MM-DD."},
    "birthplace": _TEXT | {"description": "INSEE COG code of the birthplace (99xxx abroad)."},
}


def _body_schema(properties: dict, required: list[str]) -> dict:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _authorised(context: ServiceContext) -> None:
    """Refuse (403) a profession the INS connector does not allow."""
    connector = ins_package.CONNECTOR
    if not connector.allows(context.caller.profession):
        label = context.caller.profession_label or "?"
        raise refused(403, connector.refusal or f"La profession « {label} » n'a pas accès à l'INS.")


def _json_object(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise invalid("Le corps de la requête n'est pas du JSON.", code="structure") from None
    if not isinstance(data, dict):
        raise invalid("Le corps de la requête doit être un objet JSON.", code="structure")
    return data


def _text(data: dict, name: str, required: bool = True) -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise field_error(name, "champ obligatoire", "required")
        return ""
    if not isinstance(value, str):
        raise field_error(name, "une chaîne de caractères est attendue")
    if len(value) > FIELD_MAX:
        raise field_error(name, f"au plus {FIELD_MAX} caractères")
    return value


def _traits(data: dict, required: bool = True) -> Traits:
    traits = Traits(
        *(_text(data, name, required) for name in ("family", "given", "sex", "birthdate")),
        _text(data, "birthplace", required=False),
    )
    return traits.normalised()


def _check(traits: Traits, partial: bool = False) -> None:
    problem = traits.problem_as_is(partial)  # `_traits` has normalised them
    if problem:
        raise field_error(*problem)


def given_names_match(asked: str, birth: str) -> bool:
    """The first name asked is the first birth first name; the others are among the rest."""
    asked_names, birth_names = asked.split(" "), birth.split(" ")
    return asked_names[0] == birth_names[0] and all(
        name in birth_names[1:] for name in asked_names[1:]
    )


def matching(context: ServiceContext, traits: Traits) -> list[Identity]:
    """Every identity whose traits match `traits` (normalised), by INSi's rules."""
    return [
        identity
        for identity in context.patients.by_traits(traits.family, traits.birthdate, traits.sex)
        if given_names_match(traits.given, identity.given)
        and (not traits.birthplace or identity.birthplace == traits.birthplace)
    ]


def answer(found: list[Identity]) -> dict:
    """The INSi answer for a list of matching identities: 00, 01 or 02."""
    code = "00" if len(found) == 1 else "01" if not found else "02"
    identities = [asdict(found[0])] if code == "00" else []
    return {"code": code, "identities": identities, "message": MESSAGES[code]}


@router.post(
    "/lookup", openapi_extra=_body_schema(_TRAITS_SCHEMA, ["family", "given", "sex", "birthdate"])
)
def lookup(body: Body, context: Context) -> dict:
    """Look an identity up by its traits: `00` one, `01` none, `02` several (none disclosed)."""
    _authorised(context)
    traits = _traits(_json_object(body))
    _check(traits)
    return answer(matching(context, traits))


def _answer_or_outcome(context: ServiceContext, item: object) -> dict:
    """One lookup of a group: its answer, or the refusal `/lookup` would have sent."""
    try:
        if not isinstance(item, dict):
            raise invalid("Chaque recherche est un objet JSON.", code="structure", status=422)
        traits = _traits(item)
        _check(traits)
    except ServiceError as error:
        return {"status": error.status, "outcome": operation_outcome(error.issue)}
    return answer(matching(context, traits))


_LOOKUPS_SCHEMA = {
    "lookups": {
        "type": "array",
        "minItems": 1,
        "maxItems": LOOKUPS_MAX,
        "items": {
            "type": "object",
            "properties": _TRAITS_SCHEMA,
            "required": ["family", "given", "sex", "birthdate"],
        },
    }
}


@router.post("/lookups", openapi_extra=_body_schema(_LOOKUPS_SCHEMA, ["lookups"]))
def lookups(body: Body, context: Context) -> dict:
    """Up to `LOOKUPS_MAX` lookups at once: one answer per lookup, in the order asked."""
    _authorised(context)
    items = _json_object(body).get("lookups")
    if not isinstance(items, list) or not 1 <= len(items) <= LOOKUPS_MAX:
        raise field_error("lookups", f"une liste de 1 à {LOOKUPS_MAX} recherches est attendue")
    return {"answers": [_answer_or_outcome(context, item) for item in items]}


@router.post(
    "/verify",
    openapi_extra=_body_schema({"ins": _TEXT, **_TRAITS_SCHEMA}, ["ins"]),
)
def verify(body: Body, context: Context) -> dict:
    """Is this INS known, and (when traits are given) are they this identity's?

    Only the traits given are compared; with none, `consistent` is null.
    """
    _authorised(context)
    data = _json_object(body)
    ins = _text(data, "ins").strip()
    problem = ins_problem(ins)
    if problem:
        raise field_error("ins", problem)
    traits = _traits(data, required=False)
    # Only the traits given are checked and compared, each as in a lookup.
    _check(traits, partial=True)
    identity = context.patients.by_ins(ins)
    asked = {name: value for name, value in asdict(traits).items() if value}
    if identity is None:
        return {"ins": ins, "oid": None, "known": False, "consistent": False if asked else None}
    consistent = None
    if asked:
        consistent = all(
            given_names_match(value, identity.given)
            if name == "given"
            else getattr(identity, name) == value
            for name, value in asked.items()
        )
    return {"ins": ins, "oid": identity.oid, "known": True, "consistent": consistent}


def _serial(data: dict) -> str:
    serial = _text(data, "serial").strip()
    problem = card_serial_problem(serial)
    if problem:
        raise field_error("serial", problem)
    return serial


@router.post("/card", openapi_extra=_body_schema({"serial": _TEXT}, ["serial"]))
def card(body: Body, context: Context) -> dict:
    """The beneficiaries a Vitale card carries (rank and traits), for the client to choose."""
    _authorised(context)
    serial = _serial(_json_object(body))
    beneficiaries = context.patients.card(serial)
    if not beneficiaries:
        raise not_found("Carte Vitale inconnue.")
    return {
        "serial": serial,
        "beneficiaries": [
            {
                "rank": on_card.rank,
                "family": identity.family,
                "given": identity.given.split(" ")[0],
                "birthdate": identity.birthdate,
            }
            for on_card, identity in beneficiaries
        ],
    }


@router.post(
    "/card/identity",
    openapi_extra=_body_schema({"serial": _TEXT, "rank": {"type": "integer"}}, ["serial", "rank"]),
)
def card_identity(body: Body, context: Context) -> dict:
    """The identity of one beneficiary of a Vitale card, as a `00` lookup answer."""
    _authorised(context)
    data = _json_object(body)
    serial = _serial(data)
    rank = data.get("rank")
    if rank is None:
        raise field_error("rank", "champ obligatoire", "required")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= 99:
        raise field_error("rank", "le rang est un entier de 1 à 99")
    found = [
        identity for on_card, identity in context.patients.card(serial) if on_card.rank == rank
    ]
    if not found:
        raise not_found("Aucun bénéficiaire de ce rang sur cette carte.")
    return answer(found)
