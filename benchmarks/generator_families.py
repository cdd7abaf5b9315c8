"""GAN and flow matching on the same paired data, split, seeds and step budget: realism, fidelity, cost.

Needs a demo workspace (``rnagan demo --preset small --out W``, or any copy of one): its tiles,
β-VAE latents and splits. Both families train ``--steps`` steps from the ``small`` preset (the GAN's
recipe as the demo trains it; the flow's ``flow:`` block), timed on this machine. Then, on ``--n``
held-out (test split) profiles, one tile each, with the same Inception-v3 pool features evaluate uses:

- **FID ratio**: FID(generated, real test) / FID(real train, real test), every set of ``--n`` tiles, so
  the small-n bias cancels and 1.0 means "as far from the test tiles as other real tiles are";
- **probe**: the frozen-feature probe (logistic regression on features of real training tiles) naming
  the tissue of each generated tile from the profile it was drawn for;
- **C2ST**: cross-validated accuracy of a logistic classifier telling real test from generated (0.5: chance);
- **diversity**: mean pairwise feature distance within the set, over the real test set's;
- **cost**: network evaluations × parameters per tile, and seconds per tile on this CPU.

The flow is also drawn at several guidance scales (the same noise at each): the guidance curve.

    python benchmarks/generator_families.py demo-workspace --steps 60 --n 64

Adds an entry per ``--steps`` to benchmarks/results/generator_families.json and writes
docs/img/flow_families_<steps>.png (real | GAN | flow, the same held-out profiles).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from rnagan.config import Config, load_config
from rnagan.evaluate.features import InceptionFeatures
from rnagan.evaluate.fid import fid_from_features
from rnagan.evaluate.paired import c2st_accuracy
from rnagan.evaluate.probes import LinearProbe
from rnagan.evaluate.run import real_tiles
from rnagan.flow.objective import Solve
from rnagan.flow.sample import FlowTileGenerator, load_flow_generator
from rnagan.flow.train import train_flow
from rnagan.gan.sample import load_generator
from rnagan.gan.train import train_gan
from rnagan.slides.augment import resize_tiles
from rnagan.slides.dataset import TileDataset
from rnagan.workspace import Workspace

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "generator_families.json"
PICTURE = ROOT / "docs" / "img" / "flow_families.png"  # flow_families_<steps>.png


def pixels(ws: Workspace, rows: pd.DataFrame, size: int) -> torch.Tensor:
    """uint8 (N, 3, size, size) of the listed tiles, resized as the generators saw them."""
    store = TileDataset(ws.tile_store, rows)
    return torch.stack([resize_tiles(store[i], size) for i in range(len(store))])


def choose(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=min(n, len(frame)), random_state=seed).sort_values("sample_id")


def train(ws: Workspace, cfg: Config, family: str, steps: int, *, reuse: bool) -> tuple[Path, float]:
    """Train one family for ``steps`` steps from scratch (or, with ``reuse``, take the run a previous call
    left at that step); its checkpoint and the wall seconds its training took."""
    run = f"families_{family}"
    record = ws.gan_run(run) / "families_train.json"
    if reuse and record.is_file() and json.loads(record.read_text())["steps"] == steps:
        return ws.gan_run(run) / "checkpoint", json.loads(record.read_text())["seconds"]
    started = time.perf_counter()
    if family == "gan":
        cfg.gan.steps = steps
        path = train_gan(ws, cfg, run=run, overwrite=True, device="cpu")
    else:
        cfg.flow.steps = steps
        path = train_flow(ws, cfg, run=run, overwrite=True, device="cpu")
    seconds = time.perf_counter() - started
    record.write_text(json.dumps({"steps": steps, "seconds": seconds}))
    return path, seconds


def timed(draw: Any) -> tuple[torch.Tensor, float]:
    started = time.perf_counter()
    tiles = draw()
    return tiles, time.perf_counter() - started


def batches(mu: torch.Tensor, noise: torch.Tensor, size: int = 16) -> tuple[list, list]:
    """μ and noise cut into batches of ``size`` rows."""
    return list(mu.split(size)), list(noise.split(size))


def draw_flow(flow: FlowTileGenerator, mu: torch.Tensor, noise: torch.Tensor) -> list[tuple[torch.Tensor, int]]:
    """(tiles, network calls per tile) of each batch of (μ, x₀) rows."""
    return [flow.generate_from_noise(m, z) for m, z in zip(*batches(mu, noise), strict=True)]


def diversity(features: np.ndarray) -> float:
    """Mean pairwise Euclidean distance between the rows."""
    x = torch.from_numpy(features)
    d = torch.cdist(x, x)
    n = len(features)
    return float(d.sum() / (n * (n - 1)))


def scores(feats: np.ndarray, tissues: np.ndarray, ref: dict[str, Any]) -> dict[str, Any]:
    """FID ratio, probe accuracy, C2ST and relative diversity of one generated set."""
    fid = fid_from_features(feats, ref["test"])
    return {
        "fid": round(fid, 2),
        "fid_ratio": round(fid / ref["fid_real"], 3),
        "probe_accuracy": round(ref["probe"].score(feats, tissues)["accuracy"], 3),
        "c2st": round(c2st_accuracy(ref["test"], feats, seed=0), 3),
        "diversity_ratio": round(diversity(feats) / ref["diversity"], 3),
    }


def references(ws: Workspace, inception: InceptionFeatures, n: int, n_probe: int) -> dict[str, Any]:
    """Real sets: ``n`` test tiles, ``n`` train tiles for the real-vs-real FID, ``n_probe`` for the probe."""
    tiles = real_tiles(ws)
    test = choose(tiles[tiles["split"] == "test"].drop_duplicates("sample_id"), n, seed=0)
    train = tiles[tiles["split"] == "train"]
    probe_rows = choose(train, n_probe, seed=1)
    real_train = choose(train, n, seed=2)
    feats = {
        k: inception.features_of_batch(pixels(ws, rows, 64))
        for k, rows in (("test", test), ("train", real_train), ("probe", probe_rows))
    }
    probe = LinearProbe.fit(feats["probe"], probe_rows["tissue"].to_list())
    return {
        "test_rows": test,
        "test": feats["test"],
        "fid_real": fid_from_features(feats["train"], feats["test"]),
        "probe": probe,
        "probe_real_test": round(probe.score(feats["test"], test["tissue"].to_list())["accuracy"], 3),
        "diversity": diversity(feats["test"]),
    }


def held_out_mu(ws: Workspace, rows: pd.DataFrame) -> torch.Tensor:
    latents = pd.read_parquet(ws.latents)
    if "sample_id" in latents.columns:
        latents = latents.set_index("sample_id")
    columns = sorted((c for c in latents.columns if str(c).startswith("mu_")), key=lambda c: int(str(c)[3:]))
    return torch.from_numpy(latents.loc[rows["sample_id"], columns].to_numpy(dtype="float32"))


def picture(
    real: torch.Tensor, gan: torch.Tensor, flow: torch.Tensor, tissues: np.ndarray, path: Path, per_row: int = 8
) -> None:
    """Three bands (real | GAN | flow), a row per tissue, the same held-out profiles in the same places."""
    per_row = min(per_row, *(int((tissues == t).sum()) for t in set(tissues)))
    bands = []
    for tiles in (real, gan, flow):
        rows = [torch.cat(list(tiles[np.flatnonzero(tissues == t)[:per_row]]), dim=2) for t in sorted(set(tissues))]
        bands.append(torch.cat(rows, dim=1))
    gap = torch.full((3, bands[0].shape[1], 8), 255, dtype=torch.uint8)
    sheet = torch.cat([bands[0], gap, bands[1], gap, bands[2]], dim=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet.permute(1, 2, 0).numpy()).resize((sheet.shape[2] * 2, sheet.shape[1] * 2), 0).save(path)


def gan_entry(
    ckpt: Path, seconds: float, mu: torch.Tensor, cfg: Config, steps: int, score: Any
) -> tuple[dict, torch.Tensor]:
    """The GAN's figures, and its tiles: one network evaluation per tile."""
    gan = load_generator(ckpt)
    noise = gan.sample_noise(len(mu), seed=1)  # a noise row per profile, as generate's per-profile seeds
    tiles, draw = timed(
        lambda: torch.cat([gan.generate_from_noise(m, z) for m, z in zip(*batches(mu, noise), strict=True)])
    )
    params = sum(p.numel() for p in gan.generator.parameters())
    entry = {
        "steps": steps,
        "batch_size": cfg.gan.batch_size,
        "train_seconds": round(seconds, 1),
        "parameters": params,
        "network_evaluations_per_tile": 1,
        "evaluations_x_parameters_per_tile": params,
        "seconds_per_tile": round(draw / len(mu), 4),
        **score(tiles),
    }
    return entry, tiles


