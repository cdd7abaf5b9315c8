"""Sampling a trained RNA-GAN: the EMA generator of a checkpoint, turning raw μ into uint8 tiles."""

from __future__ import annotations

from pathlib import Path

import torch

from rnagan.checkpoint import load_checkpoint
from rnagan.config import GANConfig
from rnagan.errors import CheckpointError, InputFileError
from rnagan.gan.model import Generator
from rnagan.gan.objective import generator_input, sample_noise
from rnagan.runtime import pick_device


class TileGenerator:
    """The EMA generator of a checkpoint, in eval mode, turning raw μ into uint8 tiles.

    >>> gen = load_generator(ws.gan_run("rnagan") / "checkpoint")
    >>> tiles = gen.generate(mu, n_per_profile=8, seed=0)  # (N*8, 3, S, S) uint8, profile-major

    Noise depends only on (seed, noise index j), never on μ: tile i*n + j of one call and of another
    call with a perturbed μ share their noise, so differences come from μ alone.
    """

    def __init__(
        self,
        generator: Generator,
        config: GANConfig,
        latent_mean: torch.Tensor,
        latent_std: torch.Tensor,
        device: torch.device,
        meta: dict | None = None,
    ) -> None:
        self.generator = generator.to(device).eval()
        self.config = config
        self.meta = meta or {}  # the checkpoint's meta.json (vae_fingerprint, step, ...)
        self.device = device
        self.latent_mean, self.latent_std = latent_mean.to(device), latent_std.to(device)

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
    def noise_dim(self) -> int:
        """Columns of the noise that :meth:`generate_from_noise` takes: latent_dim + extra noise."""
        return self.config.latent_dim + self.config.noise_dim

    def sample_noise(self, n: int, seed: int) -> torch.Tensor:
        """(n, noise_dim) noise; row j is the same for a given seed whatever n ≥ j."""
        return sample_noise(n, self.config, generator=torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def generate_from_noise(
        self, mu: torch.Tensor, noise: torch.Tensor, *, group_size: int | None = None
    ) -> torch.Tensor:
        """Raw μ (N, d) and noise (N, noise_dim) → uint8 tiles (N, 3, S, S), in one batch."""
        if mu.ndim != 2 or mu.shape[1] != self.latent_dim:
            raise InputFileError(
                f"μ has shape {tuple(mu.shape)}, but this generator expects (N, {self.latent_dim}): "
                "encode the profiles with the VAE the GAN was trained on"
            )
        if noise.shape != (mu.shape[0], self.noise_dim):
            raise ValueError(f"noise has shape {tuple(noise.shape)}, expected ({mu.shape[0]}, {self.noise_dim})")
        z = generator_input(
            mu.float().to(self.device),
            noise.float().to(self.device),
            self.config,
            latent_mean=self.latent_mean,
            latent_std=self.latent_std,
            group_size=group_size,
        )
        images = self.generator(z)  # (N, 3, S, S) in [-1, 1]
        return ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).cpu()

    def generate(self, mu: torch.Tensor, *, n_per_profile: int, seed: int, batch_size: int = 64) -> torch.Tensor:
        """``n_per_profile`` tiles per row of raw μ (N, d) → uint8 (N * n_per_profile, 3, S, S).

        With the reference batch standardisation, each profile's tiles are standardised together,
        as the published generation script did per patient (μ then cancels: the measured defect).
        """
        mu = torch.as_tensor(mu, dtype=torch.float32)
        noise = self.sample_noise(n_per_profile, seed)  # (n, noise_dim), shared by every profile
        rows_mu = mu.repeat_interleave(n_per_profile, dim=0)  # (N*n, d)
        rows_noise = noise.repeat(mu.shape[0], 1)  # (N*n, noise_dim)
        if self.config.conditioning == "reference" and self.config.reference_batch_standardize:
            if n_per_profile < 2:
                raise ValueError("the reference batch standardisation needs n_per_profile >= 2 (std of 1 row is NaN)")
            per_batch = n_per_profile * max(1, batch_size // n_per_profile)  # whole profiles per batch
            return torch.cat(
                [
                    self.generate_from_noise(
                        rows_mu[i : i + per_batch], rows_noise[i : i + per_batch], group_size=n_per_profile
                    )
                    for i in range(0, rows_mu.shape[0], per_batch)
                ]
            )
        return torch.cat(
            [
                self.generate_from_noise(rows_mu[i : i + batch_size], rows_noise[i : i + batch_size])
                for i in range(0, rows_mu.shape[0], batch_size)
            ]
        )


def load_generator(checkpoint_path: str | Path, device: str = "cpu") -> TileGenerator:
    """The EMA generator of a ``gan/<run>/checkpoint`` folder, ready to sample (eval mode, no grad)."""
    ckpt = load_checkpoint(checkpoint_path, map_location="cpu")
    config = ckpt.config.gan
    generator = Generator.from_config(config)
    ema = ckpt.subset("ema")
    if not ema:
        raise CheckpointError(f"{ckpt.path} holds no generator weights (ema.*): is it a GAN checkpoint?")
    try:
        generator.load_state_dict(ema)
    except RuntimeError as err:
        raise CheckpointError(f"{ckpt.path}: the generator weights do not match its config.yaml: {err}") from None
    return TileGenerator(
        generator, config, ckpt.tensors["latent_mean"], ckpt.tensors["latent_std"], pick_device(device), meta=ckpt.meta
    )
