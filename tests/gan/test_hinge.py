"""The data-efficient objective: hinge loss, lazy R1, spectral norm and DiffAugment on both sides."""

from __future__ import annotations

import pytest
import torch

from rnagan.config import preset
from rnagan.gan.objective import GANObjective, r1_penalty
from rnagan.gan.train import train_step
from rnagan.runtime import cpu_has_native_bf16
from rnagan.slides.augment import diff_augment

POLICY = ["color", "translation", "cutout"]


def hinge_objective(**update) -> GANObjective:
    torch.manual_seed(0)
    cfg = preset("tiny").gan.model_copy(
        update={"loss": "hinge", "critic_norm": "spectral", "r1_gamma": 1.0, "diffaugment": POLICY, **update}
    )
    return GANObjective(cfg, latent_mean=torch.zeros(cfg.latent_dim), latent_std=torch.ones(cfg.latent_dim))


def test_diff_augment_is_differentiable_and_draws_per_tile() -> None:
    x = torch.rand(6, 3, 32, 32, requires_grad=True)
    torch.manual_seed(0)
    y = diff_augment(x, POLICY)
    (grad,) = torch.autograd.grad(y.square().sum(), x)
    assert grad.abs().sum() > 0 and y.shape == x.shape
    same = torch.rand(1, 3, 32, 32).expand(6, -1, -1, -1)
    out = diff_augment(same, POLICY)
    assert not torch.allclose(out[0], out[1])  # each tile its own shift, cutout and colour


def test_cutout_and_translation_move_pixels_as_documented() -> None:
    x = torch.ones(64, 3, 32, 32)
    cut = diff_augment(x, ["cutout"], cutout=0.5)
    zero_fraction = (cut == 0).float().mean(dim=(1, 2, 3))
    assert zero_fraction.max() <= 0.25 + 1e-6 and zero_fraction.mean() > 0.1  # a 16x16 square, clipped at edges
    ramp = torch.arange(32.0).view(1, 1, 1, 32).expand(64, 3, 32, 32)
    moved = diff_augment(ramp, ["translation"], translation=0.125)
    inside = moved[:, :, 8:24, 8:24]  # away from the zero padding a shift brings in
    steps = (inside[..., 1:] - inside[..., :-1]).unique()
    assert set(steps.tolist()) <= {1.0}  # whole-pixel shifts: the ramp keeps its slope
    assert (moved[:, 0, 16, 16] - 16).abs().max() <= 4  # by at most 12.5 % of 32 px


def test_the_critic_sees_augmented_real_and_generated_tiles() -> None:
    obj = hinge_objective(diffaugment=["cutout"])
    seen: list[torch.Tensor] = []
    obj.critic.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    real = torch.ones(4, 3, 32, 32)
    mu = torch.randn(4, obj.config.latent_dim)
    obj.critic_loss(real, mu, obj.draw(mu), regularise=False)
    obj.generator_loss(obj.draw(mu))
    assert len(seen) == 3  # real, fake (critic step), fake (generator step)
    for batch in seen:
        assert ((batch == 0).flatten(1).all(0) == 0).any()  # zeroed squares on every side
        assert (batch == 0).flatten(1).any(1).all()


def test_r1_matches_the_squared_gradient_norm_and_is_lazy() -> None:
    obj = hinge_objective(diffaugment=[])
    real = torch.randn(3, 3, 32, 32, requires_grad=True)
    y = torch.randn(3, obj.config.latent_dim)
    score = obj.critic(real, y)
    (grad,) = torch.autograd.grad(score.sum(), real, retain_graph=True)
    torch.testing.assert_close(r1_penalty(score, real), grad.flatten(1).pow(2).sum(1).mean())
    mu = torch.randn(3, obj.config.latent_dim)
    assert obj.critic_loss(real.detach(), mu, obj.draw(mu), regularise=False).gp == 0
    assert obj.critic_loss(real.detach(), mu, obj.draw(mu), regularise=True).gp > 0


@pytest.mark.parametrize("loss", ["hinge", "wgan-gp"])
def test_critic_steps_lower_the_critic_loss(loss: str) -> None:
    obj = hinge_objective(loss=loss, diffaugment=[] if loss == "wgan-gp" else POLICY)
    opt = torch.optim.Adam(obj.critic.parameters(), lr=1e-3, betas=(0.0, 0.99))
    real = torch.rand(8, 3, 32, 32) * 0.2 + 0.6  # a bright flat texture the generator does not draw yet
    mu = torch.randn(8, obj.config.latent_dim)
    torch.manual_seed(1)
    first = obj.critic_loss(real, mu, obj.draw(mu), regularise=False).loss.item()
    for _ in range(25):
        opt.zero_grad()
        obj.critic_loss(real, mu, obj.draw(mu), regularise=False).loss.backward()
        opt.step()
    torch.manual_seed(1)
    assert obj.critic_loss(real, mu, obj.draw(mu), regularise=False).loss.item() < first - 0.1


