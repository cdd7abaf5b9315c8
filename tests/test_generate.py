"""Generation from cohort samples, another cohort's expression file, and perturbed profiles.

The workspace is real end to end (bundled LC25000 tiles, simulated counts, prepare, a 1-epoch
β-VAE and a 2-step RNA-GAN): the tests check plumbing and noise sharing, not image quality.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from rnagan.checkpoint import load_checkpoint, save_checkpoint, weights_fingerprint
from rnagan.config import Config, preset
from rnagan.demo.pipeline import build_cohort, training_tiles
from rnagan.errors import CheckpointError, InputFileError
from rnagan.evaluate.sizes import tiles_size
from rnagan.expression.genes import GeneSpace
from rnagan.expression.prepare import prepare_expression
from rnagan.expression.transform import ExpressionScaler
from rnagan.gan.train import train_gan
from rnagan.generate import Perturbation, generate_tiles, load_profiles, perturb
from rnagan.quiz.tiles import samples_run_tiles
from rnagan.samples import STORE, manifest_tiles, read_manifest
from rnagan.slides.folder import import_tiles
from rnagan.slides.store import TileStore, decode_tile
from rnagan.slides.tilesets import StoreTiles
from rnagan.vae.latent import load_vae
from rnagan.vae.train import train_vae
from rnagan.workspace import Workspace
from test_cli_errors import assert_one_line_error, run_cli

pytestmark = pytest.mark.integration  # its workspace trains a β-VAE and a GAN

TP53 = "ENSG00000141510"


def _config() -> Config:
    cfg = preset("tiny")
    cfg.demo.samples_per_class = 8
    cfg.demo.samples_per_donor = 2
    cfg.vae.epochs = 1
    cfg.gan.steps = 2
    cfg.generate.tiles_per_profile = 3
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Config, pd.DataFrame]:
    """A workspace with prepared expression, tiles, a β-VAE and an RNA-GAN; plus the raw counts."""
    cfg = _config()
    ws = Workspace(tmp_path_factory.mktemp("gen") / "ws").create()
    cohort = build_cohort(cfg.demo, list(GeneSpace.default().ids))
    prepared = prepare_expression(
        cohort.counts, metadata=cohort.samples, workspace=ws, config=cfg.expression, gene_space=GeneSpace.default()
    )
    import_tiles(training_tiles(cohort.tiles, prepared.samples.reset_index()), ws, image_format="jpeg")
    train_vae(ws, cfg, device="cpu")
    train_gan(ws, cfg, run="rnagan", device="cpu")
    return ws, cfg, cohort.counts


def _pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_cohort_samples_give_tiles_manifest_and_sheets(trained, tmp_path: Path) -> None:
    ws, cfg, _ = trained
    manifest = generate_tiles(ws, cfg, split="test", out=tmp_path / "out", device="cpu")
    n_profiles = manifest["profile"].nunique()
    assert len(manifest) == 3 * n_profiles
    assert set(manifest["source"]) == {"cohort"} and set(manifest["split"]) == {"test"}
    assert manifest.groupby("profile")["seed"].first().nunique() == n_profiles  # independent noise per profile
    assert sorted(manifest.groupby("profile")["noise_index"].apply(list).iloc[0]) == [0, 1, 2]
    read = read_manifest(tmp_path / "out")
    assert all(Path(p).is_file() for p in read["path"])
    assert len(list((tmp_path / "out" / "contact_sheets").glob("*.png"))) == n_profiles
    assert set(manifest["key"]) == {""} and not (tmp_path / "out" / STORE).exists()


def test_a_store_folder_holds_the_png_folders_tiles_whatever_the_shards(trained, tmp_path: Path) -> None:
    """One profile a shard into a store gives, tile for tile, what one shard of PNG files gives, and every
    reader (evaluation's sets, its size check, the quiz's tile list) reads it the same way."""
    ws, cfg, _ = trained
    edit = [f"{TP53}=+2"]
    png = generate_tiles(ws, cfg, split="test", perturbations=edit, out=tmp_path / "png", device="cpu")
    store_cfg = cfg.model_copy(deep=True)
    store_cfg.generate.tile_format, store_cfg.generate.shard_profiles = "store", 1
    stored = generate_tiles(ws, store_cfg, split="test", perturbations=edit, out=tmp_path / "store", device="cpu")
    assert png["profile"].nunique() > 2 and not (tmp_path / "store" / "tiles").exists()
    assert set(stored["path"]) == {""} and stored["key"].is_unique
    pd.testing.assert_frame_equal(png.drop(columns=["path", "key"]), stored.drop(columns=["path", "key"]))
    with TileStore(tmp_path / "store" / STORE) as store:
        assert len(store) == len(stored)
    sets = {kind: manifest_tiles(tmp_path / kind, read_manifest(tmp_path / kind), 32) for kind in ("png", "store")}
    assert isinstance(sets["store"], StoreTiles)
    torch.testing.assert_close(sets["png"][:], sets["store"][:], rtol=0, atol=0)
    assert tiles_size(tmp_path / "store") == tiles_size(tmp_path / "png") == cfg.gan.image_size
    for kind in ("png", "store"):  # a twin's panel sits beside its base in every shard
        assert len(list((tmp_path / kind / "panels").glob("*.png"))) == png["base_profile"].nunique()
    refs = {kind: samples_run_tiles(tmp_path / kind, "rnagan") for kind in ("png", "store")}
    assert [r.store for r in refs["store"]] == [tmp_path / "store" / STORE] * len(refs["png"])
    for a, b in zip(refs["png"], refs["store"], strict=True):
        assert (a.tissue, a.parent) == (b.tissue, b.parent)
        np.testing.assert_array_equal(decode_tile(a.read()), decode_tile(b.read()))


@pytest.mark.parametrize("tile_format", ["store", "png"])
def test_a_dask_cluster_draws_the_same_folder_as_one_process(trained, tmp_path: Path, tile_format: str) -> None:
    """Shards of two profiles as tasks on a real LocalCluster (two worker processes, TCP): the same manifest and,
    tile for tile, the same pixels as in one process; every store part merged and removed."""
    from distributed import LocalCluster

    ws, cfg, _ = trained
    cfg = cfg.model_copy(deep=True)
    cfg.generate.tile_format, cfg.generate.shard_profiles = tile_format, 2
    edit = [f"{TP53}=+2"]
    here = generate_tiles(ws, cfg, split="test", perturbations=edit, out=tmp_path / "here", device="cpu")
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as c:
        cfg.generate.cluster = c.scheduler_address
        there = generate_tiles(ws, cfg, split="test", perturbations=edit, out=tmp_path / "there", device="cpu")
    assert here["base_profile"].nunique() > 2  # more than one shard
    pd.testing.assert_frame_equal(here.drop(columns="path"), there.drop(columns="path"))
    sets = [manifest_tiles(tmp_path / k, read_manifest(tmp_path / k), 32) for k in ("here", "there")]
    torch.testing.assert_close(sets[0][:], sets[1][:], rtol=0, atol=0)
    assert not (tmp_path / "there" / "parts").exists()
    sheets = [sorted(p.name for p in (tmp_path / k).glob("*/*.png")) for k in ("here", "there")]
    assert sheets[0] == sheets[1]


def test_a_worker_killed_mid_run_loses_and_duplicates_no_tile(trained, tmp_path: Path) -> None:
    """SIGKILL a busy worker once a shard is in: Dask runs its shard again elsewhere, and the store holds every
    tile once, the same as one process drew."""
    from distributed import Client, LocalCluster

    ws, cfg, _ = trained
    cfg = cfg.model_copy(deep=True)
    cfg.generate.tile_format, cfg.generate.shard_profiles, cfg.generate.tiles_per_profile = "store", 1, 16
    cfg.generate.image_stage = "bundled"  # a shard takes long enough to be caught running
    here = generate_tiles(ws, cfg, out=tmp_path / "here", device="cpu")
    killed: list[str] = []
    with (
        LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as c,
        Client(c.scheduler_address) as observer,
    ):
        pids = observer.run(os.getpid)

        def kill_a_busy_worker() -> None:
            deadline = time.monotonic() + 120
            while not killed and time.monotonic() < deadline:
                busy = [worker for worker, tasks in observer.processing().items() if tasks and worker in pids]
                if busy and list(tmp_path.glob(".there.*/contact_sheets/*.png")):  # a shard in, others running
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.02)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        cfg.generate.cluster = c.scheduler_address
        there = generate_tiles(ws, cfg, out=tmp_path / "there", device="cpu")
        killer.join()
    assert killed, "no worker was caught running a shard"
    pd.testing.assert_frame_equal(here, there)
    with TileStore(tmp_path / "there" / STORE) as store:
        keys = list(store.keys(prefix=""))
    assert sorted(keys) == sorted(there["key"]) and len(keys) == len(set(keys)) == len(here)
    sets = [manifest_tiles(tmp_path / k, read_manifest(tmp_path / k), 32) for k in ("here", "there")]
    torch.testing.assert_close(sets[0][:], sets[1][:], rtol=0, atol=0)


def test_a_manifest_without_its_store_is_a_one_line_error(trained, tmp_path: Path) -> None:
    ws, cfg, _ = trained
    cfg = cfg.model_copy(deep=True)
    cfg.generate.tile_format = "store"
    generate_tiles(ws, cfg, split="test", out=tmp_path / "run", device="cpu")
    shutil.rmtree(tmp_path / "run" / STORE)
    with pytest.raises(InputFileError, match=r"store\.lmdb is missing"):
        tiles_size(tmp_path / "run")


def test_same_seed_same_tiles(trained, tmp_path: Path) -> None:
    ws, cfg, _ = trained
    sample = pd.read_csv(ws.samples_table)["sample_id"].iloc[0]
    first = generate_tiles(ws, cfg, samples=[sample], out=tmp_path / "a", device="cpu")
    again = generate_tiles(ws, cfg, samples=[sample], out=tmp_path / "b", device="cpu")
    for a, b in zip(first["path"], again["path"], strict=True):
        np.testing.assert_array_equal(_pixels(str(tmp_path / "a" / a)), _pixels(str(tmp_path / "b" / b)))


def test_perturbation_pairs_share_noise(trained, tmp_path: Path) -> None:
    """A zero shift reproduces the unperturbed tiles exactly: same noise; a real shift keeps the indices."""
    ws, cfg, _ = trained
    sample = pd.read_csv(ws.samples_table)["sample_id"].iloc[0]
    generate_tiles(ws, cfg, samples=[sample], perturbations=[f"{TP53}=+0"], out=tmp_path / "null", device="cpu")
    null = read_manifest(tmp_path / "null")
    base, moved = null[null["perturbation"] == ""], null[null["perturbation"] != ""]
    assert list(base["noise_index"]) == list(moved["noise_index"]) and set(moved["base_profile"]) == {sample}
    assert list(base["seed"]) == list(moved["seed"])
    for a, b in zip(base["path"], moved["path"], strict=True):
        np.testing.assert_array_equal(_pixels(a), _pixels(b))
    both = generate_tiles(
        ws, cfg, samples=[sample], perturbations=["TP53=+3", f"{TP53}=x4"], out=tmp_path / "pair", device="cpu"
    )
    assert set(both["perturbation"]) == {"", "TP53=+3,ENSG00000141510=x4"}
    assert len(list((tmp_path / "pair" / "panels").glob("*.png"))) == 1


def test_a_gene_outside_every_gene_space_is_refused_saying_so(trained, tmp_path: Path) -> None:
    ws, cfg, _ = trained
    sample = pd.read_csv(ws.samples_table)["sample_id"].iloc[0]
    with pytest.raises(InputFileError, match=r"'MALAT1' is not among the model's 19,198 genes; .*no gene space holds"):
        generate_tiles(ws, cfg, samples=[sample], perturbations=["MALAT1=x4"], out=tmp_path / "x", device="cpu")


def test_direction_doses_share_noise_and_dose_zero_is_the_profile(trained, tmp_path: Path) -> None:
    """A dose series of a class direction: dose 0 is bit for bit the unedited tile, +2 changes it; all recorded."""
    ws, cfg, _ = trained
    sample = pd.read_csv(ws.samples_table)["sample_id"].iloc[0]
    out = tmp_path / "dose"
    manifest = generate_tiles(ws, cfg, samples=[sample], directions=["lung_aca=0,+2"], out=out, device="cpu")
    assert set(manifest["perturbation"]) == {"", "lung_aca=+0sd", "lung_aca=+2sd"}
    assert set(manifest["base_profile"]) == {sample} and manifest["seed"].nunique() == 1
    rows = read_manifest(out).set_index(["perturbation", "noise_index"])["path"]
    for j in range(cfg.generate.tiles_per_profile):
        np.testing.assert_array_equal(_pixels(rows[("", j)]), _pixels(rows[("lung_aca=+0sd", j)]))
    moved = [np.abs(_pixels(rows[("lung_aca=+2sd", j)]).astype(int) - _pixels(rows[("", j)])).mean() for j in range(3)]
    assert min(moved) > 0
    recorded = json.loads((out / "directions.json").read_text())["lung_aca"]
    assert recorded["source"] == "label tissue" and len(recorded["unit"]) == cfg.vae.latent_dim
    assert recorded["spread"] > 0


def test_an_unknown_direction_is_refused_naming_the_choices(trained, monkeypatch, capsys, tmp_path: Path) -> None:
    ws, _, _ = trained
    args = ["generate", "-w", ws.root, "--preset", "tiny", "--split", "test", "--direction", "lung_adc=+1"]
    code, err = run_cli([*args, "-o", tmp_path / "out"], monkeypatch, capsys)
    assert_one_line_error(code, err, "unknown direction 'lung_adc'", "lung_aca", "immune", "random")
    assert not (tmp_path / "out").exists()


def test_external_cohort_with_half_the_genes_missing(trained, tmp_path: Path) -> None:
    ws, cfg, counts = trained
    kept = counts.iloc[:3, ::2]  # every other gene: half the gene space missing
    path = tmp_path / "other_cohort.csv"
    kept.rename(index=lambda s: f"ext_{s}").to_csv(path)
    manifest = generate_tiles(ws, cfg, expression_file=path, out=tmp_path / "ext", device="cpu")
    assert set(manifest["source"]) == {"external"} and manifest["profile"].nunique() == 3
    coverage = json.loads((tmp_path / "ext" / "coverage.json").read_text())
    assert coverage["n_missing"] == counts.shape[1] - kept.shape[1]
    assert coverage["coverage"] == pytest.approx(0.5, abs=1e-3)


def test_z_scored_profiles_and_latent_tables(trained, tmp_path: Path) -> None:
    """`rnagan vae sample`-style inputs: decoded z-scores, or μ vectors used as they are."""
    ws, cfg, _ = trained
    z = pd.read_parquet(ws.expression_matrix).iloc[:2]
    z.to_parquet(tmp_path / "profiles.parquet")
    from_z = generate_tiles(
        ws, cfg, expression_file=tmp_path / "profiles.parquet", scale="z", out=tmp_path / "z", device="cpu"
    )
    latents = pd.read_parquet(ws.latents).iloc[:2]
    latents.filter(like="mu_").to_csv(tmp_path / "latents.csv")
    from_mu = generate_tiles(
        ws, cfg, expression_file=tmp_path / "latents.csv", scale="z", out=tmp_path / "mu", device="cpu"
    )
    assert set(from_z["source"]) == {"profiles"} and set(from_mu["source"]) == {"latents"}
    # the cohort's μ (written by the VAE stage) gives the same tiles as encoding its z-scores
    for a, b in zip(from_z["path"], from_mu["path"], strict=True):
        np.testing.assert_allclose(_pixels(str(tmp_path / "z" / a)), _pixels(str(tmp_path / "mu" / b)), atol=2)


def test_fold_change_goes_through_the_original_scale(trained) -> None:
    ws, _, counts = trained
    scaler = ExpressionScaler.load(ws.scaler)
    raw = counts.iloc[:2].astype(float)
    z = scaler.transform(raw)
    moved = perturb(z, [Perturbation.parse(f"{TP53}=x4")], scaler)
    expected = scaler.transform(raw.assign(**{TP53: raw[TP53] * 4}))
    np.testing.assert_allclose(moved[TP53], expected[TP53], rtol=1e-5, atol=1e-5)
    others = [g for g in z.columns if g != TP53]
    np.testing.assert_array_equal(moved[others].to_numpy(), z[others].to_numpy())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TP53=+2", Perturbation("TP53", "shift", 2.0)),
        ("EGFR=-1.5", Perturbation("EGFR", "shift", -1.5)),
        ("EGFR=x4", Perturbation("EGFR", "fold", 4.0)),
    ],
)
def test_perturbation_parsing(text: str, expected: Perturbation) -> None:
    assert Perturbation.parse(text) == expected


@pytest.mark.parametrize("text", ["TP53", "TP53=2", "TP53=x0", "=+1"])
def test_bad_perturbations_are_refused(text: str) -> None:
    with pytest.raises(InputFileError, match="perturbation"):
        Perturbation.parse(text)


def test_generate_refuses_a_vae_the_gan_was_not_trained_on(trained, tmp_path: Path) -> None:
    """Issue #14 item 10: the GAN records its VAE's weights; another VAE's μ would mean other tiles."""
    ws, cfg, _ = trained
    meta = json.loads((ws.gan_run("rnagan") / "checkpoint" / "meta.json").read_text())
    assert meta["vae_fingerprint"] == weights_fingerprint(ws.vae_checkpoint)
    copy = Workspace(tmp_path / "ws")
    shutil.copytree(ws.root, copy.root)
    vae = load_checkpoint(copy.vae_checkpoint)
    retrained = {name: tensor + 0.01 for name, tensor in vae.tensors.items()}
    save_checkpoint(copy.vae_checkpoint, tensors=retrained, config=vae.config, meta=vae.meta, files=vae.files)
    with pytest.raises(CheckpointError, match="trained on μ of another VAE"):
        generate_tiles(copy, cfg, split="test", out=tmp_path / "out", device="cpu")


