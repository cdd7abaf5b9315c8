"""The objective and the solver on their own: the loss falls, a zero field stays put, guidance 0 ignores μ."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from flow_toy import TISSUES, toy_tile

from rnagan.config import preset
from rnagan.flow.objective import FlowMatching, Solve, integrate
from rnagan.flow.train import train_step


def _model(conditioning: str = "mu") -> FlowMatching:
    torch.manual_seed(0)
    cfg = preset("tiny").flow.model_copy(update={"conditioning": conditioning})
    return FlowMatching(cfg, latent_mean=torch.zeros(cfg.latent_dim), latent_std=torch.ones(cfg.latent_dim))


def _batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    tiles = torch.stack([torch.from_numpy(toy_tile(TISSUES[i % 2], rng)).permute(2, 0, 1) for i in range(n)])
    mu = torch.tensor([[1.5 if i % 2 == 0 else -1.5] * 8 for i in range(n)])
    return tiles, mu


def _fixed_loss(model: FlowMatching, tiles: torch.Tensor, mu: torch.Tensor) -> float:
    """The loss with the same x₀, t and dropped conditions every time, so two values compare."""
    with torch.no_grad():
        return float(model(tiles.float() / 127.5 - 1, mu, generator=torch.Generator().manual_seed(1)))


def test_training_steps_lower_the_loss_on_a_fixed_batch() -> None:
    model, (tiles, mu) = _model(), _batch()
    opt = torch.optim.AdamW(model.net.parameters(), lr=2e-3)
    before = _fixed_loss(model, tiles, mu)
    for _ in range(15):
        train_step(model, opt, tiles, mu)
    assert _fixed_loss(model, tiles, mu) < 0.8 * before


@pytest.mark.parametrize(("solver", "calls"), [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_one_step_of_a_zero_field_leaves_the_input_unchanged(solver: str, calls: int) -> None:
    model = _model()
    torch.nn.init.zeros_(model.net.unet.conv_out.weight)
    torch.nn.init.zeros_(model.net.unet.conv_out.bias)
    noise = torch.randn(2, 3, 32, 32)
    out, used = model.sample(torch.randn(2, 8), noise, Solve(solver=solver, steps=1, guidance=1.0))
    assert torch.equal(out, noise)
    assert used == calls


def test_a_constant_field_is_integrated_exactly_by_every_solver() -> None:
    x0 = torch.zeros(1, 3, 4, 4)
    for solver in ("euler", "midpoint", "dopri5"):
        out, _ = integrate(lambda t, x: torch.ones_like(x), x0, Solve(solver=solver, steps=3))
        assert torch.allclose(out, torch.ones_like(x0), atol=1e-5), solver


def test_guidance_zero_ignores_mu_and_a_positive_scale_does_not() -> None:
    model, noise = _model(), torch.randn(1, 3, 32, 32)
    a, b = torch.full((1, 8), 1.5), torch.full((1, 8), -1.5)
    torch.nn.init.normal_(model.net.null, std=1.0)  # the null embedding differs from any projected μ

    def draw(mu: torch.Tensor, guidance: float) -> torch.Tensor:
        return model.sample(mu, noise, Solve(solver="euler", steps=2, guidance=guidance))[0]

    assert torch.equal(draw(a, 0.0), draw(b, 0.0))
    assert not torch.allclose(draw(a, 2.0), draw(b, 2.0))


def test_the_ablation_has_no_condition_path() -> None:
    model, noise = _model("none"), torch.randn(1, 3, 32, 32)
    assert model.net.project is None
    solve = Solve(solver="euler", steps=2, guidance=2.0)
    out_a, calls = model.sample(torch.full((1, 8), 1.5), noise, solve)
    out_b, _ = model.sample(torch.full((1, 8), -1.5), noise, solve)
    assert torch.equal(out_a, out_b) and calls == 2  # no guided pair of calls without a condition
