"""Conditional flow matching: the loss, classifier-free guidance, and the ODE from noise to tile.

Rectified flow (Liu et al. 2023; Lipman et al. 2023's conditional flow matching with σ_min = 0): a tile
x₁ and noise x₀ ~ N(0, I) are joined by the straight line x_t = (1 − t)·x₀ + t·x₁, whose velocity is
x₁ − x₀. The network learns E[x₁ − x₀ | x_t, μ] by least squares; drawing a tile integrates
dx/dt = v(x, t, μ) from t = 0 to 1 with a torchdiffeq solver (Euler, midpoint, RK4 on a fixed grid,
or adaptive dopri5). With guidance the field is v(∅) + w·(v(μ) − v(∅)) (Ho & Salimans 2022): w = 0
ignores μ, w = 1 is the conditional field, w > 1 pushes tiles further toward what μ predicts.

μ is standardised with fixed training-set statistics, stored with the weights (as the GAN's
projection conditioning), so a checkpoint reads raw μ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchdiffeq import odeint

from rnagan.config import FlowConfig
from rnagan.flow.model import VelocityNet

FIXED_GRID = ("euler", "midpoint", "rk4")


@dataclass(frozen=True)
class Solve:
    """How to integrate: the torchdiffeq method, its grid (fixed solvers) or tolerance (dopri5), the guidance."""

    solver: str = "midpoint"
    steps: int = 16
    tolerance: float = 1e-3
    guidance: float = 1.0

    @classmethod
    def from_config(cls, config: FlowConfig) -> Solve:
        return cls(config.solver, config.sampling_steps, config.tolerance, config.guidance_scale)


def latent_statistics(latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and population std over training samples; near-constant dimensions get std 1."""
    mean = latents.mean(0)
    std = latents.std(0, unbiased=False) if latents.shape[0] > 1 else torch.ones_like(mean)
    return mean, torch.where(std < 1e-6, torch.ones_like(std), std)


def integrate(
    field: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor, solve: Solve
) -> tuple[torch.Tensor, int]:
    """x(1) of dx/dt = field(t, x) from x(0) = ``x0``, and the number of field evaluations it took."""
    calls = 0

    def counted(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        return field(t, x)

    ends = torch.tensor([0.0, 1.0], device=x0.device)
    if solve.solver in FIXED_GRID:
        grid = torch.linspace(0.0, 1.0, solve.steps + 1, device=x0.device)
        path = odeint(counted, x0, ends, method=solve.solver, options={"grid_constructor": lambda *_: grid})
    else:
        path = odeint(counted, x0, ends, method=solve.solver, rtol=solve.tolerance, atol=solve.tolerance)
    return path[-1], calls


class FlowMatching(nn.Module):
    """The velocity network, the fixed latent statistics, the flow-matching loss and the guided sampler."""

    def __init__(self, config: FlowConfig, *, latent_mean: torch.Tensor, latent_std: torch.Tensor) -> None:
        super().__init__()
        self.config = config
        self.net = VelocityNet.from_config(config)
        self.register_buffer("latent_mean", latent_mean.float().clone())
        self.register_buffer("latent_std", latent_std.float().clone())

    @property
    def conditioned(self) -> bool:
        return self.config.conditioning == "mu"

    def condition(self, mu: torch.Tensor) -> torch.Tensor | None:
        """Standardised μ (N, d), or None for the unconditional ablation."""
        return (mu - self.latent_mean) / self.latent_std if self.conditioned else None

    def forward(self, x1: torch.Tensor, mu: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The loss on tiles x₁ (N, 3, S, S) in [-1, 1] of profiles μ (N, d): E‖v(x_t, t, μ) − (x₁ − x₀)‖².

        ``generator`` (on x₁'s device) draws x₀, t and the dropped conditions; by default the global RNG.
        """
        n = x1.shape[0]
        x0 = torch.randn(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)
        t = torch.rand(n, generator=generator, device=x1.device)
        drop = torch.rand(n, generator=generator, device=x1.device) < self.config.cond_dropout
        xt = (1 - t.view(-1, 1, 1, 1)) * x0 + t.view(-1, 1, 1, 1) * x1
        v = self.net(xt, t, self.condition(mu), drop)
        return F.mse_loss(v.float(), (x1 - x0).float())

    def velocity(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None, guidance: float) -> torch.Tensor:
        """The guided field at (x, t): one batched call for the conditional and the unconditional rows."""
        tt = t.expand(x.shape[0])
        if c is None or guidance == 1.0:
            return self.net(x, tt, c)
        if guidance == 0.0:
            return self.net(x, tt, None)
        n = x.shape[0]
        drop = torch.arange(2 * n, device=x.device) >= n
        both = self.net(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([c, c]), drop)
        v_cond, v_null = both[:n], both[n:]
        return v_null + guidance * (v_cond - v_null)

    @torch.no_grad()
    def sample(self, mu: torch.Tensor, noise: torch.Tensor, solve: Solve) -> tuple[torch.Tensor, int]:
        """Tiles in [-1, 1] (N, 3, S, S) from raw μ (N, d) and noise x₀ (N, 3, S, S); and network calls per tile.

        A guided step costs two network rows per tile (conditional and null), counted as two calls.
        """
        c = self.condition(mu)

        def field(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return self.velocity(x, t, c, solve.guidance)

        x1, calls = integrate(field, noise, solve)
        guided = c is not None and solve.guidance not in (0.0, 1.0)
        return x1, calls * (2 if guided else 1)
