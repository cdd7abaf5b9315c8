"""The bundled generators at the scale of the real tiles: 64 px as drawn, and lifted by the shipped image stage.

The bundle's three GAN runs (``rnagan.demo.bundle``) draw ``--per-profile`` tiles from the bundled μ of every
test-split profile. Each run is evaluated twice by ``rnagan.evaluate`` on a workspace holding the bundled
LC25000 tiles with the bundle's own splits: as drawn (64 px; the real tiles taken down to 64 px) and lifted by
the image stage and resized to the real tiles' 224 px (the real tiles as they are), the lung demo's output.
Every figure is the evaluation's own: FID and its ratio to the real-vs-real FID at the same n, C2ST, the
frozen-feature and colour-only probes, the ResNet's conditioning fidelity and the nuclei-statistics ratio,
each with its n::

    python benchmarks/bundle_at_scale.py [--per-profile 4] [--workspace DIR]

Results go to ``benchmarks/results/bundle_at_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from PIL import Image

from rnagan.config import Config, preset
from rnagan.datasets.lc25000 import FIELD_UM, TILE_SIZE, load_lc25000
from rnagan.demo.bundle import BUNDLE, SAMPLES, bundled_generator
from rnagan.demo.pipeline import RUNS, training_tiles
from rnagan.evaluate.results import RunResult
from rnagan.evaluate.run import evaluate
from rnagan.image.sample import BUNDLED, load_upsampler, upsample_tiles
from rnagan.pairing import read_latents
from rnagan.samples import MANIFEST, MANIFEST_COLUMNS
from rnagan.slides.augment import resize_tiles
from rnagan.slides.folder import import_tiles
from rnagan.workspace import Workspace, read_samples

RESULTS = Path(__file__).parent / "results" / "bundle_at_scale.json"
LATENTS = "latents.parquet"


def bundle_workspace(root: Path) -> Workspace:
    """A workspace of the bundled tiles with the bundle's splits, and the bundle's runs as its GAN checkpoints."""
    ws = Workspace(root).create()
    shutil.copyfile(BUNDLE / SAMPLES, ws.samples_table)
    splits = read_samples(ws).reset_index()
    table = training_tiles(load_lc25000(), splits)
    import_tiles(table.assign(slide_id=table["label"]), ws, image_format="jpeg")
    for run in RUNS:
        shutil.copytree(BUNDLE / run, ws.gan_run(run) / "checkpoint", dirs_exist_ok=True)
    return ws


def write_run(folder: Path, tiles: torch.Tensor, profiles: pd.DataFrame, per_profile: int, seed: int) -> None:
    """``tiles`` (profile-major, ``per_profile`` each) as PNGs with the manifest ``rnagan generate`` writes."""
    rows = []
    for p, (name, tissue) in enumerate(profiles["tissue"].items()):
        for j in range(per_profile):
            path = Path("tiles") / name / f"{j:04d}.png"
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(tiles[p * per_profile + j].permute(1, 2, 0).numpy()).save(folder / path)
            rows.append(
                {
                    "profile": name,
                    "base_profile": name,
                    "perturbation": "",
                    "source": "cohort",
                    "tissue": tissue,
                    "split": "test",
                    "seed": seed,
                    "noise_index": j,
                    "path": path.as_posix(),
                    "key": "",
                }
            )
    pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_csv(folder / MANIFEST, index=False)


def draw(run: str, profiles: pd.DataFrame, per_profile: int, seed: int) -> torch.Tensor:
    mu = torch.from_numpy(read_latents(BUNDLE / LATENTS).loc[profiles.index].to_numpy())
    return bundled_generator(run).generate(mu, n_per_profile=per_profile, seed=seed)


def summary(result: RunResult) -> dict[str, float | int | None]:
    """The figures the scale issue's targets name, from one run's evaluation."""
    probe, colour, resnet = result.probe, result.colour_control, result.conditioning
    return {
        "image_size": result.image_size,
        "n_tiles": result.n_tiles,
        "n_profiles": result.n_profiles,
        "fid": result.fid.value,
        "fid_ratio": result.fid_ratio.value,
        "fid_n": result.fid_ratio.n,
        "c2st": result.two_sample_test.balanced_accuracy,
        "kid": result.kid.mean,
        "frozen_probe": None if probe is None else probe.accuracy,
        "frozen_probe_n": None if probe is None else probe.n,
        "colour_probe": None if colour is None else colour.accuracy,
        "resnet_fidelity": None if resnet is None else resnet.accuracy,
        "nuclei_ratio": None if result.nuclei is None else result.nuclei.ratio,
    }


def evaluation_config(per_profile: int, n_tiles: int) -> Config:
    cfg = preset("small")
    cfg.evaluate.fid_max_images = n_tiles  # every held-out tile, every drawn tile
    cfg.evaluate.tile_field_um = FIELD_UM
    cfg.generate.tiles_per_profile = per_profile
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-profile", type=int, default=4, help="tiles drawn per held-out profile")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workspace", type=Path, help="keep the evaluation workspace here (default: a temporary one)")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        ws = bundle_workspace(args.workspace or Path(scratch) / "ws")
        samples = read_samples(ws)
        profiles = samples[samples["split"] == "test"].sort_index()
        upsampler = load_upsampler(BUNDLED)
        cfg = evaluation_config(args.per_profile, len(profiles) * args.per_profile)
        figures: dict[str, dict[str, dict]] = {"drawn_64px": {}, "lifted_224px": {}}
        drawn = {run: draw(run, profiles, args.per_profile, args.seed) for run in RUNS}
        for arm, lift in (("drawn_64px", False), ("lifted_224px", True)):
            for run, tiles in drawn.items():
                out = resize_tiles(upsample_tiles(upsampler, tiles), TILE_SIZE) if lift else tiles
                shutil.rmtree(ws.samples_run(run), ignore_errors=True)
                write_run(ws.samples_run(run), out, profiles, args.per_profile, args.seed)
            result = evaluate(ws, cfg, runs=RUNS)
            figures[arm] = {run: summary(entry) for run, entry in result.runs.items() if isinstance(entry, RunResult)}
            figures[arm]["real"] = {"n_test": result.real.n_test, "n_train": result.real.n_train}
    output = {
        "what": "the bundled GAN runs on the bundle's held-out profiles, evaluated as drawn (64 px) and lifted by the "
        "shipped image stage to the real tiles' 224 px",
        "per_profile": args.per_profile,
        "held_out_profiles": len(profiles),
        "seed": args.seed,
        "bundle_steps": {run: json.loads((BUNDLE / run / "meta.json").read_text()).get("step") for run in RUNS},
        "arms": figures,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "load_average_1min": os.getloadavg()[0],
        },
    }
    RESULTS.write_text(json.dumps(output, indent=2) + "\n")
    for arm, runs in figures.items():
        for run, entry in runs.items():
            if run != "real":
                print(
                    f"{arm:13s} {run:9s} FID ratio {entry['fid_ratio']:.2f} (n {entry['fid_n']})  C2ST "
                    f"{entry['c2st']:.3f}  probe {entry['frozen_probe']}  nuclei {entry['nuclei_ratio']}"
                )


if __name__ == "__main__":
    main()
