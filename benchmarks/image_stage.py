"""The image stage against bicubic: is a 64 px tile lifted to 224 px still told from a real 224 px tile?

On the lung demo's held-out tiles (its val and test samples, never trained on by the shipped image
stage) at their native 224 px (the bundled LC25000 copy), split into two disjoint halves
A and B of equal n. Half B is taken down to 64 px as the conditional GAN sees tiles, then back to 224 px
by bicubic, or by the image stage (×4 to 256 px, then antialiased to 224). Each is compared with half A:
FID (ratio to half B itself against A, the real-vs-real FID at the same n), C2ST (frozen Inception
features + logistic regression, 0.5 = indistinguishable), the nuclei-statistics ratio (rnagan.evaluate.nuclei,
at LC25000's 224 µm field) and the pixel error against B's originals::

    python benchmarks/image_stage.py [--image-stage bundled]

Results go to ``benchmarks/results/image_stage.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnagan.config import load_config
from rnagan.datasets.lc25000 import FIELD_UM
from rnagan.demo.splits import demo_tile_splits
from rnagan.evaluate.features import InceptionFeatures, read_image
from rnagan.evaluate.fid import fid_from_features
from rnagan.evaluate.nuclei import nuclei_distance, nuclei_features
from rnagan.evaluate.realism import two_sample_test
from rnagan.image.sample import load_upsampler, upsample_tiles
from rnagan.slides.augment import resize_tiles

RESULTS = Path(__file__).parent / "results" / "image_stage.json"
LOW = 64  # the conditional GAN's tile size


def held_out_halves(seed: int, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (n, 3, 224, 224) twice: the demo's non-training unique tiles (at most ``limit``), shuffled with
    ``seed``, in two halves."""
    tiles = demo_tile_splits(load_config("small"))
    held_out = tiles[(tiles["split"] != "train") & (tiles["subset"] == "unique")]
    paths = held_out["path"].tolist()
    order = np.random.default_rng(seed).permutation(len(paths))[:limit]
    images = torch.stack([read_image(paths[i]) for i in order])
    half = len(images) // 2
    return images[:half], images[half : 2 * half]


def lifted_sets(originals: torch.Tensor, image_stage: str) -> tuple[dict[str, torch.Tensor], float]:
    """Half B as it is, and through 64 px and back by bicubic and by the image stage, all at the originals' size;
    and the image stage's seconds per tile."""
    size = originals.shape[-1]
    low = resize_tiles(originals, LOW)
    bicubic = F.interpolate(low.float(), size=(size, size), mode="bicubic", align_corners=False)
    started = time.perf_counter()
    lifted = upsample_tiles(load_upsampler(image_stage), low)
    seconds = time.perf_counter() - started
    return {
        "real": originals,
        "bicubic": bicubic.round().clamp(0, 255).to(torch.uint8),
        "image_stage": resize_tiles(lifted, size),
    }, seconds / len(low)


def measure(sets: dict[str, torch.Tensor], reference: torch.Tensor, seed: int) -> dict[str, dict[str, float]]:
    inception = InceptionFeatures.load()
    ref = inception.extract(iter(reference))
    mpp = FIELD_UM / reference.shape[-1]
    ref_nuclei = nuclei_features(reference.permute(0, 2, 3, 1).numpy(), mpp)
    out: dict[str, dict[str, float]] = {}
    for name, images in sets.items():
        features = inception.extract(iter(images))
        error = (images.float() - sets["real"].float()).abs().mean().item()
        out[name] = {
            "fid": fid_from_features(features, ref),
            "c2st_accuracy": two_sample_test(ref, features, seed=seed)["balanced_accuracy"],
            "mean_abs_error": error,
            "nuclei_ratio": nuclei_distance(
                ref_nuclei, nuclei_features(images.permute(0, 2, 3, 1).numpy(), mpp), seed=seed
            )["ratio"],
        }
    real_fid = out["real"]["fid"]
    for entry in out.values():
        entry["fid_ratio"] = entry["fid"] / real_fid
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-stage", default="bundled", help="'bundled' or an image/checkpoint folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tiles", type=int, default=None, help="at most this many held-out tiles (default: all)")
    args = parser.parse_args()
    reference, originals = held_out_halves(args.seed, args.max_tiles)
    sets, seconds_per_tile = lifted_sets(originals, args.image_stage)
    started = time.perf_counter()
    figures = measure(sets, reference, args.seed)
    result = {
        "what": "held-out LC25000 tiles at 224 px: real half B, and B through 64 px back by bicubic or the image "
        "stage, each against real half A",
        "n_per_set": len(originals),
        "image_size": int(originals.shape[-1]),
        "image_stage": args.image_stage,
        "seed": args.seed,
        "sets": figures,
        "image_stage_seconds_per_tile": seconds_per_tile,
        "inception_seconds": time.perf_counter() - started,
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "load_average_1min": os.getloadavg()[0],
        },
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for name, entry in figures.items():
        print(
            f"{name:12s} FID ratio {entry['fid_ratio']:.2f}  C2ST {entry['c2st_accuracy']:.3f}  "
            f"nuclei {entry['nuclei_ratio']:.2f}  n {len(originals)}"
        )


if __name__ == "__main__":
    main()
