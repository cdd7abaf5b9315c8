"""The statistics against values computed by hand (or from closed forms) on small answer sets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rnagan.quiz import stats


def test_seven_of_ten_clopper_pearson_and_binomial() -> None:
    result = stats.proportion(7, 10)
    # Beta(0.025; 7, 4) and Beta(0.975; 8, 3); P(X >= 7) = (120 + 45 + 10 + 1) / 1024, doubled (symmetric)
    assert result.ci_low == pytest.approx(0.3475, abs=1e-4)
    assert result.ci_high == pytest.approx(0.9333, abs=1e-4)
    assert result.p_value == pytest.approx(2 * 176 / 1024)


def test_zero_of_ten_has_the_closed_form_upper_bound() -> None:
    result = stats.proportion(0, 10)
    assert result.ci_low == 0
    assert result.ci_high == pytest.approx(1 - 0.025 ** (1 / 10))
    assert result.p_value == pytest.approx(2 / 1024)


def test_no_answers_give_nan_not_an_error() -> None:
    assert math.isnan(stats.proportion(0, 0).estimate)


def _answers() -> pd.DataFrame:
    """Two players, 4 tiles each: player 1 right on 3 synthetic and 1 real; player 2 wrong on all but one."""
    rows = [
        (1, "s1", "synthetic", "rnagan", "lung", True),
        (1, "s2", "synthetic", "baseline", "lung", True),
        (1, "r1", "real", "real", "lung", True),
        (1, "r2", "real", "real", "colon", False),
        (2, "s1", "synthetic", "rnagan", "lung", False),
        (2, "s2", "synthetic", "baseline", "lung", True),
        (2, "r1", "real", "real", "lung", False),
        (2, "r3", "real", "real", "colon", False),
    ]
    return pd.DataFrame(rows, columns=["player_id", "tile_id", "source", "generator", "tissue", "correct"])


def test_pooled_accuracy_sensitivity_and_specificity() -> None:
    result = stats.pooled(_answers())
    assert result["accuracy"]["k"] == 4 and result["accuracy"]["n"] == 8
    assert result["sensitivity"]["estimate"] == 3 / 4  # synthetic called synthetic
    assert result["specificity"]["estimate"] == 1 / 4  # real called real
    assert result["player_accuracy_mean"] == (3 / 4 + 1 / 4) / 2


def test_per_player_and_by_group() -> None:
    players = stats.per_player(_answers()).set_index("player_id")
    assert players.loc[1, "k"] == 3 and players.loc[2, "k"] == 1
    assert players.loc[1, "p_value"] == pytest.approx(stats.proportion(3, 4).p_value)
    tissue = stats.by_group(_answers(), "tissue").set_index("tissue")
    assert tissue.loc["lung", "estimate"] == 4 / 6 and tissue.loc["colon", "estimate"] == 0


def test_fooled_per_tile() -> None:
    fooled = stats.fooled_per_tile(_answers()).set_index("tile_id")
    assert fooled.loc["s1", "fooled"] == 0.5 and fooled.loc["s2", "fooled"] == 0
    assert fooled.loc["r1", "players"] == 2 and fooled.loc["r1", "fooled"] == 0.5
    assert fooled.index[0] in {"r2", "r3"}  # fully fooled first


def test_fleiss_kappa_textbook_example() -> None:
    """Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories; P̄ = 0.378, P̄e = 0.213."""
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert stats.fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_by_hand_on_two_raters() -> None:
    assert stats.fleiss_kappa(np.array([[2, 0], [0, 2]])) == pytest.approx(1.0)  # P̄ = 1, P̄e = 0.5
    assert stats.fleiss_kappa(np.array([[1, 1], [1, 1]])) == pytest.approx(-1.0)  # P̄ = 0, P̄e = 0.5
    assert math.isnan(stats.fleiss_kappa(np.array([[2, 0], [1, 0]])))  # unequal raters per tile


def _ratings() -> pd.DataFrame:
    """6 raters × 4 tiles. Real tiles get 5 and 4 from everyone; rater r gives the baseline tiles
    (4, 4), (4, 3), (3, 3), (3, 2), (2, 2), (2, 1): per-rater real − baseline = 0.5, 1, ..., 3, all positive.
    Everyone calls b2's tissue wrong; raters 1–3 report artifacts on both baseline tiles."""
    baseline = [(4, 4), (4, 3), (3, 3), (3, 2), (2, 2), (2, 1)]
    rows = []
    for rater, (b1, b2) in enumerate(baseline, start=1):
        for tile, generator, quality in (
            ("r1", "real", 5),
            ("r2", "real", 4),
            ("b1", "baseline", b1),
            ("b2", "baseline", b2),
        ):
            rows.append(
                {
                    "rater_id": rater,
                    "tile_id": tile,
                    "generator": generator,
                    "tissue": "lung",
                    "rated_tissue": "colon" if tile == "b2" else "lung",
                    "quality": quality,
                    "artifacts": generator == "baseline" and rater <= 3,
                }
            )
    return pd.DataFrame(rows)


def test_quality_mean_and_sd_per_source() -> None:
    table = stats.quality_summary(_ratings()).set_index(["generator", "tissue"])
    assert table.loc[("real", "all"), "mean"] == 4.5
    assert table.loc[("real", "all"), "sd"] == pytest.approx(math.sqrt(12 * 0.25 / 11))
    assert table.loc[("baseline", "lung"), "mean"] == 33 / 12


def test_sources_compared_by_wilcoxon_paired_by_rater() -> None:
    (row,) = stats.compare_sources(_ratings()).to_dict("records")
    assert (row["source_a"], row["source_b"], row["raters"]) == ("baseline", "real", 6)
    assert row["mean_difference"] == pytest.approx(-1.75)
    assert row["raters_a_higher"] == 0
    assert row["p_value"] == pytest.approx(2 / 2**6)  # exact: all 6 signs agree, two-sided


def test_tissue_identification_and_artifact_rates() -> None:
    rates = stats.rates_per_source(_ratings()).set_index("generator")
    assert rates.loc["real", "tissue_accuracy"] == 1 and rates.loc["baseline", "tissue_accuracy"] == 0.5
    assert rates.loc["baseline", "artifact_rate"] == 0.5 and rates.loc["real", "artifact_rate"] == 0
    assert rates.loc["baseline", "artifact_ci_low"] == pytest.approx(stats.proportion(6, 12).ci_low)


def test_agreement_on_artifacts_by_hand() -> None:
    """Tiles (no, yes) counts: (6,0), (6,0), (3,3), (3,3): P̄ = (1 + 1 + 0.4 + 0.4) / 4 = 0.7,
    p = (0.75, 0.25), P̄e = 0.625, κ = (0.7 − 0.625) / 0.375 = 0.2."""
    result = stats.agreement(_ratings())
    assert result["raters"] == 6 and result["tiles_rated_by_all"] == 4
    assert result["fleiss_kappa_artifacts"] == pytest.approx(0.2)


def test_agreement_uses_only_tiles_every_rater_rated() -> None:
    ratings = _ratings()
    partial = ratings[~((ratings["tile_id"] == "b1") & (ratings["rater_id"] == 1))]
    assert stats.agreement(partial)["tiles_rated_by_all"] == 3
