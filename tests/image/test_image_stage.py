"""The image stage on real tiles (the bundled LC25000 copies): it trains, beats bicubic, resumes, refuses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from rnagan.config import load_config
from rnagan.datasets.lc25000 import lc25000_dir
from rnagan.errors import CheckpointError, InputFileError
from rnagan.evaluate.features import read_image
from rnagan.image.data import CropBatches, training_tiles
from rnagan.image.model import Upsampler
from rnagan.image.sample import BUNDLED, bundled_image_stage, load_upsampler, upsample_tiles
from rnagan.image.train import train_image_stage
from rnagan.logs import read_log
from rnagan.slides.augment import resize_tiles
from rnagan.slides.folder import import_tiles
from rnagan.workspace import Workspace


@pytest.fixture
def tile_workspace(tmp_path: Path) -> Workspace:
    """48 real lung tiles shrunk to 64 px, the first half of them in training samples, the rest held out."""
    files = sorted((lc25000_dir() / "lung_aca").glob("*.jpg"))[:48]
    table = pd.DataFrame({"path": [str(p) for p in files], "sample_id": [f"s{i:02d}" for i in range(len(files))]})
    ws = Workspace(tmp_path / "ws").create()
    import_tiles(table.assign(slide_id="aca"), ws, tile_size=64, image_format="jpeg")
    splits = ["train" if i < 24 else "test" for i in range(len(files))]
    pd.DataFrame({"sample_id": table["sample_id"], "tissue": "aca", "split": splits}).to_csv(
        ws.samples_table, index=False
    )
    return ws


def test_an_untrained_upsampler_is_bicubic() -> None:
    low = torch.rand(2, 3, 16, 16) * 2 - 1
    expected = F.interpolate(low, scale_factor=4, mode="bicubic", align_corners=False).clamp(-1, 1)
    assert torch.equal(Upsampler(scale=4, channels=8, blocks=1)(low), expected)


def test_held_out_tiles_are_never_trained_on(tile_workspace: Workspace) -> None:
    chosen = training_tiles(tile_workspace, split="train")
    assert len(chosen) == 24 and set(chosen["sample_id"]) == {f"s{i:02d}" for i in range(24)}
    assert len(training_tiles(tile_workspace, split=None)) == 48


def test_batches_are_a_function_of_the_step(tile_workspace: Workspace) -> None:
    tiles = training_tiles(tile_workspace)
    make = lambda: CropBatches(tile_workspace, tiles, crop_size=32, scale=2, batch_size=4, seed=0)  # noqa: E731
    low, high = make().batch(5)
    assert low.shape == (4, 3, 16, 16) and high.shape == (4, 3, 32, 32)
    assert torch.equal(make().batch(5)[1], high) and not torch.equal(make().batch(6)[1], high)
    with pytest.raises(InputFileError, match=r"64 px, smaller than image\.crop_size 128"):
        CropBatches(tile_workspace, tiles, crop_size=128, scale=4, batch_size=4, seed=0)


@pytest.mark.integration
def test_a_short_run_beats_bicubic_on_held_out_tiles(tile_workspace: Workspace) -> None:
    """Pixel loss only: the upsampler starts as bicubic, so any learning shows as a lower error on tiles
    it never saw (the held-out half, whole 64 px tiles from 32 px)."""
    cfg = load_config("tiny", overrides=["image.steps=60", "image.adversarial_weight=0", "image.lr=0.002"])
    checkpoint = train_image_stage(tile_workspace, cfg, device="cpu")
    upsampler = load_upsampler(checkpoint)
    held_out = training_tiles(tile_workspace, split="test")
    batches = CropBatches(tile_workspace, held_out, crop_size=64, scale=2, batch_size=24, seed=1)
    low, high = batches.batch(0)
    with torch.no_grad():
        ours = (upsampler(low) - high).abs().mean()
    bicubic = (F.interpolate(low, scale_factor=2, mode="bicubic", align_corners=False).clamp(-1, 1) - high).abs()
    assert ours < 0.97 * bicubic.mean(), (float(ours), float(bicubic.mean()))
    records = read_log(tile_workspace.image / "log.jsonl")
    assert records[-1]["step"] == 60 and records[-1]["l1"] < records[0]["l1"]
    assert all("bicubic_l1" in r for r in records)
    tiles = torch.randint(0, 256, (3, 3, 20, 20), dtype=torch.uint8)
    assert upsample_tiles(upsampler, tiles, batch_size=2).shape == (3, 3, 40, 40)


@pytest.mark.integration
def test_the_critic_joins_and_a_resume_continues_the_same_run(tile_workspace: Workspace) -> None:
    cfg = load_config("tiny")  # 8 steps; the critic from step 4; checkpoints at 4 and 8
    train_image_stage(tile_workspace, cfg, device="cpu")
    whole = read_log(tile_workspace.image / "log.jsonl")
    assert "critic" not in whole[0] and "critic" in whole[-1]
    with pytest.raises(CheckpointError, match="already holds a run at step 8"):
        train_image_stage(tile_workspace, cfg, device="cpu")
    with pytest.raises(CheckpointError, match="crop_size: checkpoint 32 vs now 48"):
        train_image_stage(tile_workspace, load_config("tiny", overrides=["image.crop_size=48"]), resume=True)
    train_image_stage(tile_workspace, load_config("tiny", overrides=["image.steps=4"]), overwrite=True, device="cpu")
    train_image_stage(tile_workspace, cfg, resume=True, device="cpu")
    resumed = read_log(tile_workspace.image / "log.jsonl")
    assert [r["step"] for r in resumed] == [r["step"] for r in whole]
    assert resumed[-1]["l1"] == pytest.approx(whole[-1]["l1"], rel=1e-4)


def test_the_shipped_image_stage_lifts_a_tile_to_256_px_without_training() -> None:
    meta = (bundled_image_stage() / "meta.json").read_text()
    assert '"made_by"' in meta and '"step"' in meta  # how it was made travels with it
    tile = resize_tiles(read_image(sorted((lc25000_dir() / "lung_n").glob("*.jpg"))[0]), 64)[None]  # as drawn
    lifted = upsample_tiles(load_upsampler(BUNDLED), tile)
    assert lifted.shape == (1, 3, 256, 256) and lifted.dtype == torch.uint8
    bicubic = F.interpolate(tile.float(), size=(256, 256), mode="bicubic", align_corners=False)
    assert 0 < (lifted.float() - bicubic).abs().mean() < 20  # detail added over bicubic, the tissue kept
