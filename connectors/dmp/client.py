"""The DMP client: FHIR requests over an httpx client that already carries the DMP token.

Input is checked before any request (INS key, access mode and reason, LOINC type, file);
the service's refusals come back as `DmpError`, the kit's `ConnectorError`: a `kind` a
caller can branch on, the OperationOutcome's reason in French (`message`) and English
(`message_en`), its code and the exit code.
"""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
import uuid
from pathlib import Path
from typing import Any

import httpx

from bsp_tui.domain.fhir import FHIR_JSON
from bsp_tui.domain.patients import ins_problem, oid_of
from connectors.dmp.models import (
    ARCHIVED_PATH,
    CONSULTATION_REPORT,
    CONTENT_TYPES,
    DOCUMENT_TYPES,
    JSON_PATCH,
    LOINC_SYSTEM,
    MAX_PAGE_SIZE,
    MAX_SUBMISSION_DOCUMENTS,
    MAX_TITLE_CHARS,
    MHD_LIST_TYPES,
    NORMAL,
    SUBMISSION_SET,
    UPDATE_LABELS,
    UPDATES,
    VISIBILITY_SYSTEM,
    AccessEntry,
    Document,
    DocumentInfo,
    PatientRecord,
    loinc_problem,
    mode_problem,
)
from connectors.dmp.reading import LISTED, UnreadableError, document_info, read_page
from connectors.kit.errors import FAILURE, NOT_FOUND, ConnectorError, sentence
from connectors.retry import post_once

# Extensions the platform may not know, for the files people add most.
_EXTENSIONS = {".txt": "text/plain", ".md": "text/plain", ".html": "text/html", ".htm": "text/html"}


class DmpError(ConnectorError):
    """A refusal or a failure of the DMP (see `ConnectorError`)."""

    UNREADABLE = "Le DMP a répondu {status}."


def _bad(message: str) -> DmpError:
    return DmpError.bad_input(sentence(message))


def checked_ins(ins: str) -> str:
    """The INS, stripped, or a `bad_input` DmpError naming what is wrong."""
    ins = ins.strip().upper()
    problem = ins_problem(ins)
    if problem:
        raise _bad(f"INS « {ins} » : {problem}")
    return ins


def checked_mode(mode: str, reason: str | None) -> tuple[str, str | None]:
    """The mode and reason, or a `bad_input` DmpError (a break-glass needs a reason)."""
    problem = mode_problem(mode, reason)
    if problem:
        raise _bad(problem)
    return mode, reason.strip() if reason else reason


def checked_loinc(code: str) -> str:
    """A document type the DMP knows, or a `bad_input` DmpError listing them."""
    problem = loinc_problem(code)
    if problem:
        raise _bad(problem)
    return code


def content_type_of(path: Path) -> str:
    """The content type of a file to add, from its name; `bad_input` when not accepted."""
    kind = _EXTENSIONS.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or ""
    if kind not in CONTENT_TYPES:
        accepted = ", ".join(sorted(CONTENT_TYPES))
        raise _bad(f"type de fichier non pris en charge ({path.name}) : {accepted}")
    return kind


def _patient_token(ins: str) -> str:
    return f"urn:oid:{oid_of(ins)}|{ins}"


def _params(mode: str, reason: str | None) -> dict[str, str]:
    params = {} if mode == NORMAL else {"mode": mode}
    if reason and mode != NORMAL:
        params["reason"] = reason
    return params


def _document_info(resource: dict) -> DocumentInfo:
    try:
        return document_info(resource)
    except UnreadableError:
        raise DmpError(FAILURE, "Le DMP a répondu un document illisible.") from None


async def _abandon(fetching: asyncio.Future[httpx.Response] | None) -> None:
    """A page no longer wanted: its request cancelled, or its answer closed if it came."""
    if fetching is None:
        return
    if not fetching.done():
        fetching.cancel()
    elif not fetching.cancelled() and fetching.exception() is None:
        await fetching.result().aclose()


def _checked_id(document_id: str) -> str:
    document_id = document_id.strip()
    if not document_id or not document_id.isalnum():
        raise _bad(f"identifiant de document invalide « {document_id} »")
    return document_id


