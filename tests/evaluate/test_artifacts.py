"""The checkerboard score sees the transposed-convolution artifact and not smooth upsampling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnagan.evaluate.artifacts import checkerboard_score, peak_bins, set_score
from rnagan.evaluate.features import iter_images


@pytest.fixture(scope="module")
def real(lung_tiles) -> torch.Tensor:
    return torch.stack(list(iter_images(lung_tiles["lung_n"][:16])))


def _quantise(x: torch.Tensor) -> torch.Tensor:
    return x.round().clamp(0, 255).to(torch.uint8)


def test_transposed_convolution_scores_higher_than_smooth_upsampling(real: torch.Tensor) -> None:
    small = F.avg_pool2d(real.float(), 2)
    smooth = _quantise(F.interpolate(small, scale_factor=2, mode="bilinear", align_corners=False))
    # stride 2, kernel 3: kernels overlap on every other pixel, the artifact of Odena et al. 2016
    kernel = torch.ones(3, 1, 3, 3) / 2.25
    stamped = _quantise(F.conv_transpose2d(small, kernel, stride=2, padding=1, output_padding=1, groups=3))
    assert checkerboard_score(stamped, real) > 1.3 > checkerboard_score(smooth, real)


def test_real_tiles_score_one_against_themselves(real: torch.Tensor) -> None:
    assert checkerboard_score(real, real) == pytest.approx(1.0)


def test_set_score_rises_with_a_periodic_pattern(real: torch.Tensor) -> None:
    """The per-set score itself (not only the ratio) must see a period-2 grid added to real tiles."""
    grid = torch.zeros(1, 1, *real.shape[-2:])
    grid[..., ::2, ::2] = 12.0
    assert set_score(_quantise(real.float() + grid)) > 1.2 * set_score(real)


def test_peak_bins_are_the_multiples_of_one_over_the_period() -> None:
    assert peak_bins(16, [2, 4]).tolist() == [0, 4, 8, 12]
    assert peak_bins(12, [8]).tolist() == []  # 8 does not divide 12
