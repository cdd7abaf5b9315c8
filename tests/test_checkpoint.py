from pathlib import Path

import pytest
import torch

from rnagan.checkpoint import load_checkpoint, save_checkpoint
from rnagan.config import preset
from rnagan.errors import CheckpointError


def _save(path: Path, **kwargs) -> None:
    tensors = {"net.weight": torch.arange(6.0).reshape(2, 3), "net.bias": torch.ones(2)}
    save_checkpoint(path, tensors=tensors, config=preset("tiny"), meta={"step": 3}, **kwargs)


def test_round_trip_restores_tensors_config_meta_and_files(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    _save(path, state={"opt": {"lr": torch.tensor(0.1)}}, files={"genes.txt": b"A\nB\n"})
    ckpt = load_checkpoint(path, with_state=True)
    assert torch.equal(ckpt.subset("net")["weight"], torch.arange(6.0).reshape(2, 3))
    assert ckpt.config == preset("tiny")
    assert ckpt.meta["step"] == 3 and "torch_version" in ckpt.meta
    assert ckpt.files == {"genes.txt": b"A\nB\n"}
    assert torch.equal(ckpt.state["opt"]["lr"], torch.tensor(0.1))


def test_truncated_weights_give_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    _save(path)
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(CheckpointError, match=r"truncated or not a safetensors file"):
        load_checkpoint(path)


def test_a_folder_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    with pytest.raises(CheckpointError, match=r"model\.safetensors is missing"):
        load_checkpoint(tmp_path / "other")
    with pytest.raises(CheckpointError, match="no such folder"):
        load_checkpoint(tmp_path / "nothing")


def test_state_is_never_unpickled_as_code(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    _save(path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, path / "state.pt")
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path, with_state=True)


def test_resume_without_state_says_so(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    _save(path)
    with pytest.raises(CheckpointError, match="cannot be resumed"):
        load_checkpoint(path, with_state=True)