def _operations(resource: dict, action: str) -> list[dict[str, Any]]:
    """The JSON Patch doing `action` on a document as served; empty when it is already so."""
    if action == "delete":
        return [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
    if action in ("archive", "unarchive"):
        archived = action == "archive"
        if _document_info(resource).archived == archived:
            return []
        return [{"op": "replace", "path": ARCHIVED_PATH, "value": archived}]
    code, hide = UPDATE_LABELS[action]
    served = [
        coding.get("code")
        for label in resource.get("securityLabel", [])
        for coding in label.get("coding", [])[:1]
    ]
    if hide:
        if code in served:
            return []
        value = {"coding": [{"system": VISIBILITY_SYSTEM, "code": code}]}
        return [{"op": "add", "path": "/securityLabel/-", "value": value}]
    return (
        [{"op": "remove", "path": f"/securityLabel/{served.index(code)}"}] if code in served else []
    )


def access_entry(event: dict) -> AccessEntry:
    """An AuditEvent as one line of the access history."""
    agent = event["agent"][0]
    purpose = (event.get("purposeOfEvent") or [{}])[0]
    roles = agent.get("role") or [{}]
    profession = (roles[0].get("coding") or [{}])[0].get("code", "")
    documents = [
        e["what"]["reference"].split("/", 1)[1]
        for e in event.get("entity", [])
        if e.get("what", {}).get("reference", "").startswith("DocumentReference/")
    ]
    refused = event.get("outcome", "0") != "0"
    return AccessEntry(
        id=event["id"],
        at=event["recorded"],
        national_id=agent["who"]["identifier"]["value"],
        name=agent["who"].get("display", ""),
        profession=profession,
        mode=(purpose.get("coding") or [{}])[0].get("code", NORMAL),
        reason=purpose.get("text", ""),
        action=event["subtype"][0]["code"],
        outcome="refused" if refused else "success",
        document_id=documents[0] if documents else "",
        refusal=event.get("outcomeDesc", "") if refused else "",
    )


def _patient_record(resource: dict) -> PatientRecord:
    access = next(
        (e for e in resource.get("extension", []) if e.get("url") == "urn:bsp:dmp:access"), {}
    )
    facts = access.get("extension", [])
    value = {e["url"]: e.get("valueCode", "") for e in facts}
    name = (resource.get("name") or [{}])[0]
    identifier = resource["identifier"][0]
    return PatientRecord(
        ins=identifier["value"],
        oid=identifier["system"].removeprefix("urn:oid:"),
        family=name.get("family", ""),
        given=" ".join(name.get("given", [])),
        sex={"female": "F", "male": "M"}.get(resource.get("gender", ""), ""),
        birthdate=resource.get("birthDate", ""),
        dmp_status=value.get("dmpStatus", ""),
        mode=value.get("mode", NORMAL),
        readable_types=tuple(e["valueCode"] for e in facts if e["url"] == "readableType"),
        access_authorization=value.get("accessAuthorization", ""),
    )


def _checked_add(
    ins: str, loinc: str, title: str | None, mode: str, reason: str | None
) -> tuple[str, str, str, str | None]:
    if title is not None and len(title.strip()) > MAX_TITLE_CHARS:
        raise _bad(f"le titre dépasse {MAX_TITLE_CHARS} caractères")
    return (checked_ins(ins), checked_loinc(loinc), *checked_mode(mode, reason))


def _upload(path: Path) -> tuple[str, bytes]:
    """A file to add: its content type and content, checked."""
    content_type = content_type_of(path)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise _bad(f"fichier illisible ({path}) : {error.strerror or error}") from None
    if not content:
        raise _bad(f"le fichier {path.name} est vide")
    return content_type, content


def _base64(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def _subject(ins: str) -> dict[str, Any]:
    return {"identifier": {"system": f"urn:oid:{oid_of(ins)}", "value": ins}}


def _document(ins: str, loinc: str, title: str | None, attachment: dict) -> dict[str, Any]:
    """The DocumentReference of a new document of `ins`."""
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {
            "coding": [{"system": LOINC_SYSTEM, "code": loinc, "display": DOCUMENT_TYPES[loinc]}]
        },
        "subject": _subject(ins),
        "description": (title or "").strip() or DOCUMENT_TYPES[loinc],
        "content": [{"attachment": attachment}],
    }


def _entry(full_url: str, resource: dict) -> dict[str, Any]:
    """A transaction Bundle's entry creating `resource`."""
    kind = resource["resourceType"]
    return {"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": kind}}


