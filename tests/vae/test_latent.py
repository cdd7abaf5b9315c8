"""Latent-space operations on a trained tiny β-VAE: encoding, gene alignment, centroids, shift, sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnagan.errors import GeneCoverageError
from rnagan.vae import figures, latent
from rnagan.workspace import Workspace

pytestmark = pytest.mark.integration  # every test but one reads the session's trained tiny β-VAE (conftest.trained)


@pytest.fixture(scope="module")
def cohort(trained: tuple[Workspace, dict]) -> tuple[latent.LoadedVAE, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ws, _ = trained
    matrix = pd.read_parquet(ws.expression_matrix)
    samples = pd.read_csv(ws.samples_table, dtype={"sample_id": str})
    return latent.load_vae(ws.vae_checkpoint), matrix, samples, pd.read_parquet(ws.latents)


def _tissue_means(matrix: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    train = samples[samples["split"] == "train"].set_index("sample_id")
    return matrix.loc[train.index].groupby(train["tissue"]).mean()


def test_encode_and_decode_keep_sample_and_gene_order(cohort) -> None:
    vae, matrix, _, latents = cohort
    d = vae.latent_dim
    assert list(latents.columns) == [f"mu_{i}" for i in range(d)] + [f"logvar_{i}" for i in range(d)]
    assert list(latents.index) == list(matrix.index)
    recon = latent.reconstruct(vae, matrix.iloc[:5])
    assert recon.shape == (5, matrix.shape[1])
    assert list(recon.columns) == list(matrix.columns) and list(recon.index) == list(matrix.index[:5])


def test_a_differently_ordered_gene_list_is_aligned_by_id_not_position(cohort) -> None:
    vae, matrix, _, latents = cohort
    rng = np.random.default_rng(0)
    shuffled = matrix.iloc[:6, rng.permutation(matrix.shape[1])]
    versioned = shuffled.rename(columns=lambda g: f"{g}.7")  # another GENCODE release's IDs
    pd.testing.assert_frame_equal(latent.encode_cohort(vae, versioned), latents.iloc[:6], rtol=1e-5, atol=1e-6)

    dropped = matrix.columns[::10]  # 10 % of genes absent: they must count as z = 0, the training mean
    filled = matrix.iloc[:6].copy()
    filled[dropped] = 0.0
    pd.testing.assert_frame_equal(
        latent.encode_cohort(vae, matrix.iloc[:6].drop(columns=dropped)),
        latent.encode_cohort(vae, filled),
        rtol=1e-5,
        atol=1e-6,
    )

    foreign = matrix.iloc[:6].set_axis([f"ENSG9{i:010d}" for i in range(matrix.shape[1])], axis=1)
    with pytest.raises(GeneCoverageError):
        latent.encode_cohort(vae, foreign)


def test_tissue_centroids_are_the_training_mean_of_mu(cohort) -> None:
    _, _, samples, latents = cohort
    centroids = latent.tissue_centroids(latents, samples)
    lung = samples[(samples["tissue"] == "lung") & (samples["split"] == "train")]["sample_id"]
    np.testing.assert_allclose(centroids.loc["lung"], latents.loc[lung, latent.mu_columns(latents)].mean(), rtol=1e-5)
    assert list(centroids.index) == ["brain", "liver", "lung", "stomach"]


def test_shifted_profiles_land_nearer_the_target_tissue(cohort) -> None:
    vae, matrix, samples, latents = cohort
    means = _tissue_means(matrix, samples)
    moved = latent.shift(vae, latents, samples, source="brain", target="lung")
    assert len(moved) == 8 and moved.index[0].endswith(":brain->lung")
    to_lung = np.linalg.norm(moved.to_numpy() - means.loc["lung"].to_numpy(), axis=1)
    to_brain = np.linalg.norm(moved.to_numpy() - means.loc["brain"].to_numpy(), axis=1)
    assert (to_lung < to_brain).all()


def test_sampled_profiles_resemble_their_tissue(cohort) -> None:
    vae, matrix, samples, latents = cohort
    means = _tissue_means(matrix, samples)
    for mode in ("prior", "around"):
        profiles = latent.sample_profiles(vae, latents, samples, "liver", 20, mode=mode, seed=1)
        assert profiles.shape == (20, matrix.shape[1]) and np.isfinite(profiles.to_numpy()).all()
        nearest = [
            means.index[np.argmin(np.linalg.norm(means.to_numpy() - row, axis=1))] for row in profiles.to_numpy()
        ]
        assert nearest.count("liver") >= 16, mode
    again = latent.sample_profiles(vae, latents, samples, "liver", 20, seed=1)
    pd.testing.assert_frame_equal(again, latent.sample_profiles(vae, latents, samples, "liver", 20, seed=1))


def test_interpolation_runs_from_a_to_b(cohort) -> None:
    vae, matrix, _, latents = cohort
    a, b = matrix.index[0], matrix.index[-1]
    path = latent.interpolate(vae, latents, a, b, steps=4)
    assert len(path) == 4
    ends = latent.decode(vae, latents.loc[[a, b], latent.mu_columns(latents)].to_numpy(), [a, b])
    np.testing.assert_allclose(path.iloc[[0, -1]].to_numpy(), ends.to_numpy(), rtol=1e-5, atol=1e-5)


def test_profiles_return_to_the_expression_scale_with_the_checkpoint_scaler(cohort) -> None:
    vae, matrix, _, _ = cohort
    assert vae.scaler is not None
    cpm = latent.to_expression(vae, latent.reconstruct(vae, matrix.iloc[:3]))
    assert (cpm.to_numpy() >= 0).all() and cpm.sum(axis=1).between(2e5, 5e6).all()


def test_mape_skips_near_zero_targets() -> None:
    x_log = np.array([2.0, 0.5, 4.0])
    recon = np.array([1.0, 5.0, 5.0])  # the 0.5 target (below min_abs) would add a 900 % error
    mape, used = latent._mape(x_log, recon, min_abs=1.0)
    assert mape == pytest.approx(37.5) and used == pytest.approx(2 / 3)


def test_metrics_report_mape_per_tissue(trained: tuple[Workspace, dict]) -> None:
    _, metrics = trained
    assert 0 < metrics["test"]["mape"] < 100
    assert set(metrics["test"]["per_tissue"]) == {"brain", "liver", "lung", "stomach"}


@pytest.mark.slow
def test_umap_figure(cohort, tmp_path) -> None:
    vae, matrix, samples, latents = cohort
    path = figures.umap_figure(vae, latents, matrix, samples, tmp_path / "umap.png")
    assert path.stat().st_size > 5000
