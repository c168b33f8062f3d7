"""The DMP's search parameters: a patient's INS token, document types, dates and pages."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, timedelta

from bsp_tui.domain.patients import OID_NIA, OID_NIR, OID_NIR_DEMO, OID_NIR_TEST, ins_problem
from bsp_tui.platform.api import Patients
from connectors.dmp.access import invalid, problem
from connectors.dmp.models import DOCUMENT_TYPES, LOINC_SYSTEM, MAX_PAGE_SIZE, PAGE_SIZE

INS_OIDS = (OID_NIR, OID_NIA, OID_NIR_TEST, OID_NIR_DEMO)


def patient_ins(patients: Patients, identifier: str | None, name: str) -> str:
    """The INS of a `system|value` token (system optional), checked."""
    if not identifier:
        raise invalid(
            f"Le paramètre {name} est obligatoire (urn:oid:1.2.250.1.213.1.4.10|INS).",
            f"The {name} parameter is required.",
            "required",
        )
    system, bar, value = identifier.rpartition("|")
    if not bar:
        system, value = "", identifier
    malformed = ins_problem(value)
    if malformed:
        raise invalid(f"INS invalide : {malformed}.", "Malformed INS.", "value")
    oid = system.removeprefix("urn:oid:")
    if system and oid not in INS_OIDS:
        raise invalid(
            "Système d'identifiant inconnu : attendu urn:oid: suivi de l'OID de l'INS.",
            "Unknown identifier system: expected urn:oid: and an INS OID.",
            "value",
        )
    if system:
        known = patients.by_ins(value)
        if known is not None and known.oid != oid:
            raise problem(
                404,
                "not-found",
                f"Cet INS n'est pas connu sous l'OID {oid} (mais sous {known.oid}).",
                "This INS is not known under that OID.",
            )
    return value


def type_codes(values: list[str] | None) -> list[str]:
    """The LOINC codes of `type` parameters (`system|code` or `code`, comma separated)."""
    codes: list[str] = []
    for value in values or []:
        for token in value.split(","):
            system, bar, code = token.rpartition("|")
            if bar and system not in ("", LOINC_SYSTEM):
                raise invalid(
                    f"Système de type inconnu : attendu {LOINC_SYSTEM}.",
                    f"Unknown type system: expected {LOINC_SYSTEM}.",
                    "value",
                )
            code = code if bar else token
            if code not in DOCUMENT_TYPES:
                raise invalid(
                    f"Type de document inconnu « {code[:20]} » : {', '.join(DOCUMENT_TYPES)}.",
                    "Unknown document type (LOINC).",
                    "value",
                )
            codes.append(code)
    return codes


_PREFIXES = ("eq", "ge", "gt", "le", "lt")


def _date_range(value: str) -> tuple[str, str, str]:
    """(prefix, first day, last day) of a FHIR date search value: YYYY, YYYY-MM or YYYY-MM-DD."""
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    text = value[2:] if value[:2] in _PREFIXES else value
    try:
        if len(text) == 4 and text.isdigit():
            first, last = date(int(text), 1, 1), date(int(text), 12, 31)
        elif len(text) == 7 and text[4] == "-":
            first = date(int(text[:4]), int(text[5:]), 1)
            last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        elif len(text) == 10:
            first = last = date.fromisoformat(text)
        else:
            raise ValueError(text)
    except ValueError:
        raise invalid(
            "Date invalide : écrivez par exemple ge2020-01-01 (préfixes eq, ge, gt, le, lt).",
            "Invalid date: write for instance ge2020-01-01 (prefixes eq, ge, gt, le, lt).",
            "value",
        ) from None
    return prefix, first.isoformat(), last.isoformat()


def date_filter(values: list[str] | None) -> tuple[str, dict[str, str]]:
    """The SQL conditions (on `created`) and their named parameters for `date` parameters."""
    clauses, params = [], {}
    day = "substr(created, 1, 10)"
    for index, value in enumerate(values or []):
        prefix, first, last = _date_range(value)
        if prefix == "eq":
            clauses.append(f"{day} BETWEEN :date{index}a AND :date{index}b")
            params |= {f"date{index}a": first, f"date{index}b": last}
        else:
            operator, bound = {
                "ge": (">=", first),
                "gt": (">", last),
                "le": ("<=", last),
                "lt": ("<", first),
            }[prefix]
            clauses.append(f"{day} {operator} :date{index}")
            params[f"date{index}"] = bound
    return "".join(f" AND {c}" for c in clauses), params


@dataclass(frozen=True)
class Page:
    """A page asked for: its size, and where it starts: after `start` matches (`_offset`)
    or after the document `after` names, (created, id), with the list's `total` (both from
    a `_cursor`, as the previous page's `next` link gives it)."""

    size: int
    start: int = 0
    after: tuple[str, str] | None = None
    total: int | None = None


