"""FID from merged per-shard moments against the single-process FID, and the streamed path's peak memory.

For each size (default 1,000, 10,000 and 100,000 rows) a synthetic feature set is drawn chunk by chunk (``--chunk``
rows, evaluation's ``evaluate.stream_chunk``), each chunk from its own seed, so the whole set can be drawn
again identically: rows far from zero (offset 1e3) with a decaying 64-component spectrum plus noise, as
pooled Inception features have, in ``--dim`` dimensions (2,048 makes the single-process baseline hours of
covariance on 2 cores at 100k rows; the streamed path's memory is O(chunk·d + d²) at any d). Three paths,
each against the same fixed reference set's statistics:

- **streamed**: ``FeatureStats.from_chunks`` over the chunks as they are drawn (what ``rnagan evaluate`` does);
- **sharded**: the rows cut into ``--shards`` uneven shards (one of a single row), each reduced to
  ``FeatureMoments`` on its own, written to ``.npz`` and read back as another process would, then merged;
- **baseline**: every row held at once, ``FeatureStats.from_features`` (the single-process FID).

Peak traced memory (``tracemalloc``, which sees NumPy's buffers) of each path, the relative FID error of the
streamed and sharded paths against the baseline, and the streamed path's growth from the smallest to the
largest size go to ``benchmarks/results/sharded_fid.json``. The streamed path's peak steps up once, when a
third chunk first meets the running total (one more d × d buffer live), and is flat from there. Run::

    python benchmarks/sharded_fid.py                 # 1k, 10k and 100k rows, d = 256 (~30 s on 2 busy cores)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rnagan.config import EvaluateConfig
from rnagan.evaluate.fid import FeatureMoments, FeatureStats, frechet_distance

RESULTS = Path(__file__).parent / "results" / "sharded_fid.json"
OFFSET, COMPONENTS = 1e3, 64


def synthetic_chunk(i: int, n: int, dim: int, chunk: int, *, seed: int, shift: float = 0.0) -> np.ndarray:
    """Chunk ``i`` of ``n`` Inception-like rows, from seed (seed, i) alone: any shard draws its rows the same."""
    basis = np.random.default_rng(99).normal(size=(COMPONENTS, dim)) / np.sqrt(COMPONENTS)
    rng = np.random.default_rng([seed, i])
    rows = min(chunk, n - i * chunk)
    signal = rng.normal(size=(rows, COMPONENTS)) * np.linspace(3.0, 0.1, COMPONENTS) @ basis
    return OFFSET + shift + signal + rng.normal(scale=0.05, size=(rows, dim))


def synthetic_chunks(n: int, dim: int, chunk: int, *, seed: int, shift: float = 0.0) -> Iterator[np.ndarray]:
    for i in range(-(-n // chunk)):
        yield synthetic_chunk(i, n, dim, chunk, seed=seed, shift=shift)


def traced(fn: Callable[[], FeatureStats]) -> tuple[FeatureStats, float, float]:
    """``fn()``, its peak traced memory in MB and its seconds."""
    tracemalloc.start()
    tick = time.perf_counter()
    stats = fn()
    seconds = time.perf_counter() - tick
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return stats, peak, seconds


def shard_moments(start: int, stop: int, n: int, dim: int, chunk: int) -> FeatureMoments:
    """Rows [start, stop) reduced on their own, drawing only the chunks they overlap (as a worker would)."""
    blocks = range(start // chunk, -(-stop // chunk))
    return FeatureMoments.merge_all(
        FeatureMoments.from_features(
            synthetic_chunk(i, n, dim, chunk, seed=1)[max(start - i * chunk, 0) : stop - i * chunk]
        )
        for i in blocks
    )


def sharded(n: int, dim: int, chunk: int, shards: int, folder: Path) -> FeatureStats:
    """Uneven shards (the first one row), each reduced alone and handed on as a file, then merged."""
    cuts = np.sort(np.random.default_rng(n).choice(np.arange(2, n), shards - 2, replace=False))
    bounds = [0, 1, *cuts.tolist(), n]
    paths = [folder / f"shard{i}.npz" for i in range(len(bounds) - 1)]
    for path, start, stop in zip(paths, bounds[:-1], bounds[1:], strict=True):
        shard_moments(start, stop, n, dim, chunk).save(path)
    return FeatureMoments.merge_all(FeatureMoments.load(p) for p in paths).to_stats()


def measure(n: int, dim: int, chunk: int, shards: int, reference: FeatureStats) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = {
            "streamed": lambda: FeatureStats.from_chunks(synthetic_chunks(n, dim, chunk, seed=1)),
            "sharded": lambda: sharded(n, dim, chunk, shards, Path(tmp)),
            "baseline": lambda: FeatureStats.from_features(
                np.concatenate(list(synthetic_chunks(n, dim, chunk, seed=1)))
            ),
        }
        out: dict[str, Any] = {"rows": n}
        for name, fn in paths.items():
            stats, peak, seconds = traced(fn)
            out[name] = {"fid": frechet_distance(stats, reference), "peak_traced_mb": peak, "seconds": seconds}
    for name in ("streamed", "sharded"):
        out[name]["relative_error"] = abs(out[name]["fid"] - out["baseline"]["fid"]) / out["baseline"]["fid"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=EvaluateConfig().stream_chunk)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--reference-rows", type=int, default=5_000)
    args = parser.parse_args()
    load_at_start = os.getloadavg()
    ref_rows = np.concatenate(list(synthetic_chunks(args.reference_rows, args.dim, args.chunk, seed=2, shift=0.05)))
    reference = FeatureStats.from_features(ref_rows)
    results = [measure(n, args.dim, args.chunk, args.shards, reference) for n in args.sizes]
    for r in results:
        print(
            f"{r['rows']:>7,} rows: FID {r['baseline']['fid']:.6f}; relative error streamed "
            f"{r['streamed']['relative_error']:.1e}, sharded {r['sharded']['relative_error']:.1e}; peak MB "
            + ", ".join(f"{k} {r[k]['peak_traced_mb']:.1f}" for k in ("streamed", "sharded", "baseline")),
            flush=True,
        )
    first, last = results[0], results[-1]
    record = {
        "dim": args.dim,
        "chunk": args.chunk,
        "shards": args.shards,
        "offset": OFFSET,
        "reference_rows": args.reference_rows,
        "results": results,
        "streamed_peak_growth": last["streamed"]["peak_traced_mb"] / first["streamed"]["peak_traced_mb"],
        "sharded_peak_growth": last["sharded"]["peak_traced_mb"] / first["sharded"]["peak_traced_mb"],
        "baseline_peak_growth": last["baseline"]["peak_traced_mb"] / first["baseline"]["peak_traced_mb"],
        "max_relative_error": max(r[k]["relative_error"] for r in results for k in ("streamed", "sharded")),
        "machine": {
            "load_average_at_start": load_at_start,
            "load_average_1_5_15min": os.getloadavg(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "numpy": np.__version__,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("streamed_peak_growth", "max_relative_error")}, indent=2))


if __name__ == "__main__":
    main()
