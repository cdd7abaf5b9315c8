from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnagan.checkpoint import load_checkpoint
from rnagan.config import Config
from rnagan.errors import CheckpointError
from rnagan.runtime import seed_everything
from rnagan.slides.tilesets import TensorTiles
from rnagan.ssl import simclr
from rnagan.ssl.backbone import initial_backbone, weight_distance
from rnagan.ssl.simclr import SimCLR, contrastive_loss, load_backbone, pretrain
from rnagan.ssl.sources import TileSet

pytestmark = pytest.mark.integration  # every test runs SimCLR pretraining


def _trained(out: Path, config: Config) -> SimCLR:
    model = SimCLR(config.ssl.backbone, config.ssl.projection_dim)
    model.load_state_dict(load_checkpoint(out / "last").subset("model"))  # backbone and head
    return model


def test_pretraining_lowers_the_contrastive_loss(tmp_path: Path, tiles: TileSet, tiny: Config) -> None:
    tiny.ssl.pretrain_epochs = 6
    seed_everything(tiny.ssl.seed)  # pretrain starts from the same initialisation
    before = contrastive_loss(SimCLR(tiny.ssl.backbone, tiny.ssl.projection_dim), tiles, tiny)
    meta = pretrain(tiles, tiny, tmp_path, progress=False)
    after = contrastive_loss(_trained(tmp_path, tiny), tiles, tiny)
    assert after < before - 0.05, (before, after)
    assert meta["epoch"] == 6 and len(meta["step_losses"]) == 6 * meta["steps_per_epoch"]
    assert (tmp_path / "loss.png").stat().st_size > 1000


def test_training_moves_the_backbone_away_from_its_own_initialisation(
    tmp_path: Path, tiles: TileSet, tiny: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny.ssl.pretrain_epochs = 1
    start = initial_backbone("tiny", tiny.ssl.seed)
    monkeypatch.setattr(simclr, "_train", lambda *args, **kwargs: False)  # a run that takes no step
    pretrain(tiles, tiny, tmp_path / "untrained", progress=False)
    monkeypatch.undo()
    untrained, _ = load_backbone(tmp_path / "untrained" / "checkpoint", "tiny")
    assert weight_distance(untrained, start)["l2"] == 0  # the reference is where training starts
    pretrain(tiles, tiny, tmp_path / "trained", progress=False)
    trained, _ = load_backbone(tmp_path / "trained" / "checkpoint", "tiny")
    assert weight_distance(trained, start)["relative"] > 1e-3


def test_a_run_resumed_after_a_crash_ends_with_the_weights_of_an_uninterrupted_one(
    tmp_path: Path, tiles: TileSet, tiny: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    pretrain(tiles, tiny, tmp_path / "straight", progress=False)
    save_last = simclr._save_last

    def crash_after_saving(*args: object) -> None:
        save_last(*args)
        raise KeyboardInterrupt  # killed right after epoch 1's checkpoint

    monkeypatch.setattr(simclr, "_save_last", crash_after_saving)
    with pytest.raises(KeyboardInterrupt):
        pretrain(tiles, tiny, tmp_path / "resumed", progress=False)
    monkeypatch.undo()
    meta = pretrain(tiles, tiny, tmp_path / "resumed", resume=True, progress=False)
    assert meta["epoch"] == 2 and not meta["stopped_early"]
    straight, _ = load_backbone(tmp_path / "straight" / "checkpoint", "tiny")
    resumed, _ = load_backbone(tmp_path / "resumed" / "checkpoint", "tiny")
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], msg=name)


def test_an_existing_run_is_refused_unless_resumed_or_overwritten(tmp_path: Path, tiles: TileSet, tiny: Config) -> None:
    tiny.ssl.pretrain_epochs = 1
    pretrain(tiles, tiny, tmp_path, progress=False)
    before = (tmp_path / "last" / "meta.json").read_text()
    with pytest.raises(CheckpointError, match=r"already holds a run at epoch 1: pass --resume .* --overwrite"):
        pretrain(tiles, tiny, tmp_path, progress=False)
    assert (tmp_path / "last" / "meta.json").read_text() == before  # nothing was touched
    meta = pretrain(tiles, tiny, tmp_path, overwrite=True, max_seconds=0, progress=False)
    assert meta["epoch"] == 0 and not (tmp_path / "last").exists()  # the old run is gone with its last/


def test_resume_refuses_other_tiles_or_other_settings(tmp_path: Path, tiles: TileSet, tiny: Config) -> None:
    tiny.ssl.pretrain_epochs = 1
    pretrain(tiles, tiny, tmp_path, progress=False)
    tiny.ssl.pretrain_epochs = 2  # allowed to change
    other = TileSet(TensorTiles(tiles.tiles[:].flip(-2)), tiles.labels, tiles.groups, tiles.origin)
    with pytest.raises(CheckpointError, match=r"cannot resume .*: its tiles changed"):
        pretrain(other, tiny, tmp_path, resume=True, progress=False)
    tiny.ssl.temperature = 0.1
    with pytest.raises(CheckpointError, match=r"the ssl config changed \(temperature: checkpoint 0.5 vs now 0.1\)"):
        pretrain(tiles, tiny, tmp_path, resume=True, progress=False)


def test_the_time_budget_stops_within_an_epoch(tmp_path: Path, tiles: TileSet, tiny: Config) -> None:
    meta = pretrain(tiles, tiny, tmp_path, max_seconds=0, progress=False)
    assert meta["stopped_early"] and meta["epoch"] == 0 and len(meta["step_losses"]) == 1
    assert (tmp_path / "checkpoint").is_dir() and not (tmp_path / "last").exists()


def test_a_backbone_of_another_architecture_is_refused(tmp_path: Path, tiles: TileSet, tiny: Config) -> None:
    tiny.ssl.pretrain_epochs = 1
    pretrain(tiles, tiny, tmp_path, progress=False)
    with pytest.raises(CheckpointError, match=r"holds a tiny backbone; ssl\.backbone is resnet18"):
        load_backbone(tmp_path / "checkpoint", "resnet18")