def test_latents_of_the_wrong_size_are_a_one_line_error(trained, tmp_path: Path) -> None:
    """Issue #14 item 13: μ from another model (3 dimensions here) is named, with the fix."""
    ws, cfg, _ = trained
    table = pd.DataFrame([[0.1, 0.2, 0.3]], columns=["mu_0", "mu_1", "mu_2"], index=pd.Index(["x"], name="sample_id"))
    table.to_csv(tmp_path / "mu.csv")
    with pytest.raises(InputFileError, match=r"μ has shape \(\d+, 3\), but this generator expects \(N, 8\)"):
        generate_tiles(ws, cfg, expression_file=tmp_path / "mu.csv", scale="z", out=tmp_path / "out", device="cpu")


def test_an_image_stage_lifts_every_tile_to_its_scale_and_tile_size_resizes_it(trained, tmp_path: Path) -> None:
    """The tiles with an image stage are the plain tiles (same profiles, same noise) through its upsampler;
    ``generate.tile_size`` then resizes them to the real tiles' side."""
    import torch

    from rnagan.image.sample import load_upsampler, upsample_tiles
    from rnagan.image.train import train_image_stage
    from rnagan.slides.augment import resize_tiles

    ws, cfg, _ = trained
    stage = train_image_stage(ws, cfg, device="cpu")  # tiny: x2, a few steps
    plain = generate_tiles(ws, cfg, split="test", out=tmp_path / "plain", device="cpu")
    lifted_cfg = cfg.model_copy(deep=True)
    lifted_cfg.generate.image_stage = str(stage)
    lifted = generate_tiles(ws, lifted_cfg, split="test", out=tmp_path / "lifted", device="cpu")
    assert list(lifted["profile"]) == list(plain["profile"])
    small = _pixels(read_manifest(tmp_path / "plain")["path"].iloc[0])
    big = _pixels(read_manifest(tmp_path / "lifted")["path"].iloc[0])
    assert big.shape == (2 * small.shape[0], 2 * small.shape[1], 3)
    expected = upsample_tiles(load_upsampler(stage), torch.from_numpy(small.copy()).permute(2, 0, 1)[None])[0]
    assert np.array_equal(big, expected.permute(1, 2, 0).numpy())

    sized_cfg = lifted_cfg.model_copy(deep=True)
    sized_cfg.generate.tile_size = 3 * small.shape[0]  # the real tiles' side, not a power of two of the drawn one
    generate_tiles(ws, sized_cfg, split="test", out=tmp_path / "sized", device="cpu")
    sized = _pixels(read_manifest(tmp_path / "sized")["path"].iloc[0])
    assert np.array_equal(
        sized,
        resize_tiles(torch.from_numpy(big.copy()).permute(2, 0, 1), sized_cfg.generate.tile_size)
        .permute(1, 2, 0)
        .numpy(),
    )


