"""Logging, configured once at the entry point (CLI or notebook), the records a run keeps in ``log.jsonl``, and
whether a process draws its own progress bars."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from rich.logging import RichHandler

from rnagan.fileio import atomic_path

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: "0" in a worker process whose parent draws the bars (rnagan.demo.side_by_side); read at each bar's start
PROGRESS_ENV = "RNAGAN_PROGRESS_BARS"

log = logging.getLogger(__name__)


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


def progress_bars() -> bool:
    """Whether this process draws its training bars: not in a worker whose parent draws them from its log."""
    return os.environ.get(PROGRESS_ENV, "1") != "0"


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of a run's ``log.jsonl``; a damaged line (a crash mid-write, an edit) is skipped with a warning."""
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("no integer step")
        except ValueError:
            log.warning("%s line %d is damaged and was skipped: %.80s", path, number, line)
            continue
        records.append(record)
    return records


def truncate_log(path: Path, step: int) -> None:
    """Drop records past ``step`` (written by a run killed after its last checkpoint) and damaged lines."""
    if not path.is_file():
        return
    kept = [json.dumps(record) for record in read_log(path) if record["step"] <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in kept))


def append_record(path: Path, record: dict[str, Any]) -> None:
    """One record as one line: a crash mid-write damages that line only, which :func:`read_log` skips."""
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
