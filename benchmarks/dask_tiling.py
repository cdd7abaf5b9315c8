"""Tiling throughput through a real local Dask cluster against the local process pool, same 2 cores.

``--slides`` small synthetic H&E slides (pyramidal TIFFs, 1024 × 768 px at 0.5 µm/px, ``--distinct``
different textures written under different names; the tests' generator) are tiled at the defaults
(256 px, 0.5 µm/px) three times per repeat, the order rotated each repeat: by ``tile_slides(workers=2)``
(a spawn process pool) and by ``tile_slides(cluster=...)`` on a ``LocalCluster`` (scheduler + 2 worker
processes, 1 thread each, TCP on 127.0.0.1), once with Dask's defaults and once with the workers'
profiler off. The cluster starts before its clock (it is long-lived
infrastructure; its start-up is recorded apart); the pool's start-up is inside its clock. Both runs'
tiles are checked equal. Wall time is what the ratio compares; CPU time (this process and its
children, the cluster's processes included, start-up included for both) is recorded beside it, the
figure that depends least on the machine's other load. Also recorded: the in-worker seconds per slide
and per tile, the stored bytes per tile (encoded values and LMDB file), how fast the caller merges store
parts (its serial share of a cluster run), and the real slide CMU-1-Small-Region.svs tiled once for
its bytes per tile of real tissue. Run::

    python benchmarks/dask_tiling.py [--slides 200] [--repeats 3]

Writes benchmarks/results/dask_tiling.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import pandas as pd

from rnagan.config import TilingConfig
from rnagan.slides.store import TileStore
from rnagan.slides.tiler import parts_dir, settle_store_part, store_part, tile_slides
from rnagan.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "slides"))  # the tests' synthetic slides: one generator for both
RESULTS = ROOT / "benchmarks" / "results" / "dask_tiling.json"
REAL_SLIDE = Path(str(resources.files("rnagan.datasets") / "data" / "CMU-1-Small-Region.svs"))
WORKERS = 2
SLIDE_PX = (1024, 768)  # width, height: the top-left of the tests' 2048 × 1536 synthetic slide


def write_slides(folder: Path, n: int, distinct: int) -> list[Path]:
    """``n`` slide files, ``distinct`` different images among them, each under its own name."""
    from synthetic import synthetic_he, write_pyramid

    folder.mkdir(parents=True)
    images = (synthetic_he(seed=i)[: SLIDE_PX[1], : SLIDE_PX[0]] for i in range(distinct))  # tissue, glass, nuclei
    originals = [write_pyramid(folder / f"slide{i:04d}.tiff", image, mpp=0.5) for i, image in enumerate(images)]
    copies = [Path(shutil.copyfile(originals[i % distinct], folder / f"slide{i:04d}.tiff")) for i in range(distinct, n)]
    return originals + copies


def stored_bytes(workspace: Workspace) -> dict[str, float]:
    """Bytes per tile: the encoded images alone, and the LMDB file as allocated on disk."""
    with TileStore(workspace.tile_store) as store:
        payload = [len(store.get_bytes(key)) for key in store.keys(prefix="")]
    on_disk = (workspace.tile_store / "data.mdb").stat().st_blocks * 512
    return {
        "tiles": len(payload),
        "payload_bytes_per_tile": round(statistics.mean(payload), 1),
        "lmdb_bytes_per_tile": round(on_disk / len(payload), 1),
    }


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (pool workers, Dask's worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(slides: list[Path], out: Path, cluster: str | None) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    summary = tile_slides(slides, Workspace(out), TilingConfig(), workers=WORKERS, cluster=cluster)
    seconds = time.perf_counter() - start
    if not (summary["status"] == "done").all():
        raise RuntimeError(f"slides failed: {summary.loc[summary.status != 'done', ['slide_id', 'error']]}")
    return seconds, summary


def same_tiles(a: Path, b: Path) -> bool:
    index_a, index_b = (pd.read_parquet(Workspace(p).tile_index).sort_values("key", ignore_index=True) for p in (a, b))
    return bool(index_a.equals(index_b))


# Dask settings per mode: its defaults, and the same with the workers' statistical profiler off (it samples
# every thread's stack every 10 ms, each time taking the GIL from the tiling thread).
DASK_MODES: dict[str, dict] = {"dask": {}, "dask_no_profiler": {"distributed.worker.profile.enabled": False}}


def run_once(mode: str, slides: list[Path], out: Path) -> dict:
    """One timed run of ``mode`` (the process pool or a fresh local cluster with that mode's settings)."""
    import dask
    from distributed import LocalCluster

    load, cpu, startup = os.getloadavg()[0], cpu_seconds(), None
    if mode == "process_pool":
        seconds, summary = timed(slides, out, None)
    else:
        begin = time.perf_counter()
        with (
            dask.config.set(DASK_MODES[mode]),
            LocalCluster(
                n_workers=WORKERS, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
            ) as cluster,
        ):
            startup = time.perf_counter() - begin
            seconds, summary = timed(slides, out, cluster.scheduler_address)
    return {
        "seconds": round(seconds, 3),
        "cluster_startup_seconds": None if startup is None else round(startup, 3),
        "tiles": int(summary["kept"].sum()),
        "cpu_seconds": round(cpu_seconds() - cpu, 2),  # the cluster's too: its processes are children, finished here
        "load_average_1min_before": round(load, 2),
        "summary": summary,
    }


def run(slides: list[Path], tmp: Path, repeats: int) -> dict:
    """Every mode once per repeat, the order rotated each repeat; tiles compared, bytes and merge rate measured."""
    modes = ["process_pool", *DASK_MODES]
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    identical = True
    for repeat in range(repeats):
        outs = {mode: tmp / f"{mode}{repeat}" for mode in modes}
        for mode in modes[repeat % len(modes) :] + modes[: repeat % len(modes)]:
            runs[mode].append(run_once(mode, slides, outs[mode]))
        identical &= all(same_tiles(outs["process_pool"], outs[mode]) for mode in DASK_MODES)
        if repeat == 0:
            stored = stored_bytes(Workspace(outs["dask"]))
            merge = merge_rate(Workspace(outs["dask"]), tmp)
        for out in outs.values():
            shutil.rmtree(out)
    return {"runs": runs, "identical_tiles": identical, "stored": stored, "merge": merge}


def merge_rate(source: Workspace, tmp: Path) -> dict:
    """Seconds to merge one store part as large as ``source``'s whole store (the caller's serial share of a run)."""
    workspace = Workspace(tmp / "merge").create()
    parts_dir(workspace).mkdir(parents=True)
    with TileStore(source.tile_store) as tiles, TileStore(store_part(workspace, "merged"), readonly=False) as part:
        values = [tiles.get_bytes(key) for key in tiles.keys(prefix="")]
        part.put_many((f"merged/{i}_0", value) for i, value in enumerate(values))
    (parts_dir(workspace) / "merged.json").write_text(json.dumps({"slide_id": "merged"}))
    start = time.perf_counter()
    settle_store_part(workspace, "merged")
    seconds = time.perf_counter() - start
    megabytes = sum(map(len, values)) / 1e6
    return {
        "tiles": len(values),
        "megabytes": round(megabytes, 1),
        "seconds": round(seconds, 3),
        "tiles_per_second": round(len(values) / seconds, 1),
        "megabytes_per_second": round(megabytes / seconds, 1),
    }


def real_slide_bytes(tmp: Path) -> dict:
    seconds, _ = timed([REAL_SLIDE], tmp / "real", None)
    return {"slide": REAL_SLIDE.name, "seconds": round(seconds, 3), **stored_bytes(Workspace(tmp / "real"))}


def describe(runs: list[dict], n_slides: int) -> dict:
    seconds = statistics.median(r["seconds"] for r in runs)
    tiles = runs[0]["tiles"]
    per_slide = pd.concat([r["summary"] for r in runs])
    return {
        "seconds_median": round(seconds, 3),
        "seconds_all": [r["seconds"] for r in runs],
        "slides_per_second": round(n_slides / seconds, 3),
        "tiles_per_second": round(tiles / seconds, 2),
        "tiles": tiles,
        "cpu_seconds_median": round(statistics.median(r["cpu_seconds"] for r in runs), 2),
        "cpu_seconds_per_slide": round(statistics.median(r["cpu_seconds"] for r in runs) / n_slides, 4),
        "cpu_seconds_per_tile": round(statistics.median(r["cpu_seconds"] for r in runs) / tiles, 5),
        "worker_seconds_per_slide_median": round(float(per_slide["seconds"].median()), 4),
        "worker_seconds_per_tile_median": round(float((per_slide["seconds"] / per_slide["kept"]).median()), 5),
        "load_average_1min_before": [r["load_average_1min_before"] for r in runs],
        "cluster_startup_seconds": [r["cluster_startup_seconds"] for r in runs if r["cluster_startup_seconds"]],
        "seconds_with_cluster_startup_median": round(
            statistics.median(r["seconds"] + (r["cluster_startup_seconds"] or 0) for r in runs), 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slides", type=int, default=200)
    parser.add_argument("--distinct", type=int, default=20, help="different images among the slides")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode, the order rotated")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    # This folder's ssl.py would shadow the standard library's ssl, which distributed imports.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    import dask
    import distributed

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        slides = write_slides(Path(tmp) / "slides", args.slides, min(args.distinct, args.slides))
        measured = run(slides, Path(tmp), args.repeats)
        real = real_slide_bytes(Path(tmp))
    pool, cluster, quiet = (describe(measured["runs"][m], args.slides) for m in ("process_pool", *DASK_MODES))
    report = {
        "slides": args.slides,
        "distinct_images": min(args.distinct, args.slides),
        "slide_size_px": list(SLIDE_PX),
        "tile_size": 256,
        "image_format": TilingConfig().image_format,
        "mpp": 0.5,
        "workers": WORKERS,
        "threads_per_worker": 1,
        "repeats": args.repeats,
        "process_pool": pool,
        "dask": cluster,
        "dask_no_profiler": quiet,
        "dask_settings": DASK_MODES,
        "ratio_slides_per_second": round(cluster["slides_per_second"] / pool["slides_per_second"], 3),
        "ratio_cpu_seconds": round(cluster["cpu_seconds_median"] / pool["cpu_seconds_median"], 3),
        "ratio_slides_per_second_with_cluster_startup": round(
            pool["seconds_median"] / cluster["seconds_with_cluster_startup_median"], 3
        ),
        "ratio_slides_per_second_no_profiler": round(quiet["slides_per_second"] / pool["slides_per_second"], 3),
        "ratio_cpu_seconds_no_profiler": round(quiet["cpu_seconds_median"] / pool["cpu_seconds_median"], 3),
        "identical_tiles": measured["identical_tiles"],
        "bar": ">= 0.85x the process pool's slides/s; goal >= 0.95x",
        "store_synthetic": measured["stored"],
        "merge_one_process": measured["merge"],
        "store_real_slide": real,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "dask_version": dask.__version__,
        "distributed_version": distributed.__version__,
        "load_average_at_start": [round(x, 2) for x in load_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
