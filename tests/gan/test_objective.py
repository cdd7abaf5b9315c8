"""The networks and the WGAN-GP objective, without data files."""

from __future__ import annotations

import copy

import pytest
import torch

from rnagan.config import preset
from rnagan.gan import objective as objective_module
from rnagan.gan.model import Critic, Generator, channel_ladder
from rnagan.gan.objective import GANObjective, generator_input, gradient_penalty, sample_noise
from rnagan.gan.train import recalibrate_batch_norm


@pytest.fixture
def cfg():
    return preset("tiny").gan


def objective(cfg, conditioning: str = "projection") -> GANObjective:
    torch.manual_seed(0)
    c = cfg.model_copy(update={"conditioning": conditioning})
    return GANObjective(c, latent_mean=torch.zeros(c.latent_dim), latent_std=torch.ones(c.latent_dim))


@pytest.mark.parametrize("upsample", ["transposed", "resize"])
@pytest.mark.parametrize("size", [32, 64])
def test_shapes(upsample: str, size: int) -> None:
    g = Generator(12, image_size=size, base_channels=8, max_channels=32, upsample=upsample)
    x = g(torch.randn(4, 12))
    assert x.shape == (4, 3, size, size) and x.abs().max() <= 1
    d = Critic(image_size=size, base_channels=8, max_channels=32, cond_dim=5)
    assert d(x, torch.randn(4, 5)).shape == (4,)
    assert channel_ladder(256, 64, 1024) == [64, 128, 256, 512, 1024, 1024, 1024]  # paper widths, capped


def test_critic_has_no_normalisation_and_uses_the_condition() -> None:
    d = Critic(image_size=32, base_channels=8, max_channels=32, cond_dim=5)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in d.modules())
    x = torch.randn(3, 3, 32, 32)
    assert not torch.allclose(d(x, torch.randn(3, 5)), d(x, torch.randn(3, 5)))
    with pytest.raises(ValueError, match="conditional"):
        d(x)


def test_gradient_penalty_matches_a_per_sample_double_loop(cfg) -> None:
    obj = objective(cfg)
    real, fake = torch.randn(5, 3, 32, 32), torch.randn(5, 3, 32, 32)
    y = torch.randn(5, cfg.latent_dim)
    torch.manual_seed(1)
    gp = gradient_penalty(obj.critic, real, fake, y)
    torch.manual_seed(1)
    eps = torch.rand(5, 1, 1, 1)  # the same draws the function makes
    terms = []
    for i in range(5):  # one sample at a time: its own ε, its own gradient, its own norm
        x_hat = (eps[i] * real[i : i + 1] + (1 - eps[i]) * fake[i : i + 1]).requires_grad_(True)
        (grad,) = torch.autograd.grad(obj.critic(x_hat, y[i : i + 1]).sum(), x_hat)
        terms.append((grad.norm() - 1) ** 2)
    torch.testing.assert_close(gp, torch.stack(terms).mean(), rtol=1e-5, atol=1e-6)
    # and it is not the published batch-level version (one norm over the whole batch's gradient)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(obj.critic(x_hat, y).sum(), x_hat)
    assert not torch.isclose(gp, (grad.norm() - 1) ** 2)


