"""Does an edit along a direction move what a probe reads in the tiles, and only that? The dose-response.

Tiles are drawn from held-out profiles moved along each direction by a series of doses, every dose
with the same noise (``rnagan generate --direction NAME=-2,-1,0,1,2``), and read by a probe trained on
real tiles (a module score, a class probability). Per profile, the readout averaged over its tiles is
regressed on the dose (least squares); the slope is then averaged over profiles, with a 95 % Student t
interval over profiles. Profiles are the units: each has its own tiles and noise. Neighbouring spots
of a section are alike, so the interval is somewhat narrow for spatial data.

- **target slope**: the readout the direction was learned for (immune → the probe's immune score);
- **off-target slopes**: every other readout under the same direction;
- **control slope**: every readout under a seeded random direction, dosed in its own spread.

A probe's score is what a linear model on image features predicts, not the tissue's biology: a slope
says the tiles changed the way the probe's features respond to, which may be colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats


def profile_slopes(frame: pd.DataFrame, readout: str) -> np.ndarray:
    """Least-squares slope of ``readout`` on ``dose`` for each profile of ``frame`` (columns profile, dose, readout)."""
    table = frame.groupby(["profile", "dose"])[readout].mean().unstack("dose")
    doses = table.columns.to_numpy(np.float64)
    centred = doses - doses.mean()
    return (
        (table.to_numpy(np.float64) - table.to_numpy(np.float64).mean(axis=1, keepdims=True))
        @ centred
        / (centred @ centred)
    )


def slope_summary(slopes: np.ndarray) -> dict[str, float | int]:
    """Mean slope over profiles and its 95 % t interval."""
    n = len(slopes)
    mean = float(np.mean(slopes))
    half = float(stats.t.ppf(0.975, n - 1) * np.std(slopes, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"slope": mean, "low": mean - half, "high": mean + half, "profiles": n}


def dose_response(
    predicted: pd.DataFrame, *, readouts: Sequence[str], targets: Mapping[str, str], control: str
) -> dict[str, Any]:
    """Slopes of every readout under every direction, and the ratios the module docstring defines.

    ``predicted`` has one row per tile (or per profile and dose): direction, dose, profile and one column
    per readout; ``targets`` maps each learned direction to its readout; ``control`` names the random one.
    """
    slopes = {
        direction: {r: slope_summary(profile_slopes(rows, r)) for r in readouts}
        for direction, rows in predicted.groupby("direction", sort=False)
    }
    per_direction = {}
    for direction, target in targets.items():
        own = slopes[direction][target]["slope"]
        off = {r: s["slope"] for r, s in slopes[direction].items() if r != target}
        control_slope = slopes[control][target]["slope"]
        per_direction[direction] = {
            "target": target,
            "target_slope": slopes[direction][target],
            "rises": bool(slopes[direction][target]["low"] > 0),
            "off_target_slopes": off,
            # the off-target readout that rises most; and the one that moves most either way (for class
            # probabilities, which sum to 1, the others must fall when the target rises)
            "target_over_largest_off_target": _ratio(own, max(off.values(), default=None)),
            "target_over_largest_abs_off_target": _ratio(own, max((abs(v) for v in off.values()), default=None)),
            # None when the target falls: a ratio to it would read as a small control
            "control_slope": control_slope,
            "control_over_target": _ratio(abs(control_slope), own),
        }
    return {
        "slopes": slopes,
        "directions": per_direction,
        "rising": sum(d["rises"] for d in per_direction.values()),
        "of": len(per_direction),
    }


def mean_pixel_change(edited: torch.Tensor, base: torch.Tensor) -> float:
    """Mean absolute difference of two uint8 tile batches, in grey levels (0-255), over every pixel and channel."""
    return float((edited.float() - base.float()).abs().mean())


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None unless both are positive (a ratio to a falling slope means nothing)."""
    if numerator is None or denominator is None or denominator <= 0 or numerator < 0:
        return None
    return float(numerator / denominator)
