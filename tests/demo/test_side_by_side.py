"""Side-by-side jobs: each runs once in a worker process, its time comes back, and a failure stops the stage."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from rnagan.demo.side_by_side import Job, _bar, _quiet_bars, _show_progress, run_side_by_side
from rnagan.logs import PROGRESS_ENV, append_record, progress_bars


def _append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def _job(name: str, path: Path, text: str) -> Job:
    return Job(name, functools.partial(Path.write_text, path, text))  # picklable: a worker imports Path


def test_one_process_runs_the_jobs_here_in_order(tmp_path: Path) -> None:
    order = tmp_path / "order.txt"
    jobs = [Job(n, functools.partial(_append, order, n)) for n in ("a", "b", "c")]
    ran = run_side_by_side(jobs, processes=1)
    assert order.read_text() == "abc"
    assert not ran.in_workers and ran.worker_cpu_seconds == 0.0
    assert list(ran.times) == ["a", "b", "c"]


@pytest.mark.integration
def test_workers_run_every_job_once_and_report_their_cpu(tmp_path: Path) -> None:
    jobs = [_job(n, tmp_path / f"{n}.txt", n * 3) for n in ("a", "b", "c")]
    ran = run_side_by_side(jobs, processes=2)
    assert {p.name: p.read_text() for p in sorted(tmp_path.glob("*.txt"))} == {
        "a.txt": "aaa",
        "b.txt": "bbb",
        "c.txt": "ccc",
    }
    assert ran.in_workers and list(ran.times) == ["a", "b", "c"]
    assert all(t["seconds"] >= 0 and t["cpu_seconds"] >= 0 for t in ran.times.values())
    assert ran.worker_cpu_seconds == pytest.approx(sum(t["cpu_seconds"] for t in ran.times.values()))


@pytest.mark.integration
def test_a_failing_job_raises_its_own_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file.txt"
    jobs = [_job("fine", tmp_path / "fine.txt", "ok"), Job("broken", functools.partial(Path.read_text, missing))]
    with pytest.raises(FileNotFoundError, match="no-such-file"):
        run_side_by_side(jobs, processes=2)


def test_progress_reads_the_last_logged_step(tmp_path: Path) -> None:
    log_file = tmp_path / "log.jsonl"
    job = Job("run", functools.partial(Path.exists, tmp_path), log_file=log_file, steps=100)
    bar = _bar(job, 0)
    _show_progress(job, bar)  # no log yet: the bar stays at 0
    assert bar.n == 0
    for step in (10, 20, 30):
        append_record(log_file, {"step": step, "loss": 1.0})
    _show_progress(job, bar)
    assert bar.n == 30
    bar.close()


def test_workers_leave_the_bars_to_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert progress_bars()
    with _quiet_bars():  # what a spawned worker inherits
        assert not progress_bars()
    assert progress_bars() and PROGRESS_ENV not in os.environ