class DmpClient:
    """The DMP's operations over `client` (base URL: the DMP service; auth: its token)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._http = client

    async def _get(self, path: str, params: dict[str, Any] | None, accept: str = FHIR_JSON) -> Any:
        response = await self._http.get(path, params=params, headers={"Accept": accept})
        if response.status_code != 200:
            raise DmpError.from_response(response)
        return response

    async def patient(
        self, ins: str, mode: str = NORMAL, reason: str | None = None
    ) -> PatientRecord:
        """Check the DMP exists and that the caller may use it in this mode."""
        ins = checked_ins(ins)
        mode, reason = checked_mode(mode, reason)
        params = {"identifier": _patient_token(ins)} | _params(mode, reason)
        bundle = (await self._get("/Patient", params)).json()
        if not bundle.get("entry"):
            # The DMP answers a patient without a DMP by a search that matches nothing.
            raise DmpError(
                NOT_FOUND,
                "Ce patient n'a pas de DMP.",
                message_en="This patient has no DMP.",
                status=200,
                code="not-found",
            )
        return _patient_record(bundle["entry"][0]["resource"])

    async def authorize(self, ins: str) -> PatientRecord:
        """Record that the patient authorises the caller, outside their care team, to read
        their DMP; the check's answer afterwards."""
        return await self._authorization(ins, "$autorisation-acces")

    async def withdraw_authorization(self, ins: str) -> PatientRecord:
        """Record that the patient withdraws the caller's authorisation to read their DMP
        (`no_authorization` when there is none); the check's answer afterwards."""
        return await self._authorization(ins, "$retrait-autorisation-acces")

    async def _authorization(self, ins: str, operation: str) -> PatientRecord:
        ins = checked_ins(ins)
        response = await self._http.post(
            f"/Patient/{operation}",
            params={"identifier": _patient_token(ins)},
            headers={"Accept": FHIR_JSON},
        )
        if response.status_code != 200:
            raise DmpError.from_response(response)
        return _patient_record(response.json()["entry"][0]["resource"])

    async def list(
        self,
        ins: str,
        type: str | None = None,
        since: str | None = None,
        mode: str = NORMAL,
        reason: str | None = None,
    ) -> list[DocumentInfo]:
        """The documents of the patient's DMP the caller may see, most recent first.

        `since` (YYYY-MM-DD) keeps the documents of that day and after. The DMP answers a
        page at a time: the pages are followed (their `next` links) to the last.
        """
        ins = checked_ins(ins)
        mode, reason = checked_mode(mode, reason)
        params: dict[str, Any] = {"patient.identifier": _patient_token(ins), "status": "current"}
        if type:
            params["type"] = f"{LOINC_SYSTEM}|{checked_loinc(type)}"
        if since:
            params["date"] = f"ge{since}"
        params |= {"_count": str(MAX_PAGE_SIZE), "_elements": LISTED} | _params(mode, reason)
        documents: list[DocumentInfo] = []
        response = await self._headers_of("/DocumentReference", params)
        while True:
            # The next page is asked for as soon as this one's headers are in (its address
            # comes first, in the Link header, RFC 8288), on a second connection, and this
            # one is read in a thread: the DMP builds the next page while this one travels
            # and is read. A link carries the query whole: no params, which would replace it.
            fetching = self._page(response.links.get("next", {}).get("url"))
            try:
                content = await response.aread()
                link, page = await asyncio.to_thread(read_page, content)
            except UnreadableError:
                await _abandon(fetching)
                raise DmpError(FAILURE, "Le DMP a répondu une page illisible.") from None
            except BaseException:
                await _abandon(fetching)
                raise
            finally:
                await response.aclose()
            documents += page
            # A DMP that gives its pages' links in the Bundle only.
            fetching = fetching or self._page(link)
            if fetching is None:
                return documents
            response = await fetching

    async def _headers_of(self, path: str, params: dict[str, Any] | None) -> httpx.Response:
        """A page's answer once its headers are in, its body still to read."""
        request = self._http.build_request(
            "GET", path, params=params, headers={"Accept": FHIR_JSON}
        )
        response = await self._http.send(request, stream=True)
        if response.status_code != 200:
            try:
                await response.aread()
            finally:
                await response.aclose()
            raise DmpError.from_response(response)
        return response

    def _page(self, url: str | None) -> asyncio.Future[httpx.Response] | None:
        """The page at `url` (a `next` link), being fetched; None without a link."""
        if url is None:
            return None
        return asyncio.ensure_future(self._headers_of(self._same_service(url), None))

    def _same_service(self, url: str) -> str:
        """A page link, checked to be the DMP's own: the token goes with it, and must go
        nowhere else."""
        base = str(self._http.base_url).rstrip("/") + "/"
        if not url.startswith(base):
            raise DmpError(FAILURE, "Le DMP a donné un lien de page hors du service DMP.")
        return url

    async def show(
        self, document_id: str, mode: str = NORMAL, reason: str | None = None
    ) -> Document:
        """One document: its metadata and its content."""
        mode, reason = checked_mode(mode, reason)
        document_id = _checked_id(document_id)
        params = _params(mode, reason)
        resource = (await self._get(f"/DocumentReference/{document_id}", params)).json()
        content = (await self._get(f"/Binary/{document_id}", params, accept="*/*")).content
        return Document(_document_info(resource), content)

    async def update(self, document_id: str, action: str) -> DocumentInfo:
        """Change a document's metadata by JSON Patch: `action` one of models.UPDATES (mask,
        unmask, hide_patient, show_patient, hide_legal, show_legal, archive, unarchive,
        delete, the last for its author only); the document afterwards. The document is
        read first: a label is removed where it is served."""
        if action not in UPDATES:
            raise _bad(f"mise à jour inconnue « {action} » : {', '.join(UPDATES)}")
        document_id = _checked_id(document_id)
        resource = (await self._get(f"/DocumentReference/{document_id}", None)).json()
        operations = _operations(resource, action)
        if not operations:
            return _document_info(resource)  # already so: nothing to change
        response = await self._http.patch(
            "/DocumentReference",
            params={"_id": document_id},
            content=json.dumps(operations).encode(),
            headers={"Content-Type": JSON_PATCH, "Accept": FHIR_JSON},
        )
        if response.status_code != 200:
            raise DmpError.from_response(response)
        return _document_info(response.json())

    async def add(
        self,
        ins: str,
        path: Path | str,
        loinc: str = CONSULTATION_REPORT,
        title: str | None = None,
        mode: str = NORMAL,
        reason: str | None = None,
    ) -> DocumentInfo:
        """Add a document from a file (a consultation report by default)."""
        ins, loinc, mode, reason = _checked_add(ins, loinc, title, mode, reason)
        content_type, content = _upload(Path(path))
        attachment = {"contentType": content_type, "data": _base64(content)}
        resource = _document(ins, loinc, title, attachment | {"title": Path(path).name})
        answer = await self._post("/DocumentReference", resource, mode, reason, 201)
        return _document_info(answer)

    async def submit(
        self,
        ins: str,
        paths: list[Path] | list[str],
        loinc: str = CONSULTATION_REPORT,
        title: str | None = None,
        mode: str = NORMAL,
        reason: str | None = None,
    ) -> list[DocumentInfo]:
        """Add several documents from files in one submission set (ITI-65): the DMP files
        them all or none; each file's document, in order."""
        ins, loinc, mode, reason = _checked_add(ins, loinc, title, mode, reason)
        if not 1 <= len(paths) <= MAX_SUBMISSION_DOCUMENTS:
            raise _bad(
                f"de 1 à {MAX_SUBMISSION_DOCUMENTS} fichiers par envoi ({len(paths)} donnés)"
            )
        entries: list[dict[str, Any]] = []
        listed = []
        for path in map(Path, paths):
            content_type, content = _upload(path)
            binary, reference = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
            attachment = {"contentType": content_type, "url": binary, "title": path.name}
            entries.append(_entry(reference, _document(ins, loinc, title, attachment)))
            entries.append(
                _entry(
                    binary,
                    {
                        "resourceType": "Binary",
                        "contentType": content_type,
                        "data": _base64(content),
                    },
                )
            )
            listed.append({"item": {"reference": reference}})
        submission_set = {
            "resourceType": "List",
            "status": "current",
            "mode": "working",
            "code": {"coding": [{"system": MHD_LIST_TYPES, "code": SUBMISSION_SET}]},
            "subject": _subject(ins),
            "entry": listed,
        }
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [_entry(f"urn:uuid:{uuid.uuid4()}", submission_set), *entries],
        }
        answered = (await self._post("", bundle, mode, reason, 200)).get("entry", [])
        return [_document_info(e["resource"]) for e in answered if "resource" in e]

    async def _post(
        self, path: str, resource: dict, mode: str, reason: str | None, expected: int
    ) -> dict[str, Any]:
        """POST a FHIR resource under a fresh Idempotency-Key (retried once on a transport
        error or a 503); its answer when the status is `expected`."""
        response = await post_once(
            self._http,
            path,
            json=resource,
            params=_params(mode, reason),
            headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
        )
        if response.status_code != expected:
            raise DmpError.from_response(response)
        answer: dict[str, Any] = response.json()
        return answer

    async def history(self, ins: str) -> list[AccessEntry]:
        """The patient's access history, most recent first."""
        ins = checked_ins(ins)
        bundle = (
            await self._get("/AuditEvent", {"patient.identifier": _patient_token(ins)})
        ).json()
        return [access_entry(entry["resource"]) for entry in bundle.get("entry", [])]
