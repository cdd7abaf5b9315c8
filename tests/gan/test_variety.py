"""What keeps a conditional generator from drawing one picture per tissue: minibatch std and mode seeking."""

from __future__ import annotations

import torch

from rnagan.config import preset
from rnagan.gan.model import MinibatchStd
from rnagan.gan.objective import GANObjective


def objective(**update) -> GANObjective:
    torch.manual_seed(0)
    cfg = preset("tiny").gan.model_copy(update={"loss": "hinge", "conditioning": "projection", **update})
    return GANObjective(cfg, latent_mean=torch.zeros(cfg.latent_dim), latent_std=torch.ones(cfg.latent_dim))


def test_minibatch_std_is_zero_for_identical_tiles_and_grows_with_their_spread() -> None:
    layer = MinibatchStd(group_size=4)
    same = torch.randn(1, 5, 4, 4).expand(8, -1, -1, -1)
    out = layer(same)
    assert out.shape == (8, 6, 4, 4) and torch.equal(out[:, :5], same)
    assert out[:, 5].abs().max() < 1e-3  # the sqrt(1e-8) floor only
    varied = layer(torch.randn(8, 5, 4, 4))[:, 5]
    assert varied.min() > 0.3
    assert layer(3 * torch.randn(8, 5, 4, 4))[:, 5].mean() > 2 * varied.mean()


def test_minibatch_std_groups_are_per_sample_groups_not_the_whole_batch() -> None:
    """Groups are samples i, i + n/G, ...: a batch whose first half is constant and second half varied
    (grouped across halves) gives every sample the same spread; an odd batch does not crash."""
    x = torch.cat([torch.zeros(4, 2, 1, 1), torch.randn(4, 2, 1, 1)])
    spread = MinibatchStd(group_size=2)(x)[:, 2, 0, 0]
    assert torch.allclose(spread[:4], spread[4:])  # sample i and i + 4 share a group
    assert MinibatchStd(group_size=4)(torch.randn(7, 2, 4, 4)).shape == (7, 3, 4, 4)


def test_with_minibatch_std_a_tiles_score_depends_on_the_variety_of_its_batch() -> None:
    varied = torch.rand(8, 3, 32, 32) * 2 - 1
    collapsed = varied[:1].expand(8, -1, -1, -1)  # the same first tile, among copies of itself
    y = torch.zeros(8, objective().config.latent_dim)
    with torch.no_grad():
        plain = objective().critic
        assert torch.allclose(plain(varied, y)[0], plain(collapsed, y)[0])
        seeing = objective(critic_minibatch_std=4).critic  # its last feature map is the batch's spread
        spread_varied, spread_collapsed = seeing.features(varied)[0, -1], seeing.features(collapsed)[0, -1]
        assert (spread_varied > 10 * spread_collapsed).all()
        assert not torch.equal(seeing(varied, y)[0], seeing(collapsed, y)[0])


def test_mode_seeking_penalises_a_generator_that_ignores_its_noise() -> None:
    obj = objective(mode_seeking=1.0, noise_dim=4, noise_scale=0.0)
    mu = torch.randn(8, obj.config.latent_dim)
    with_noise = obj.generator_loss(obj.draw(mu))
    stem = obj.generator.stem[0]  # the first Linear: zero the weights of the extra noise columns
    stem.weight.data[:, obj.config.latent_dim :] = 0
    deaf = obj.generator_loss(obj.draw(mu))  # twins share μ and noise_scale is 0: identical tiles
    assert deaf > with_noise + 100  # λ / (distance + 1e-5) with distance 0
    without = objective(mode_seeking=0.0, noise_dim=4, noise_scale=0.0)
    plain = without.generator_loss(without.draw(mu))
    assert plain.abs() < 10  # without the term the loss is the critic's score alone