def flow_curve(ckpt: Path, mu: torch.Tensor, cfg: Config, scales: list[float], score: Any) -> tuple[list, dict]:
    """The flow at every guidance scale from the same noise: one point each, and the tiles at each scale."""
    curve, drawn = [], {}
    for scale in scales:
        flow = load_flow_generator(ckpt, solve=Solve.from_config(cfg.flow.model_copy(update={"guidance_scale": scale})))
        noise = flow.sample_noise(len(mu), seed=1)  # the same x₀ at every scale, one per profile
        parts, seconds = timed(partial(draw_flow, flow, mu, noise))
        drawn[scale], calls = torch.cat([tiles for tiles, _ in parts]), parts[0][1]
        cost = {"parameters": flow.n_parameters, "network_calls_per_tile": calls, "seconds_per_tile": seconds / len(mu)}
        point = {
            "guidance_scale": scale,
            "parameters": cost["parameters"],
            "network_evaluations_per_tile": cost["network_calls_per_tile"],
            "evaluations_x_parameters_per_tile": cost["network_calls_per_tile"] * cost["parameters"],
            "seconds_per_tile": round(cost["seconds_per_tile"], 4),
            **score(drawn[scale]),
        }
        curve.append(point)
        print(json.dumps(point), flush=True)
    return curve, drawn


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", type=Path, help="a demo workspace (rnagan demo --preset small)")
    parser.add_argument("--steps", type=int, default=60, help="training steps of each family")
    parser.add_argument("--n", type=int, default=64, help="tiles per set (held-out profiles, one tile each)")
    parser.add_argument("--probe-tiles", type=int, default=192, help="real training tiles the probe learns from")
    parser.add_argument("--scales", type=float, nargs="+", default=[0.0, 1.0, 1.5, 3.0], help="guidance curve")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="evaluate the runs a previous call trained")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    ws, cfg = Workspace(args.workspace), load_config("small")
    gan_ckpt, gan_seconds = train(ws, cfg.model_copy(deep=True), "gan", args.steps, reuse=args.reuse)
    flow_ckpt, flow_seconds = train(ws, cfg.model_copy(deep=True), "flow", args.steps, reuse=args.reuse)
    inception = InceptionFeatures.load()
    ref = references(ws, inception, args.n, args.probe_tiles)
    rows, mu = ref["test_rows"], held_out_mu(ws, ref["test_rows"])
    tissues = rows["tissue"].to_numpy()

    def score(tiles: torch.Tensor) -> dict[str, Any]:
        return scores(inception.features_of_batch(tiles), tissues, ref)

    gan, gan_tiles = gan_entry(gan_ckpt, gan_seconds, mu, cfg, args.steps, score)
    scales = sorted({*args.scales, cfg.flow.guidance_scale})
    curve, drawn = flow_curve(flow_ckpt, mu, cfg, scales, score)
    flow = {
        "steps": args.steps,
        "batch_size": cfg.flow.batch_size,
        "train_seconds": round(flow_seconds, 1),
        "solver": cfg.flow.solver,
        "sampling_steps": cfg.flow.sampling_steps,
        **next(p for p in curve if p["guidance_scale"] == cfg.flow.guidance_scale),
    }
    picture(
        pixels(ws, rows, 64),
        gan_tiles,
        drawn[cfg.flow.guidance_scale],
        tissues,
        PICTURE.with_stem(f"flow_families_{args.steps}"),
    )
    result = {
        "workspace": str(ws.root),
        "preset": "small",
        "n": len(mu),
        "probe_tiles": args.probe_tiles,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "real": {"fid_train_vs_test": round(ref["fid_real"], 2), "probe_accuracy_test": ref["probe_real_test"]},
        "families": {"gan": gan, "flow": flow},
        "guidance_curve": curve,
        "inception": inception.describe(),
    }
    budgets = json.loads(RESULTS.read_text())["budgets"] if RESULTS.is_file() else {}
    budgets[str(args.steps)] = result  # one entry per step budget; a rerun at a budget replaces its entry
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"budgets": dict(sorted(budgets.items(), key=lambda kv: int(kv[0])))}, indent=2) + "\n"
    )
    print(json.dumps(result["families"], indent=2))


if __name__ == "__main__":
    main()
