"""The exit codes every `bsp` command uses (see DESIGN.md)."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Stable exit codes that scripts can branch on."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NO_SESSION = 3
    NOT_ALLOWED = 4
    NOT_FOUND = 5
    UNREACHABLE = 6