def test_gradient_penalty_mixes_the_conditions_of_tiles_drawn_for_other_profiles(cfg) -> None:
    obj = objective(cfg)
    real, fake = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)
    y, y_fake = torch.randn(4, cfg.latent_dim), torch.randn(4, cfg.latent_dim)
    torch.manual_seed(1)
    gp = gradient_penalty(obj.critic, real, fake, y, y_fake)
    torch.manual_seed(1)
    eps = torch.rand(4, 1, 1, 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    y_hat = eps.flatten(1) * y + (1 - eps.flatten(1)) * y_fake  # each interpolate's condition, mixed alike
    (grad,) = torch.autograd.grad(obj.critic(x_hat, y_hat).sum(), x_hat)
    torch.testing.assert_close(gp, ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean(), rtol=1e-5, atol=1e-6)
    torch.manual_seed(1)
    assert not torch.isclose(gp, gradient_penalty(obj.critic, real, fake, y))  # the real tiles' condition alone


@pytest.mark.parametrize("twins", [True, False])
def test_the_critic_loss_hands_the_penalty_the_twins_own_conditions(cfg, monkeypatch, twins: bool) -> None:
    obj = objective(cfg.model_copy(update={"mode_seeking": 0.1}))
    handed: list[torch.Tensor | None] = []

    def recording(critic, real, fake, y, y_fake=None):
        handed.append(y_fake)
        return gradient_penalty(critic, real, fake, y, y_fake)

    monkeypatch.setattr(objective_module, "gradient_penalty", recording)
    mu = torch.randn(8, cfg.latent_dim)
    fakes = obj.draw(mu, twins=twins)
    obj.critic_loss(torch.rand(8, 3, 32, 32), mu, fakes)
    if twins:  # the second half was drawn for the first half's profiles
        torch.testing.assert_close(handed[0], obj.condition(torch.cat([mu[:4], mu[:4]])))
    else:
        assert handed == [None]


def test_critic_steps_raise_the_gap_and_generator_steps_lower_it(cfg) -> None:
    """The gap E[D(real)] - E[D(fake)] is what the critic maximises and the generator minimises."""
    obj = objective(cfg)
    real = torch.rand(16, 3, 32, 32) * 0.5 + 0.4  # a bright "tissue" the generator does not make yet
    mu = torch.randn(16, cfg.latent_dim)
    opt_d = torch.optim.Adam(obj.critic.parameters(), lr=1e-3, betas=(0.0, 0.9))
    opt_g = torch.optim.Adam(obj.generator.parameters(), lr=1e-3, betas=(0.0, 0.9))

    def gap() -> float:
        torch.manual_seed(123)  # same noise each time
        with torch.no_grad():
            y = obj.condition(mu)
            return float(obj.critic(real, y).mean() - obj.critic(obj.fake(mu), y).mean())

    before = gap()
    for _ in range(10):
        loss = obj.critic_loss(real, mu, obj.draw(mu)).loss
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
    trained_critic = gap()
    assert trained_critic > before + 0.1
    obj.critic.requires_grad_(False)
    for _ in range(10):
        loss = obj.generator_loss(obj.draw(mu))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
    assert gap() < trained_critic - 0.1


def test_projection_input_uses_fixed_statistics_not_the_batch(cfg) -> None:
    mean, std = torch.full((cfg.latent_dim,), 2.0), torch.full((cfg.latent_dim,), 4.0)
    mu = torch.randn(6, cfg.latent_dim)
    noise = sample_noise(6, cfg, generator=torch.Generator().manual_seed(0))
    z = generator_input(mu, noise, cfg, latent_mean=mean, latent_std=std)
    z_alone = generator_input(mu[:1], noise[:1], cfg, latent_mean=mean, latent_std=std)
    torch.testing.assert_close(z[:1], z_alone)  # a row's code does not depend on its batch mates
    d = cfg.latent_dim
    torch.testing.assert_close(z[:, :d], (mu - 2) / 4 + cfg.noise_scale * noise[:, :d])


def test_reference_batch_standardisation_cancels_a_shared_mu(cfg) -> None:
    """The published per-batch standardisation: one profile per batch → the input no longer depends on μ."""
    ref = cfg.model_copy(update={"conditioning": "reference", "reference_batch_standardize": True})
    noise = sample_noise(8, ref, generator=torch.Generator().manual_seed(0))
    stats = {"latent_mean": torch.zeros(ref.latent_dim), "latent_std": torch.ones(ref.latent_dim)}
    a = generator_input(torch.full((8, ref.latent_dim), -3.0), noise, ref, **stats)
    b = generator_input(torch.full((8, ref.latent_dim), 5.0), noise, ref, **stats)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_recalibrated_batch_norm_fits_the_ema_weights(cfg) -> None:
    """Eval-mode tiles of averaged weights match their batch-statistics tiles only after recalibration."""
    cfg = cfg.model_copy(update={"bn_recalibration_batches": 40, "batch_size": 64})
    live = objective(cfg).generator
    ema = copy.deepcopy(live)
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(0.5 * torch.randn_like(p))  # the averaged weights drift away from the live ones
        live.train()
        for _ in range(20):  # the live generator's own running statistics
            live(torch.randn(64, cfg.latent_dim + cfg.noise_dim))
    ema.load_state_dict({**ema.state_dict(), **{k: v for k, v in live.state_dict().items() if "running" in k}})
    latents = torch.randn(50, cfg.latent_dim)
    mean, std = torch.zeros(cfg.latent_dim), torch.ones(cfg.latent_dim)
    noise = sample_noise(512, cfg, generator=torch.Generator().manual_seed(1))
    z = generator_input(latents[torch.arange(512) % 50], noise, cfg, latent_mean=mean, latent_std=std)

    def gap_to_batch_statistics() -> float:
        with torch.no_grad():
            with_batch_stats = copy.deepcopy(ema).train()(z)  # a large batch: its statistics are the weights' own
            return float((ema.eval()(z) - with_batch_stats).abs().mean())

    stale = gap_to_batch_statistics()
    buffers = {k: v.clone() for k, v in ema.state_dict().items() if "running" in k}
    recalibrate_batch_norm(ema, latents, cfg, latent_mean=mean, latent_std=std)
    assert not ema.training  # left in the mode it was in
    assert gap_to_batch_statistics() < stale / 4
    assert any(not torch.equal(buffers[k], v) for k, v in ema.state_dict().items() if k in buffers)
    before = [v.clone() for v in ema.state_dict().values()]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    recalibrate_batch_norm(ema, latents, cfg, latent_mean=mean, latent_std=std)
    assert torch.equal(torch.get_rng_state(), state)  # a resumed run's random stream is untouched
    assert all(torch.allclose(a, b) for a, b in zip(before, ema.state_dict().values(), strict=True))  # seeded
