"""The dose-response summary recovers planted slopes, their intervals, and the off-target and control ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnagan.evaluate.dose_response import dose_response, mean_pixel_change, profile_slopes, slope_summary

DOSES = (-2.0, -1.0, 0.0, 1.0, 2.0)


def _frame(slopes: dict[str, dict[str, float]], profiles: int = 60, seed: int = 0) -> pd.DataFrame:
    """Readouts = profile offset + slope * dose + noise, two tiles per (profile, dose)."""
    rng = np.random.default_rng(seed)
    rows = []
    for direction, by_readout in slopes.items():
        for p in range(profiles):
            offset = rng.normal(size=len(by_readout))
            for dose in DOSES:
                for _tile in range(2):
                    values = {
                        r: o + s * dose + rng.normal(scale=0.3)
                        for (r, s), o in zip(by_readout.items(), offset, strict=True)
                    }
                    rows.append({"direction": direction, "dose": dose, "profile": f"p{p}", **values})
    return pd.DataFrame(rows)


def test_per_profile_slopes_are_least_squares_on_the_dose() -> None:
    frame = pd.DataFrame(
        {"profile": ["a"] * 5 + ["b"] * 5, "dose": list(DOSES) * 2, "y": [0, 1, 2, 3, 4, 5, 5, 5, 5, 5]}
    )
    np.testing.assert_allclose(profile_slopes(frame, "y"), [1.0, 0.0])
    summary = slope_summary(np.array([1.0, 1.2, 0.8, 1.1]))
    assert summary["low"] < 1.025 < summary["high"] and summary["profiles"] == 4


def test_planted_target_off_target_and_control_are_recovered() -> None:
    planted = {
        "immune": {"immune": 0.5, "tumour": 0.1},
        "tumour": {"immune": -0.2, "tumour": 0.4},
        "random": {"immune": 0.0, "tumour": 0.0},
    }
    result = dose_response(
        _frame(planted),
        readouts=["immune", "tumour"],
        targets={"immune": "immune", "tumour": "tumour"},
        control="random",
    )
    immune = result["directions"]["immune"]
    assert immune["target_slope"]["slope"] == pytest.approx(0.5, abs=0.05) and immune["rises"]
    assert immune["target_over_largest_off_target"] == pytest.approx(5.0, rel=0.3)
    tumour = result["directions"]["tumour"]
    assert tumour["target_over_largest_off_target"] is None  # the only off-target readout falls
    assert tumour["target_over_largest_abs_off_target"] == pytest.approx(2.0, rel=0.3)
    control = result["slopes"]["random"]["immune"]
    assert control["low"] < 0 < control["high"] and immune["control_over_target"] < 0.1
    assert result["rising"] == 2 and result["of"] == 2


def test_a_flat_target_does_not_count_as_rising() -> None:
    planted = {"immune": {"immune": 0.0}, "random": {"immune": 0.0}}
    result = dose_response(_frame(planted), readouts=["immune"], targets={"immune": "immune"}, control="random")
    assert result["rising"] == 0


def test_mean_pixel_change_is_in_grey_levels() -> None:
    base = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    edited = base.clone()
    edited[0] = 255
    assert mean_pixel_change(edited, base) == pytest.approx(127.5)
