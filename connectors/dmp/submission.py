"""A submission set (IHE MHD ITI-65, Provide Document Bundle, as the PDSm guide profiles it):
several documents of one patient filed at once, all or none.

The transaction Bundle holds one SubmissionSet (a `List` coded `submissionset`), the
`DocumentReference`s it lists and, optionally, their contents as `Binary` entries that an
attachment names by `fullUrl` instead of carrying its own `data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.dmp.access import invalid
from connectors.dmp.filing import NewDocument, checked_field, new_document
from connectors.dmp.models import MAX_SUBMISSION_DOCUMENTS, MHD_LIST_TYPES, SUBMISSION_SET

KINDS = ("List", "DocumentReference", "Binary")


@dataclass(frozen=True)
class Submission:
    """What a submission asks: its patient (`system|value`), its documents in order, and
    for each entry of the Bundle its resource type and the index of the document it
    belongs to (None for the SubmissionSet), to answer entry by entry."""

    subject: str
    documents: list[NewDocument]
    entries: list[tuple[str, int | None]]


def _field(value: Any, kind: type, where: str) -> Any:
    return checked_field(value, kind, where, "Bundle")


def _bad(french: str, english: str) -> Exception:
    return invalid(f"Bundle refusé : {french}.", f"Bundle refused: {english}.", "value")


def _subject(resource: dict, where: str) -> str:
    subject = _field(resource.get("subject"), dict, f"{where}.subject")
    identifier = _field(subject.get("identifier"), dict, f"{where}.subject.identifier")
    value = _field(identifier.get("value"), str, f"{where}.subject.identifier.value")
    system = _field(identifier.get("system", ""), str, f"{where}.subject.identifier.system")
    return f"{system}|{value}" if system else value


def _is_submission_set(resource: dict) -> bool:
    codings = (resource.get("code") or {}).get("coding") if isinstance(resource, dict) else None
    return isinstance(codings, list) and any(
        isinstance(c, dict)
        and c.get("system") == MHD_LIST_TYPES
        and c.get("code") == SUBMISSION_SET
        for c in codings
    )


def _listed(submission_set: dict) -> list[str]:
    items = _field(submission_set.get("entry"), list, "List.entry")
    references = []
    for item in items:
        entry = _field(_field(item, dict, "List.entry").get("item"), dict, "List.entry.item")
        references.append(_field(entry.get("reference"), str, "List.entry.item.reference"))
    return references


def _with_content(resource: dict, binaries: dict[str, dict], used: set[str]) -> dict:
    """The DocumentReference with the content of the Binary its attachment names, if any."""
    contents = resource.get("content")
    if not (isinstance(contents, list) and len(contents) == 1 and isinstance(contents[0], dict)):
        return resource  # new_document says what is wrong
    attachment = contents[0].get("attachment")
    if not isinstance(attachment, dict) or "data" in attachment or "url" not in attachment:
        return resource
    url = attachment["url"]
    binary = binaries.get(url) if isinstance(url, str) else None
    if isinstance(url, str) and url in used:
        raise _bad(
            f"le Binary {url!r} est la pièce jointe de deux documents",
            f"the Binary {url!r} is two documents' attachment",
        )
    if binary is None:
        raise _bad(
            f"attachment.url {url!r} ne désigne aucune entrée Binary du Bundle",
            f"attachment.url {url!r} names no Binary entry of the Bundle",
        )
    binary_type = _field(binary.get("contentType"), str, "Binary.contentType")
    if attachment.get("contentType", binary_type) != binary_type:
        raise _bad(
            "le contentType de la pièce jointe n'est pas celui du Binary",
            "the attachment's contentType is not its Binary's",
        )
    used.add(url)
    data = _field(binary.get("data"), str, "Binary.data (base64)")
    merged = {**attachment, "contentType": binary_type, "data": data}
    merged.pop("url")
    return {**resource, "content": [{**contents[0], "attachment": merged}]}


def submission(body: Any) -> Submission:
    """The submission a transaction Bundle describes, checked; a 400 (or 415) otherwise."""
    body = _field(body, dict, "la ressource")
    if body.get("resourceType") != "Bundle" or body.get("type") != "transaction":
        _field(None, dict, "resourceType = Bundle, type = transaction")
    raw = _field(body.get("entry"), list, "entry")
    entries: list[tuple[str, str, dict]] = []  # resource type, fullUrl, resource
    for entry in raw:
        entry = _field(entry, dict, "entry")
        resource = _field(entry.get("resource"), dict, "entry.resource")
        kind = resource.get("resourceType")
        if kind not in KINDS:
            raise _bad(
                f"une entrée {kind!r} ; seules List, DocumentReference et Binary sont acceptées",
                f"an entry {kind!r}; only List, DocumentReference and Binary are accepted",
            )
        request = _field(entry.get("request"), dict, "entry.request")
        if request.get("method") != "POST" or request.get("url") != kind:
            _field(None, dict, f"entry.request (POST {kind})")
        full_url = entry.get("fullUrl", "")
        if kind != "List":
            full_url = _field(entry.get("fullUrl"), str, f"entry.fullUrl ({kind})")
        entries.append((kind, full_url, resource))
    sets = [resource for kind, _, resource in entries if kind == "List"]
    if len(sets) != 1 or not _is_submission_set(sets[0]):
        raise _bad(
            f"il faut une et une seule List codée {SUBMISSION_SET} ({MHD_LIST_TYPES})",
            f"exactly one List coded {SUBMISSION_SET} is required",
        )
    urls = [url for kind, url, _ in entries if kind != "List"]
    if len(set(urls)) != len(urls):
        raise _bad("deux entrées ont le même fullUrl", "two entries share a fullUrl")
    references = [url for kind, url, _ in entries if kind == "DocumentReference"]
    if not references or sorted(_listed(sets[0])) != sorted(references):
        raise _bad(
            "la List doit nommer chaque DocumentReference du Bundle, et rien d'autre",
            "the List must name each DocumentReference of the Bundle and nothing else",
        )
    if len(references) > MAX_SUBMISSION_DOCUMENTS:
        raise _bad(
            f"{len(references)} documents ; au plus {MAX_SUBMISSION_DOCUMENTS} par soumission",
            f"{len(references)} documents; at most {MAX_SUBMISSION_DOCUMENTS} per submission",
        )
    subject = _subject(sets[0], "List")
    binaries = {url: resource for kind, url, resource in entries if kind == "Binary"}
    used: set[str] = set()
    documents: list[NewDocument] = []
    owner: dict[str, int] = {}  # an entry's fullUrl: the index of the document it belongs to
    for kind, url, resource in entries:
        if kind != "DocumentReference":
            continue
        before = set(used)
        document = new_document(_with_content(resource, binaries, used))
        if document.subject != subject:
            raise _bad(
                "un document n'a pas le patient de la List",
                "a document's subject is not the List's",
            )
        for named in (url, *(used - before)):
            owner[named] = len(documents)
        documents.append(document)
    if used != set(binaries):
        raise _bad(
            "une entrée Binary n'est la pièce jointe d'aucun document",
            "a Binary entry is no document's attachment",
        )
    order = [(kind, None if kind == "List" else owner[url]) for kind, url, _ in entries]
    return Submission(subject, documents, order)


def transaction_response(
    order: list[tuple[str, int | None]], ids: list[str], documents: list[tuple[str, dict]]
) -> dict[str, Any]:
    """The answer to a submission, entry by entry in the Bundle's order: each document's
    `(url, resource)` as filed, its content's Binary, and the SubmissionSet (not kept:
    the emulation's own, so it has no location)."""
    answer = []
    for kind, index in order:
        if index is None:
            answer.append({"response": {"status": "201 Created"}})
        elif kind == "Binary":
            location = f"Binary/{ids[index]}"
            answer.append({"response": {"status": "201 Created", "location": location}})
        else:
            url, resource = documents[index]
            location = f"DocumentReference/{ids[index]}"
            answer.append(
                {
                    "fullUrl": url,
                    "resource": resource,
                    "response": {"status": "201 Created", "location": location},
                }
            )
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": answer}
