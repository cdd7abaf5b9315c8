"""BetaVAE: shapes, train vs eval behaviour, the loss, parameter counts."""

from __future__ import annotations

import pytest
import torch

from rnagan.config import preset
from rnagan.vae.model import BetaVAE, count_parameters, vae_loss


@pytest.fixture
def model() -> BetaVAE:
    torch.manual_seed(0)
    return BetaVAE(50, preset("tiny").vae)


def test_shapes(model: BetaVAE) -> None:
    x = torch.randn(6, 50)
    recon, mu, logvar = model(x)
    assert recon.shape == (6, 50) and mu.shape == logvar.shape == (6, 8)
    assert model.decode(mu).shape == (6, 50)


def test_eval_mode_decodes_mu_and_train_mode_samples(model: BetaVAE) -> None:
    x = torch.randn(6, 50)
    model.eval()
    with torch.no_grad():
        recon, _, _ = model(x)
        torch.testing.assert_close(recon, model.decode(model.encode(x)[0]))
        torch.testing.assert_close(model(x)[0], recon)
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x)[0], model(x)[0])


def test_linear_output_reaches_large_z_scores_and_tanh_does_not() -> None:
    cfg = preset("tiny").vae
    x = torch.full((4, 20), 3.0)
    for activation, bound in (("linear", None), ("tanh", 1.0)):
        torch.manual_seed(0)
        model = BetaVAE(20, cfg.model_copy(update={"output_activation": activation, "input_dropout": 0.0}))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(200):
            recon, mu, logvar = model(x + 0.1 * torch.randn_like(x))
            loss = model.loss(recon, x, mu, logvar)
            opt.zero_grad()
            loss.total.backward()
            opt.step()
        out = model.eval()(x)[0]
        if bound is None:
            assert out.mean() > 2.5
        else:
            assert out.abs().max() <= bound


def test_loss_terms() -> None:
    x = torch.randn(5, 10)
    zeros = torch.zeros(5, 3)
    assert vae_loss(x, x, zeros, zeros, beta=1.0).total.item() == 0.0
    mu = torch.ones(5, 3)  # KL of N(1, 1) against N(0, 1) is 0.5 per dimension
    loss = vae_loss(x + 1, x, mu, zeros, beta=0.1)
    assert loss.recon.item() == pytest.approx(1.0)
    assert loss.kl.item() == pytest.approx(1.5)
    assert loss.total.item() == pytest.approx(1.15)


def test_parameter_count() -> None:
    small = preset("small").vae
    assert count_parameters(19198, small) == sum(p.numel() for p in BetaVAE(19198, small).parameters())
    assert count_parameters(19198, preset("paper").vae) == 304_777_694
