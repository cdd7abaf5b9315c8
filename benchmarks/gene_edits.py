"""Gene edits that show: ``--perturb GENE=x8`` on a class's genes, mapped to μ by the encoder or by the decoder fit.

On a lung demo workspace (``rnagan demo``: simulated expression, a trained β-VAE and ``rnagan`` run), for each
tissue class: the ``--genes`` genes most raised in that class's training samples (prepared z-scores) are
multiplied by 8 in held-out profiles of the *other* classes, through ``generate_tiles`` with
``generate.edit`` = ``encoder`` and = ``decoder`` on the same profiles and noise. Reported per class and
edit: how far μ moves (in spreads of the training μ: its total standard deviation), the mean pixel change,
and the change of a probe's probability of the class (logistic regression on stain features, fitted on the
real training tiles), twin − unedited per profile with a 95 % t interval::

    python benchmarks/gene_edits.py --workspace demo-workspace   # → benchmarks/results/gene_edits.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from rnagan.config import Config, load_config
from rnagan.evaluate.dose_response import mean_pixel_change, slope_summary
from rnagan.evaluate.probes import LinearProbe
from rnagan.evaluate.texture import stain_features
from rnagan.generate import generate_tiles
from rnagan.samples import read_manifest
from rnagan.workspace import Workspace, read_samples

sys.path.insert(0, str(Path(__file__).parent))  # importing torch drops the script's folder from sys.path
from perturbation import _read_tile, real_bundle_tiles

RESULTS = Path(__file__).parent / "results" / "gene_edits.json"
EDITS = ("encoder", "decoder")


def class_genes(ws: Workspace, k: int) -> dict[str, list[str]]:
    """Each class's ``k`` genes most raised (mean z) in its training samples over all training samples."""
    samples = read_samples(ws)
    train = samples[samples["split"] == "train"]
    matrix = pd.read_parquet(ws.expression_matrix).loc[train.index]
    return {
        tissue: (matrix.loc[train.index[train["tissue"] == tissue]].mean() - matrix.mean()).nlargest(k).index.tolist()
        for tissue in sorted(train["tissue"].unique())
    }


def _with_edit(cfg: Config, edit: str) -> Config:
    cfg = cfg.model_copy(deep=True)
    cfg.generate.edit = edit
    return cfg


def _x8(genes: list[str]) -> list[str]:
    return [f"{g}=x8" for g in genes]


def edited_tiles(
    ws: Workspace, cfg: Config, profiles: list[str], genes: list[str], edit: str
) -> tuple[pd.DataFrame, torch.Tensor]:
    """The manifest and tiles of ``profiles`` and their ×8 twins, with ``generate.edit = edit``."""
    with tempfile.TemporaryDirectory() as tmp:
        generate_tiles(ws, _with_edit(cfg, edit), samples=profiles, perturbations=_x8(genes), out=Path(tmp) / "t")
        manifest = read_manifest(Path(tmp) / "t")
        return manifest, torch.stack([_read_tile(p) for p in manifest["path"]])


def latent_move(ws: Workspace, cfg: Config, profiles: list[str], genes: list[str], edit: str) -> float:
    """Mean ‖μ_twin − μ‖ over ``profiles``, μ as ``generate_tiles`` computes it, in spreads of the training μ
    (the norm of its per-axis sd)."""
    from rnagan.generate import Perturbation, _latents_with_twins, load_profiles
    from rnagan.pairing import read_latents
    from rnagan.spatial.prepare import spaces_holding
    from rnagan.vae.latent import load_vae

    cfg, vae = _with_edit(cfg, edit), load_vae(ws.vae_checkpoint)
    parsed = [Perturbation.parse(p) for p in _x8(genes)]
    where = functools.partial(spaces_holding, ws, cfg)
    _, mu = _latents_with_twins(load_profiles(ws, cfg, vae, samples=profiles), parsed, vae, cfg.generate, where)
    base, twin = np.split(mu, 2)  # every profile's μ, then its twin's in the same order
    samples = read_samples(ws)
    train_mu = read_latents(ws.latents).loc[samples.index[samples["split"] == "train"]].to_numpy()
    return float(np.linalg.norm(twin - base, axis=1).mean() / np.linalg.norm(train_mu.std(axis=0)))


def run(args: argparse.Namespace) -> dict[str, Any]:
    ws = Workspace(args.workspace)
    cfg: Config = load_config(path=ws.config_file) if ws.config_file.is_file() else load_config("small")
    cfg.generate.tiles_per_profile, cfg.generate.seed = args.n, args.seed
    samples = read_samples(ws)
    test = samples[samples["split"] == "test"]
    rng = np.random.default_rng(args.seed)
    genes = class_genes(ws, args.genes)
    size = cfg.generate.tile_size or cfg.gan.image_size
    train_tiles, train_labels = real_bundle_tiles(list(samples.index[samples["split"] == "train"]), size)
    probe = LinearProbe.fit(stain_features(train_tiles, size=size), train_labels)
    results = {}
    for tissue, chosen in genes.items():
        others = sorted(test.index[test["tissue"] != tissue])
        profiles = sorted(rng.choice(others, min(args.profiles, len(others)), replace=False))
        results[tissue] = {"genes": chosen, "profiles": len(profiles)}
        for edit in EDITS:
            manifest, tiles = edited_tiles(ws, cfg, profiles, chosen, edit)
            twin = (manifest["perturbation"] != "").to_numpy()
            proba = probe.pipeline.predict_proba(np.asarray(stain_features(tiles, size=size), dtype=np.float64))
            p = pd.Series(proba[:, probe.classes.index(tissue)]).groupby([manifest["base_profile"], twin]).mean()
            change = p.xs(True, level=1) - p.xs(False, level=1)
            results[tissue][edit] = {
                "latent_move_spreads": latent_move(ws, cfg, profiles, chosen, edit),
                "mean_pixel_change": mean_pixel_change(tiles[twin], tiles[~twin]),
                "class_probability_change": slope_summary(change.to_numpy()),
            }
    return {
        "cohort": f"lung demo workspace {ws.root.name}, run rnagan",
        "edit": "x8 on each class's top genes, in held-out profiles of the other classes",
        "decoder_fit": {k: getattr(cfg.generate, k) for k in ("edit_steps", "edit_lr", "edit_keep_weight")},
        "tiles_per_profile": args.n,
        "probe": "logistic regression on stain features of the real training tiles",
        "classes": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True, help="a lung demo workspace (rnagan demo --out)")
    parser.add_argument("--genes", type=int, default=10, help="genes edited per class")
    parser.add_argument("--profiles", type=int, default=48, help="held-out profiles of the other classes (seeded)")
    parser.add_argument("--n", type=int, default=4, help="tiles per profile")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before, started = os.getloadavg()[0], time.perf_counter()
    result = run(args)
    result["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
    }
    result["seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for tissue, block in result["classes"].items():
        for edit in EDITS:
            e, c = block[edit], block[edit]["class_probability_change"]
            print(
                f"{tissue:10s} {edit:8s} μ move {e['latent_move_spreads']:.2f} spreads,"
                f" pixels {e['mean_pixel_change']:.1f},"
                f" P({tissue}) {c['slope']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]"
            )


if __name__ == "__main__":
    main()
