"""The `bsp` entry point: the interface at once, or the command line."""

from __future__ import annotations

import logging
import sys

from bsp_tui.config import folders
from bsp_tui.logs import log_to_file

log = logging.getLogger("bsp.main")


def main() -> None:
    """Console entry point.

    `bsp` and `bsp --demo` in a terminal are the clinician's and the trainer's daily
    start: they open the interface without loading the command-line parser. Both log to
    `bsp.log` in the logs folder (level `BSP_LOG_LEVEL`, INFO by default), redacted.
    """
    log_to_file(folders().logs / "bsp.log")
    args = sys.argv[1:]
    if args in ([], ["--demo"]) and sys.stdin.isatty() and sys.stdout.isatty():
        from bsp_tui.app.app import run

        log.info("Interface démarrée%s.", " (mode formateur)" if args else "")
        run(demo=bool(args))
        return
    from bsp_tui.cli import cli

    try:
        cli(prog_name="bsp")
    except SystemExit as done:
        log.info("Fin de la commande : code %s.", done.code or 0)
        raise
    except BaseException:
        log.exception("La commande a échoué.")
        raise
