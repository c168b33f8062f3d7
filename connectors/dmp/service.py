"""The emulated DMP: FHIR R4 in the shape of the agency's PDSm guide (a profile of IHE MHD).

Mounted by the platform at `/api/dmp`:

- `GET Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|INS` — does the DMP exist, and may
  the caller use it in this mode: a Bundle with the Patient (and, in an extension, the
  document types the caller may read), or an OperationOutcome;
- `GET DocumentReference?patient.identifier=…&status=current[&type=LOINC][&date=geYYYY-MM-DD]`
  — the documents the caller may see (searchset Bundle, most recent first);
- `GET DocumentReference/{id}` — one document's metadata;
- `GET Binary/{id}` — its content, with its real content type (or, with
  `Accept: application/fhir+json`, a FHIR Binary resource with the content in base64);
- `POST DocumentReference` — add a document (base64 attachment, at most 1 MiB);
- `GET AuditEvent?patient.identifier=…` — the patient's access history.

The access mode travels, in the emulation, as the query parameters `mode`
(`normal`, `bris_de_glace`, `centre_15`) and `reason` (the break-glass motive) on every
request. Every request that reaches an existing DMP — refusals included — is written to
the patient's access history. The rules are in `authorize` and in docs/emulation.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from bsp_tui.domain.patients import OID_NIA, OID_NIR, OID_NIR_DEMO, OID_NIR_TEST, ins_problem
from bsp_tui.platform.db import Database
from bsp_tui.platform.idempotency import Idempotency, is_race
from bsp_tui.platform.population import ensure_population
from bsp_tui.platform.psc.routes import platform_of
from bsp_tui.platform.services import ServiceError, bearer, caller
from connectors.dmp.models import (
    AUTHOR_ID_SYSTEM,
    BREAK_GLASS_PROFESSIONS,
    BRIS_DE_GLACE,
    CENTRE_15,
    CENTRE_15_PROFESSION,
    CENTRE_15_SAVOIR_FAIRE,
    CONFIDENTIALITY_SYSTEM,
    CONTENT_TYPES,
    DOCUMENT_TYPES,
    INVISIBLE_PATIENT,
    LOINC_SYSTEM,
    MASQUE_PS,
    MAX_CONTENT_BYTES,
    MAX_REASON_CHARS,
    MAX_TITLE_CHARS,
    MODES,
    NORMAL,
    PROFESSION_SYSTEM,
    SECURITY_LABELS,
    readable_types,
)

FHIR_JSON = "application/fhir+json"
OUTCOME_SYSTEM = "urn:bsp:dmp:refusal"  # the emulation's own refusal codes
ACCESS_EXTENSION = "urn:bsp:dmp:access"  # the emulation's own: what the caller may do
MODE_SYSTEM = "urn:bsp:dmp:mode"
ACTION_SYSTEM = "urn:bsp:dmp:action"
INS_OIDS = (OID_NIR, OID_NIA, OID_NIR_TEST, OID_NIR_DEMO)
STATUSES = ("current", "superseded", "entered-in-error")

router = APIRouter(tags=["DMP"])
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
ModeParam = Annotated[
    str | None,
    Query(description="Access mode: normal (default), bris_de_glace or centre_15."),
]
ReasonParam = Annotated[
    str | None, Query(description="Why: required for bris_de_glace, traced for the patient.")
]


class DmpServiceError(ServiceError):
    """An OperationOutcome with the reason in French (diagnostics) and English (details)."""

    def __init__(
        self, status: int, code: str, french: str, english: str, refusal: str = ""
    ) -> None:
        super().__init__(status, code, french)
        self.english = english
        self.refusal = refusal

    def response(self) -> JSONResponse:
        """The OperationOutcome answer."""
        details: dict[str, Any] = {"text": self.english}
        if self.refusal:
            details["coding"] = [{"system": OUTCOME_SYSTEM, "code": self.refusal}]
        issue = {
            "severity": "error",
            "code": self.code,
            "diagnostics": self.message,
            "details": details,
        }
        return JSONResponse(
            {"resourceType": "OperationOutcome", "issue": [issue]},
            status_code=self.status,
            media_type=FHIR_JSON,
        )


def _invalid(french: str, english: str, code: str = "invalid") -> DmpServiceError:
    return DmpServiceError(400, code, french, english)


def _fhir(body: dict, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


# -- who is calling, and in which mode ---------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The professional behind the API token, and the mode they ask for."""

    national_id: str
    name: str
    profession: str
    profession_label: str
    savoir_faire: str
    mode: str
    reason: str

    @classmethod
    def of(cls, claims: dict, mode: str | None, reason: str | None) -> Caller:
        mode = NORMAL if mode in (None, "") else mode
        if mode not in MODES:
            raise _invalid(
                f"Mode d'accès inconnu « {mode[:40]} » : {', '.join(MODES)}.",
                f"Unknown access mode; expected one of {', '.join(MODES)}.",
                "value",
            )
        reason = (reason or "").strip()
        if len(reason) > MAX_REASON_CHARS:
            raise _invalid(
                f"Le motif dépasse {MAX_REASON_CHARS} caractères.",
                f"The reason is longer than {MAX_REASON_CHARS} characters.",
                "value",
            )
        profession = claims.get("profession") or {}
        return cls(
            national_id=str(claims.get("preferred_username", "")),
            name=f"{claims.get('given_name', '')} {claims.get('family_name', '')}".strip(),
            profession=str(profession.get("code", "")),
            profession_label=str(profession.get("label", "")) or "profession inconnue",
            savoir_faire=str(profession.get("savoir_faire", "")),
            mode=mode,
            reason=reason if mode != NORMAL else "",
        )

    @property
    def types(self) -> frozenset[str]:
        return readable_types(self.profession)

    @property
    def emergency(self) -> bool:
        """Break-glass and regulation see what the patient hid from professionals."""
        return self.mode != NORMAL


