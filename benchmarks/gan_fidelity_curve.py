"""Held-out conditioning fidelity against training steps, GAN settings side by side (the demo's question).

Needs a demo workspace (``make demo`` or ``rnagan demo --out W``): its tiles, β-VAE latents and splits.
Each variant (``--variant NAME [section.field=value ...]``; the first is the baseline) is trained in
chunks of ``--every`` steps up to ``--steps``, resuming exactly (the same run as an uninterrupted one),
and after each chunk the EMA generator draws ``--per-profile`` tiles from every held-out profile,
which one ResNet-18 trained on the real training tiles labels (evaluate's class-weighted classifier).
A single accuracy at one step says little while a GAN is young: its class looks can swap from one
checkpoint to the next, so the curve and its minimum are reported.

    python benchmarks/gan_fidelity_curve.py demo-workspace \\
        --variant equal-rates gan.lr_generator=5e-4 gan.lr_critic=5e-4 gan.balance=tile \\
        --variant small

Writes benchmarks/results/gan_fidelity_curve.json: per variant, the accuracy (and per tissue) at
each checkpoint, and the median and minimum from ``--from-step`` on, with ratios to the baseline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

import numpy as np
import torch

from rnagan.config import load_config
from rnagan.datasets.lc25000 import FIELD_UM
from rnagan.demo.pipeline import demo_config
from rnagan.evaluate.classify import classification_metrics
from rnagan.evaluate.run import real_tiles, train_fidelity_classifier
from rnagan.gan.sample import load_generator
from rnagan.gan.train import train_gan
from rnagan.pairing import read_latents
from rnagan.runtime import pick_device
from rnagan.workspace import Workspace

RESULTS = Path(__file__).parent / "results" / "gan_fidelity_curve.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", type=Path, help="a demo workspace (make demo)")
    parser.add_argument("--variant", nargs="+", action="append", required=True, metavar="NAME [KEY=VALUE ...]")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--from-step", type=int, default=100, help="first checkpoint in the summary")
    parser.add_argument("--per-profile", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the demo machine has 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ws = Workspace(args.workspace)
    tiles = real_tiles(ws)  # clear errors when this is not a workspace with tiles and splits

    base = demo_config(load_config(args.preset), field_um=FIELD_UM)
    classifier = train_fidelity_classifier(ws, tiles, "train", base, pick_device("cpu"))
    samples = tiles.drop_duplicates("sample_id").set_index("sample_id")
    held = samples[samples["split"] == "test"]
    latents = read_latents(ws.latents).loc[held.index]
    mu = torch.from_numpy(latents.to_numpy(dtype="float32"))
    truth = np.repeat(held["tissue"].to_numpy(), args.per_profile)

    results: dict[str, object] = {
        "workspace": str(ws.root),
        "preset": args.preset,
        "per_profile": args.per_profile,
        "held_out_profiles": len(held),
        "variants": {},
    }
    for name, *overrides in args.variant:
        run = f"fidelity_curve_{name}"
        shutil.rmtree(ws.gan_run(run), ignore_errors=True)
        curve = []
        for steps in range(args.every, args.steps + 1, args.every):
            cfg = demo_config(load_config(args.preset, overrides=[*overrides, f"gan.steps={steps}"]), field_um=FIELD_UM)
            checkpoint = train_gan(ws, cfg, run=run, resume=steps > args.every, device="cpu")
            generated = load_generator(checkpoint).generate(mu, n_per_profile=args.per_profile, seed=1)
            metrics = classification_metrics(truth, classifier.predict_proba(generated), classifier.classes)
            point = {
                "steps": steps,
                "accuracy": round(metrics["accuracy"], 3),
                "per_tissue": {t: round(m["accuracy"], 3) for t, m in metrics["per_tissue"].items()},
            }
            curve.append(point)
            print(name, json.dumps(point), flush=True)
        late = [p["accuracy"] for p in curve if p["steps"] >= args.from_step]
        results["variants"][name] = {
            "overrides": overrides,
            "curve": curve,
            "median_from_step": statistics.median(late),
            "min_from_step": min(late),
        }
    baseline = next(iter(results["variants"].values()))
    for entry in results["variants"].values():
        entry["median_ratio_to_baseline"] = round(entry["median_from_step"] / baseline["median_from_step"], 2)
        entry["min_ratio_to_baseline"] = round(entry["min_from_step"] / baseline["min_from_step"], 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(
        json.dumps(
            {
                n: {k: v[k] for k in ("median_from_step", "min_from_step", "median_ratio_to_baseline")}
                for n, v in results["variants"].items()
            }
        )
    )


if __name__ == "__main__":
    main()
