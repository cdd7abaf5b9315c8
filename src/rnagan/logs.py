"""Logging, configured once at the entry point (CLI or notebook)."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def setup_logging(level: str = "INFO") -> None:
    """Send rnagan's log records to a rich handler on stderr at ``level``."""
    logging.basicConfig(
        level=level.upper(),
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(rich_tracebacks=False, show_path=False)],
        force=True,
    )
    for noisy in ("PIL", "matplotlib", "numba", "urllib3", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