def _claims(request: Request, credentials: HTTPAuthorizationCredentials | None) -> dict:
    return caller("dmp", request, credentials)


def _db(request: Request) -> Database:
    db = platform_of(request).db
    ensure_population(db)
    return db


def _now(request: Request) -> float:
    return platform_of(request).settings.now()


# -- the access history -------------------------------------------------------------------


def _action(verb: str, target: str = "", refusal: str = "") -> str:
    """How an access is stored: `verb[:target]`, prefixed `refused:CODE:` for a refusal."""
    action = f"{verb}:{target}" if target else verb
    return f"refused:{refusal}:{action}" if refusal else action


def _parse_action(action: str) -> tuple[str, str, str]:
    """(verb, target, refusal) from a stored action."""
    refusal = ""
    if action.startswith("refused:"):
        _, refusal, action = action.split(":", 2)
    verb, _, target = action.partition(":")
    return verb, target, refusal


def _trace(
    db: Database, now: float, ins: str, who: Caller, verb: str, target: str = "", refusal: str = ""
) -> None:
    with db.write() as conn:
        conn.execute(
            "INSERT INTO dmp_access_log (ins, at, national_id, name, profession, mode, reason,"
            " action) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ins,
                now,
                who.national_id,
                who.name,
                who.profession,
                who.mode,
                who.reason,
                _action(verb, target, refusal),
            ),
        )


def _refuse(
    db: Database,
    now: float,
    ins: str,
    who: Caller,
    verb: str,
    problem: DmpServiceError,
    target: str = "",
) -> DmpServiceError:
    """Trace a refused attempt in the patient's history; the problem to raise."""
    _trace(db, now, ins, who, verb, target, problem.refusal or problem.code)
    return problem


# -- the rules ----------------------------------------------------------------------------