def test_log2_cohort_is_read_with_input_scale_and_warned_about_without(
    trained, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """log2(x + 1) values read as linear would be logged twice: warned about; ``input_scale`` undoes them."""
    ws, cfg, counts = trained
    vae = load_vae(ws.vae_checkpoint)
    counts.iloc[:3].to_csv(tmp_path / "linear.csv")
    np.log2(counts.iloc[:3] + 1).to_csv(tmp_path / "log2.csv")

    def warnings() -> list[str]:
        return [
            r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "log-scale" in r.getMessage()
        ]

    with caplog.at_level(logging.WARNING):
        linear = load_profiles(ws, cfg, vae, expression_file=tmp_path / "linear.csv")
    assert warnings() == []
    with caplog.at_level(logging.WARNING):
        load_profiles(ws, cfg, vae, expression_file=tmp_path / "log2.csv")
    assert len(warnings()) == 1 and "pass --input-scale log2" in warnings()[0]
    caplog.clear()
    logged = cfg.model_copy(deep=True)
    logged.expression.input_scale = "log2"
    with caplog.at_level(logging.WARNING):
        unlogged = load_profiles(ws, logged, vae, expression_file=tmp_path / "log2.csv")
    assert warnings() == []
    np.testing.assert_allclose(unlogged.z.to_numpy(), linear.z.to_numpy(), atol=1e-3)


def test_generate_cli_takes_input_scale(trained, tmp_path: Path, monkeypatch, capsys) -> None:
    ws, _, counts = trained
    np.log2(counts.iloc[:2] + 1).to_csv(tmp_path / "log2.csv")
    args = ["generate", "-w", ws.root, "--expression", tmp_path / "log2.csv", "-n", "1", "--device", "cpu"]
    code, err = run_cli([*args, "--input-scale", "log2", "-o", tmp_path / "out"], monkeypatch, capsys)
    assert code == 0, err
    assert "log-scale" not in err and len(read_manifest(tmp_path / "out")) == 2
