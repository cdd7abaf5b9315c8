"""Gene edits fitted through the decoder: a zero edit is μ itself, an edit lands on its genes, and the genes that
co-vary with them in the training data follow; encoding the edited profile moves far less."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnagan.vae import latent
from rnagan.vae.edits import fit_edited_latents
from rnagan.workspace import Workspace

pytestmark = pytest.mark.integration  # reads the session's trained tiny β-VAE (conftest.trained)

FIT = {"steps": 200, "lr": 0.05, "keep_weight": 1.0}


@pytest.fixture(scope="module")
def brain(trained: tuple[Workspace, dict]) -> tuple[latent.LoadedVAE, pd.DataFrame, list[str]]:
    """The VAE, the brain test profiles, and the lung module: the 30 genes most raised in lung training samples."""
    ws, _ = trained
    matrix = pd.read_parquet(ws.expression_matrix)
    samples = pd.read_csv(ws.samples_table, dtype={"sample_id": str}).set_index("sample_id")
    train = samples[samples["split"] == "train"]
    lung = matrix.loc[train.index[train["tissue"] == "lung"]].mean() - matrix.loc[train.index].mean()
    test = samples[(samples["split"] == "test") & (samples["tissue"] == "brain")]
    return latent.load_vae(ws.vae_checkpoint), matrix.loc[test.index], lung.nlargest(30).index.tolist()


def _mu(vae: latent.LoadedVAE, z: pd.DataFrame) -> np.ndarray:
    latents = latent.encode_cohort(vae, z)
    return latents[latent.mu_columns(latents)].to_numpy(np.float32)


def test_a_zero_edit_returns_mu_unchanged(brain) -> None:
    vae, z, module = brain
    mu = _mu(vae, z)
    fitted = fit_edited_latents(vae, mu, np.zeros(z.shape, np.float32), module[:5], **FIT)
    assert fitted.tobytes() == mu.tobytes()


def test_an_edit_lands_on_its_genes_and_its_module_follows(brain) -> None:
    vae, z, module = brain
    edited, partners = module[:5], module[5:]
    others = [g for g in z.columns if g not in module]
    moved = z.copy()
    moved[edited] += 3.0
    mu = _mu(vae, z)
    before = latent.decode(vae, mu, z.index)
    fitted = latent.decode(vae, fit_edited_latents(vae, mu, (moved - z).to_numpy(), edited, **FIT), z.index) - before
    encoded = latent.decode(vae, _mu(vae, moved), z.index) - before

    assert fitted[edited].to_numpy().mean() > 1.0  # a third of the +3 at least, on the edited genes themselves
    assert fitted[edited].to_numpy().mean() > 3 * encoded[edited].to_numpy().mean()
    assert fitted[partners].to_numpy().mean() > 0.5  # the unedited genes of the module rise with them
    assert abs(fitted[others].to_numpy().mean()) < 0.5 * fitted[partners].to_numpy().mean()
