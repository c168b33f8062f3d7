"""The emulated DMP: FHIR R4 in the shape of the agency's PDSm guide (a profile of IHE MHD).

Mounted by the platform at `/api/dmp`:

- `GET Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|INS` — does the DMP exist, and may
  the caller use it in this mode: a Bundle with the Patient (and, in an extension, the
  document types the caller may read), an empty Bundle (total 0) when the patient has
  no DMP, or an OperationOutcome;
- `GET DocumentReference?patient.identifier=…&status=current[&type=LOINC][&date=geYYYY-MM-DD]`
  — the documents the caller may see (searchset Bundle, most recent first);
- `GET DocumentReference/{id}` — one document's metadata;
- `GET Binary/{id}` — its content, with its real content type (or, with
  `Accept: application/fhir+json`, a FHIR Binary resource with the content in base64);
- `POST DocumentReference` — add a document (base64 attachment, at most 1 MiB);
- `POST` (the base) — a submission set (ITI-65): a transaction Bundle of one patient's
  documents, with their contents inline or as Binary entries, filed all or none;
- `PATCH DocumentReference?identifier=urn:ietf:rfc:3986|…` — change its metadata by JSON
  Patch (mask, invisible to the patient or legal representatives, archive, delete);
- `POST Patient/$autorisation-acces?identifier=…` and `$retrait-autorisation-acces` — the
  patient's authorisation of the caller to read their DMP, recorded and withdrawn;
- `GET AuditEvent?patient.identifier=…` — the patient's access history.

The access mode travels, in the emulation, as the query parameters `mode`
(`normal`, `bris_de_glace`, `centre_15`) and `reason` (the break-glass motive) on every
request. Every request that reaches an existing DMP — refusals included — is written to
the patient's access history. The rules are in `authorize` and in docs/emulation.md.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError

from bsp_tui.domain.fhir import FHIR_JSON
from bsp_tui.platform.api import (
    Body,
    Database,
    ServiceContext,
    ServiceError,
    Tx,
    fhir_response,
    service_context,
    url_of,
)
from bsp_tui.platform.idempotency import Idempotency, is_race
from connectors.dmp import updates
from connectors.dmp.access import (
    UPDATE,
    WITHDRAW,
    Caller,
    authorize,
    dmp_of,
    dmp_status,
    invalid,
    problem,
    refuse,
    standing,
    trace,
    type_problem,
    with_reason,
)
from connectors.dmp.fhir import (
    MASTER_SYSTEM,
    audit_event,
    binary_base,
    bundle,
    document_reference,
    ins_identifier,
    link_header,
    page_links,
    served_labels,
)
from connectors.dmp.filing import file_document, file_documents, new_document
from connectors.dmp.models import (
    AUTHOR_ID_SYSTEM,
    INVISIBLE_LEGAL,
    INVISIBLE_PATIENT,
    JSON_PATCH,
    MASQUE_PS,
)
from connectors.dmp.params import (
    Page,
    cursor_after,
    date_filter,
    elements,
    page,
    patient_ins,
    type_codes,
)
from connectors.dmp.submission import submission, transaction_response

ACCESS_EXTENSION = "urn:bsp:dmp:access"  # the emulation's own: what the caller may do
STATUSES = ("current", "superseded", "entered-in-error")

router = APIRouter(tags=["DMP"])
Context = Annotated[ServiceContext, Depends(service_context("dmp"))]
ModeParam = Annotated[
    str | None,
    Query(description="Access mode: normal (default), bris_de_glace or centre_15."),
]
ReasonParam = Annotated[
    str | None, Query(description="Why: required for bris_de_glace, traced for the patient.")
]


# -- documents ----------------------------------------------------------------------------


_DOC_COLUMNS = (
    "id, ins, loinc, title, author_id, author_name, created, content_type, "
    "length(content) AS size, hash, masked, invisible_patient, status, master_id, "
    "invisible_legal, archived, author_kind"
)


def _visible(row: Any, who: Caller, treating: str) -> bool:
    """Masked documents: only in an emergency mode, to their author, or to the patient's
    médecin traitant (`treating`, a national id)."""
    return not row["masked"] or who.emergency or who.national_id in (row["author_id"], treating)


def _document_row(db: Database, document_id: str) -> Any:
    row = db.one(
        f"SELECT {_DOC_COLUMNS} FROM dmp_documents WHERE id = :id",  # noqa: S608
        {"id": document_id},
    )
    if row is None or row["status"] != "current":
        raise _no_document()
    return row


def _no_document() -> ServiceError:
    return problem(
        404,
        "not-found",
        "Aucun document accessible sous cet identifiant.",
        "No accessible document has this id.",
    )


def _readable(
    context: ServiceContext, document_id: str, who: Caller, verb: str
) -> tuple[Any, dict]:
    """A document this professional may read now, and its DMP; refusals are traced."""
    row = _document_row(context.db, document_id)
    dmp = authorize(context, row["ins"], who, verb, document_id)
    if row["loinc"] not in who.types:
        raise refuse(context, row["ins"], who, verb, type_problem(who, row["loinc"]), row["id"])
    if not _visible(row, who, dmp["treating"]):
        raise refuse(
            context, row["ins"], who, verb, with_reason(_no_document(), "masked"), row["id"]
        )
    trace(context, row["ins"], who, verb, row["id"])
    return row, dmp


# -- routes -------------------------------------------------------------------------------


# When this capability statement last changed (FHIR R4 requires its date).
CAPABILITY_DATE = "2026-12-02"


@router.get("/metadata", name="dmp_metadata")
def capability_statement() -> JSONResponse:
    """What this emulated FHIR server offers."""
    search = [{"name": "patient.identifier", "type": "token"}]
    return fhir_response(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": CAPABILITY_DATE,  # FHIR R4: CapabilityStatement.date is 1..1
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": [FHIR_JSON],
            "software": {"name": "bsp — DMP émulé"},
            "rest": [
                {
                    "mode": "server",
                    # A submission set (ITI-65) is a transaction Bundle posted to the base.
                    "interaction": [{"code": "transaction"}],
                    "resource": [
                        {
                            "type": "Patient",
                            "interaction": [{"code": "search-type"}],
                            "searchParam": [{"name": "identifier", "type": "token"}],
                            # The emulation's own: the patient's authorisation, and its withdrawal.
                            "operation": [
                                {
                                    "name": "autorisation-acces",
                                    "definition": "urn:bsp:dmp:operation:autorisation-acces",
                                },
                                {
                                    "name": "retrait-autorisation-acces",
                                    "definition": (
                                        "urn:bsp:dmp:operation:retrait-autorisation-acces"
                                    ),
                                },
                            ],
                        },
                        {
                            "type": "DocumentReference",
                            "interaction": [
                                {"code": "read"},
                                {"code": "search-type"},
                                {"code": "create"},
                                {"code": "patch"},
                            ],
                            "searchParam": [
                                *search,
                                {"name": "status", "type": "token"},
                                {"name": "type", "type": "token"},
                                {"name": "date", "type": "date"},
                            ],
                        },
                        {"type": "Binary", "interaction": [{"code": "read"}]},
                        {
                            "type": "AuditEvent",
                            "interaction": [{"code": "search-type"}],
                            "searchParam": search,
                        },
                    ],
                }
            ],
        }
    )


@router.get("/Patient", name="dmp_patient_search")
def patient_search(
    request: Request,
    context: Context,
    identifier: str | None = None,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """Does the patient have a DMP, and may the caller use it in this mode?"""
    who = Caller.of(context.caller, mode, reason)
    ins = patient_ins(context.patients, identifier, "identifier")
    if dmp_status(context, ins)[1] is None:
        # PDSm: a patient without a DMP is a search that matches nothing (no DMP to trace).
        return fhir_response(bundle([]))
    dmp = authorize(context, ins, who, "check")
    trace(context, ins, who, "check")
    return _patient_bundle(request, context, ins, who, dmp)


@router.post("/Patient/$autorisation-acces", name="dmp_access_authorization")
def access_authorization(
    request: Request, context: Context, identifier: str | None = None
) -> JSONResponse:
    """Record that the patient authorises the caller, outside their care team, to read
    their DMP (the professional's software declares it); answers the check."""
    who = Caller.of(context.caller, None, None)
    ins = patient_ins(context.patients, identifier, "identifier")
    dmp = authorize(context, ins, who, "authorize")  # a blocked professional stays blocked
    with context.db.write() as conn:
        conn.execute(
            "INSERT INTO dmp_authorizations (ins, national_id, at) VALUES (:ins, :id, :at)"
            " ON CONFLICT DO NOTHING",
            {"ins": ins, "id": who.national_id, "at": context.now},
        )
    trace(context, ins, who, "authorize")
    return _patient_bundle(request, context, ins, who, dmp)


@router.post("/Patient/$retrait-autorisation-acces", name="dmp_access_withdrawal")
def access_withdrawal(
    request: Request, context: Context, identifier: str | None = None
) -> JSONResponse:
    """Record that the patient withdraws the caller's authorisation to read their DMP (the
    professional's software declares it, as it declared the authorisation); traced as
    `withdraw`; answers the check. A 409 when there is none to withdraw."""
    who = Caller.of(context.caller, None, None)
    ins = patient_ins(context.patients, identifier, "identifier")
    dmp = dmp_of(context, ins)  # a withdrawal only takes access away: no other rule
    with context.db.write() as conn:
        withdrawn = conn.execute(
            "DELETE FROM dmp_authorizations WHERE ins = :ins AND national_id = :id",
            {"ins": ins, "id": who.national_id},
        )
    if not withdrawn:
        error = problem(
            409,
            "conflict",
            "Le patient ne vous a pas donné d'autorisation d'accès à retirer.",
            "The patient has given you no access authorisation to withdraw.",
            "no_authorization",
        )
        raise refuse(context, ins, who, WITHDRAW, error)
    trace(context, ins, who, WITHDRAW)
    return _patient_bundle(request, context, ins, who, dmp)


def _patient_bundle(
    request: Request, context: ServiceContext, ins: str, who: Caller, dmp: dict[str, Any]
) -> JSONResponse:
    """The check's answer: the Patient, with what the caller may do in its extension."""
    now = standing(context, ins, who)  # after what the request changed
    assert now is not None  # the patient's DMP was found
    choices: list[dict[str, Any]] = []
    if now.treating:
        identifier = {"system": AUTHOR_ID_SYSTEM, "value": now.treating}
        choices.append({"url": "treatingDoctor", "valueIdentifier": identifier})
    choices.append({"url": "emergencyOpposed", "valueBoolean": now.opposed})
    choices.append({"url": "accessAuthorization", "valueCode": now.authorization(who)})
    patient = {
        "resourceType": "Patient",
        "id": ins,
        "active": dmp["status"] == "open",
        "identifier": [ins_identifier(ins, dmp["oid"])],
        "name": [{"use": "official", "family": dmp["family"], "given": dmp["given"].split(" ")}],
        "gender": {"F": "female", "M": "male"}.get(dmp["sex"], "unknown"),
        "birthDate": dmp["birthdate"],
        "extension": [
            {
                "url": ACCESS_EXTENSION,
                "extension": [
                    {"url": "dmpStatus", "valueCode": dmp["status"]},
                    {"url": "mode", "valueCode": who.mode},
                    *({"url": "readableType", "valueCode": code} for code in sorted(who.types)),
                    *choices,
                ],
            }
        ],
    }
    url = url_of(request, "dmp_patient_search")
    return fhir_response(bundle([(f"{url}/{ins}", patient)]))


@router.get("/DocumentReference", name="dmp_document_search")
def document_search(
    request: Request,
    context: Context,
    patient_identifier: Annotated[str | None, Query(alias="patient.identifier")] = None,
    status: str | None = None,
    types: Annotated[list[str] | None, Query(alias="type")] = None,
    dates: Annotated[list[str] | None, Query(alias="date")] = None,
    count: Annotated[str | None, Query(alias="_count")] = None,
    offset: Annotated[str | None, Query(alias="_offset")] = None,
    cursor: Annotated[str | None, Query(alias="_cursor")] = None,
    elements_named: Annotated[list[str] | None, Query(alias="_elements")] = None,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """The documents of a patient's DMP that the caller may see, most recent first, a page
    at a time (`_count`, 50 by default, at most 1000; the `next` link gives the next);
    `_elements` keeps only the elements a client reads."""
    who = Caller.of(context.caller, mode, reason)
    db = context.db
    ins = patient_ins(context.patients, patient_identifier, "patient.identifier")
    status = status or "current"
    if status not in STATUSES:
        raise invalid(
            f"Statut inconnu : {', '.join(STATUSES)}.",
            f"Unknown status: {', '.join(STATUSES)}.",
            "value",
        )
    codes = type_codes(types)
    since, date_params = date_filter(dates)
    asked = page(count, offset, cursor)
    kept = elements(elements_named)
    dmp = authorize(context, ins, who, "list")
    forbidden = [code for code in codes if code not in who.types]
    if forbidden:
        raise refuse(context, ins, who, "list", type_problem(who, forbidden[0]))
    wanted = sorted(set(codes) or who.types)
    types = {f"type{index}": code for index, code in enumerate(wanted)}
    marks = ", ".join(f":{name}" for name in types)
    # Masked documents (see `_visible`) are left out by the query, for pages to count right.
    matches = (
        f"FROM dmp_documents WHERE ins = :ins AND status = :status AND loinc IN ({marks})"
        f"{since} AND (masked = 0 OR :emergency = 1 OR author_id = :me OR :treating = 1)"
    )
    values = {"ins": ins, "status": status, **types, **date_params}
    values |= {"emergency": int(who.emergency), "me": who.national_id}
    values["treating"] = int(dmp["treating"] == who.national_id)
    rows = db.all(
        f"SELECT {_DOC_COLUMNS} {matches}{_page_clause(asked)}", values | _page_values(asked)
    )
    more = len(rows) > asked.size
    total = asked.total
    if total is None:  # the first page counts the matches; its `next` link carries the total
        # A page that holds the last match tells the total without counting.
        last = not more and (bool(rows) or asked.start == 0)
        total = asked.start + len(rows) if last else db.value(f"SELECT count(*) {matches}", values)
    rows = rows[: asked.size]
    trace(context, ins, who, "list")
    base = url_of(request, "dmp_document_search")
    binaries = binary_base(request)
    resources = [document_reference(binaries, row, dmp["oid"], kept) for row in rows]
    entries = [(f"{base}/{resource['id']}", resource) for resource in resources]
    after = cursor_after(rows[-1]["created"], rows[-1]["id"], total) if more else None
    links = page_links(request, asked.size, after)
    return fhir_response(bundle(entries, total, links), headers=link_header(links))


def _page_clause(asked: Page) -> str:
    """The page's conditions and order: after its cursor's document, or after `start`
    matches; one row more than the page, which says whether another follows."""
    order = " ORDER BY created DESC, id LIMIT :size"
    if asked.after is None:
        return order + " OFFSET :start"
    return " AND created <= :created AND (created < :created OR id > :after)" + order


def _page_values(asked: Page) -> dict[str, Any]:
    values: dict[str, Any] = {"size": asked.size + 1, "start": asked.start}
    if asked.after is not None:
        values |= {"created": asked.after[0], "after": asked.after[1]}
    return values


@router.get("/DocumentReference/{document_id}", name="dmp_document_read")
def document_read(
    request: Request,
    context: Context,
    document_id: str,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """One document's metadata."""
    who = Caller.of(context.caller, mode, reason)
    row, dmp = _readable(context, document_id, who, "metadata")
    return fhir_response(document_reference(binary_base(request), row, dmp["oid"]))


@router.get("/Binary/{document_id}", name="dmp_binary")
def binary_read(
    request: Request,
    context: Context,
    document_id: str,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> Response:
    """A document's content with its own content type (a FHIR Binary when asked for)."""
    who = Caller.of(context.caller, mode, reason)
    row, _ = _readable(context, document_id, who, "read")
    content = context.db.value(
        "SELECT content FROM dmp_documents WHERE id = :id", {"id": document_id}
    )
    if FHIR_JSON in request.headers.get("accept", ""):
        return fhir_response(
            {
                "resourceType": "Binary",
                "id": row["id"],
                "contentType": row["content_type"],
                "data": base64.b64encode(content).decode("ascii"),
            }
        )
    # An author's HTML (or anything) must not run from the platform's origin: served as
    # a download, never sniffed, and sandboxed should a browser render it anyway.
    return Response(
        content,
        media_type=row["content_type"],
        headers={
            "Content-Disposition": f'attachment; filename="{row["id"]}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


ADD_BODY_SCHEMA = {
    "type": "object",
    "required": ["resourceType", "type", "subject", "content"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["DocumentReference"]},
        "status": {"type": "string"},
        "type": {"type": "object"},
        "subject": {"type": "object"},
        "description": {"type": "string"},
        "securityLabel": {"type": "array"},
        "content": {"type": "array"},
    },
}


def _body(schema: dict, *media_types: str) -> dict:
    """The OpenAPI description of a required request body of these media types."""
    content = {media_type: {"schema": schema} for media_type in media_types}
    return {"requestBody": {"required": True, "content": content}}


def _fhir_body(schema: dict) -> dict:
    return _body(schema, FHIR_JSON, "application/json")


@router.post(
    "/DocumentReference",
    name="dmp_document_add",
    status_code=201,
    openapi_extra=_fhir_body(ADD_BODY_SCHEMA),
)
def document_add(
    request: Request,
    body: Body,
    context: Context,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """Add a document (a consultation report, say): a DocumentReference with base64 content."""
    who = Caller.of(context.caller, mode, reason)
    idempotency = Idempotency.of(request, body, "dmp_add", who.national_id)
    db = context.db
    stored = idempotency.stored(db)
    if stored is not None:
        document_id = str(stored.resource)  # a retry: the document the first one added
    else:
        new = new_document(_parsed(body))
        ins = patient_ins(context.patients, new.subject, "subject.identifier")
        try:
            document_id = file_document(
                context,
                ins,
                who,
                new,
                lambda conn, added: idempotency.record(conn, context.now, added),
            )
        except IntegrityError as error:
            if not is_race(error):
                raise
            document_id = str(idempotency.stored(db).resource)  # type: ignore[union-attr]
    row = _document_row(db, document_id)
    location = url_of(request, "dmp_document_read", document_id=document_id)
    oid = dmp_of(context, row["ins"])["oid"]
    return fhir_response(
        document_reference(binary_base(request), row, oid), 201, headers={"Location": location}
    )


SUBMISSION_BODY_SCHEMA = {
    "type": "object",
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["transaction"]},
        "entry": {"type": "array"},
    },
}


@router.post("", include_in_schema=False)  # the base with or without its slash
@router.post(
    "/",
    name="dmp_submission",
    openapi_extra=_fhir_body(SUBMISSION_BODY_SCHEMA),
)
def submission_add(
    request: Request,
    body: Body,
    context: Context,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """File a submission set (ITI-65): a transaction Bundle of one patient's documents,
    filed all or none; the transaction-response Bundle."""
    who = Caller.of(context.caller, mode, reason)
    idempotency = Idempotency.of(request, body, "dmp_submission", who.national_id)
    db = context.db
    stored = idempotency.stored(db)
    if stored is None:
        asked = submission(_parsed(body, "Bundle"))
        ins = patient_ins(context.patients, asked.subject, "List.subject.identifier")
        answer: dict[str, Any] = {"entries": asked.entries}

        def keep(conn: Tx, ids: list[str]) -> None:
            idempotency.record(conn, context.now, answer={**answer, "ids": ids})

        try:
            answer["ids"] = file_documents(context, ins, who, asked.documents, keep)
        except IntegrityError as error:
            if not is_race(error):
                raise
            stored = idempotency.stored(db)
    if stored is not None:  # a retry: the documents the first one filed
        answer = stored.answer
    rows = [_document_row(db, document_id) for document_id in answer["ids"]]
    binaries, oid = binary_base(request), dmp_of(context, rows[0]["ins"])["oid"]
    documents = [
        (
            url_of(request, "dmp_document_read", document_id=row["id"]),
            document_reference(binaries, row, oid),
        )
        for row in rows
    ]
    return fhir_response(transaction_response(answer["entries"], answer["ids"], documents))


PATCH_BODY_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["op", "path"],
        "properties": {"op": {"type": "string"}, "path": {"type": "string"}, "value": {}},
    },
}


@router.patch(
    "/DocumentReference",
    name="dmp_document_update",
    openapi_extra=_body(PATCH_BODY_SCHEMA, JSON_PATCH),
)
def document_update(
    request: Request,
    body: Body,
    context: Context,
    identifier: Annotated[
        str | None, Query(description="The document's masterIdentifier (urn:ietf:rfc:3986|…).")
    ] = None,
    logical_id: Annotated[str | None, Query(alias="_id")] = None,
) -> JSONResponse:
    """Change a document's metadata by JSON Patch (PDSm TD3.3): mask or unmask it for
    professionals, hide it from the patient or a minor's legal representatives, archive it,
    or delete it (its author only). The document named by its masterIdentifier (or `_id`)."""
    who = Caller.of(context.caller, None, None)
    if request.headers.get("content-type", "").split(";")[0].strip() != JSON_PATCH:
        raise problem(
            415,
            "not-supported",
            f"Une mise à jour se fait par JSON Patch ({JSON_PATCH}).",
            f"An update is a JSON Patch ({JSON_PATCH}).",
        )
    operations = updates.parsed(body)
    row = _patched_row(context.db, identifier, logical_id)
    ins = row["ins"]
    dmp = authorize(context, ins, who, UPDATE, row["id"])
    if row["status"] == updates.DELETED:
        error = problem(
            409,
            "conflict",
            "Ce document a été supprimé : il ne peut plus être modifié.",
            "This document was deleted: it can no longer be changed.",
            "deleted",
        )
        raise refuse(context, ins, who, UPDATE, error, row["id"])
    if row["loinc"] not in who.types:
        raise refuse(context, ins, who, UPDATE, type_problem(who, row["loinc"]), row["id"])
    if not _visible(row, who, dmp["treating"]):
        raise refuse(context, ins, who, UPDATE, with_reason(_no_document(), "masked"), row["id"])
    before = updates.State.of(row, served_labels(row))
    try:
        after = updates.applied(before, operations)
    except ServiceError as error:
        raise refuse(context, ins, who, UPDATE, error, row["id"]) from None
    done = updates.changes(before, after)
    if "delete" in done and row["author_id"] != who.national_id:
        error = problem(
            403,
            "forbidden",
            "Seul l'auteur d'un document peut le supprimer.",
            "Only a document's author can delete it.",
            "not_author",
        )
        raise refuse(context, ins, who, UPDATE, error, row["id"])
    if "hide_legal" in done and not updates.is_minor(dmp["birthdate"], context.now):
        raise refuse(context, ins, who, UPDATE, updates.not_minor(), row["id"])
    with context.db.write() as conn:
        conn.execute(
            "UPDATE dmp_documents SET masked = :masked, invisible_patient = :patient,"
            " invisible_legal = :legal, archived = :archived, status = :status WHERE id = :id",
            {
                "id": row["id"],
                "masked": int(MASQUE_PS in after.visibility),
                "patient": int(INVISIBLE_PATIENT in after.visibility),
                "legal": int(INVISIBLE_LEGAL in after.visibility),
                "archived": int(after.archived),
                "status": after.status,
            },
        )
    for verb in done or [UPDATE]:  # a patch that changes nothing is traced too
        trace(context, ins, who, verb, row["id"])
    updated = context.db.one(
        f"SELECT {_DOC_COLUMNS} FROM dmp_documents WHERE id = :id",  # noqa: S608
        {"id": row["id"]},
    )
    return fhir_response(document_reference(binary_base(request), updated, dmp["oid"]))


def _patched_row(db: Database, identifier: str | None, logical_id: str | None) -> Any:
    """The document a PATCH names, by its masterIdentifier or its id, deleted ones
    included; a 400 without exactly one of them, a 404 when none has it."""
    if (identifier is None) == (logical_id is None):
        raise invalid(
            "Nommez le document par identifier (son masterIdentifier) ou par _id.",
            "Name the document by identifier (its masterIdentifier) or by _id.",
            "required",
        )
    if identifier is not None:
        system, bar, value = identifier.rpartition("|")
        if bar and system != MASTER_SYSTEM:
            raise invalid(
                f"Système d'identifiant inconnu : attendu {MASTER_SYSTEM}.",
                f"Unknown identifier system: expected {MASTER_SYSTEM}.",
                "value",
            )
        where, key = "master_id = :key", value
    else:
        where, key = "id = :key", logical_id
    row = db.one(
        f"SELECT {_DOC_COLUMNS} FROM dmp_documents WHERE {where}",  # noqa: S608
        {"key": key},
    )
    if row is None:
        raise _no_document()
    return row


def _parsed(body: bytes, resource: str = "DocumentReference") -> Any:
    # The platform's body guard has already capped it at models.MAX_BODY_BYTES.
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise invalid(
            f"Le corps de la requête doit être une ressource {resource} en JSON.",
            f"The request body must be a {resource} resource in JSON.",
            "structure",
        ) from None


@router.get("/AuditEvent", name="dmp_history")
def history(
    request: Request,
    context: Context,
    patient_identifier: Annotated[str | None, Query(alias="patient.identifier")] = None,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """The patient's access history, most recent first (this consultation included)."""
    who = Caller.of(context.caller, mode, reason)
    db = context.db
    ins = patient_ins(context.patients, patient_identifier, "patient.identifier")
    dmp = authorize(context, ins, who, "history")
    trace(context, ins, who, "history")
    rows = db.all("SELECT * FROM dmp_access_log WHERE ins = :ins ORDER BY id DESC", {"ins": ins})
    base = url_of(request, "dmp_history")
    return fhir_response(
        bundle([(f"{base}/{row['id']}", audit_event(request, row, dmp["oid"])) for row in rows])
    )
