"""Does a short CPU run of RNA-GAN draw tiles whose tissue class follows μ? (the demo's question)

Cohort: the bundled LC25000 lung tiles (64 px; benign, adenocarcinoma, squamous), one sample per
source image, split by donor 60/40 into train / held-out. μ is *synthetic*: a random centroid per
class (N(0, 1) per dimension) plus N(0, ``--spread``²) per sample, standing in for the β-VAE latents
of the demo's simulated expression. A ResNet-18 trained on the real training tiles
(``rnagan.evaluate.classify``, as the demo) then labels tiles generated from the held-out μ.

    python benchmarks/gan_conditioning_lc25000.py --seconds 120 --set gan.lr_generator=1e-3 ...

Writes one JSON line per run to benchmarks/results/gan_conditioning_lc25000.jsonl.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from rnagan.config import load_config
from rnagan.datasets.lc25000 import CLASSES, load_lc25000
from rnagan.evaluate.classify import train_classifier
from rnagan.gan.sample import load_generator
from rnagan.gan.train import train_gan
from rnagan.slides.store import TileStore, encode_tile, tile_key
from rnagan.workspace import Workspace

RESULTS = Path(__file__).parent / "results" / "gan_conditioning_lc25000.jsonl"


def build_cohort(ws: Workspace, *, latent_dim: int, spread: float, seed: int) -> pd.DataFrame:
    tiles = load_lc25000()
    rng = np.random.default_rng(seed)
    donors = tiles.drop_duplicates("donor_id")[["donor_id"]].sample(frac=1.0, random_state=seed)
    train_donors = set(donors["donor_id"].iloc[: int(0.6 * len(donors))])
    samples = tiles.drop_duplicates("sample_id")[["sample_id", "donor_id", "label"]].rename(columns={"label": "tissue"})
    samples["split"] = np.where(samples["donor_id"].isin(train_donors), "train", "test")
    split_of = samples.set_index("sample_id")["split"]
    tiles = tiles[(tiles["subset"] == "unique") | (tiles["sample_id"].map(split_of) == "train")]
    ws.create()
    rows = []
    with TileStore(ws.tile_store, readonly=False) as store:
        items = []
        for i, t in enumerate(tiles.itertuples()):
            key = tile_key(t.sample_id, i, 0)
            items.append((key, encode_tile(np.asarray(Image.open(t.path).convert("RGB")))))
            rows.append(
                {
                    "key": key,
                    "slide_id": t.sample_id,
                    "sample_id": t.sample_id,
                    "x": i,
                    "y": 0,
                    "level": 0,
                    "mpp": 0.5,
                    "tissue_fraction": 1.0,
                    "label": t.label,
                }
            )
        store.put_many(items)
    pd.DataFrame(rows).to_parquet(ws.tile_index)
    centroids = {c: rng.normal(0, 1, latent_dim) for c in CLASSES}
    mu = np.stack([centroids[t] + rng.normal(0, spread, latent_dim) for t in samples["tissue"]]).astype("float32")
    latents = pd.DataFrame(mu, columns=[f"mu_{k}" for k in range(latent_dim)], index=samples["sample_id"])
    latents.index.name = "sample_id"
    ws.vae.mkdir(parents=True, exist_ok=True)
    latents.to_parquet(ws.latents)
    samples.to_csv(ws.samples_table, index=False)
    return samples.assign(**{c: latents[c].to_numpy() for c in latents.columns})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=None, help="stop training after this long")
    parser.add_argument("--steps", type=int, default=None, help="train this many steps (default: the preset's)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the demo machine has 2 cores)")
    parser.add_argument("--conditioning", default="projection")
    parser.add_argument("--spread", type=float, default=0.5)
    parser.add_argument("--per-profile", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = [f"gan.steps={args.steps}"] if args.steps else []
    cfg = load_config("small", overrides=[f"gan.conditioning={args.conditioning}", *steps, *args.overrides])
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        samples = build_cohort(ws, latent_dim=cfg.gan.latent_dim, spread=args.spread, seed=args.seed)
        started = time.perf_counter()
        ckpt = train_gan(ws, cfg, run="bench", max_seconds=args.seconds)
        train_seconds = time.perf_counter() - started
        trained_steps = json.loads((ckpt / "meta.json").read_text())["step"]
        store = TileStore(ws.tile_store)
        index = pd.read_parquet(ws.tile_index)
        train_ids = set(samples.loc[samples["split"] == "train", "sample_id"])
        real = index[index["sample_id"].isin(train_ids)]
        real_x = torch.stack([torch.from_numpy(store.get(k).copy()).permute(2, 0, 1) for k in real["key"]])
        held = samples[samples["split"] == "test"]
        held_real = index[index["sample_id"].isin(set(held["sample_id"]))]
        held_x = torch.stack([torch.from_numpy(store.get(k).copy()).permute(2, 0, 1) for k in held_real["key"]])
        clf = train_classifier(
            real_x,
            list(real["label"]),
            held_x,
            list(held_real["label"]),
            epochs=8,
            lr=1e-3,
            batch_size=32,
            image_size=64,
            seed=0,
        )
        real_acc = float((np.array(clf.classes)[clf.predict_proba(held_x).argmax(1)] == held_real["label"]).mean())
        gen = load_generator(ckpt)
        mu = torch.from_numpy(held[[c for c in held.columns if c.startswith("mu_")]].to_numpy())
        fake = gen.generate(mu, n_per_profile=args.per_profile, seed=1)
        truth = np.repeat(held["tissue"].to_numpy(), args.per_profile)
        pred = np.array(clf.classes)[clf.predict_proba(fake).argmax(1)]
        result = {
            "conditioning": args.conditioning,
            "overrides": args.overrides,
            "seconds": args.seconds,
            "threads": args.threads,
            "train_seconds": round(train_seconds, 1),
            "steps": trained_steps,
            "seconds_per_step": round(train_seconds / trained_steps, 3),
            "spread": args.spread,
            "held_out_accuracy": round(float((pred == truth).mean()), 3),
            "per_class": {c: round(float((pred[truth == c] == c).mean()), 3) for c in CLASSES},
            "predicted_share": {c: round(float((pred == c).mean()), 3) for c in CLASSES},
            "classifier_real_held_out_accuracy": round(real_acc, 3),
        }
        Image.fromarray(fake[: 8 * args.per_profile].permute(0, 2, 3, 1).reshape(-1, 64, 3).numpy()).save(
            Path(tempfile.gettempdir()) / f"gan_cond_{args.conditioning}.png"
        )
    print(json.dumps(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
