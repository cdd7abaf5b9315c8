"""Sampling a trained flow run: the EMA weights of a checkpoint, turning raw μ into uint8 tiles.

>>> gen = load_flow_generator(ws.gan_run("flow") / "checkpoint", solve=Solve(guidance=2.0))
>>> tiles = gen.generate(mu, n_per_profile=8, seed=0)  # (N*8, 3, S, S) uint8, profile-major

The same surface as the GAN's ``TileGenerator`` (``generate``, ``meta``, ``image_size``...), so
``rnagan generate`` draws from either. Noise depends only on (seed, noise index j), never on μ: tile
i*n + j of two profiles start from the same x₀, so their differences come from μ alone.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from rnagan.checkpoint import load_checkpoint
from rnagan.config import FlowConfig
from rnagan.errors import CheckpointError, InputFileError
from rnagan.flow.objective import FlowMatching, Solve
from rnagan.runtime import autocast, pick_device

log = logging.getLogger(__name__)


class FlowTileGenerator:
    """A :class:`FlowMatching` in eval mode with a way to solve it; ``last_cost`` holds the last call's cost."""

    def __init__(self, model: FlowMatching, solve: Solve, device: torch.device, meta: dict | None = None) -> None:
        self.model = model.to(device).eval()
        self.solve = solve
        self.device = device
        self.meta = meta or {}
        self.last_cost: dict[str, float] = {}

    @property
    def config(self) -> FlowConfig:
        return self.model.config

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def conditioning(self) -> str:
        return self.config.conditioning

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.net.parameters())

    def sample_noise(self, n: int, seed: int) -> torch.Tensor:
        """(n, 3, S, S) N(0, I); row j is the same for a given seed whatever n ≥ j (drawn one row at a time)."""
        rng = torch.Generator().manual_seed(seed)
        return torch.stack([torch.randn(3, self.image_size, self.image_size, generator=rng) for _ in range(n)])

    @torch.no_grad()
    def generate_from_noise(self, mu: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Raw μ (N, d) and x₀ (N, 3, S, S) → uint8 tiles (N, 3, S, S), and network calls per tile."""
        if mu.ndim != 2 or mu.shape[1] != self.latent_dim:
            raise InputFileError(
                f"μ has shape {tuple(mu.shape)}, but this flow expects (N, {self.latent_dim}): "
                "encode the profiles with the VAE it was trained on"
            )
        with autocast(self.device, self.config.precision == "auto"):
            x1, calls = self.model.sample(mu.float().to(self.device), noise.float().to(self.device), self.solve)
        return ((x1.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu(), calls

    def generate(self, mu: torch.Tensor, *, n_per_profile: int, seed: int, batch_size: int = 64) -> torch.Tensor:
        """``n_per_profile`` tiles per row of raw μ (N, d) → uint8 (N * n_per_profile, 3, S, S); timed."""
        mu = torch.as_tensor(mu, dtype=torch.float32)
        rows_mu = mu.repeat_interleave(n_per_profile, dim=0)
        rows_noise = self.sample_noise(n_per_profile, seed).repeat(mu.shape[0], 1, 1, 1)
        started, parts, calls = time.perf_counter(), [], 0
        for i in range(0, rows_mu.shape[0], batch_size):
            tiles, calls = self.generate_from_noise(rows_mu[i : i + batch_size], rows_noise[i : i + batch_size])
            parts.append(tiles)
        n = rows_mu.shape[0]
        self.last_cost = {
            "tiles": n,
            "seconds_per_tile": (time.perf_counter() - started) / max(n, 1),
            "network_calls_per_tile": calls,
            "parameters": self.n_parameters,
        }
        log.info(
            "flow: %d tiles, %s %s, %d network calls each, %.3f s per tile",
            n,
            self.solve.solver,
            f"guidance {self.solve.guidance:g}",
            calls,
            self.last_cost["seconds_per_tile"],
        )
        return torch.cat(parts)


def load_flow_generator(
    checkpoint_path: str | Path, device: str = "cpu", solve: Solve | None = None
) -> FlowTileGenerator:
    """The EMA weights of a flow ``gan/<run>/checkpoint``, solved as ``solve`` says (default: the run's config)."""
    ckpt = load_checkpoint(checkpoint_path, map_location="cpu")
    if ckpt.meta.get("kind") != "flow":
        raise CheckpointError(f"{ckpt.path} is not a flow checkpoint (meta kind {ckpt.meta.get('kind')!r})")
    config = ckpt.config.flow
    model = FlowMatching(config, latent_mean=ckpt.tensors["latent_mean"], latent_std=ckpt.tensors["latent_std"])
    try:
        model.net.load_state_dict(ckpt.subset("ema"))
    except RuntimeError as err:
        raise CheckpointError(f"{ckpt.path}: the flow weights do not match its config.yaml: {err}") from None
    return FlowTileGenerator(model, solve or Solve.from_config(config), pick_device(device), meta=ckpt.meta)
