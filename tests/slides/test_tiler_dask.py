"""Tiling on a real Dask cluster (scheduler and two worker processes on 127.0.0.1, TCP): the same tiles and
index as the process pool, resuming from every point a run can be killed at, and a worker killed mid-run."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client, LocalCluster
from synthetic import synthetic_he, write_pyramid

from rnagan.config import TilingConfig
from rnagan.errors import ClusterError
from rnagan.executors import open_pool
from rnagan.slides.dataset import read_tile_index
from rnagan.slides.store import TileStore
from rnagan.slides.tiler import _tile_slide_job, store_part, tile_slides
from rnagan.workspace import Workspace

pytestmark = pytest.mark.integration  # a scheduler and worker processes

CONFIG = TilingConfig(tile_size=128, max_tiles_per_slide=40)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six synthetic slides, each its own random texture."""
    folder = tmp_path_factory.mktemp("dask_slides")
    return [write_pyramid(folder / f"s{i}.tiff", synthetic_he(seed=i), mpp=0.5) for i in range(6)]


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory, slides: list[Path]) -> Workspace:
    """The reference: the same slides through the local process pool."""
    workspace = Workspace(tmp_path_factory.mktemp("pooled") / "ws")
    assert (tile_slides(slides, workspace, CONFIG, workers=2)["status"] == "done").all()
    return workspace


def _contents(workspace: Workspace) -> tuple[pd.DataFrame, dict[str, bytes]]:
    """The index sorted by key, and every stored tile's bytes; checks the two list the same keys."""
    index = read_tile_index(workspace.tile_index).sort_values("key", ignore_index=True)
    with TileStore(workspace.tile_store) as store:
        tiles = {key: store.get_bytes(key) for key in store.keys(prefix="")}
    assert index["key"].is_unique and sorted(tiles) == index["key"].tolist()
    assert not list(workspace.tiles.glob("parts/*.lmdb*"))  # every store part merged and removed
    return index, tiles


def _assert_same_tiles(workspace: Workspace, reference: Workspace) -> None:
    index, tiles = _contents(workspace)
    expected_index, expected_tiles = _contents(reference)
    pd.testing.assert_frame_equal(index, expected_index)
    assert tiles == expected_tiles


def test_cluster_tiles_as_the_process_pool(
    tmp_path: Path, cluster: LocalCluster, slides: list[Path], pooled: Workspace
) -> None:
    workspace = Workspace(tmp_path / "ws")
    summary = tile_slides(slides, workspace, CONFIG, cluster=cluster.scheduler_address)
    assert (summary["status"] == "done").all()
    assert summary["kept"].tolist() == pd.read_csv(pooled.tiling_summary)["kept"].tolist()
    _assert_same_tiles(workspace, pooled)
    again = tile_slides(slides, workspace, CONFIG.model_copy(update={"cluster": cluster.scheduler_address}))
    assert (again["status"] == "skipped").all()


def test_cluster_run_resumes_from_every_interruption(
    tmp_path: Path, cluster: LocalCluster, slides: list[Path], pooled: Workspace
) -> None:
    """s0 finished and merged; s1 finished on its worker, its merge killed halfway; s2's worker killed mid-slide;
    the rest never started. The rerun redoes only s2 onwards and ends with the uninterrupted run's tiles."""
    workspace = Workspace(tmp_path / "ws")
    tile_slides(slides[:1], workspace, CONFIG, cluster=cluster.scheduler_address)
    marker = workspace.tiles / "parts" / "s0.json"
    stamp = marker.stat().st_mtime_ns
    _tile_slide_job(str(slides[1]), "s1", "s1", str(workspace.root), CONFIG.model_dump(), True)
    assert store_part(workspace, "s1").is_dir()
    with TileStore(workspace.tile_store, readonly=False) as store:
        store.put_many([("s1/0_0", b"half-merged")])
    with TileStore(workspace.tiles / "parts" / "s2.lmdb-writing-x1", readonly=False) as part:
        part.put_many([("s2/0_0", b"partial")])

    summary = tile_slides(slides, workspace, CONFIG, cluster=cluster.scheduler_address)

    assert summary["status"].tolist() == ["skipped", "skipped", "done", "done", "done", "done"]
    assert marker.stat().st_mtime_ns == stamp
    _assert_same_tiles(workspace, pooled)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    tmp_path: Path, cluster: LocalCluster, slides: list[Path], pooled: Workspace
) -> None:
    workspace = Workspace(tmp_path / "ws")
    with Client(cluster.scheduler_address) as observer:
        pids = observer.run(os.getpid)
        killed: list[str] = []

        def kill_a_busy_worker() -> None:
            deadline = time.monotonic() + 120
            while not killed and time.monotonic() < deadline:
                busy = [worker for worker, tasks in observer.processing().items() if tasks and worker in pids]
                if busy and list(workspace.tiles.glob("parts/*.json")):  # one slide done, others running
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        summary = tile_slides(slides, workspace, CONFIG, cluster=cluster.scheduler_address)
        killer.join()
        observer.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker for the next test
        assert killed and pids[killed[0]] not in observer.run(os.getpid).values()
        assert (summary["status"] == "done").all(), summary[["slide_id", "error"]]
        # A slide whose worker died after it finished may be run again by Dask; let such a straggler end.
        while any(observer.run(lambda dask_worker: dask_worker.state.executing_count).values()):
            time.sleep(0.1)

    again = tile_slides(slides, workspace, CONFIG, cluster=cluster.scheduler_address)  # settles a straggler's part
    assert (again["status"] == "skipped").all()
    _assert_same_tiles(workspace, pooled)


def test_workers_must_see_the_workspace(tmp_path: Path, cluster: LocalCluster) -> None:
    with (
        pytest.raises(ClusterError, match=r"cannot see .*nowhere"),
        open_pool(2, cluster.scheduler_address, shared_paths=[tmp_path / "nowhere"]),
    ):
        pass
