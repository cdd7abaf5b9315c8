"""The β-VAE that compresses an expression profile into the latent μ the tile generator is conditioned on.

Paper preset (Carrillo-Perez et al. 2023, STAR Methods)::

    x (B, 19198) ─Dropout─▶ 6000 ─▶ 4096 ─┬─▶ μ       (B, 2048)
                 Linear-BN-LeakyReLU      └─▶ log σ²  (B, 2048)
    z (B, 2048) ─▶ 4096 ─▶ 6000 ─▶ Linear ─▶ x̂ (B, 19198)   (linear output: z-scores are unbounded)

Loss: MSE(x̂, x) averaged over batch × genes, plus β · KL(q(z|x) ‖ N(0, I)) summed over latent
dimensions and averaged over the batch (the reference code's scaling, so β values carry over).
"""

from __future__ import annotations

from itertools import pairwise
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from rnagan.config import VAEConfig


class VAELoss(NamedTuple):
    total: torch.Tensor  # recon + β · kl, scalar
    recon: torch.Tensor  # mean squared error per gene, scalar
    kl: torch.Tensor  # KL per sample (summed over latent dims), scalar


def _block(n_in: int, n_out: int, slope: float) -> nn.Sequential:
    """Linear → BatchNorm → LeakyReLU: the paper's "batch norm between the layers"."""
    return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.LeakyReLU(slope))


class BetaVAE(nn.Module):
    """β-VAE over ``n_genes`` z-scored genes, shaped by a :class:`VAEConfig`.

    ``forward`` samples z = μ + σ·ε in training mode and uses z = μ in eval mode, so evaluation,
    encoding and reconstruction metrics are deterministic (the reference code sampled in both).
    """

    def __init__(self, n_genes: int, config: VAEConfig) -> None:
        super().__init__()
        if n_genes < 1:
            raise ValueError(f"n_genes must be >= 1, got {n_genes}")
        self.n_genes = n_genes
        self.config = config
        slope = config.leaky_slope

        widths = [n_genes, *config.encoder_dims]
        self.encoder = nn.Sequential(
            nn.Dropout(config.input_dropout),
            *(_block(a, b, slope) for a, b in pairwise(widths)),
        )
        self.fc_mu = nn.Linear(widths[-1], config.latent_dim)
        self.fc_logvar = nn.Linear(widths[-1], config.latent_dim)

        widths = [config.latent_dim, *config.decoder_dims]
        self.decoder = nn.Sequential(
            *(_block(a, b, slope) for a, b in pairwise(widths)),
            nn.Linear(widths[-1], n_genes),
            nn.Tanh() if config.output_activation == "tanh" else nn.Identity(),
        )

        # Xavier-uniform weights as the reference code (betaVAE_training.py:143); zero biases.
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n_genes) → μ (B, latent_dim), log σ² (B, latent_dim)."""
        h = self.encoder(x)  # (B, encoder_dims[-1])
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) → (B, n_genes) z-scored profile."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, n_genes) → reconstruction (B, n_genes), μ, log σ² (B, latent_dim)."""
        mu, logvar = self.encode(x)
        # Reparameterisation trick in training; the mean in eval mode.
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar

    def loss(
        self,
        recon: torch.Tensor,
        x: torch.Tensor,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        *,
        beta: float | None = None,
    ) -> VAELoss:
        """β-VAE objective with this model's β unless ``beta`` is given (e.g. during a KL warm-up)."""
        return vae_loss(recon, x, mu, logvar, beta=self.config.beta if beta is None else beta)


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *, beta: float) -> VAELoss:
    """MSE(x̂, x) + β·KL, in float32 whatever the autocast dtype of the inputs."""
    recon_loss = F.mse_loss(recon.float(), x.float())
    mu, logvar = mu.float(), logvar.float()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
    return VAELoss(recon_loss + beta * kl, recon_loss, kl)


def count_parameters(n_genes: int, config: VAEConfig) -> int:
    """Trainable parameters of ``BetaVAE(n_genes, config)`` without building it (the paper preset: 304.7 M)."""
    enc = [n_genes, *config.encoder_dims]
    dec = [config.latent_dim, *config.decoder_dims]
    linear = sum(a * b + b for a, b in pairwise(enc))
    linear += 2 * (enc[-1] * config.latent_dim + config.latent_dim)
    linear += sum(a * b + b for a, b in pairwise(dec))
    linear += dec[-1] * n_genes + n_genes
    batch_norm = 2 * (sum(config.encoder_dims) + sum(config.decoder_dims))
    return linear + batch_norm
