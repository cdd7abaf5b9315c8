"""A demo stage's independent jobs (its GAN runs, its generations) side by side in fresh processes.

A small network's step does not keep every core busy: on 2 cores, two 1-thread GAN runs at once finish
about a tenth more steps per second than one 2-thread run after another (docs/decisions.md). Each job is a picklable
call (a ``functools.partial`` of a module-level function) that writes its own outputs; what comes back
is its time. Jobs start in the order given, ``processes`` at a time; one that fails stops the others.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from rnagan.logs import PROGRESS_ENV, read_log, setup_logging

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0  # how often the progress bars read the jobs' logs


@dataclass(frozen=True)
class Job:
    """One job: its name, the call, and the ``log.jsonl`` whose last step its progress bar shows."""

    name: str
    call: Callable[[], object]
    log_file: Path | None = None
    steps: int | None = None  # the step the job ends at (the bar's total)


@dataclass(frozen=True)
class JobTimes:
    """Each job's wall and CPU seconds, by name, and how many ran at once (more than one: in worker processes,
    whose CPU time the caller's own clock does not see)."""

    times: dict[str, dict[str, float]]
    at_once: int

    @property
    def in_workers(self) -> bool:
        return self.at_once > 1

    @property
    def worker_cpu_seconds(self) -> float:
        return sum(t["cpu_seconds"] for t in self.times.values()) if self.in_workers else 0.0


def run_side_by_side(jobs: Sequence[Job], processes: int) -> JobTimes:
    """Run ``jobs``, ``processes`` at a time, and time each.

    ``processes`` 1 runs them one after another in this process, with its threads; more gives each
    worker ``cpu_count // processes`` torch threads (at least one).
    """
    if processes <= 1 or len(jobs) <= 1:
        return JobTimes({job.name: _timed(job.call) for job in jobs}, at_once=1)
    workers = min(processes, len(jobs))
    threads = max(1, (os.cpu_count() or 1) // workers)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    log.info(
        "%d jobs, %d at a time with %d torch thread(s) each: %s",
        len(jobs),
        workers,
        threads,
        ", ".join(job.name for job in jobs),
    )
    context = multiprocessing.get_context("spawn")  # a clean start: no inherited torch threads or open stores
    with _quiet_bars(), context.Pool(workers, initializer=_start_worker, initargs=(threads, level)) as pool:
        pending = {job.name: pool.apply_async(_timed, (job.call,)) for job in jobs}
        bars = {job.name: _bar(job, position) for position, job in enumerate(jobs)}
        try:
            times = _collect(jobs, pending, bars)
        except BaseException:
            pool.terminate()  # a failed or interrupted job: the others stop too
            raise
        finally:
            for bar in bars.values():
                bar.close()
    return JobTimes(times, at_once=workers)


def _collect(jobs: Sequence[Job], pending: dict, bars: dict[str, tqdm]) -> dict[str, dict[str, float]]:
    """Wait for every job, moving its bar to the last step its log records; re-raise the first failure."""
    times: dict[str, dict[str, float]] = {}
    while len(times) < len(jobs):
        for job in jobs:
            if job.name in times:
                continue
            _show_progress(job, bars[job.name])
            if pending[job.name].ready():
                times[job.name] = pending[job.name].get()  # a job's exception is raised here
                _show_progress(job, bars[job.name])
        if len(times) < len(jobs):
            time.sleep(POLL_SECONDS)
    return {job.name: times[job.name] for job in jobs}  # in the jobs' order, not the order they finished


def _bar(job: Job, position: int) -> tqdm:
    return tqdm(total=job.steps, desc=job.name, unit="step", position=position, leave=True, dynamic_ncols=True)


def _show_progress(job: Job, bar: tqdm) -> None:
    if job.log_file is None or not job.log_file.is_file():
        return
    records = read_log(job.log_file)
    if records:
        bar.update(records[-1]["step"] - bar.n)


@contextmanager
def _quiet_bars() -> Iterator[None]:
    """Workers spawned inside inherit :data:`~rnagan.logs.PROGRESS_ENV` ``"0"``: the parent draws their bars."""
    before = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ[PROGRESS_ENV]
        else:
            os.environ[PROGRESS_ENV] = before


def _start_worker(threads: int, level: str) -> None:
    """A worker's torch threads and logging."""
    import torch

    torch.set_num_threads(threads)
    setup_logging(level)


def _timed(call: Callable[[], object]) -> dict[str, float]:
    started, started_cpu = time.perf_counter(), time.process_time()
    call()
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(time.process_time() - started_cpu, 2),
    }
