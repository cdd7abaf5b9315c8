"""Dose-response of latent directions: does a +dose edit move what a probe on real tiles reads, and only that?

For each direction and doses -2..+2 of its spread, tiles are drawn from held-out profiles with the same
noise at every dose, read by probes trained on REAL tiles, and the per-profile slope of each readout on
the dose summarised with a 95 % interval (:mod:`rnagan.evaluate.dose_response`). A seeded random
direction is the control. Two cohorts:

- ``--cohort bundle`` (default): the bundled LC25000 generators (src/rnagan/datasets/data/demo_bundle,
  simulated expression) and their μ; directions toward each tissue class (the paper's shift); probes:
  logistic regression on the paired evaluation's stain/texture features and on colour alone (the
  control of what colour explains), fitted on the bundled real tiles of the training samples;
- ``--workspace WS``: a spatial workspace with a trained ``rnagan`` run (``rnagan demo --dataset
  her2st``); directions of the her2st modules; probe: the paired evaluation's (``train_probe``),
  tiles made by ``generate_tiles(directions=...)``, the ``rnagan generate --direction`` code path::

    python benchmarks/perturbation.py                    # → benchmarks/results/perturbation.json
    python benchmarks/perturbation.py --workspace demo-her2st --out benchmarks/results/perturbation_her2st.json

perturbation_her2st.json was measured on the her2st demo's cohort, β-VAE and ``rnagan`` run under the
``small`` preset (the demo's stage functions), with the GAN checkpoint of step 500 of its 1,000 steps:
training was stopped there for time on shared cores. A full ``rnagan demo --dataset her2st`` workspace
gives other numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from rnagan.config import Config, load_config
from rnagan.datasets.her2st import MARKERS
from rnagan.datasets.lc25000 import CLASSES, load_lc25000
from rnagan.demo.bundle import BUNDLE, LATENTS, SAMPLES, bundle_directions, bundled_generator
from rnagan.directions import RANDOM
from rnagan.evaluate.dose_response import dose_response, mean_pixel_change
from rnagan.evaluate.probes import LinearProbe, colour_features
from rnagan.evaluate.texture import stain_features
from rnagan.pairing import read_latents
from rnagan.slides.augment import resize_tiles
from rnagan.workspace import Workspace, read_samples

RESULTS = Path(__file__).parent / "results" / "perturbation.json"
DOSES = (-2.0, -1.0, 0.0, 1.0, 2.0)


def bundle_tiles(
    directions: dict[str, Any], mu: np.ndarray, *, n: int, seed: int, batch: int = 256
) -> dict[tuple[str, float], torch.Tensor]:
    """Tiles (P*n, 3, S, S) per (direction, dose); profile k's noise is seed + k at every dose, as in generate."""
    generator = bundled_generator("rnagan")
    noise = torch.cat([generator.sample_noise(n, seed + k) for k in range(len(mu))])
    out = {}
    for name, direction in directions.items():
        for dose in DOSES:
            rows = torch.from_numpy(direction.shift(mu, dose)).repeat_interleave(n, dim=0)
            out[(name, dose)] = torch.cat(
                [
                    generator.generate_from_noise(rows[i : i + batch], noise[i : i + batch])
                    for i in range(0, len(rows), batch)
                ]
            )
    return out


def real_bundle_tiles(profiles: list[str], size: int) -> tuple[torch.Tensor, list[str]]:
    """Every bundled LC25000 tile of ``profiles`` at ``size`` px (as training resized them), with its class."""
    table = load_lc25000()
    table = table[table["sample_id"].isin(profiles)]
    arrays = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in table["path"]])
    return resize_tiles(torch.from_numpy(arrays).permute(0, 3, 1, 2), size), list(table["label"])