def _rule_problem(db: Database, ins: str, dmp_status: str, who: Caller) -> DmpServiceError | None:
    """Why this professional may not use this DMP in this mode, or None."""
    if not who.types:
        return DmpServiceError(
            403,
            "forbidden",
            f"Votre profession ({who.profession_label}) n'a pas accès au DMP.",
            f"Your profession ({who.profession or 'unknown'}) has no access to the DMP.",
            "profession",
        )
    if who.mode == BRIS_DE_GLACE and who.profession not in BREAK_GLASS_PROFESSIONS:
        return DmpServiceError(
            403,
            "forbidden",
            "Le bris de glace est réservé aux médecins et aux infirmiers.",
            "Break-glass access is reserved to physicians and nurses.",
            "mode_profession",
        )
    if who.mode == CENTRE_15 and (
        who.profession != CENTRE_15_PROFESSION or who.savoir_faire != CENTRE_15_SAVOIR_FAIRE
    ):
        return DmpServiceError(
            403,
            "forbidden",
            "Le mode centre 15 est réservé aux médecins régulateurs (médecine d'urgence).",
            "The centre 15 mode is reserved to regulating physicians (emergency medicine).",
            "mode_profession",
        )
    if who.mode == BRIS_DE_GLACE and not who.reason:
        return DmpServiceError(
            400,
            "required",
            "Le bris de glace exige un motif : il sera tracé et visible du patient.",
            "Break-glass access requires a reason: it is traced and shown to the patient.",
            "reason_required",
        )
    if db.one("SELECT 1 FROM dmp_blocks WHERE ins = ? AND national_id = ?", (ins, who.national_id)):
        return DmpServiceError(
            403,
            "forbidden",
            "Le patient vous a bloqué : vous n'avez pas accès à son DMP, même en urgence.",
            "The patient has blocked you: you have no access to their DMP, even in an emergency.",
            "blocked",
        )
    if dmp_status != "open":
        return DmpServiceError(
            403,
            "forbidden",
            "Ce DMP est fermé : il ne peut plus être ni consulté ni alimenté.",
            "This DMP is closed: it can be neither read nor added to.",
            "closed",
        )
    return None


def _type_problem(who: Caller, loinc: str) -> DmpServiceError:
    label = DOCUMENT_TYPES.get(loinc, loinc)
    return DmpServiceError(
        403,
        "forbidden",
        f"Votre profession ({who.profession_label}) n'a pas accès aux documents de type "
        f"« {label} » ({loinc}).",
        f"Your profession has no access to documents of type {loinc}.",
        "document_type",
    )


def _authorize(
    db: Database, now: float, ins: str, who: Caller, verb: str, target: str = ""
) -> dict:
    """The DMP of `ins` if this professional may use it now; else trace and raise."""
    dmp = _dmp_of(db, ins)
    problem = _rule_problem(db, ins, dmp["status"], who)
    if problem is not None:
        raise _refuse(db, now, ins, who, verb, problem, target)
    return dmp


def _dmp_of(db: Database, ins: str) -> dict:
    row = db.one(
        "SELECT p.ins, p.oid, p.family, p.given, p.sex, p.birthdate, d.status FROM patients p "
        "LEFT JOIN dmps d ON d.ins = p.ins WHERE p.ins = ?",
        (ins,),
    )
    if row is None:
        raise DmpServiceError(
            404,
            "not-found",
            "Aucun patient ne porte cet INS.",
            "No patient has this INS.",
        )
    if row["status"] is None:
        raise DmpServiceError(
            404,
            "not-found",
            "Ce patient n'a pas de DMP.",
            "This patient has no DMP.",
        )
    return dict(row)


# -- parameters ---------------------------------------------------------------------------


def _patient_ins(db: Database, identifier: str | None, name: str) -> str:
    """The INS of a `system|value` token (system optional), checked."""
    if not identifier:
        raise _invalid(
            f"Le paramètre {name} est obligatoire (urn:oid:1.2.250.1.213.1.4.10|INS).",
            f"The {name} parameter is required.",
            "required",
        )
    system, bar, value = identifier.rpartition("|")
    if not bar:
        system, value = "", identifier
    problem = ins_problem(value)
    if problem:
        raise _invalid(f"INS invalide : {problem}.", "Malformed INS.", "value")
    oid = system.removeprefix("urn:oid:")
    if system and oid not in INS_OIDS:
        raise _invalid(
            "Système d'identifiant inconnu : attendu urn:oid: suivi de l'OID de l'INS.",
            "Unknown identifier system: expected urn:oid: and an INS OID.",
            "value",
        )
    if system:
        row = db.one("SELECT oid FROM patients WHERE ins = ?", (value,))
        if row is not None and row["oid"] != oid:
            raise DmpServiceError(
                404,
                "not-found",
                f"Cet INS n'est pas connu sous l'OID {oid} (mais sous {row['oid']}).",
                "This INS is not known under that OID.",
            )
    return value


