"""Sign-in failures, each with the exit code a script can branch on."""

from __future__ import annotations

from bsp_tui.exitcodes import ExitCode


class SsoError(Exception):
    """A sign-in or session failure; the message is one French sentence for people."""

    exit_code = ExitCode.FAILURE
    code = "sso_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoSessionError(SsoError):
    """No usable session: the person must sign in again.

    `reason` says what happened, for any interface; the message adds how to sign in
    from the command line.
    """

    exit_code = ExitCode.NO_SESSION
    code = "no_session"

    def __init__(self, reason: str, hint: str = "reconnectez-vous avec `bsp login`.") -> None:
        super().__init__(f"{reason} : {hint}")
        self.reason = reason


class SignInRefusedError(SsoError):
    """The professional (or their e-CPS) refused, or the request expired."""

    code = "sign_in_refused"


class StoreUnavailableError(SsoError):
    """No token store can be used until the person chooses one: no session can be kept,
    so a command that needs one ends as without a session (exit 3)."""

    exit_code = ExitCode.NO_SESSION
    code = "no_token_store"


class UsageError(SsoError):
    """A request that cannot work as asked."""

    exit_code = ExitCode.USAGE
    code = "usage"


class UnreachableError(SsoError):
    """The identity provider or the platform does not answer."""

    exit_code = ExitCode.UNREACHABLE
    code = "unreachable"


class ServiceRefusedError(SsoError):
    """A service refused the session's token twice in a row."""

    exit_code = ExitCode.NO_SESSION
    code = "token_refused"