def bundle_case(args: argparse.Namespace) -> dict[str, Any]:
    samples = read_samples(BUNDLE / SAMPLES)
    latents = read_latents(BUNDLE / LATENTS)
    directions = bundle_directions([*CLASSES, RANDOM], seed=args.seed)
    test = samples[samples["split"] == "test"]
    profiles = [p for c in CLASSES for p in sorted(test.index[test["tissue"] == c])[: args.profiles]]
    started = time.perf_counter()
    tiles = bundle_tiles(directions, latents.loc[profiles].to_numpy(), n=args.n, seed=args.seed)
    generate_seconds = time.perf_counter() - started
    size = int(next(iter(tiles.values())).shape[-1])
    train_tiles, train_labels = real_bundle_tiles(list(samples.index[samples["split"] == "train"]), size)
    test_tiles, test_labels = real_bundle_tiles(profiles, size)
    features = {"stain": lambda t: stain_features(t, size=size), "colour": colour_features}
    by_features = {}
    for feature_name, featurize in features.items():
        probe = LinearProbe.fit(featurize(train_tiles), train_labels)
        rows = []
        for (name, dose), batch in tiles.items():
            proba = probe.pipeline.predict_proba(np.asarray(featurize(batch), dtype=np.float64))
            frame = pd.DataFrame(proba, columns=probe.classes)
            rows.append(frame.assign(direction=name, dose=dose, profile=np.repeat(profiles, args.n)))
        predicted = pd.concat(rows, ignore_index=True)
        generated_labels = [samples.loc[p, "tissue"] for p in profiles for _ in range(args.n)]
        plain = predicted[(predicted["direction"] == RANDOM) & (predicted["dose"] == 0)]
        by_features[feature_name] = {
            "real_test_accuracy": probe.score(featurize(test_tiles), test_labels)["accuracy"],
            "generated_dose0_accuracy": float(np.mean(plain[probe.classes].idxmax(axis=1) == generated_labels)),
            **dose_response(predicted, readouts=probe.classes, targets={c: c for c in CLASSES}, control=RANDOM),
        }
    return {
        "cohort": "bundled LC25000 generators (simulated expression), run rnagan",
        "readout": "probe's probability of the class (mean over a profile's tiles)",
        "profiles": len(profiles),
        "tiles_per_profile": args.n,
        "doses": list(DOSES),
        "train_real_tiles": len(train_tiles),
        "directions": {n: {k: v for k, v in d.to_dict().items() if k != "unit"} for n, d in directions.items()},
        "mean_pixel_change_at_plus2": {n: mean_pixel_change(tiles[(n, 2.0)], tiles[(n, 0.0)]) for n in directions},
        "features": by_features,
        "generate_seconds": generate_seconds,
    }


def dose_series(ws: Workspace, cfg: Config, args: argparse.Namespace) -> tuple[pd.DataFrame, torch.Tensor, dict, float]:
    """``rnagan generate --direction M=-2,-1,0,1,2`` for every module and the control, on a seeded draw of
    held-out spots: (manifest of the twins with direction and dose, their tiles, directions.json, seconds)."""
    from rnagan.generate import generate_tiles
    from rnagan.samples import read_manifest

    samples = read_samples(ws)
    test = sorted(samples.index[samples["split"] == "test"])
    spots = sorted(np.random.default_rng(args.seed).choice(test, min(args.spots, len(test)), replace=False))
    series = ",".join(f"{d:+g}" for d in DOSES)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "samples"
        started = time.perf_counter()
        generate_tiles(ws, cfg, samples=spots, directions=[f"{m}={series}" for m in [*MARKERS, RANDOM]], out=out)
        seconds = time.perf_counter() - started
        manifest = read_manifest(out)
        manifest = manifest[manifest["perturbation"] != ""].reset_index(drop=True)
        edits = manifest["perturbation"].str.extract(r"^(?P<direction>.+)=(?P<dose>[+-][\d.]+)sd$")
        manifest = manifest.assign(direction=edits["direction"], dose=edits["dose"].astype(float))
        tiles = torch.stack([_read_tile(p) for p in manifest["path"]])
        directions = json.loads((out / "directions.json").read_text())
    return manifest, tiles, directions, seconds


def fold_change_baseline(ws: Workspace, cfg: Config, spots: list[str], trained: Any) -> dict[str, Any]:
    """What ``--perturb GENE=x8`` on the adipose genes of the model's gene space does to the same spots' tiles:
    mean pixel change and the change of each probe readout (twin − unedited, mean over spots, 95 % t)."""
    from rnagan.evaluate.dose_response import slope_summary
    from rnagan.generate import generate_tiles
    from rnagan.samples import read_manifest
    from rnagan.vae.latent import GENES_FILE

    model_genes = set((ws.vae_checkpoint / GENES_FILE).read_text().split())
    from rnagan.expression.genes import resolve_ids

    genes = [
        g for g, r in zip(MARKERS["adipose"], resolve_ids(list(MARKERS["adipose"]))[0], strict=True) if r in model_genes
    ]
    if not genes:
        return {"perturbation": None, "note": "no adipose gene is in the model's gene space"}
    with tempfile.TemporaryDirectory() as tmp:
        generate_tiles(ws, cfg, samples=spots, perturbations=[f"{g}=x8" for g in genes], out=Path(tmp) / "tiles")
        manifest = read_manifest(Path(tmp) / "tiles")
        tiles = torch.stack([_read_tile(p) for p in manifest["path"]])
    edited = (manifest["perturbation"] != "").to_numpy()
    readouts = trained.probe.marker_columns
    values = pd.DataFrame(
        trained.probe.regression.predict(trained.featurize(list(tiles))), columns=trained.probe.gene_columns + readouts
    )
    per_spot = (
        values[readouts].assign(profile=manifest["base_profile"], edited=edited).groupby(["profile", "edited"]).mean()
    )
    change = per_spot.xs(True, level="edited") - per_spot.xs(False, level="edited")
    return {
        "perturbation": ",".join(f"{g}=x8" for g in genes),
        "mean_pixel_change": mean_pixel_change(tiles[edited], tiles[~edited]),
        "readout_change": {r: slope_summary(change[r].to_numpy()) for r in readouts},
    }


