"""The reader study's statistics, each a small function tested against hand-computed values.

Quiz: exact (Clopper–Pearson) intervals and an exact binomial test against 50 %, per player and pooled;
sensitivity (synthetic called synthetic) and specificity (real called real) apart, since a reader can be
right on one class only; a Wilcoxon signed-rank test of per-player accuracies against 50 %, which treats
the player — not the answer — as the unit, as answers of one player are not independent.

Ratings: mean ± sd of quality; source comparisons by a Wilcoxon signed-rank test on each rater's mean
quality per source (paired by rater: every rater rates every source, raters differ in leniency, and the
ratings of one rater are not independent observations; quality is ordinal, so no normality is assumed);
tissue identification and artifact rates with exact intervals; Fleiss' κ for agreement between raters.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

CHANCE = 0.5


@dataclass(frozen=True)
class Proportion:
    """k of n, with an exact 95 % interval and the exact two-sided binomial p-value against ``p0``."""

    k: int
    n: int
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def proportion(k: int, n: int, p0: float = CHANCE, level: float = 0.95) -> Proportion:
    if n == 0:
        return Proportion(0, 0, float("nan"), float("nan"), float("nan"), float("nan"))
    test = stats.binomtest(int(k), int(n), p0)
    ci = test.proportion_ci(confidence_level=level, method="exact")
    return Proportion(int(k), int(n), k / n, float(ci.low), float(ci.high), float(test.pvalue))


# Quiz ------------------------------------------------------------------------------------------
# answers: one row per accepted answer with columns player_id, tile_id, source, generator, tissue, answer, correct


def _rows(groups: pd.core.groupby.DataFrameGroupBy, names: list[str]) -> pd.DataFrame:
    rows = []
    for key, part in groups:
        values = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(names, values, strict=True)), **proportion(part["correct"].sum(), len(part)).as_dict()})
    return pd.DataFrame(rows)


def per_player(answers: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of each player with its exact interval and binomial p against chance."""
    return _rows(answers.groupby("player_id"), ["player_id"])


def pooled(answers: pd.DataFrame) -> dict[str, object]:
    """All answers together, sensitivity and specificity apart, and the player-level test against chance."""
    synthetic = answers[answers["source"] == "synthetic"]
    real = answers[answers["source"] == "real"]
    players = answers.groupby("player_id")["correct"].mean()
    return {
        "accuracy": proportion(answers["correct"].sum(), len(answers)).as_dict(),
        "sensitivity": proportion(synthetic["correct"].sum(), len(synthetic)).as_dict(),
        "specificity": proportion(real["correct"].sum(), len(real)).as_dict(),
        "players": len(players),
        "player_accuracy_mean": float(players.mean()) if len(players) else float("nan"),
        "player_wilcoxon_p": signed_rank_p(players.to_numpy() - CHANCE),
    }


def by_group(answers: pd.DataFrame, column: str) -> pd.DataFrame:
    """Accuracy per tissue or per generator (real tiles form their own 'real' group under generator)."""
    return _rows(answers.groupby(column), [column])


def fooled_per_tile(answers: pd.DataFrame) -> pd.DataFrame:
    """Per tile: how many players saw it and the fraction who got it wrong."""
    grouped = answers.groupby(["tile_id", "source", "generator", "tissue"])["correct"]
    table = grouped.agg(players="size", correct="sum").reset_index()
    table["fooled"] = 1 - table["correct"] / table["players"]
    return table.sort_values(["fooled", "players"], ascending=False, ignore_index=True)


def signed_rank_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p (exact for small n); NaN when every difference is zero or none exist."""
    nonzero = differences[differences != 0]
    if len(nonzero) == 0:
        return float("nan")
    return float(stats.wilcoxon(nonzero).pvalue)


# Ratings ---------------------------------------------------------------------------------------
# ratings: one row per rating with rater_id, tile_id, generator (the source: real, rnagan, baseline...),
# tissue (true), rated_tissue, quality (1-5), artifacts (bool)


def quality_summary(ratings: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd of quality per source and tissue, and per source over all tissues (tissue 'all')."""
    overall = ratings.assign(tissue="all")
    both = pd.concat([ratings, overall])
    table = both.groupby(["generator", "tissue"])["quality"].agg(n="size", mean="mean", sd="std").reset_index()
    return table


def compare_sources(ratings: pd.DataFrame) -> pd.DataFrame:
    """Every pair of sources: mean quality per rater and source, then a Wilcoxon signed-rank test across raters."""
    per_rater = ratings.pivot_table(index="rater_id", columns="generator", values="quality", aggfunc="mean")
    rows = []
    for a, b in itertools.combinations(sorted(per_rater.columns), 2):
        pair = per_rater[[a, b]].dropna()
        diff = (pair[a] - pair[b]).to_numpy()
        rows.append(
            {
                "source_a": a,
                "source_b": b,
                "raters": len(pair),
                "mean_a": pair[a].mean(),
                "mean_b": pair[b].mean(),
                "mean_difference": diff.mean() if len(diff) else float("nan"),
                "raters_a_higher": int((diff > 0).sum()),
                "test": "Wilcoxon signed-rank, paired by rater",
                "p_value": signed_rank_p(diff),
            }
        )
    return pd.DataFrame(rows)


def rates_per_source(ratings: pd.DataFrame) -> pd.DataFrame:
    """Tissue identified correctly and artifacts reported, per source, each with an exact interval."""
    rows = []
    for source, part in ratings.groupby("generator"):
        tissue = proportion((part["rated_tissue"] == part["tissue"]).sum(), len(part))
        artifacts = proportion(part["artifacts"].sum(), len(part))
        rows.append(
            {
                "generator": source,
                "n": len(part),
                "tissue_accuracy": tissue.estimate,
                "tissue_ci_low": tissue.ci_low,
                "tissue_ci_high": tissue.ci_high,
                "artifact_rate": artifacts.estimate,
                "artifact_ci_low": artifacts.ci_low,
                "artifact_ci_high": artifacts.ci_high,
            }
        )
    return pd.DataFrame(rows)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' κ of a subjects × categories table of counts; every subject rated by the same number of raters."""
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    if len(counts) == 0 or m[0] < 2 or not np.all(m == m[0]):
        return float("nan")
    m = m[0]
    p_i = ((counts**2).sum(axis=1) - m) / (m * (m - 1))
    p_j = counts.sum(axis=0) / counts.sum()
    p_e = (p_j**2).sum()
    return float((p_i.mean() - p_e) / (1 - p_e)) if p_e < 1 else float("nan")


def agreement(ratings: pd.DataFrame) -> dict[str, object]:
    """Fleiss' κ for quality (5 categories), artifacts (yes/no) and tissue, on the tiles every rater rated."""
    raters = ratings["rater_id"].nunique()
    complete = ratings.groupby("tile_id").filter(lambda part: len(part) == raters)
    result: dict[str, object] = {"raters": raters, "tiles_rated_by_all": complete["tile_id"].nunique()}
    for question in ("quality", "artifacts", "rated_tissue"):
        counts = pd.crosstab(complete["tile_id"], complete[question]).to_numpy()
        result[f"fleiss_kappa_{question}"] = fleiss_kappa(counts) if len(complete) else float("nan")
    return result