def page(count: str | None, offset: str | None, cursor: str | None) -> Page:
    """The page a search asks for (`_count`, 1 to MAX_PAGE_SIZE, PAGE_SIZE by default;
    `_offset` or `_cursor`, not both), checked."""
    size = PAGE_SIZE if count is None else _whole(count)
    if size is None or not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid(
            f"_count : un nombre entier de 1 à {MAX_PAGE_SIZE} est attendu"
            f" (par défaut {PAGE_SIZE}).",
            f"_count: a whole number from 1 to {MAX_PAGE_SIZE} is expected (default {PAGE_SIZE}).",
            "value",
        )
    if cursor is not None:
        if offset is not None:
            raise invalid(
                "_offset et _cursor ne vont pas ensemble : suivez le lien next tel quel.",
                "_offset and _cursor do not go together: follow the next link as it is.",
                "value",
            )
        return _after(size, cursor)
    start = 0 if offset is None else _whole(offset)
    if start is None or start < 0:
        raise invalid(
            "_offset : un nombre entier positif ou nul est attendu (celui du lien next).",
            "_offset: a whole number, 0 or more, is expected (the one of the next link).",
            "value",
        )
    return Page(size, start)


def cursor_after(created: str, document_id: str, total: int) -> str:
    """The `_cursor` of the page after the document (created, id), in a list of `total`:
    opaque to clients (the emulation's own: FHIR leaves the form of page links to servers)."""
    return base64.urlsafe_b64encode(json.dumps([created, document_id, total]).encode()).decode()


_CURSOR_MAX = 400  # characters: a cursor of ours is shorter, and no deep JSON is parsed


def _after(size: int, cursor: str) -> Page:
    try:
        if len(cursor) > _CURSOR_MAX:
            raise ValueError(cursor)
        created, document_id, total = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (
            isinstance(created, str)
            and isinstance(document_id, str)
            and type(total) is int
            and 0 <= total <= 10**9
            and len(created) <= 40
            and len(document_id) <= 64
        ):
            raise ValueError(cursor)
    except (ValueError, TypeError, UnicodeError):  # binascii.Error and JSONDecodeError too
        raise invalid(
            "_cursor illisible : suivez le lien next de la page précédente tel quel.",
            "Unreadable _cursor: follow the previous page's next link as it is.",
            "value",
        ) from None
    return Page(size, after=(created, document_id), total=total)


# A DocumentReference's elements (FHIR R4), which `_elements` may name.
DOCUMENT_ELEMENTS = frozenset(
    [
        "id",
        "meta",
        "implicitRules",
        "language",
        "text",
        "contained",
        "extension",
        "modifierExtension",
        "masterIdentifier",
        "identifier",
        "status",
        "docStatus",
        "type",
        "category",
        "subject",
        "date",
        "author",
        "authenticator",
        "custodian",
        "relatesTo",
        "description",
        "securityLabel",
        "content",
        "context",
    ]
)


def elements(values: list[str] | None) -> frozenset[str] | None:
    """The elements `_elements` parameters name (comma separated), checked; None: all."""
    if not values:
        return None
    names = frozenset(name.strip() for value in values for name in value.split(","))
    unknown = sorted(names - DOCUMENT_ELEMENTS)
    if unknown:
        raise invalid(
            f"_elements : « {unknown[0][:40]} » n'est pas un élément de DocumentReference.",
            "_elements: not an element of DocumentReference.",
            "value",
        )
    return names


def _whole(text: str) -> int | None:
    text = text.strip()
    digits = text.removeprefix("-")
    # At most 9 digits: a number that large is already out of range, and no huge int is parsed.
    if not digits.isascii() or not digits.isdigit() or len(digits) > 9:
        return None
    return int(text)
