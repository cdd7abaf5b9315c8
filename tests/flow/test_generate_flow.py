"""A flow run generates through ``generate_tiles`` into the samples/<run>/ layout that evaluate reads.

The workspace is real (bundled LC25000 tiles, simulated counts, a 1-epoch β-VAE) so the flow meets
the same VAE check, profile loading and manifest as a GAN run; the tests check plumbing, not pictures.
"""

from __future__ import annotations

import pytest

from rnagan.config import Config, preset
from rnagan.demo.pipeline import build_cohort, training_tiles
from rnagan.expression.genes import GeneSpace
from rnagan.expression.prepare import prepare_expression
from rnagan.flow.train import train_flow
from rnagan.generate import generate_tiles, load_run_generator
from rnagan.samples import read_manifest
from rnagan.slides.folder import import_tiles
from rnagan.vae.train import train_vae
from rnagan.workspace import Workspace


def _config() -> Config:
    cfg = preset("tiny")
    cfg.demo.samples_per_class = 8
    cfg.demo.samples_per_donor = 2
    cfg.vae.epochs = 1
    cfg.flow.steps = 2
    cfg.generate.tiles_per_profile = 2
    return cfg


@pytest.fixture(scope="module")
def flow_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Config]:
    """Prepared expression, tiles, a β-VAE and a 2-step flow run named ``flow``."""
    cfg = _config()
    ws = Workspace(tmp_path_factory.mktemp("flowgen") / "ws").create()
    cohort = build_cohort(cfg.demo, list(GeneSpace.default().ids))
    prepared = prepare_expression(
        cohort.counts, metadata=cohort.samples, workspace=ws, config=cfg.expression, gene_space=GeneSpace.default()
    )
    import_tiles(training_tiles(cohort.tiles, prepared.samples.reset_index()), ws, image_format="jpeg")
    train_vae(ws, cfg, device="cpu")
    train_flow(ws, cfg, run="flow", device="cpu")
    return ws, cfg


@pytest.mark.integration
def test_a_flow_run_writes_the_samples_layout(flow_workspace: tuple[Workspace, Config]) -> None:
    ws, cfg = flow_workspace
    manifest = generate_tiles(ws, cfg, run="flow", split="test", device="cpu")
    read = read_manifest(ws.samples_run("flow"))
    assert len(read) == len(manifest) == 2 * manifest["profile"].nunique() > 0
    assert set(read["split"]) == {"test"}
    assert all((ws.samples_run("flow") / p).is_file() for p in read["path"])
    assert len(list((ws.samples_run("flow") / "contact_sheets").glob("*.png"))) == manifest["profile"].nunique()


@pytest.mark.integration
def test_generate_solves_the_flow_as_the_callers_config_says(flow_workspace: tuple[Workspace, Config]) -> None:
    ws, cfg = flow_workspace
    cfg = cfg.model_copy(deep=True)
    cfg.flow.solver, cfg.flow.sampling_steps, cfg.flow.guidance_scale = "euler", 5, 0.0
    generator = load_run_generator(ws.gan_run("flow") / "checkpoint", cfg, device="cpu")
    assert (generator.solve.solver, generator.solve.steps, generator.solve.guidance) == ("euler", 5, 0.0)
    assert generator.meta["kind"] == "flow" and generator.latent_dim == cfg.vae.latent_dim
