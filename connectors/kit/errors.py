"""One error type for every connector's client, read from the service's answer in one place.

Every service answers its errors with a FHIR OperationOutcome
(`bsp_tui.domain.fhir`); `ConnectorError.from_response` reads it, and the HTTP status
gives the error's `kind`, which gives the exit code a script sees. A connector
subclasses `ConnectorError` to name its service (`UNREADABLE`, `REASON_SYSTEM`) and so
that its callers can catch its errors alone.

The session's own errors (`SsoError`, `NoSessionError` when nobody is signed in any
more) are re-exported here: a connector knows them through the kit, not the sign-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

from bsp_tui.domain.fhir import first_issue
from bsp_tui.exitcodes import ExitCode
from bsp_tui.sso.errors import NoSessionError, SsoError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BAD_INPUT",
    "FAILURE",
    "NOT_ALLOWED",
    "NOT_FOUND",
    "UNAVAILABLE",
    "ConnectorError",
    "NoSessionError",
    "SsoError",
    "sentence",
]

BAD_INPUT = "bad_input"
NOT_ALLOWED = "not_allowed"
NOT_FOUND = "not_found"
UNAVAILABLE = "unavailable"
FAILURE = "failure"

KINDS = {400: BAD_INPUT, 413: BAD_INPUT, 415: BAD_INPUT, 422: BAD_INPUT}
KINDS |= {403: NOT_ALLOWED, 409: NOT_ALLOWED, 404: NOT_FOUND, 503: UNAVAILABLE}
EXIT_CODES = {
    BAD_INPUT: ExitCode.USAGE,
    NOT_ALLOWED: ExitCode.NOT_ALLOWED,
    NOT_FOUND: ExitCode.NOT_FOUND,
    UNAVAILABLE: ExitCode.UNREACHABLE,
}


def sentence(text: str) -> str:
    """`text` as one French sentence: capital first, one full stop last."""
    return text[:1].upper() + text[1:].rstrip(".") + "."


class ConnectorError(Exception):
    """A refusal or a failure of a connector's client.

    `kind` is what a caller branches on (`bad_input`, `not_allowed`, `not_found`,
    `unavailable` or `failure`); `message` the reason in French and `message_en` in
    English (the French when the service gave none); `status` the HTTP status (0 before
    any request); `code` the emulation's reason code (the FHIR issue type, else the kind);
    `field` the input at fault, when known.
    """

    # What the client says when the answer is no OperationOutcome; `{status}` is filled in.
    UNREADABLE: ClassVar[str] = "Le service a répondu {status}."
    # The system of the service's own reason codes ("": the issue's first coding).
    REASON_SYSTEM: ClassVar[str] = ""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        message_en: str = "",
        status: int = 0,
        code: str = "",
        field: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.message_en = message_en or message
        self.status = status
        self.code = code or kind
        self.field = field

    @property
    def exit_code(self) -> ExitCode:
        """The exit code of a command that ends on this error."""
        return EXIT_CODES.get(self.kind, ExitCode.FAILURE)

    @classmethod
    def bad_input(cls, message: str, field: str = "") -> Self:
        """A `bad_input` error, found before any request (exit 2)."""
        return cls(BAD_INPUT, message, field=field)

    @classmethod
    def from_response(cls, response: httpx.Response) -> Self:
        """The error a service's answer carries (its OperationOutcome, read leniently)."""
        try:
            body: object = response.json()
        except ValueError:
            body = None
        return cls.from_outcome(response.status_code, body)

    @classmethod
    def from_outcome(cls, status: int, body: object) -> Self:
        """The error an OperationOutcome answered with `status` carries (read leniently:
        `body` may be anything)."""
        issue = first_issue(body, cls.REASON_SYSTEM)
        kind = KINDS.get(status, FAILURE)
        unreadable = cls.UNREADABLE.format(status=status)
        if issue is None:
            return cls(kind, unreadable, status=status)
        return cls(
            kind,
            issue.message or unreadable,
            message_en=issue.english,
            status=status,
            code=issue.reason or issue.code,
            field=issue.field,
        )
