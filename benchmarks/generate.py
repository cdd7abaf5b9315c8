"""Tiles per second of generation: the generator alone, and with PNG encoding as ``rnagan generate`` writes.

The generator is built from a preset's GAN section with random weights (speed does not depend on
training), wrapped in the same :class:`~rnagan.gan.sample.TileGenerator` that checkpoints load into,
and called the way :func:`rnagan.generate.generate_tiles` calls it (eval, no grad, bf16 on GPUs)::

    python benchmarks/generate.py                         # presets small (64 px) and paper (256 px)
    python benchmarks/generate.py --presets small --profiles 8 --n 64

Results go to ``benchmarks/results/generate.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from pathlib import Path

import torch
from PIL import Image

from rnagan.config import preset
from rnagan.gan.model import Generator
from rnagan.gan.sample import TileGenerator
from rnagan.runtime import autocast, pick_device

RESULTS = Path(__file__).parent / "results" / "generate.json"


def measure(preset_name: str, profiles: int, n: int, device: torch.device) -> dict[str, float]:
    cfg = preset(preset_name)
    gan = cfg.gan
    tile_generator = TileGenerator(
        Generator.from_config(gan), gan, torch.zeros(gan.latent_dim), torch.ones(gan.latent_dim), device
    )
    mu = torch.randn(profiles, gan.latent_dim)
    with torch.inference_mode(), autocast(device):
        tile_generator.generate(mu[:1], n_per_profile=2, seed=0)  # warm-up
        start = time.perf_counter()
        tiles = tile_generator.generate(mu, n_per_profile=n, seed=0, batch_size=cfg.generate.batch_size)
        generate_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for tile in tiles:
        Image.fromarray(tile.permute(1, 2, 0).numpy()).save(io.BytesIO(), format="PNG", compress_level=1)
    png_seconds = time.perf_counter() - start
    total = len(tiles)
    return {
        "tiles": total,
        "image_size": gan.image_size,
        "batch_size": cfg.generate.batch_size,
        "generator_tiles_per_second": total / generate_seconds,
        "with_png_tiles_per_second": total / (generate_seconds + png_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["small", "paper"])
    parser.add_argument("--profiles", type=int, default=4)
    parser.add_argument("--n", type=int, default=32, help="tiles per profile")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    results = {name: measure(name, args.profiles, args.n, device) for name in args.presets}
    out = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
