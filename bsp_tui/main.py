"""The `bsp` entry point: the interface at once, or the command line."""

from __future__ import annotations

import sys


def main() -> None:
    """Console entry point.

    `bsp` and `bsp --demo` in a terminal are the clinician's and the trainer's daily
    start: they open the interface without loading the command-line parser.
    """
    args = sys.argv[1:]
    if args in ([], ["--demo"]) and sys.stdin.isatty() and sys.stdout.isatty():
        from bsp_tui.app.app import run

        run(demo=bool(args))
        return
    from bsp_tui.cli import cli

    cli(prog_name="bsp")
