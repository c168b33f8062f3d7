"""FHIR helpers both halves share: the OperationOutcome every service answers its errors
with, built on one side and read on the other, and codings.

An outcome's issue carries the reason in French (`diagnostics`), optionally in English
(`details.text`), the emulation's own reason code (`details.coding`, in the service's
system), and the field at fault (`expression`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FHIR_JSON = "application/fhir+json"
OPERATION_OUTCOME = "OperationOutcome"


def coding(system: str, code: str, display: str = "") -> dict[str, str]:
    """A FHIR Coding (the display only when given)."""
    result = {"system": system, "code": code}
    if display:
        result["display"] = display
    return result


def code_in(concept: object, system: str) -> str:
    """The code a CodeableConcept (or a `details` block) gives in `system`, or ""."""
    if not isinstance(concept, dict):
        return ""
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return ""
    for item in codings:
        if isinstance(item, dict) and item.get("system") == system:
            return str(item.get("code", ""))
    return ""


@dataclass(frozen=True)
class Issue:
    """One issue of an OperationOutcome.

    `code` is FHIR's issue type (invalid, forbidden, not-found, conflict, login…); `reason`
    is the emulation's own code in `system` (a refusal's name, say)."""

    code: str
    message: str
    english: str = ""
    reason: str = ""
    system: str = ""
    field: str = ""
    severity: str = "error"

    def resource(self) -> dict[str, Any]:
        """The issue as FHIR JSON."""
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.message,
        }
        details: dict[str, Any] = {}
        if self.reason:
            details["coding"] = [coding(self.system, self.reason)]
        if self.english:
            details["text"] = self.english
        if details:
            issue["details"] = details
        if self.field:
            issue["expression"] = [self.field]
        return issue


def operation_outcome(*issues: Issue) -> dict[str, Any]:
    """An OperationOutcome resource holding `issues`."""
    return {"resourceType": OPERATION_OUTCOME, "issue": [issue.resource() for issue in issues]}


def first_issue(body: object, system: str = "") -> Issue | None:
    """The first issue of an OperationOutcome, read leniently; None when `body` is not one.

    `reason` is the code in `system` when one is given, else the first coding's code."""
    if not isinstance(body, dict) or body.get("resourceType") != OPERATION_OUTCOME:
        return None
    issues = body.get("issue")
    if not isinstance(issues, list) or not issues or not isinstance(issues[0], dict):
        return None
    raw = issues[0]
    found = raw.get("details")
    details: dict[str, Any] = found if isinstance(found, dict) else {}
    codings = details.get("coding") if isinstance(details.get("coding"), list) else []
    first = codings[0] if codings and isinstance(codings[0], dict) else {}
    reason = code_in(details, system) if system else str(first.get("code", ""))
    expression = raw.get("expression")
    field = str(expression[0]) if isinstance(expression, list) and expression else ""
    return Issue(
        code=str(raw.get("code", "")),
        message=str(raw.get("diagnostics", "")),
        english=str(details.get("text", "")),
        reason=reason,
        system=system or str(first.get("system", "")),
        field=field,
        severity=str(raw.get("severity", "error")),
    )
