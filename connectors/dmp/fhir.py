"""The DMP's records as FHIR R4 resources: DocumentReference, AuditEvent, Bundle."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fastapi import Request

from bsp_tui.platform.api import url_of
from connectors.dmp.access import NOTIFY_TREATING, parse_action
from connectors.dmp.models import (
    ARCHIVED_EXTENSION,
    AUTHOR_ID_SYSTEM,
    CLASS_LABELS,
    CLASS_SYSTEM,
    CLASSES,
    CONFIDENTIALITY_SYSTEM,
    DOCUMENT_TYPES,
    FACILITY_SYSTEM,
    FORMAT_CODE,
    FORMAT_SYSTEM,
    INVISIBLE_LEGAL,
    INVISIBLE_PATIENT,
    LOINC_SYSTEM,
    MASQUE_PS,
    NORMAL_CONFIDENTIALITY,
    ORGANIZATION,
    PROFESSION_SYSTEM,
    SECURITY_LABELS,
    SETTING_SYSTEM,
    STRUCTURE_ID_SYSTEM,
    UPDATES,
    V3_CONFIDENTIALITY_SYSTEM,
    made_in,
)

MODE_SYSTEM = "urn:bsp:dmp:mode"
ACTION_SYSTEM = "urn:bsp:dmp:action"


def _instant(created: str) -> str:
    return created if "T" in created else f"{created}T00:00:00Z"


def recorded(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ins_identifier(ins: str, oid: str) -> dict:
    return {"system": f"urn:oid:{oid}", "value": ins}


def binary_base(request: Request) -> str:
    """Where each document's content is served (`…/Binary`), looked up once per answer: a
    router lookup for each document was most of the time of a long list."""
    return url_of(request, "dmp_binary", document_id="_").removesuffix("/_")


MASTER_SYSTEM = "urn:ietf:rfc:3986"  # a masterIdentifier is a URI
CUSTODIAN = "DMP (plateforme émulée bsp)"  # who keeps the document: the DMP's host


AUTHOR_REFERENCE = "author"  # the contained author's id


def _coded(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _author(row: Any) -> dict:
    """PDSm: the author is a resource contained in the DocumentReference, not a bare
    identifier: a professional by their national id (IdNat_PS), or an organisation (a
    laboratory, an imaging centre) by its structure id (IdNat_Struct)."""
    if row["author_kind"] == ORGANIZATION:
        return {
            "resourceType": "Organization",
            "id": AUTHOR_REFERENCE,
            "identifier": [{"system": STRUCTURE_ID_SYSTEM, "value": row["author_id"]}],
            "name": row["author_name"],
        }
    return {
        "resourceType": "Practitioner",
        "id": AUTHOR_REFERENCE,
        "identifier": [{"system": AUTHOR_ID_SYSTEM, "value": row["author_id"]}],
        "name": [{"text": row["author_name"]}],
    }


# What a document's type or labels decide is the same for every document so typed or
# labelled: built once and shared by the answers, which only serialise it (a long list
# spent most of its time building these again for each document).
_FORMAT = {"system": FORMAT_SYSTEM, "code": FORMAT_CODE, "display": "mimeType Sufficient"}
_CUSTODIAN = {"display": CUSTODIAN}


@lru_cache(maxsize=64)
def _typed(loinc: str) -> tuple[dict, list, dict, dict]:
    """A type's `type`, `category`, `context.facilityType` and `context.practiceSetting`."""
    category = CLASSES.get(loinc, "10")
    (facility, facility_label), (setting, setting_label) = made_in(loinc)
    return (
        _coded(LOINC_SYSTEM, loinc, DOCUMENT_TYPES.get(loinc, loinc)),
        [_coded(CLASS_SYSTEM, category, CLASS_LABELS[category])],
        _coded(FACILITY_SYSTEM, facility, facility_label),
        _coded(SETTING_SYSTEM, setting, setting_label),
    )


@lru_cache(maxsize=16)
def _security_labels(codes: tuple[str, ...]) -> list[dict]:
    return [
        _coded(CONFIDENTIALITY_SYSTEM, code, SECURITY_LABELS[code])
        if code != NORMAL_CONFIDENTIALITY
        else _coded(V3_CONFIDENTIALITY_SYSTEM, code, "normal")
        for code in codes
    ]


_ARCHIVED = [{"url": ARCHIVED_EXTENSION, "valueBoolean": True}]


