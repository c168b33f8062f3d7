"""Updates of a document's metadata by JSON Patch (RFC 6902), as the PDSm guide's flows
TD3.3a–d send them (`PATCH DocumentReference?identifier=…`): its visibility labels, its
archiving (PDSm_isArchived) and its deletion (`status` → `entered-in-error`).

Only the few operations the guide describes are accepted, checked here rather than by a
general JSON Patch engine: `add`, `replace` and `remove` on `/securityLabel/N` (or
`/securityLabel/-`), `replace` of `/status` by `entered-in-error`, and `add` or `replace` of
the isArchived extension's `valueBoolean`. Indexes count in the labels as the document is
served (`served_labels`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from bsp_tui.platform.api import ServiceError
from connectors.dmp.access import invalid, problem
from connectors.dmp.models import (
    ARCHIVED_EXTENSION,
    ARCHIVED_PATH,
    CONFIDENTIALITY_SYSTEM,
    INVISIBLE_LEGAL,
    INVISIBLE_PATIENT,
    MAJORITY,
    MASQUE_PS,
    NORMAL_CONFIDENTIALITY,
    SECURITY_LABELS,
    V3_CONFIDENTIALITY_SYSTEM,
    VISIBILITY_SYSTEM,
)

DELETED = "entered-in-error"
MAX_OPERATIONS = 20  # the guide's patches have one; a few together are fine (ours)
_LABEL_PATH = re.compile(r"/securityLabel/(-|0|[1-9][0-9]{0,2})")
_ARCHIVED_PATHS = frozenset({ARCHIVED_PATH, f'/extension[url:"{ARCHIVED_EXTENSION}"]/valueBoolean'})
# The systems a label's code may come under: the DMP's visibility codes by their OID or
# their nomenclature's URL, the normal confidentiality by HL7's.
_SYSTEMS = {
    **{code: {CONFIDENTIALITY_SYSTEM, VISIBILITY_SYSTEM} for code in SECURITY_LABELS},
    NORMAL_CONFIDENTIALITY: {V3_CONFIDENTIALITY_SYSTEM},
}


@dataclass(frozen=True)
class State:
    """What a JSON Patch may change of a document: its labels as served, in order (`N`
    when it has none), its status and whether it is archived."""

    labels: tuple[str, ...]
    status: str
    archived: bool

    @classmethod
    def of(cls, row: Any, labels: list[str]) -> State:
        """A stored document's state, `labels` as `served_labels` gives them."""
        return cls(tuple(labels), row["status"], bool(row["archived"]))

    @property
    def visibility(self) -> frozenset[str]:
        """The DMP's visibility codes among the labels."""
        return frozenset(self.labels) - {NORMAL_CONFIDENTIALITY}


def parsed(body: bytes) -> list[dict[str, Any]]:
    """The operations of a JSON Patch document; a 400 when it is not one."""
    try:
        operations = json.loads(body)
    except (ValueError, RecursionError):
        operations = None
    if (
        not isinstance(operations, list)
        or not operations
        or not all(isinstance(operation, dict) for operation in operations)
    ):
        raise invalid(
            "Le corps de la requête doit être un JSON Patch : un tableau d'opérations.",
            "The request body must be a JSON Patch: an array of operations.",
            "structure",
        )
    if len(operations) > MAX_OPERATIONS:
        raise invalid(
            f"Un JSON Patch de {MAX_OPERATIONS} opérations au plus.",
            f"A JSON Patch of at most {MAX_OPERATIONS} operations.",
            "too-costly",
        )
    return operations


def unprocessable(french: str, english: str) -> ServiceError:
    """An operation the DMP does not apply (422, refusal `patch`)."""
    return problem(422, "processing", french, english, "patch")


def applied(state: State, operations: list[dict[str, Any]]) -> State:
    """The state after the operations, in order; a 422 for one the DMP does not apply."""
    for operation in operations:
        state = _apply(state, operation)
    return state


