"""β-VAE training throughput (samples/s) and peak memory, rnagan's step against a plain loop.

The baseline is the same network written out here as ``nn.Sequential`` and trained by a plain fp32
eager loop (MSE + β·KL, Adam); rnagan's step is ``rnagan.vae.train.train_step`` on
``rnagan.vae.model.BetaVAE`` (the NaN guard included; bf16 autocast on a GPU). Each measurement
runs in its own subprocess so its peak memory is clean; data are random z-scores of 19,198 genes::

    python benchmarks/vae_train.py                    # paper and small presets, CPU (and GPU if present)
    python benchmarks/vae_train.py --steps 3          # fewer timed steps

Results go to ``benchmarks/results/vae_train.json``; ``ratio`` is rnagan samples/s ÷ baseline samples/s
measured in the same run (CPU figures on a shared 2-core machine vary by ±30 %).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

N_GENES = 19_198
RESULTS = Path(__file__).parent / "results" / "vae_train.json"


def _baseline_network(cfg):  # a plain re-statement of the network, independent of rnagan.vae.model
    from torch import nn

    def block(a: int, b: int) -> list[nn.Module]:
        return [nn.Linear(a, b), nn.BatchNorm1d(b), nn.LeakyReLU(cfg.leaky_slope)]

    enc, dec = [N_GENES, *cfg.encoder_dims], [cfg.latent_dim, *cfg.decoder_dims]
    encoder = nn.Sequential(nn.Dropout(cfg.input_dropout), *[m for a, b in pairwise(enc) for m in block(a, b)])
    decoder = nn.Sequential(*[m for a, b in pairwise(dec) for m in block(a, b)], nn.Linear(dec[-1], N_GENES))
    heads = nn.Linear(enc[-1], 2 * cfg.latent_dim)
    return nn.ModuleList([encoder, heads, decoder])


def worker(preset: str, impl: str, device: str, precision: str, steps: int, warmup: int) -> dict:
    import torch

    from rnagan.config import preset as load_preset
    from rnagan.runtime import Distributed
    from rnagan.vae.model import BetaVAE
    from rnagan.vae.train import train_step

    cfg = load_preset(preset).vae
    dev = torch.device(device)
    torch.manual_seed(0)
    x = torch.randn(cfg.batch_size, N_GENES, device=dev)
    if impl == "rnagan":
        model = BetaVAE(N_GENES, cfg).to(dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        ddp = Distributed()

        def step() -> None:
            train_step(model, x, opt, beta=cfg.beta, device=dev, ddp=ddp, bf16=precision == "bf16")
    else:
        encoder, heads, decoder = _baseline_network(cfg).to(dev).train()
        params = [*encoder.parameters(), *heads.parameters(), *decoder.parameters()]
        opt = torch.optim.Adam(params, lr=cfg.lr)

        def step() -> None:
            mu, logvar = heads(encoder(x)).chunk(2, dim=1)
            recon = decoder(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))
            kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
            loss = torch.nn.functional.mse_loss(recon, x) + cfg.beta * kl
            opt.zero_grad()
            loss.backward()
            opt.step()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated()
        if dev.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "preset": preset,
        "impl": impl,
        "device": device,
        "precision": precision,
        "batch_size": cfg.batch_size,
        "steps": steps,
        "seconds": seconds,
        "samples_per_second": steps * cfg.batch_size / seconds,
        "peak_memory_gib": peak / 2**30,
        "peak_memory_kind": "cuda max allocated" if dev.type == "cuda" else "process max RSS",
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run [paper 3 / small 20 on CPU]")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--presets", nargs="+", default=["paper", "small"])
    parser.add_argument("--worker", nargs=4, metavar=("PRESET", "IMPL", "DEVICE", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, steps=args.steps, warmup=args.warmup)))
        return

    import torch

    runs = [(p, impl, "cpu", "fp32") for p in args.presets for impl in ("baseline", "rnagan")]
    if torch.cuda.is_available():
        runs += [
            (p, impl, "cuda", prec)
            for p in args.presets
            for impl, prec in (("baseline", "fp32"), ("rnagan", "fp32"), ("rnagan", "bf16"))
        ]
    results = []
    for preset, impl, device, precision in runs:
        steps = args.steps or (20 if preset == "small" or device == "cuda" else 3)
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                preset,
                impl,
                device,
                precision,
                "--steps",
                str(steps),
                "--warmup",
                str(args.warmup),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(
            f"{preset:6} {impl:8} {device:4} {precision}: {r['samples_per_second']:9.1f} samples/s, "
            f"peak {r['peak_memory_gib']:.2f} GiB",
            flush=True,
        )

    def find(preset: str, impl: str, device: str, precision: str) -> dict | None:
        return next(
            (
                r
                for r in results
                if (r["preset"], r["impl"], r["device"], r["precision"]) == (preset, impl, device, precision)
            ),
            None,
        )

    ratios = {}
    for r in results:
        if r["impl"] == "rnagan":
            base = find(r["preset"], "baseline", r["device"], "fp32")
            if base:
                ratios[f"{r['preset']}/{r['device']}/{r['precision']}"] = (
                    r["samples_per_second"] / base["samples_per_second"]
                )
    report = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_count": os.cpu_count(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "baseline": "same network as nn.Sequential, plain fp32 eager loop (MSE + β·KL, Adam)",
        "ratio_rnagan_over_baseline": ratios,
        "runs": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(ratios, indent=1))


if __name__ == "__main__":
    main()