def _type_codes(values: list[str] | None) -> list[str]:
    codes: list[str] = []
    for value in values or []:
        for token in value.split(","):
            system, bar, code = token.rpartition("|")
            if bar and system not in ("", LOINC_SYSTEM):
                raise _invalid(
                    f"Système de type inconnu : attendu {LOINC_SYSTEM}.",
                    f"Unknown type system: expected {LOINC_SYSTEM}.",
                    "value",
                )
            code = code if bar else token
            if code not in DOCUMENT_TYPES:
                raise _invalid(
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
        raise _invalid(
            "Date invalide : écrivez par exemple ge2020-01-01 (préfixes eq, ge, gt, le, lt).",
            "Invalid date: write for instance ge2020-01-01 (prefixes eq, ge, gt, le, lt).",
            "value",
        ) from None
    return prefix, first.isoformat(), last.isoformat()


def _date_filter(values: list[str] | None) -> tuple[str, list[str]]:
    clauses, params = [], []
    day = "substr(created, 1, 10)"
    for value in values or []:
        prefix, first, last = _date_range(value)
        if prefix == "eq":
            clauses.append(f"{day} BETWEEN ? AND ?")
            params += [first, last]
        else:
            operator, bound = {
                "ge": (">=", first),
                "gt": (">", last),
                "le": ("<=", last),
                "lt": ("<", first),
            }[prefix]
            clauses.append(f"{day} {operator} ?")
            params.append(bound)
    return "".join(f" AND {c}" for c in clauses), params


# -- resources ----------------------------------------------------------------------------

_DOC_COLUMNS = (
    "id, ins, loinc, title, author_id, author_name, created, content_type, "
    "length(content) AS size, masked, invisible_patient, status"
)


def _visible(row: Any, who: Caller) -> bool:
    """Masked documents: only in an emergency mode, or to their author."""
    return not row["masked"] or who.emergency or row["author_id"] == who.national_id


def _instant(created: str) -> str:
    return created if "T" in created else f"{created}T00:00:00Z"


def _recorded(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ins_identifier(ins: str, oid: str) -> dict:
    return {"system": f"urn:oid:{oid}", "value": ins}


def _document_reference(request: Request, row: Any, oid: str) -> dict:
    labels = [
        code
        for code, flag in (
            (MASQUE_PS, row["masked"]),
            (INVISIBLE_PATIENT, row["invisible_patient"]),
        )
        if flag
    ]
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": row["id"],
        "status": row["status"],
        "type": {
            "coding": [
                {
                    "system": LOINC_SYSTEM,
                    "code": row["loinc"],
                    "display": DOCUMENT_TYPES.get(row["loinc"], row["loinc"]),
                }
            ]
        },
        "subject": {"identifier": _ins_identifier(row["ins"], oid)},
        "date": _instant(row["created"]),
        "author": [
            {
                "identifier": {"system": AUTHOR_ID_SYSTEM, "value": row["author_id"]},
                "display": row["author_name"],
            }
        ],
        "description": row["title"],
        "content": [
            {
                "attachment": {
                    "contentType": row["content_type"],
                    "size": row["size"],
                    "title": row["title"],
                    "url": str(request.url_for("dmp_binary", document_id=row["id"])),
                    "creation": _instant(row["created"]),
                }
            }
        ],
    }
    if labels:
        resource["securityLabel"] = [
            {
                "coding": [
                    {"system": CONFIDENTIALITY_SYSTEM, "code": c, "display": SECURITY_LABELS[c]}
                ]
            }
            for c in labels
        ]
    return resource


def _bundle(entries: list[tuple[str, dict]]) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "entry": [
            {"fullUrl": url, "resource": resource, "search": {"mode": "match"}}
            for url, resource in entries
        ],
    }


def _document_row(db: Database, document_id: str) -> Any:
    row = db.one(f"SELECT {_DOC_COLUMNS} FROM dmp_documents WHERE id = ?", (document_id,))  # noqa: S608
    if row is None or row["status"] != "current":
        raise _no_document()
    return row


def _no_document() -> DmpServiceError:
    return DmpServiceError(
        404,
        "not-found",
        "Aucun document accessible sous cet identifiant.",
        "No accessible document has this id.",
    )


