"""The executor seam's refusals, each one line: no dask installed, no scheduler at the address (also from the CLI)."""

from __future__ import annotations

import sys
from pathlib import Path

import dask
import distributed  # noqa: F401 (loads its config defaults before a dask.config.set, which restores on exit)
import pytest

from rnagan.cli import main
from rnagan.errors import ClusterError
from rnagan.executors import open_pool


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    with pytest.raises(ClusterError, match=r"rnagan\[cluster\]"), open_pool(2, "tcp://127.0.0.1:8786"):
        pass


def test_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"),
        open_pool(2, "tcp://127.0.0.1:9", shared_paths=[tmp_path]),
    ):
        pass


def test_tile_cli_reports_an_unreachable_cluster_in_one_line(
    tmp_path: Path, real_slide: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        sys, "argv", ["rnagan", "tile", str(real_slide), "-w", str(tmp_path), "--cluster", "tcp://127.0.0.1:9"]
    )
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(SystemExit) as done:
        main()
    stderr = capsys.readouterr().err
    assert done.value.code == 2 and "Traceback" not in stderr
    assert stderr.startswith("error: ") and "cannot reach the Dask scheduler" in " ".join(stderr.split())
