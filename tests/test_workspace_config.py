"""The workspace remembers its config: the first command writes it, later ones start from it and are refused
when they contradict a setting an earlier output depends on."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rnagan.cli import main
from rnagan.config import preset
from rnagan.errors import ConfigError
from rnagan.workspace import Workspace
from rnagan.workspace_config import read_workspace_config, remember, resolve_workspace_config


def _made(workspace: Workspace, *outputs: Path) -> None:
    for path in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if path.suffix == "" else path.write_bytes(b"")


def test_the_first_command_writes_the_config_and_later_ones_start_from_it(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert read_workspace_config(ws) is None
    first = resolve_workspace_config(ws, preset_name="tiny", overrides=["gan.steps=7"])
    remember(ws, first)
    assert read_workspace_config(ws) == first
    later = resolve_workspace_config(ws, overrides=["evaluate.seed=3"])
    assert later.preset == "tiny" and later.gan.steps == 7 and later.evaluate.seed == 3
    assert read_workspace_config(ws).evaluate.seed == 0  # a command's own --set is not remembered
    assert resolve_workspace_config(ws, preset_name="small").gan.steps == preset("small").gan.steps
    assert resolve_workspace_config(None).preset == "paper"


def test_a_stage_records_the_settings_its_output_depends_on(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    remember(ws, preset("paper"))
    vae_run = resolve_workspace_config(ws, preset_name="small")
    remember(ws, vae_run, writes="vae")
    recorded = read_workspace_config(ws)
    assert recorded.vae.latent_dim == 64 and recorded.vae.encoder_dims == [256, 128]
    assert recorded.gan.image_size == 256  # the rest stays the workspace's
    assert recorded.vae.epochs == preset("paper").vae.epochs  # not an architecture setting


def test_a_contradiction_with_an_existing_output_is_refused_naming_both_values(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    remember(ws, preset("tiny"))
    # no VAE yet: nothing to contradict
    assert resolve_workspace_config(ws, preset_name="small", reads=("vae",)).vae.latent_dim == 64
    _made(ws, ws.vae_checkpoint)
    with pytest.raises(ConfigError, match=r"vae\.encoder_dims is \[256, 128\] here.*made with \[64, 32\]"):
        resolve_workspace_config(ws, preset_name="small", reads=("vae",))
    with pytest.raises(ConfigError, match=r"vae\.latent_dim is 16 here.*made with 8"):
        resolve_workspace_config(ws, overrides=["vae.latent_dim=16"], reads=("vae",))
    assert resolve_workspace_config(ws, overrides=["vae.latent_dim=16"]).vae.latent_dim == 16  # retraining: allowed


def test_tiling_more_slides_keeps_the_tile_geometry(
    tmp_path: Path, real_slide: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the real command line: a store of 64 px tiles refuses 128 px tiles, in one line."""
    ws = Workspace(tmp_path / "ws")
    remember(ws, preset("tiny"))
    _made(ws, ws.tile_index)
    monkeypatch.setattr(
        sys, "argv", ["rnagan", "tile", str(real_slide), "-w", str(ws.root), "--set", "tiling.tile_size=128"]
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: tiling.tile_size is 128 here") and "made with 64" in err, err


def test_gan_train_with_another_preset_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gan train --preset small` on a workspace whose β-VAE is tiny's would pair a 64-wide GAN with 8-d latents."""
    ws = Workspace(tmp_path / "ws")
    remember(ws, preset("tiny"))
    _made(ws, ws.vae_checkpoint)
    monkeypatch.setattr(sys, "argv", ["rnagan", "gan", "train", "-w", str(ws.root), "--preset", "small"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "vae.encoder_dims is [256, 128] here" in err and str(ws.config_file) in err, err
    assert not ws.gan_run("rnagan").exists()
