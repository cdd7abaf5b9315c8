"""Our FID against clean-fid on the same images and the same weights: images per second and the values.

Both read the same two folders of real LC25000 lung tiles (bundled, 64 px; or any two folders) and
use the same TorchScript Inception: clean-fid (mode ``legacy_tensorflow``, batch 8, no workers,
CPU) loads the wheel's network wrapped in NVIDIA's interface from ``/tmp/inception-2015-12-05.pt``.
Runs alternate (ours, theirs, ours, ...) so machine noise hits both; medians are reported::

    python benchmarks/fid.py                          # 2 × 64 bundled tiles, 3 repeats
    python benchmarks/fid.py --n 246 --repeats 1      # all of lung_aca vs lung_n
    python benchmarks/fid.py --folders A B

Goal (issue 6): at least as fast as clean-fid, values within 0.5 %. Results go to
``benchmarks/results/fid.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rnagan.datasets.lc25000 import lc25000_dir
from rnagan.evaluate.features import InceptionFeatures, iter_images, list_images
from rnagan.evaluate.fid import fid_from_features
from rnagan.evaluate.nvidia_interface import CLEANFID_PATH, save_nvidia_interface

RESULTS = Path(__file__).parent / "results" / "fid.json"


def ours(folders: list[Path], batch_size: int) -> float:
    extractor = InceptionFeatures.load(batch_size=batch_size)
    a, b = (extractor.extract(iter_images(list_images(f))) for f in folders)
    return fid_from_features(a, b)


def theirs(folders: list[Path], batch_size: int) -> float:
    from cleanfid import fid

    return float(
        fid.compute_fid(
            str(folders[0]),
            str(folders[1]),
            mode="legacy_tensorflow",
            num_workers=0,
            batch_size=batch_size,
            device=torch.device("cpu"),
            use_dataparallel=False,
            verbose=False,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", nargs=2, type=Path, help="two image folders [default: bundled lung_n, lung_aca]")
    parser.add_argument("--n", type=int, default=64, help="images taken from each folder (sorted by name)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    sources = args.folders or [lc25000_dir() / "lung_n", lc25000_dir() / "lung_aca"]
    if not CLEANFID_PATH.is_file():
        save_nvidia_interface(CLEANFID_PATH)
    with tempfile.TemporaryDirectory() as tmp:
        folders = []
        for i, source in enumerate(sources):
            folder = Path(tmp) / f"set{i}"
            folder.mkdir()
            for path in list_images(source)[: args.n]:
                shutil.copy(path, folder / path.name)
            folders.append(folder)
        n_images = sum(len(list_images(f)) for f in folders)
        times: dict[str, list[float]] = {"rnagan": [], "clean-fid": []}
        values: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, fn in (("rnagan", ours), ("clean-fid", theirs)):
                start = time.perf_counter()
                values[name] = fn(folders, args.batch_size)
                times[name].append(time.perf_counter() - start)
                print(f"{name}: FID {values[name]:.4f} in {times[name][-1]:.1f} s", flush=True)
    result = {
        "images": n_images,
        "sources": [str(s) for s in sources],
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "fid": values,
        "relative_difference": abs(values["rnagan"] - values["clean-fid"]) / values["clean-fid"],
        "seconds_median": {k: statistics.median(v) for k, v in times.items()},
        "images_per_second": {k: n_images / statistics.median(v) for k, v in times.items()},
        "seconds_all": times,
        "machine": {
            "load_average_1_5_15min": os.getloadavg(),
            "cpu_count": torch.get_num_threads(),
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("fid", "relative_difference", "images_per_second")}, indent=2))


if __name__ == "__main__":
    main()
