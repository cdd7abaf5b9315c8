"""RNA-GAN's objective: how μ becomes the generator's input, and the adversarial losses.

Three layers, as in lucidrains' denoising-diffusion (Unet / GaussianDiffusion / Trainer):
:mod:`rnagan.gan.model` holds the networks, :class:`GANObjective` here owns how μ becomes the
generator's input and the WGAN-GP losses, and :func:`rnagan.gan.train.train_gan` is the loop.

Conditioning modes (``gan.conditioning``):

- ``projection`` (ours): μ standardised with fixed training-set statistics (stored in the checkpoint)
  plus small noise goes to the generator, and the critic sees the same standardised μ through a
  projection term, so tiles that ignore μ are penalised;
- ``reference`` (the paper's): μ + U(-0.3, 0.3) to the generator, the critic blind to it;
  ``reference_batch_standardize`` adds the published per-batch standardisation, which cancels μ
  exactly whenever a batch holds one profile;
- ``none``: noise only (the paper's GAN baseline).

Losses (``gan.loss``):

- ``wgan-gp`` (the paper's): the critic maximises E[D(real)] − E[D(fake)] under a two-sided gradient
  penalty on interpolates, computed every step (a double backward each time);
- ``hinge``: E[max(0, 1 − D(real))] + E[max(0, 1 + D(fake))] for the critic, −E[D(fake)] for the
  generator, with an R1 penalty on real tiles every ``r1_every`` critic steps. With DiffAugment and a
  spectrally normalised critic this is the data-efficient recipe of small-data GANs (Zhao et al.
  2020; Karras et al. 2020), and it converges in far fewer steps on a few hundred tiles.

``gan.mode_seeking`` adds MSGAN's term to the generator's loss (either loss): without it the projection
critic was satisfied by one picture per tissue, whatever the noise.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from rnagan.config import GANConfig
from rnagan.gan.model import Critic, Generator
from rnagan.runtime import autocast
from rnagan.slides.augment import diff_augment


def sample_noise(
    n: int, config: GANConfig, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Standard noise (n, latent_dim + noise_dim): U(-1, 1) or N(0, 1) as ``config.noise`` says.

    The first ``latent_dim`` columns perturb μ (scaled by ``noise_scale``); the rest are extra noise
    channels. Drawn on the CPU with an optional generator, so a seed gives the same noise everywhere.
    """
    shape = (n, config.latent_dim + config.noise_dim)
    if config.noise == "uniform":
        noise = torch.rand(shape, generator=generator) * 2 - 1
    else:
        noise = torch.randn(shape, generator=generator)
    return noise.to(device)


def generator_input(
    mu: torch.Tensor | None,
    noise: torch.Tensor,
    config: GANConfig,
    *,
    latent_mean: torch.Tensor,
    latent_std: torch.Tensor,
    group_size: int | None = None,
) -> torch.Tensor:
    """(raw μ (N, d), noise (N, d + noise_dim)) → generator input (N, d + noise_dim).

    ``group_size`` only matters for the reference batch standardisation: rows are standardised in
    consecutive groups of that size (the published generation script standardised per patient).
    """
    d = config.latent_dim
    if config.conditioning == "none":
        return noise  # the baseline: randn / rand only (the paper's GAN used randn(B, 2048))
    if mu is None:
        raise ValueError(f"conditioning {config.conditioning!r} needs μ")
    perturbation, extra = config.noise_scale * noise[:, :d], noise[:, d:]
    if config.conditioning == "projection":
        code = (mu - latent_mean) / latent_std + perturbation
    else:  # reference: μ + U(-0.3, 0.3), optionally standardised across the batch as published
        code = mu + perturbation
        if config.reference_batch_standardize:
            groups = code.reshape(-1, group_size or code.shape[0], d)
            groups = (groups - groups.mean(1, keepdim=True)) / groups.std(1, keepdim=True)  # unbiased, as torch
            code = groups.reshape(-1, d)
    return torch.cat([code, extra], dim=1)