def _readable(request: Request, document_id: str, who: Caller, verb: str) -> tuple[Any, dict]:
    """A document this professional may read now, and its DMP; refusals are traced."""
    db, now = _db(request), _now(request)
    row = _document_row(db, document_id)
    dmp = _authorize(db, now, row["ins"], who, verb, document_id)
    if row["loinc"] not in who.types:
        raise _refuse(db, now, row["ins"], who, verb, _type_problem(who, row["loinc"]), row["id"])
    if not _visible(row, who):
        problem = _no_document()
        problem.refusal = "masked"
        raise _refuse(db, now, row["ins"], who, verb, problem, row["id"])
    _trace(db, now, row["ins"], who, verb, row["id"])
    return row, dmp


# -- routes -------------------------------------------------------------------------------


@router.get("/metadata", name="dmp_metadata")
async def capability_statement() -> JSONResponse:
    """What this emulated FHIR server offers."""
    search = [{"name": "patient.identifier", "type": "token"}]
    return _fhir(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": [FHIR_JSON],
            "software": {"name": "bsp — DMP émulé"},
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {
                            "type": "Patient",
                            "interaction": [{"code": "search-type"}],
                            "searchParam": [{"name": "identifier", "type": "token"}],
                        },
                        {
                            "type": "DocumentReference",
                            "interaction": [
                                {"code": "read"},
                                {"code": "search-type"},
                                {"code": "create"},
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
async def patient_search(
    request: Request,
    credentials: Credentials,
    identifier: str | None = None,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """Does the patient have a DMP, and may the caller use it in this mode?"""
    who = Caller.of(_claims(request, credentials), mode, reason)
    db, now = _db(request), _now(request)
    ins = _patient_ins(db, identifier, "identifier")
    dmp = _authorize(db, now, ins, who, "check")
    _trace(db, now, ins, who, "check")
    patient = {
        "resourceType": "Patient",
        "id": ins,
        "identifier": [_ins_identifier(ins, dmp["oid"])],
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
                ],
            }
        ],
    }
    url = str(request.url_for("dmp_patient_search"))
    return _fhir(_bundle([(f"{url}/{ins}", patient)]))


@router.get("/DocumentReference", name="dmp_document_search")
async def document_search(
    request: Request,
    credentials: Credentials,
    patient_identifier: Annotated[str | None, Query(alias="patient.identifier")] = None,
    status: str | None = None,
    types: Annotated[list[str] | None, Query(alias="type")] = None,
    dates: Annotated[list[str] | None, Query(alias="date")] = None,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """The documents of a patient's DMP that the caller may see, most recent first."""
    who = Caller.of(_claims(request, credentials), mode, reason)
    db, now = _db(request), _now(request)
    ins = _patient_ins(db, patient_identifier, "patient.identifier")
    status = status or "current"
    if status not in STATUSES:
        raise _invalid(
            f"Statut inconnu : {', '.join(STATUSES)}.",
            f"Unknown status: {', '.join(STATUSES)}.",
            "value",
        )
    codes = _type_codes(types)
    since, date_params = _date_filter(dates)
    dmp = _authorize(db, now, ins, who, "list")
    forbidden = [code for code in codes if code not in who.types]
    if forbidden:
        raise _refuse(db, now, ins, who, "list", _type_problem(who, forbidden[0]))
    wanted = sorted(set(codes) or who.types)
    marks = ", ".join("?" for _ in wanted)
    rows = db.all(
        f"SELECT {_DOC_COLUMNS} FROM dmp_documents WHERE ins = ? AND status = ?"  # noqa: S608
        f" AND loinc IN ({marks}){since} ORDER BY created DESC, id",
        (ins, status, *wanted, *date_params),
    )
    _trace(db, now, ins, who, "list")
    base = str(request.url_for("dmp_document_search"))
    return _fhir(
        _bundle(
            [
                (f"{base}/{row['id']}", _document_reference(request, row, dmp["oid"]))
                for row in rows
                if _visible(row, who)
            ]
        )
    )


@router.get("/DocumentReference/{document_id}", name="dmp_document_read")
async def document_read(
    request: Request,
    credentials: Credentials,
    document_id: str,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """One document's metadata."""
    who = Caller.of(_claims(request, credentials), mode, reason)
    row, dmp = _readable(request, document_id, who, "metadata")
    return _fhir(_document_reference(request, row, dmp["oid"]))


@router.get("/Binary/{document_id}", name="dmp_binary")
async def binary_read(
    request: Request,
    credentials: Credentials,
    document_id: str,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> Response:
    """A document's content with its own content type (a FHIR Binary when asked for)."""
    who = Caller.of(_claims(request, credentials), mode, reason)
    row, _ = _readable(request, document_id, who, "read")
    content = _db(request).one("SELECT content FROM dmp_documents WHERE id = ?", (document_id,))[
        "content"
    ]
    if FHIR_JSON in request.headers.get("accept", ""):
        return _fhir(
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


@router.post(
    "/DocumentReference",
    name="dmp_document_add",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FHIR_JSON: {"schema": ADD_BODY_SCHEMA},
                "application/json": {"schema": ADD_BODY_SCHEMA},
            },
        }
    },
)
async def document_add(
    request: Request,
    credentials: Credentials,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """Add a document (a consultation report, say): a DocumentReference with base64 content."""
    who = Caller.of(_claims(request, credentials), mode, reason)
    idempotency = await Idempotency.of(request, "dmp_add", who.national_id)
    db, now = _db(request), _now(request)
    stored = idempotency.stored(db)
    if stored is not None:
        document_id = str(stored.resource)  # a retry: the document the first one added
    else:
        new = _new_document(await _read_body(request))
        ins = _patient_ins(db, new.subject, "subject.identifier")
        try:
            document_id = file_document(
                db, now, ins, who, new, lambda conn, added: idempotency.record(conn, now, added)
            )
        except sqlite3.IntegrityError as error:
            if not is_race(error):
                raise
            document_id = str(idempotency.stored(db).resource)  # type: ignore[union-attr]
    row = _document_row(db, document_id)
    location = str(request.url_for("dmp_document_read", document_id=document_id))
    oid = _dmp_of(db, row["ins"])["oid"]
    return _fhir(_document_reference(request, row, oid), 201, headers={"Location": location})


def file_document(
    db: Database,
    now: float,
    ins: str,
    who: Caller,
    new: NewDocument,
    also: Callable[[sqlite3.Connection, str], None] | None = None,
) -> str:
    """Add a document to the DMP of `ins` under the DMP's rules; its id.

    Also how another emulated service files a copy (the e-prescription's): a refusal
    is traced in the patient's history and raised as a `DmpServiceError`. `also` runs
    in the transaction that adds the document, given its id: what it writes is
    committed with the document, and what it raises leaves no document.
    """
    _authorize(db, now, ins, who, "add")
    if new.loinc not in who.types:
        raise _refuse(db, now, ins, who, "add", _type_problem(who, new.loinc))
    if len(new.content) > MAX_CONTENT_BYTES:
        raise _refuse(db, now, ins, who, "add", _too_large(len(new.content)))
    document_id = secrets.token_hex(8)
    with db.write() as conn:
        conn.execute(
            "INSERT INTO dmp_documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'current')",
            (
                document_id,
                ins,
                new.loinc,
                new.title or DOCUMENT_TYPES[new.loinc],
                who.national_id,
                who.name,
                _recorded(now),
                new.content_type,
                new.content,
                int(MASQUE_PS in new.labels),
                int(INVISIBLE_PATIENT in new.labels),
            ),
        )
        if also is not None:
            also(conn, document_id)
    _trace(db, now, ins, who, "add", document_id)
    return document_id


def _too_large(size: int) -> DmpServiceError:
    limit = MAX_CONTENT_BYTES // 1024
    return DmpServiceError(
        413,
        "too-costly",
        f"Document trop volumineux ({size // 1024} Kio) : la limite est de {limit} Kio.",
        f"Document too large ({size} bytes): the limit is {MAX_CONTENT_BYTES} bytes.",
        "too_large",
    )


async def _read_body(request: Request) -> Any:
    # The platform's body guard has already capped it at models.MAX_BODY_BYTES.
    try:
        return json.loads(await request.body())
    except (ValueError, RecursionError):
        raise _invalid(
            "Le corps de la requête doit être une ressource DocumentReference en JSON.",
            "The request body must be a DocumentReference resource in JSON.",
            "structure",
        ) from None


@dataclass(frozen=True)
class NewDocument:
    """A document to add: its subject (`system|INS`), type, title, content and labels."""

    subject: str
    loinc: str
    title: str
    content_type: str
    content: bytes
    labels: frozenset[str]


def _field(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        raise _invalid(
            f"DocumentReference mal formée : {where} manquant ou invalide.",
            f"Malformed DocumentReference: {where} missing or invalid.",
            "structure",
        )
    return value


def _new_document(body: Any) -> NewDocument:
    body = _field(body, dict, "la ressource")
    if body.get("resourceType") != "DocumentReference":
        _field(None, dict, "resourceType = DocumentReference")
    if body.get("status", "current") != "current":
        _field(None, dict, "status = current")
    subject = _field(body.get("subject"), dict, "subject")
    identifier = _field(subject.get("identifier"), dict, "subject.identifier")
    value = _field(identifier.get("value"), str, "subject.identifier.value")
    system = identifier.get("system", "")
    system = _field(system, str, "subject.identifier.system")
    codings = _field(_field(body.get("type"), dict, "type").get("coding"), list, "type.coding")
    loincs = [
        c.get("code")
        for c in codings
        if isinstance(c, dict) and c.get("system", LOINC_SYSTEM) == LOINC_SYSTEM
    ]
    loinc = _field(loincs[0] if loincs else None, str, "type.coding (LOINC)")
    _type_codes([loinc])
    contents = _field(body.get("content"), list, "content")
    if len(contents) != 1:
        _field(None, dict, "content (une seule pièce jointe)")
    first = _field(contents[0], dict, "content[0]")
    attachment = _field(first.get("attachment"), dict, "content[0].attachment")
    content_type = _field(attachment.get("contentType"), str, "attachment.contentType")
    if content_type not in CONTENT_TYPES:
        raise DmpServiceError(
            415,
            "not-supported",
            f"Type de contenu non pris en charge : {', '.join(sorted(CONTENT_TYPES))}.",
            f"Unsupported content type: {', '.join(sorted(CONTENT_TYPES))}.",
        )
    data = _field(attachment.get("data"), str, "attachment.data (base64)")
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(
            "attachment.data n'est pas du base64 valide.",
            "attachment.data is not valid base64.",
            "value",
        ) from None
    if not content:
        _field(None, dict, "attachment.data (document vide)")
    title = body.get("description", attachment.get("title", ""))
    title = _field(title, str, "description").strip()
    if len(title) > MAX_TITLE_CHARS:
        _field(None, dict, f"description (au plus {MAX_TITLE_CHARS} caractères)")
    labels = set()
    for label in _field(body.get("securityLabel", []), list, "securityLabel"):
        for coding in _field(_field(label, dict, "securityLabel").get("coding"), list, "coding"):
            code = _field(coding, dict, "securityLabel.coding").get("code")
            if not isinstance(code, str) or code not in SECURITY_LABELS:
                _field(None, dict, f"securityLabel ({', '.join(SECURITY_LABELS)})")
            labels.add(code)
    return NewDocument(
        f"{system}|{value}" if system else value,
        loinc,
        title,
        content_type,
        content,
        frozenset(labels),
    )


@router.get("/AuditEvent", name="dmp_history")
async def history(
    request: Request,
    credentials: Credentials,
    patient_identifier: Annotated[str | None, Query(alias="patient.identifier")] = None,
    mode: ModeParam = None,
    reason: ReasonParam = None,
) -> JSONResponse:
    """The patient's access history, most recent first (this consultation included)."""
    who = Caller.of(_claims(request, credentials), mode, reason)
    db, now = _db(request), _now(request)
    ins = _patient_ins(db, patient_identifier, "patient.identifier")
    dmp = _authorize(db, now, ins, who, "history")
    _trace(db, now, ins, who, "history")
    rows = db.all("SELECT * FROM dmp_access_log WHERE ins = ? ORDER BY id DESC", (ins,))
    base = str(request.url_for("dmp_history"))
    return _fhir(
        _bundle([(f"{base}/{row['id']}", _audit_event(request, row, dmp["oid"])) for row in rows])
    )


_FHIR_ACTIONS = {
    "check": "E",
    "list": "R",
    "metadata": "R",
    "read": "R",
    "add": "C",
    "history": "R",
}


def _audit_event(request: Request, row: Any, oid: str) -> dict:
    verb, target, refusal = _parse_action(row["action"])
    entities: list[dict] = [{"what": {"identifier": _ins_identifier(row["ins"], oid)}}]
    if target:
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
        "recorded": _recorded(row["at"]),
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