def document_reference(
    binaries: str, row: Any, oid: str, elements: frozenset[str] | None = None
) -> dict:
    """A document's metadata as the DMP serves it (PDSm), or only its `elements` (FHIR's
    `_elements`: with its id, `status` and `content`, tagged as a subset; only those are
    built). Parts of it are shared with other answers: serialise it, never change it."""
    kind, category, facility, setting = _typed(row["loinc"])
    created = _instant(row["created"])
    whole = elements is None
    resource: dict[str, Any] = {"resourceType": "DocumentReference", "id": row["id"]}
    if not whole:
        resource["meta"] = _SUBSETTED
    if whole or "contained" in elements:
        resource["contained"] = [_author(row)]
    if whole or "masterIdentifier" in elements:
        # The document's own unique id, stable: derived from the DMP's id (ours).
        resource["masterIdentifier"] = {"system": MASTER_SYSTEM, "value": row["master_id"]}
    resource["status"] = row["status"]
    if whole or "type" in elements:
        resource["type"] = kind
    if whole or "category" in elements:
        resource["category"] = category
    if whole or "subject" in elements:
        resource["subject"] = {"identifier": ins_identifier(row["ins"], oid)}
    if whole or "date" in elements:
        resource["date"] = created
    if whole or "author" in elements:
        resource["author"] = [{"reference": f"#{AUTHOR_REFERENCE}", "display": row["author_name"]}]
    if whole or "custodian" in elements:
        resource["custodian"] = _CUSTODIAN
    if whole or "description" in elements:
        resource["description"] = row["title"]
    resource["content"] = [
        {
            "attachment": {
                "contentType": row["content_type"],
                "size": row["size"],
                "hash": row["hash"],
                "title": row["title"],
                "url": f"{binaries}/{row['id']}",
                "creation": created,
            },
            "format": _FORMAT,
        }
    ]
    if whole or "context" in elements:
        # The act the document comes from: the emulation knows only when it was filed.
        resource["context"] = {
            "period": {"start": created},
            "facilityType": facility,
            "practiceSetting": setting,
        }
    if whole or "securityLabel" in elements:
        resource["securityLabel"] = _security_labels(tuple(served_labels(row)))
    if row["archived"] and (whole or "extension" in elements):
        resource["extension"] = _ARCHIVED
    return resource


_SUBSETTED = {
    "tag": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "SUBSETTED",
            "display": "subsetted",
        }
    ]
}


def served_labels(row: Any) -> list[str]:
    """A document's security labels in the order they are served (the order a JSON Patch's
    indexes count in): the DMP's visibility codes, or `N` (normal) when it has none, as
    the guide's documents carry."""
    labels = [
        code
        for code, flag in (
            (MASQUE_PS, row["masked"]),
            (INVISIBLE_PATIENT, row["invisible_patient"]),
            (INVISIBLE_LEGAL, row["invisible_legal"]),
        )
        if flag
    ]
    return labels or [NORMAL_CONFIDENTIALITY]


def bundle(
    entries: list[tuple[str, dict]], total: int | None = None, links: dict[str, str] | None = None
) -> dict:
    """A searchset: `total` matches in all (those given, by default), and its paging
    `links` by relation (`self`, `next`, …) when it is one page of them."""
    answer: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    answer["total"] = len(entries) if total is None else total
    if links:
        answer["link"] = [{"relation": relation, "url": url} for relation, url in links.items()]
    if entries:  # FHIR JSON has no empty arrays: a search matching nothing has no entry
        answer["entry"] = [
            {"fullUrl": url, "resource": resource, "search": {"mode": "match"}}
            for url, resource in entries
        ]
    return answer


def page_links(request: Request, size: int, cursor: str | None) -> dict[str, str]:
    """`self`, and `next` (the same search, from `cursor`) when matches are left."""
    links = {"self": str(request.url)}
    if cursor is not None:
        rest = request.url.remove_query_params(["_offset", "_cursor"])
        links["next"] = str(rest.include_query_params(_count=size, _cursor=cursor))
    return links


def link_header(links: dict[str, str]) -> dict[str, str]:
    """The page links as an HTTP `Link` header too (RFC 8288, as GitHub's API pages): a
    client reads the next page's address before the body, and asks for it meanwhile."""
    return {"Link": ", ".join(f'<{url}>; rel="{relation}"' for relation, url in links.items())}


_FHIR_ACTIONS = {
    "check": "E",
    "list": "R",
    "metadata": "R",
    "read": "R",
    "add": "C",
    "history": "R",
    **dict.fromkeys(UPDATES, "U"),
    "update": "U",
    "delete": "D",
    "withdraw": "D",
}


def audit_event(request: Request, row: Any, oid: str) -> dict:
    verb, target, refusal = parse_action(row["action"])
    entities: list[dict] = [{"what": {"identifier": ins_identifier(row["ins"], oid)}}]
    if verb == NOTIFY_TREATING:  # the médecin traitant told, by their national id
        who = {"identifier": {"system": AUTHOR_ID_SYSTEM, "value": target}}
        entities.append({"what": who, "name": "médecin traitant"})
    elif target:
        entities.append({"what": {"reference": f"DocumentReference/{target}"}, "name": target})
    purpose: dict[str, Any] = {"coding": [{"system": MODE_SYSTEM, "code": row["mode"]}]}
    if row["reason"]:
        purpose["text"] = row["reason"]
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(row["id"]),
        "type": {
            "system": "http://dicom.nema.org/resources/ontology/DCM",
            "code": "110110",
            "display": "Patient Record",
        },
        "subtype": [{"system": ACTION_SYSTEM, "code": verb}],
        "action": _FHIR_ACTIONS.get(verb, "E"),
        "recorded": recorded(row["at"]),
        "outcome": "4" if refusal else "0",
        "purposeOfEvent": [purpose],
        "agent": [
            {
                "who": {
                    "identifier": {"system": AUTHOR_ID_SYSTEM, "value": row["national_id"]},
                    "display": row["name"],
                },
                "role": [{"coding": [{"system": PROFESSION_SYSTEM, "code": row["profession"]}]}],
                "requestor": True,
            }
        ],
        "source": {"observer": {"display": "DMP (plateforme émulée bsp)"}},
        "entity": entities,
    }
    if refusal:
        event["outcomeDesc"] = refusal
    return event
