"""Filing a document in a DMP: the resource a client posts, read and checked, and the
filing itself under the DMP's rules.

`file_document` is also how another emulated service files its copy in a patient's DMP
(the e-prescription's): a declared link between the two slices.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bsp_tui.platform.api import ServiceContext, ServiceError, Tx
from connectors.dmp.access import Caller, authorize, invalid, problem, refuse, trace, type_problem
from connectors.dmp.fhir import recorded
from connectors.dmp.models import (
    CONTENT_TYPES,
    DOCUMENT_TYPES,
    INVISIBLE_LEGAL,
    INVISIBLE_PATIENT,
    LOINC_SYSTEM,
    MASQUE_PS,
    MAX_CONTENT_BYTES,
    MAX_TITLE_CHARS,
    NORMAL_CONFIDENTIALITY,
    SECURITY_LABELS,
)
from connectors.dmp.params import type_codes
from connectors.dmp.seed import INSERT_DOCUMENT, PRACTITIONER, content_hash, master_id
from connectors.dmp.updates import is_minor, not_minor


@dataclass(frozen=True)
class NewDocument:
    """A document to add: its subject (`system|INS`), type, title, content and labels."""

    subject: str
    loinc: str
    title: str
    content_type: str
    content: bytes
    labels: frozenset[str]


def file_document(
    context: ServiceContext,
    ins: str,
    who: Caller,
    new: NewDocument,
    also: Callable[[Tx, str], None] | None = None,
) -> str:
    """Add a document to the DMP of `ins` under the DMP's rules; its id.

    Also how another emulated service files a copy (the e-prescription's): a refusal
    is traced in the patient's history and raised as a `ServiceError`. `also` runs
    in the transaction that adds the document, given its id: what it writes is
    committed with the document, and what it raises leaves no document.
    """

    def with_id(conn: Tx, ids: list[str]) -> None:
        if also is not None:
            also(conn, ids[0])

    return file_documents(context, ins, who, [new], with_id)[0]


def file_documents(
    context: ServiceContext,
    ins: str,
    who: Caller,
    news: Sequence[NewDocument],
    also: Callable[[Tx, list[str]], None] | None = None,
) -> list[str]:
    """Add several documents to the DMP of `ins` at once (a submission set), all or none;
    their ids in order. A refusal of any one refuses them all (see `file_document`)."""
    dmp = authorize(context, ins, who, "add")
    for new in news:
        if new.loinc not in who.types:
            raise refuse(context, ins, who, "add", type_problem(who, new.loinc))
        if INVISIBLE_LEGAL in new.labels and not is_minor(dmp["birthdate"], context.now):
            raise refuse(context, ins, who, "add", not_minor())
        if len(new.content) > MAX_CONTENT_BYTES:
            raise refuse(context, ins, who, "add", _too_large(len(new.content)))
    ids = [secrets.token_hex(8) for _ in news]
    with context.db.write() as conn:
        conn.execute(
            INSERT_DOCUMENT, [_row(context, ins, who, i, n) for i, n in zip(ids, news, strict=True)]
        )
        if also is not None:
            also(conn, ids)
    for document_id in ids:
        trace(context, ins, who, "add", document_id)
    return ids


def _row(
    context: ServiceContext, ins: str, who: Caller, document_id: str, new: NewDocument
) -> dict[str, Any]:
    return {
        "id": document_id,
        "ins": ins,
        "loinc": new.loinc,
        "title": new.title or DOCUMENT_TYPES[new.loinc],
        "author_id": who.national_id,
        "author_name": who.name,
        "author_kind": PRACTITIONER,  # a new document is its caller's, a professional's
        "created": recorded(context.now),
        "content_type": new.content_type,
        "content": new.content,
        "hash": content_hash(new.content),
        "master_id": master_id(document_id),
        "masked": int(MASQUE_PS in new.labels),
        "invisible_patient": int(INVISIBLE_PATIENT in new.labels),
        "invisible_legal": int(INVISIBLE_LEGAL in new.labels),
    }


def file_copy(
    context: ServiceContext,
    ins: str,
    new: NewDocument,
    also: Callable[[Tx, str], None] | None = None,
) -> str:
    """Another service files a copy in the DMP of `ins`, as its caller in normal mode
    (see `file_document`); the document's id."""
    return file_document(context, ins, Caller.of(context.caller, None, None), new, also)


def _too_large(size: int) -> ServiceError:
    limit = MAX_CONTENT_BYTES // 1024
    return problem(
        413,
        "too-costly",
        f"Document trop volumineux ({size // 1024} Kio) : la limite est de {limit} Kio.",
        f"Document too large ({size} bytes): the limit is {MAX_CONTENT_BYTES} bytes.",
        "too_large",
    )


def checked_field(value: Any, kind: type, where: str, resource: str = "DocumentReference") -> Any:
    """`value` when it is a `kind`, else a 400 naming what is missing in which resource."""
    if not isinstance(value, kind):
        raise invalid(
            f"{resource} mal formée : {where} manquant ou invalide.",
            f"Malformed {resource}: {where} missing or invalid.",
            "structure",
        )
    return value


def new_document(body: Any) -> NewDocument:
    """The document a DocumentReference describes, checked; a 400 (or 415) otherwise."""
    body = checked_field(body, dict, "la ressource")
    if body.get("resourceType") != "DocumentReference":
        checked_field(None, dict, "resourceType = DocumentReference")
    if body.get("status", "current") != "current":
        checked_field(None, dict, "status = current")
    subject = checked_field(body.get("subject"), dict, "subject")
    identifier = checked_field(subject.get("identifier"), dict, "subject.identifier")
    value = checked_field(identifier.get("value"), str, "subject.identifier.value")
    system = identifier.get("system", "")
    system = checked_field(system, str, "subject.identifier.system")
    codings = checked_field(
        checked_field(body.get("type"), dict, "type").get("coding"), list, "type.coding"
    )
    loincs = [
        c.get("code")
        for c in codings
        if isinstance(c, dict) and c.get("system", LOINC_SYSTEM) == LOINC_SYSTEM
    ]
    loinc = checked_field(loincs[0] if loincs else None, str, "type.coding (LOINC)")
    type_codes([loinc])
    contents = checked_field(body.get("content"), list, "content")
    if len(contents) != 1:
        checked_field(None, dict, "content (une seule pièce jointe)")
    first = checked_field(contents[0], dict, "content[0]")
    attachment = checked_field(first.get("attachment"), dict, "content[0].attachment")
    content_type = checked_field(attachment.get("contentType"), str, "attachment.contentType")
    if content_type not in CONTENT_TYPES:
        raise problem(
            415,
            "not-supported",
            f"Type de contenu non pris en charge : {', '.join(sorted(CONTENT_TYPES))}.",
            f"Unsupported content type: {', '.join(sorted(CONTENT_TYPES))}.",
        )
    data = checked_field(attachment.get("data"), str, "attachment.data (base64)")
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(
            "attachment.data n'est pas du base64 valide.",
            "attachment.data is not valid base64.",
            "value",
        ) from None
    if not content:
        checked_field(None, dict, "attachment.data (document vide)")
    title = body.get("description", attachment.get("title", ""))
    title = checked_field(title, str, "description").strip()
    if len(title) > MAX_TITLE_CHARS:
        checked_field(None, dict, f"description (au plus {MAX_TITLE_CHARS} caractères)")
    labels = set()
    for label in checked_field(body.get("securityLabel", []), list, "securityLabel"):
        for coding in checked_field(
            checked_field(label, dict, "securityLabel").get("coding"), list, "coding"
        ):
            code = checked_field(coding, dict, "securityLabel.coding").get("code")
            if code == NORMAL_CONFIDENTIALITY:
                continue  # normal: no visibility restriction
            if not isinstance(code, str) or code not in SECURITY_LABELS:
                checked_field(None, dict, f"securityLabel ({', '.join(SECURITY_LABELS)})")
            labels.add(code)
    return NewDocument(
        f"{system}|{value}" if system else value,
        loinc,
        title,
        content_type,
        content,
        frozenset(labels),
    )