def gradient_penalty(
    critic: Critic, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None, y_fake: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over samples of (‖∇ₓ D(x̂ᵢ, ŷᵢ)‖₂ − 1)², x̂ᵢ = εᵢ realᵢ + (1 − εᵢ) fakeᵢ, εᵢ ~ U(0, 1).

    One ε and one gradient norm *per sample* (Gulrajani et al. 2017, Algorithm 1). The published code
    drew one ε per batch and took the norm of the whole batch's gradient,
    which constrains the average slope, not the slope at each sample. ŷᵢ is the real tile's condition yᵢ,
    or, where the generated tile was drawn for another profile (``y_fake``: mode-seeking twins), the
    conditions mixed with the same εᵢ, so no interpolate pairs a picture with a profile foreign to both ends.
    """
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    y_hat = y if y is None or y_fake is None else eps.flatten(1) * y + (1 - eps.flatten(1)) * y_fake
    score = critic(x_hat, y_hat)
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)  # sum: sample i only feeds D(x̂ᵢ)
    norms = grad.flatten(1).norm(2, dim=1)  # (N,)
    return ((norms - 1) ** 2).mean()


def r1_penalty(score: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E‖∇ₓ D(x)‖² over real tiles ``real`` (which require grad) whose scores are ``score``."""
    (grad,) = torch.autograd.grad(score.sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


class CriticTerms(NamedTuple):
    """The critic's loss and the parts logged beside it: the score gap and the penalty (GP or R1)."""

    loss: torch.Tensor
    gap: torch.Tensor
    gp: torch.Tensor


class Fakes(NamedTuple):
    """A batch of generated tiles with the raw μ and the noise each was drawn from."""

    tiles: torch.Tensor
    mu: torch.Tensor
    noise: torch.Tensor


class GANObjective(nn.Module):
    """The generator, the critic, the fixed latent statistics, and the adversarial losses over them."""

    def __init__(self, config: GANConfig, *, latent_mean: torch.Tensor, latent_std: torch.Tensor) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator.from_config(config)
        cond_dim = config.latent_dim if config.conditioning == "projection" else 0  # reference: critic blind
        self.critic = Critic(
            image_size=config.image_size,
            base_channels=config.base_channels,
            max_channels=config.max_channels,
            cond_dim=cond_dim,
            spectral_norm=config.critic_norm == "spectral",
            minibatch_std=config.critic_minibatch_std,
        )
        # Fixed once from the training samples and saved with the weights; never recomputed per batch.
        self.register_buffer("latent_mean", latent_mean.float().clone())
        self.register_buffer("latent_std", latent_std.float().clone())

    def condition(self, mu: torch.Tensor) -> torch.Tensor | None:
        """What the critic sees: standardised μ (projection) or nothing."""
        if self.config.conditioning != "projection":
            return None
        return (mu - self.latent_mean) / self.latent_std

    def fake(self, mu: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = sample_noise(mu.shape[0], self.config, device=mu.device)
        z = generator_input(mu, noise, self.config, latent_mean=self.latent_mean, latent_std=self.latent_std)
        with autocast(z.device, self.config.precision == "generator", on_cpu=True):
            return self.generator(z).float()

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """What the critic sees of a tile: ``gan.diffaugment`` applied (real and generated alike)."""
        return diff_augment(x, self.config.diffaugment) if self.config.diffaugment else x

    def draw(self, mu: torch.Tensor, *, twins: bool = True) -> Fakes:
        """A generated batch for profiles μ (N, d). With ``twins`` and ``mode_seeking`` > 0 (what the generator's
        loss needs): two noise draws of each μ of the first half, the twins whose distance that loss rewards;
        a critic-only batch passes ``twins=False`` and keeps all N profiles."""
        if twins and self.config.mode_seeking > 0:
            half = mu.shape[0] // 2
            mu = torch.cat([mu[:half], mu[:half]])
        noise = sample_noise(mu.shape[0], self.config, device=mu.device)
        return Fakes(self.fake(mu, noise), mu, noise)

    def critic_loss(
        self, real: torch.Tensor, mu: torch.Tensor, fakes: Fakes, *, regularise: bool = True
    ) -> CriticTerms:
        """The critic's loss on real tiles of profiles μ and generated ``fakes`` (detached here), with its parts.

        WGAN-GP: −gap + λ·GP. The critic maximises the gap E[D(real)] − E[D(fake)], its estimate of
        the Wasserstein-1 distance. Hinge: the hinge loss, plus (γ/2)·r1_every·R1 when ``regularise``
        (the lazy steps; StyleGAN2 scales the penalty by its interval so its average weight is γ/2).
        """
        y, fake = self.condition(mu), fakes.tiles.detach()
        # :meth:`draw` hands back the very μ it was given unless it made twins (no device sync to compare values)
        other_profiles = fakes.mu is not mu
        y_fake = self.condition(fakes.mu) if other_profiles else y
        if self.config.loss == "wgan-gp":
            gap = self.critic(real, y).mean() - self.critic(fake, y_fake).mean()
            gp = gradient_penalty(self.critic, real, fake, y, y_fake if other_profiles else None)
            return CriticTerms(-gap + self.config.gp_lambda * gp, gap, gp)
        penalise = regularise and self.config.r1_gamma > 0
        real_seen = self.augment(real).detach().requires_grad_(penalise)
        real_score, fake_score = self.critic(real_seen, y), self.critic(self.augment(fake), y_fake)
        loss = F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()
        r1 = r1_penalty(real_score, real_seen) if penalise else torch.zeros((), device=real.device)
        loss = loss + 0.5 * self.config.r1_gamma * self.config.r1_every * r1
        return CriticTerms(loss, real_score.mean() - fake_score.mean(), r1)

    def generator_loss(self, fakes: Fakes) -> torch.Tensor:
        """−E[D(G(z), y)]: the generator raises the critic's score of its tiles for their own μ.

        With ``mode_seeking`` > 0 (``fakes`` from :meth:`draw`: twins in the two halves) the loss adds
        λ / (mean tile distance / mean noise distance) between the twins (MSGAN), so tiles that ignore the
        noise cost the generator.
        """
        loss = -self.critic(self.augment(fakes.tiles), self.condition(fakes.mu)).mean()
        if self.config.mode_seeking <= 0:
            return loss
        half = fakes.mu.shape[0] // 2
        tile_distance = (fakes.tiles[:half] - fakes.tiles[half:]).abs().mean()
        noise_distance = (fakes.noise[:half] - fakes.noise[half:]).abs().mean()
        return loss + self.config.mode_seeking / (tile_distance / noise_distance + 1e-5)


def latent_statistics(latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and (population) std over training samples; near-constant dims get std 1.

    Each sample counts once whatever its number of tiles. Collapsed VAE dimensions (std ≈ 0) are left
    unscaled rather than blown up into noise (as scikit-learn's ``_handle_zeros_in_scale``).
    """
    mean = latents.mean(0)
    std = latents.std(0, unbiased=False) if latents.shape[0] > 1 else torch.ones_like(mean)
    return mean, torch.where(std < 1e-6, torch.ones_like(std), std)