def _read_tile(path: str) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1)


def workspace_case(args: argparse.Namespace) -> dict[str, Any]:
    """The her2st modules on a spatial workspace, through generate_tiles and the paired evaluation's probe."""
    from rnagan.evaluate.paired import column_r, set_scores
    from rnagan.evaluate.paired_run import train_probe

    ws = Workspace(args.workspace)
    cfg: Config = load_config(path=ws.config_file) if ws.config_file.is_file() else load_config("small")
    cfg.generate.tiles_per_profile, cfg.generate.seed = args.n, args.seed
    manifest, tiles, directions, generate_seconds = dose_series(ws, cfg, args)
    trained = train_probe(ws, cfg, int(tiles.shape[-1]))
    values = trained.probe.regression.predict(trained.featurize(list(tiles)))
    readouts = trained.probe.marker_columns
    predicted = pd.DataFrame(values, columns=trained.probe.gene_columns + readouts)[readouts].assign(
        direction=manifest["direction"], dose=manifest["dose"], profile=manifest["base_profile"]
    )
    real_values, real_proba = trained.probe.predict(
        trained.featurize(list(trained.test["tile"])), trained.test["sample_id"]
    )
    plain = predicted[(predicted["direction"] == RANDOM) & (predicted["dose"] == 0)].groupby("profile")[readouts].mean()
    plain_r = column_r(plain.to_numpy(), trained.targets.markers.loc[plain.index, readouts].to_numpy())
    at = {
        (d, v): tiles[((manifest["direction"] == d) & (manifest["dose"] == v)).to_numpy()]
        for d in directions
        for v in (0, 2)
    }
    return {
        "cohort": f"spatial workspace {ws.root.name}, run rnagan",
        "gan_step": json.loads((ws.gan_run("rnagan") / "checkpoint" / "meta.json").read_text()).get("step"),
        "readout": f"paired probe's module score ({cfg.spatial.probe_features} features)",
        "profiles": int(manifest["base_profile"].nunique()),
        "tiles_per_profile": args.n,
        "doses": list(DOSES),
        "directions": {n: {k: v for k, v in d.items() if k != "unit"} for n, d in directions.items()},
        "mean_pixel_change_at_plus2": {n: mean_pixel_change(at[(n, 2)], at[(n, 0)]) for n in directions},
        "probe_marker_r": {
            "real_test_patches": set_scores(trained.probe, real_values, real_proba, trained.targets)["marker_r"],
            "generated_dose0": dict(zip(readouts, map(float, plain_r), strict=True)),
        },
        "features": {
            cfg.spatial.probe_features: dose_response(
                predicted, readouts=readouts, targets={m: m for m in MARKERS if m in readouts}, control=RANDOM
            )
        },
        "fold_change_baseline": fold_change_baseline(ws, cfg, sorted(manifest["base_profile"].unique()), trained),
        "generate_seconds": generate_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, default=None, help="a spatial workspace (default: the bundle)")
    parser.add_argument(
        "--profiles",
        type=int,
        default=48,
        help="bundle: the first N held-out profiles of each class by ID (48-52 there)",
    )
    parser.add_argument("--spots", type=int, default=120, help="held-out spots drawn (seeded) with --workspace")
    parser.add_argument("--n", type=int, default=4, help="tiles per profile and dose")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before, started = os.getloadavg()[0], time.perf_counter()
    result = workspace_case(args) if args.workspace else bundle_case(args)
    result["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
    }
    result["seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "features"}, indent=2))
    for name, block in result["features"].items():
        for direction, d in block["directions"].items():
            s = d["target_slope"]
            print(
                f"{name:7s} {direction:10s} slope {s['slope']:+.4f} [{s['low']:+.4f}, {s['high']:+.4f}]"
                f" off/target {d['target_over_largest_off_target']} control/target {d['control_over_target']}"
            )


if __name__ == "__main__":
    main()
