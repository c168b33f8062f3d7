"""The `bsp` entry point: the interface at once, or the command line."""

from __future__ import annotations

import gc
import logging
import sys

log = logging.getLogger("bsp.main")
GC_THRESHOLD = 50_000  # new objects between two passes of the collector (Python: 700)


def start_log() -> None:
    """Append this run's records to `bsp.log` in the logs folder."""
    from bsp_tui.config import folders
    from bsp_tui.logs import log_to_file

    log_to_file(folders().logs / "bsp.log")


def main() -> None:
    """Console entry point.

    `bsp` and `bsp --demo` in a terminal are the clinician's and the trainer's daily
    start: they open the interface without loading the command-line parser. Both log to
    `bsp.log` in the logs folder (level `BSP_LOG_LEVEL`, INFO by default), redacted.
    """
    args = sys.argv[1:]
    if args in ([], ["--demo"]) and sys.stdin.isatty() and sys.stdout.isatty():
        from bsp_tui.app.app import run

        run(demo=bool(args))  # the interface starts its log once its first screen is up
        return
    start_log()
    from bsp_tui.cli import cli

    # Most commands build their answer at once (a long DMP list is a million objects,
    # none in a cycle): the collector's frequent passes over everything already loaded
    # cost such a command a third of its time. What is loaded stays, so it is left out of
    # them; a long run (a served platform, a batch) still collects its cycles, every
    # GC_THRESHOLD new objects.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)

    try:
        cli(prog_name="bsp")
    except SystemExit as done:
        log.info("Fin de la commande : code %s.", done.code or 0)
        raise
    except BaseException:
        log.exception("La commande a échoué.")
        raise
