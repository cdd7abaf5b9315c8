"""Where per-item work runs: a pool of local processes, or a Dask cluster, behind one ``Executor`` API.

A stage submits one task per item (a slide, a shard) with ``executor.submit`` and collects them with
``concurrent.futures.as_completed``, whichever it is, so its code is one path. The Dask side is
``dask.distributed``'s own ``Client.get_executor()``: its scheduler places the tasks, moves a lost
worker's tasks to the others (``distributed.scheduler.allowed-failures`` times), and serves the
dashboard; nothing here queues or retries. A cluster's workers read and write the same paths as the
caller, so the workspace must be on a file system every worker mounts at the same place
(``shared_paths`` is checked on connecting).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from rnagan.errors import ClusterError

log = logging.getLogger(__name__)

CLUSTER_EXTRA = "pip install 'rnagan[cluster]'"


@dataclass(frozen=True)
class Pool:
    """An executor and what its futures raise when the worker process running a task died."""

    executor: Executor
    lost_worker: tuple[type[BaseException], ...]
    local: bool  # every worker runs on this machine (so they may share one LMDB and its locks)
    where: str  # for people: "2 local processes", or the scheduler and its dashboard


@contextmanager
def open_pool(workers: int, cluster: str | None = None, *, shared_paths: Iterable[Path] = ()) -> Iterator[Pool]:
    """``workers`` fresh local processes, or the Dask cluster whose scheduler is at ``cluster`` (``tcp://host:8786``).

    With a cluster, ``workers`` is ignored (the cluster has its own) and every path in ``shared_paths``
    must exist on every worker, or a :class:`~rnagan.errors.ClusterError` says which does not.
    """
    if cluster is None:
        # spawn: workers start clean (no inherited LMDB handles or torch threads).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
            yield Pool(executor, (BrokenProcessPool,), local=True, where=f"{workers} local processes")
        return
    distributed = _import_distributed()
    try:
        client = distributed.Client(cluster)
    except (OSError, ValueError, TypeError) as err:
        raise ClusterError(f"cannot reach the Dask scheduler at {cluster}: {err}") from None
    with client:
        _check_shared(client, cluster, [str(p) for p in shared_paths])
        workers_now = len(client.scheduler_info(n_workers=-1)["workers"])
        where = f"Dask cluster {cluster} ({workers_now} workers; dashboard {client.dashboard_link})"
        log.info("running on %s", where)
        executor = client.get_executor(pure=False)
        try:
            yield Pool(executor, (distributed.KilledWorker,), local=False, where=where)
        finally:
            executor.shutdown(wait=False)  # cancels what is left when the caller stopped early


def _import_distributed() -> ModuleType:
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"running on a Dask cluster needs dask.distributed: {CLUSTER_EXTRA}") from None
    return distributed


def _check_shared(client: Any, cluster: str, paths: list[str]) -> None:
    """Refuse a cluster whose workers do not see ``paths`` (they write where the caller reads)."""
    if not paths:
        return
    seen = client.run(_missing, paths)
    if not seen:
        raise ClusterError(f"the Dask cluster at {cluster} has no workers: start some, then run again")
    for worker, missing in seen.items():
        if missing:
            raise ClusterError(
                f"Dask worker {worker} cannot see {missing[0]}: the workspace and slides must be on a file "
                "system every worker mounts at the same path"
            )


def _missing(paths: list[str]) -> list[str]:
    return [p for p in paths if not os.path.exists(p)]
