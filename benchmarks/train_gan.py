"""WGAN-GP training throughput: images/s and peak memory per preset, ours against a plain loop.

"ours" is ``rnagan.gan.train.train_step``, the step ``train_gan`` runs (``GANObjective`` losses,
on-device augmentation, channels_last on every device), once per ``gan.precision``: ``fp32``, ``generator``
(the generator under bf16 autocast where the device computes bf16 natively: CUDA, or a CPU with AMX /
AVX-512 BF16; the critic in fp32) and ``auto`` (the whole step in bf16 there); "plain" is a textbook fp32
eager WGAN-GP step over the *same* networks, written out below. One step = n_critic critic updates + one
generator update; images/s counts real tiles consumed (batch × n_critic per step). Each measurement runs in
its own process (its own peak memory); the four alternate for ``--rounds`` rounds, so machine noise hits them alike;
the median process of each mode is reported (each process: the mean step over its timed steps).

    python benchmarks/train_gan.py                 # CPU: every preset (each in its own process)
    python benchmarks/train_gan.py --gpu           # + CUDA at 256 px, batch 64: fp32 vs bf16 vs plain

Writes benchmarks/results/train_gan.json. CPU figures on shared 2-core machines are noisy (±30 %).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from rnagan.config import GANConfig, preset
from rnagan.gan.objective import GANObjective
from rnagan.gan.train import train_step
from rnagan.runtime import cpu_has_native_bf16

RESULTS = Path(__file__).parent / "results" / "train_gan.json"


def plain_step(
    obj: GANObjective,
    opt_d: torch.optim.Optimizer,
    opt_g: torch.optim.Optimizer,
    real: torch.Tensor,
    z_dim: int,
    cfg: GANConfig,
) -> None:
    """The textbook WGAN-GP step (Gulrajani et al. 2017, Algorithm 1) in fp32, NCHW, no extras."""
    g, d = obj.generator, obj.critic
    y = torch.randn(real.shape[0], cfg.latent_dim, device=real.device) if d.embed is not None else None
    for _ in range(cfg.n_critic):
        fake = g(torch.randn(real.shape[0], z_dim, device=real.device)).detach()
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(d(x_hat, y).sum(), x_hat, create_graph=True)
        gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss_d = d(fake, y).mean() - d(real, y).mean() + cfg.gp_lambda * gp
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    loss_g = -d(g(torch.randn(real.shape[0], z_dim, device=real.device)), y).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()


def measure(cfg: GANConfig, mode: str, dev: torch.device, steps: int, warmup: int) -> dict[str, float]:
    """``mode``: a ``gan.precision`` for our step, or "plain"."""
    torch.manual_seed(0)
    ours = mode != "plain"
    if ours:
        cfg = cfg.model_copy(update={"precision": mode})
    obj = GANObjective(cfg, latent_mean=torch.zeros(cfg.latent_dim), latent_std=torch.ones(cfg.latent_dim)).to(dev)
    if ours:  # as train_gan: channels_last on every device
        obj.to(memory_format=torch.channels_last)
    opt_d = torch.optim.Adam(obj.critic.parameters(), lr=cfg.lr_critic, betas=cfg.betas)
    opt_g = torch.optim.Adam(obj.generator.parameters(), lr=cfg.lr_generator, betas=cfg.betas)
    n, s = cfg.batch_size, cfg.image_size
    tiles = torch.randint(0, 256, (n, 3, s, s), dtype=torch.uint8, device=dev)
    real = tiles.float() / 127.5 - 1
    latents = torch.randn(n, cfg.latent_dim, device=dev)
    z_dim = cfg.latent_dim + cfg.noise_dim

    def step(i: int) -> None:
        if ours:  # the step number decides the lazy R1 steps, as in train_gan
            train_step(obj, opt_d, opt_g, lambda: (tiles, latents), step=i)
        else:
            plain_step(obj, opt_d, opt_g, real, z_dim, cfg)

    for i in range(warmup):
        step(i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps):
        start = time.perf_counter()
        step(warmup + i)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    mean = sum(times) / len(times)  # a mean, not a median: one step in r1_every also takes the R1 penalty
    peak = (
        torch.cuda.max_memory_allocated()
        if dev.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "seconds_per_step": round(mean, 4),
        "images_per_s": round(n * cfg.n_critic / mean, 2),
        "peak_memory_mib": round(peak / 2**20, 1),
    }


def cpu_child(preset_name: str, mode: str, steps: int) -> dict[str, float]:
    """Run one CPU measurement in a fresh process, so ru_maxrss is this configuration's own peak."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", preset_name, mode, str(steps)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="also measure CUDA at 256 px, batch 64")
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "paper"])
    parser.add_argument("--steps", type=int, default=16, help="timed steps (a multiple of gan.r1_every)")
    parser.add_argument("--rounds", type=int, default=3, help="processes per mode, alternating (paper: 1)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, mode, steps = args.child
        print(json.dumps(measure(preset(name).gan, mode, torch.device("cpu"), int(steps), warmup=4)))
        return

    # presets not measured this time keep their earlier figures (each entry records its own load average)
    earlier = json.loads(RESULTS.read_text()).get("cpu", {}) if RESULTS.is_file() else {}
    results: dict[str, Any] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "cpu": earlier,
    }
    modes = ("fp32", "generator", "auto", "plain")
    for name in args.presets:
        steps, rounds = (2, 1) if name == "paper" else (args.steps, args.rounds)
        runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        for _ in range(rounds):
            for mode in modes:
                runs[mode].append(cpu_child(name, mode, steps))
        median = {m: sorted(runs[m], key=lambda r: r["seconds_per_step"])[rounds // 2] for m in modes}
        cfg = preset(name).gan
        results["cpu"][name] = {
            "image_size": cfg.image_size,
            "batch_size": cfg.batch_size,
            **median,
            "rounds": rounds,
            "preset_precision": cfg.precision,
            "speedup": {m: round(median[m]["images_per_s"] / median["plain"]["images_per_s"], 2) for m in modes[:-1]},
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
        print(name, json.dumps(results["cpu"][name]), flush=True)
    if args.gpu and torch.cuda.is_available():
        dev = torch.device("cuda")
        cfg = preset("paper").gan.model_copy(update={"batch_size": 64})
        bf16 = measure(cfg, "auto", dev, 12, warmup=4)
        plain = measure(cfg, "plain", dev, 12, warmup=4)
        results["cuda"] = {
            "device": torch.cuda.get_device_name(),
            "image_size": 256,
            "batch_size": 64,
            "ours_bf16_channels_last": bf16,
            "plain_fp32": plain,
            "speedup": round(bf16["images_per_s"] / plain["images_per_s"], 2),
        }
        print("cuda", json.dumps(results["cuda"]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