def _apply(state: State, operation: dict[str, Any]) -> State:
    op, path = operation.get("op"), operation.get("path")
    if not isinstance(op, str) or not isinstance(path, str):
        raise unprocessable(
            "Chaque opération du JSON Patch a un « op » et un « path ».",
            "Each JSON Patch operation has an op and a path.",
        )
    label = _LABEL_PATH.fullmatch(path)
    if label is not None:
        return replace(state, labels=_labels(state.labels, op, label.group(1), operation))
    if path == "/status":
        if op != "replace" or operation.get("value") != DELETED:
            raise unprocessable(
                f"Le statut ne se change que par « replace » en « {DELETED} » (suppression).",
                f"The status only changes by a replace to {DELETED} (deletion).",
            )
        return replace(state, status=DELETED)
    if path in _ARCHIVED_PATHS:
        value = operation.get("value")
        if op not in ("add", "replace") or not isinstance(value, bool):
            raise unprocessable(
                "L'archivage se change par « replace » (ou « add ») d'un booléen.",
                "Archiving changes by a replace (or add) of a boolean.",
            )
        return replace(state, archived=value)
    raise unprocessable(
        "Seuls securityLabel, status et l'extension isArchived d'un document sont modifiables.",
        "Only a document's securityLabel, status and isArchived extension can be changed.",
    )


def _labels(labels: tuple[str, ...], op: str, where: str, operation: dict) -> tuple[str, ...]:
    result = list(labels)
    end = where == "-"
    index = len(result) if end else int(where)
    if op == "remove" or (op == "replace" and not end):
        if end or index >= len(result):
            raise unprocessable(
                f"Le document n'a pas d'étiquette de sécurité n° {where}.",
                f"The document has no security label at {where}.",
            )
        del result[index]
        if op == "remove":
            return tuple(result)
    elif op != "add" or index > len(result):
        raise unprocessable(
            "Une étiquette de sécurité s'ajoute (« add »), se remplace (« replace ») ou "
            "s'enlève (« remove ») à un index existant.",
            "A security label is added, replaced or removed at an existing index.",
        )
    result.insert(index, _label_code(operation.get("value")))
    return tuple(result)


def _label_code(value: Any) -> str:
    codings = value.get("coding") if isinstance(value, dict) else None
    coding = codings[0] if isinstance(codings, list) and len(codings) == 1 else None
    code = coding.get("code") if isinstance(coding, dict) else None
    if not isinstance(code, str) or code not in _SYSTEMS:
        known = ", ".join([*SECURITY_LABELS, NORMAL_CONFIDENTIALITY])
        raise unprocessable(
            f"Étiquette de sécurité inconnue : une seule parmi {known}.",
            f"Unknown security label: exactly one of {known}.",
        )
    if coding.get("system", next(iter(_SYSTEMS[code]))) not in _SYSTEMS[code]:
        raise unprocessable(
            f"L'étiquette {code} n'est pas de ce système de codes.",
            f"The label {code} is not of this code system.",
        )
    return code


def changes(before: State, after: State) -> list[str]:
    """The updates (the names of models.UPDATES) from one state to the other, in the order
    the history shows them."""
    found = []
    for code, hide, show in (
        (MASQUE_PS, "mask", "unmask"),
        (INVISIBLE_PATIENT, "hide_patient", "show_patient"),
        (INVISIBLE_LEGAL, "hide_legal", "show_legal"),
    ):
        if (code in after.visibility) != (code in before.visibility):
            found.append(hide if code in after.visibility else show)
    if after.archived != before.archived:
        found.append("archive" if after.archived else "unarchive")
    if after.status != before.status:
        found.append("delete")
    return found


def not_minor() -> ServiceError:
    """The refusal of hiding a document from the legal representatives of a patient of
    age (422, refusal `not_minor`)."""
    return problem(
        422,
        "business-rule",
        "Le patient est majeur : il n'a pas de représentants légaux à qui cacher un document.",
        "The patient is of age: there are no legal representatives to hide it from.",
        "not_minor",
    )


def is_minor(birthdate: str, now: float) -> bool:
    """True when a patient born on `birthdate` (YYYY-MM-DD) is under age at `now`."""
    born = date.fromisoformat(birthdate)
    today = datetime.fromtimestamp(now, UTC).date()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return age < MAJORITY