def test_spectral_norm_bounds_every_critic_weight() -> None:
    obj = hinge_objective()
    for _ in range(3):  # power iterations converge over forward passes in training mode
        obj.critic(torch.randn(2, 3, 32, 32), torch.randn(2, obj.config.latent_dim))
    weights = [m.weight for m in obj.critic.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert weights and all(torch.linalg.matrix_norm(w.flatten(1), ord=2) < 1.2 for w in weights)


@pytest.mark.parametrize("share", [True, False])
def test_shared_fakes_cost_one_generator_forward_and_feed_both_updates(share: bool) -> None:
    obj = hinge_objective(diffaugment=[], share_fakes=share, n_critic=2)
    drawn: list[torch.Tensor] = []
    obj.generator.register_forward_hook(lambda module, inputs, output: drawn.append(output.detach().clone()))
    judged: list[torch.Tensor] = []
    obj.critic.register_forward_pre_hook(lambda module, args: judged.append(args[0].detach().clone()))
    opt_d = torch.optim.Adam(obj.critic.parameters(), lr=1e-4)
    opt_g = torch.optim.Adam(obj.generator.parameters(), lr=1e-4)
    tiles = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    mu = torch.randn(8, obj.config.latent_dim)
    train_step(obj, opt_d, opt_g, lambda: (tiles, mu), step=1)
    assert len(drawn) == (2 if share else 3)  # one batch per critic update, plus the generator's own unless shared
    last_critic_fake, generator_fake = judged[-2], judged[-1]  # each critic update judges real, then fake
    assert torch.equal(last_critic_fake, generator_fake) == share


@pytest.mark.parametrize("share", [True, False])
def test_only_the_generator_update_judges_mode_seeking_twins(share: bool) -> None:
    obj = hinge_objective(diffaugment=[], share_fakes=share, n_critic=2, mode_seeking=0.1)
    profiles_drawn: list[torch.Tensor] = []
    generate = obj.fake

    def recording(mu: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        profiles_drawn.append(mu.clone())
        return generate(mu, noise)

    obj.fake = recording
    opt_d = torch.optim.Adam(obj.critic.parameters(), lr=1e-4)
    opt_g = torch.optim.Adam(obj.generator.parameters(), lr=1e-4)
    tiles = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    mu = torch.randn(8, obj.config.latent_dim)
    train_step(obj, opt_d, opt_g, lambda: (tiles, mu), step=1)
    twins = torch.cat([mu[:4], mu[:4]])
    # without sharing each critic update judges all 8 profiles; the generator's own draw is 4 twin pairs
    expected = [mu, twins] if share else [mu, mu, twins]
    assert len(profiles_drawn) == len(expected)
    assert all(torch.equal(got, want) for got, want in zip(profiles_drawn, expected, strict=True))


@pytest.mark.parametrize("precision", ["auto", "generator", "fp32"])
def test_a_step_runs_in_bf16_only_where_asked_and_the_cpu_computes_it(precision: str) -> None:
    obj = hinge_objective(precision=precision)
    seen: dict[str, set[torch.dtype]] = {"generator": set(), "critic": set()}
    for name in seen:
        conv = next(m for m in getattr(obj, name).modules() if isinstance(m, torch.nn.Conv2d))
        conv.register_forward_hook(lambda module, inputs, output, name=name: seen[name].add(output.dtype))
    opt_d = torch.optim.Adam(obj.critic.parameters(), lr=1e-4)
    opt_g = torch.optim.Adam(obj.generator.parameters(), lr=1e-4)
    tiles = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    mu = torch.randn(8, obj.config.latent_dim)
    terms, loss_g = train_step(obj, opt_d, opt_g, lambda: (tiles, mu))
    native = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    expected = {"auto": (native, native), "generator": (native, torch.float32), "fp32": (torch.float32,) * 2}
    assert (seen["generator"], seen["critic"]) == tuple({dtype} for dtype in expected[precision])
    assert torch.isfinite(terms.loss) and torch.isfinite(loss_g)
    assert all(p.dtype == torch.float32 for p in obj.parameters())  # weights and optimiser state stay fp32
