"""Does a generated tile follow the real expression of its spot? The evaluation for paired (spatial) data.

An image → expression **probe** is trained on REAL patches of the training sections (frozen features,
:mod:`rnagan.evaluate.texture` or the FID Inception network; ridge regression to log expression and
marker scores, logistic regression to the authors' annotated cluster class), then applied, spot by spot,
to a held-out section's
- real patches: the **ceiling** (how much of the expression an H&E patch carries for this probe);
- tiles generated from each spot's own profile: **ours** (and the other conditioning runs);
- tiles generated from the profiles shuffled across spots: the **floor** (tiles of the right section and
  realism, wrong spot).

Scores per set: mean Pearson r over test spots between predicted and measured values, averaged over the
top variable genes and over marker scores (:data:`MARKERS`), and the accuracy of the predicted class.
The permutation p-value asks whether ours beats chance pairing: the spot → measured-profile assignment
is shuffled ``permutations`` times (seeded) and the marker r recomputed; p = (1 + #null ≥ observed) /
(1 + B). Shuffling the measured side is equivalent to generating from shuffled profiles, without
generating again. Neighbouring spots are alike, so this null is somewhat lenient; the floor run is the
stricter, measured comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rnagan.datasets.her2st import MARKERS
from rnagan.spatial.genes import variable_genes
from rnagan.spatial.readers import UNLABELLED


@dataclass
class Targets:
    """What was measured at each spot: log expression of the scored genes, marker scores, class."""

    genes: pd.DataFrame  # spots × top variable genes, log1p(counts per 10k)
    markers: pd.DataFrame  # spots × marker scores (mean z of the set's log expression, z on training spots)
    labels: pd.Series  # the annotated cluster class (obs "tissue"; UNLABELLED spots are not scored)
    split: pd.Series


def log_expression(counts: pd.DataFrame) -> pd.DataFrame:
    depth = counts.sum(axis=1).replace(0, 1)
    return np.log1p(counts.div(depth, axis=0) * 1e4)


def measured_targets(counts: pd.DataFrame, obs: pd.DataFrame, *, n_genes: int) -> Targets:
    """Targets from raw counts; genes chosen and scores standardised on the training spots only."""
    train = (obs["split"] == "train").to_numpy()
    logged = log_expression(counts)
    genes = variable_genes(counts.loc[train], obs.loc[train, "section"], n_genes)
    mean, std = logged.loc[train].mean(), logged.loc[train].std().replace(0, 1)
    z = (logged - mean) / std
    markers = {
        name: z[present].mean(axis=1)
        for name, members in MARKERS.items()
        if (present := [g for g in members if g in z])
    }
    return Targets(
        genes=logged[genes], markers=pd.DataFrame(markers), labels=obs["tissue"].astype(str), split=obs["split"]
    )


@dataclass
class Probe:
    """Ridge (genes + markers) and logistic (class) models on standardised frozen image features."""

    regression: object
    classifier: object
    gene_columns: list[str]
    marker_columns: list[str]

    @classmethod
    def fit(
        cls, features: np.ndarray, spots: Sequence[str], targets: Targets, *, alphas: Sequence[float], seed: int
    ) -> Probe:
        """Fit on tiles (``features``, one row per tile) labelled with their spot's measured values."""
        y = pd.concat([targets.genes, targets.markers], axis=1).loc[list(spots)].to_numpy()
        regression = make_pipeline(StandardScaler(), RidgeCV(alphas=list(alphas), alpha_per_target=True))
        regression.fit(features, y)
        classifier = make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000, C=0.1, class_weight="balanced", random_state=seed)
        )
        labels = targets.labels.loc[list(spots)].to_numpy()
        labelled = labels != UNLABELLED
        classifier.fit(features[labelled], labels[labelled])
        return cls(regression, classifier, list(targets.genes.columns), list(targets.markers.columns))

    def predict(self, features: np.ndarray, spots: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per-spot predictions (tile predictions averaged): (genes + markers values, class probabilities)."""
        values = pd.DataFrame(self.regression.predict(features), columns=self.gene_columns + self.marker_columns)
        proba = pd.DataFrame(self.classifier.predict_proba(features), columns=self.classifier.classes_)
        key = pd.Index(list(spots), name="spot")
        return values.set_axis(key).groupby(level=0).mean(), proba.set_axis(key).groupby(level=0).mean()


def column_r(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Pearson r of each column (NaN where either side is constant)."""
    p = predicted - predicted.mean(axis=0)
    m = measured - measured.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (p * m).sum(axis=0) / np.sqrt((p**2).sum(axis=0) * (m**2).sum(axis=0))


def set_scores(probe: Probe, values: pd.DataFrame, proba: pd.DataFrame, targets: Targets) -> dict[str, object]:
    """Mean gene r, r per marker and their mean, class accuracy, for one set of tiles of the test spots."""
    spots = values.index
    gene_r = column_r(values[probe.gene_columns].to_numpy(), targets.genes.loc[spots].to_numpy())
    marker_r = column_r(values[probe.marker_columns].to_numpy(), targets.markers.loc[spots].to_numpy())
    predicted = proba.columns[proba.to_numpy().argmax(axis=1)]
    truth = targets.labels.loc[spots].to_numpy()
    labelled = truth != UNLABELLED
    return {
        "spots": len(spots),
        "gene_r_mean": _mean(gene_r),
        "marker_r": {m: _float(r) for m, r in zip(probe.marker_columns, marker_r, strict=True)},
        "marker_r_mean": _mean(marker_r),
        "accuracy": float(np.mean(predicted[labelled] == truth[labelled])),
        # mean recall over the classes present: a probe naming every spot by the commonest class scores 1 / classes
        "balanced_accuracy": float(np.mean([np.mean(predicted[truth == c] == c) for c in np.unique(truth[labelled])])),
        "cluster_auc": _cluster_auc(proba[labelled], truth[labelled]),
    }


def _cluster_auc(proba: pd.DataFrame, truth: np.ndarray) -> float | None:
    """Mean one-vs-rest ROC AUC over the classes present: do spots of a class get that class's probability
    above other spots'? Ranks only, so unlike accuracy it survives a shift of every tile's features (generated
    tiles the probe calls a class absent from the section lower accuracy, not this)."""
    scored = [c for c in np.unique(truth) if c in proba and 0 < np.sum(truth == c) < len(truth)]
    aucs = [roc_auc_score(truth == c, proba[c]) for c in scored]
    return float(np.mean(aucs)) if aucs else None


def permutation_p(values: pd.DataFrame, measured: pd.DataFrame, *, permutations: int, seed: int) -> dict[str, float]:
    """p of the mean marker r under shuffled spot → measured-profile pairing (see the module docstring)."""
    p_values, m_values = values.to_numpy(), measured.loc[values.index].to_numpy()
    observed = _mean(column_r(p_values, m_values))
    rng = np.random.default_rng(seed)
    null = np.array([_mean(column_r(p_values, m_values[rng.permutation(len(m_values))])) for _ in range(permutations)])
    return {
        "observed": observed,
        "null_mean": float(np.nanmean(null)),
        "null_q99": float(np.nanquantile(null, 0.99)),
        "permutations": permutations,
        "p": float((1 + np.sum(null >= observed)) / (1 + permutations)),
    }


def c2st_accuracy(real: np.ndarray, generated: np.ndarray, *, seed: int, folds: int = 5) -> float:
    """Cross-validated accuracy of a logistic classifier telling real from generated tiles (0.5: indistinguishable).

    The larger set is subsampled (seeded) to the smaller's size, so 0.5 is chance.
    """
    rng = np.random.default_rng(seed)
    n = min(len(real), len(generated))
    x = np.concatenate(
        [real[rng.choice(len(real), n, replace=False)], generated[rng.choice(len(generated), n, replace=False)]]
    )
    y = np.repeat([1, 0], n)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
    splits = StratifiedKFold(n_splits=min(folds, n), shuffle=True, random_state=seed)
    return float(cross_val_score(model, x, y, cv=splits, scoring="accuracy").mean())


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def summarise(sets: Mapping[str, dict[str, object]], *, ours: str, floor: str) -> dict[str, object]:
    """The headline figures from the per-set scores.

    ``accuracy_headroom_points`` is the ceiling minus the floor: the most ours can gain over the floor
    without beating real patches, so a bar above it measures the probe, not the generator.
    """
    ceiling = sets["real"]
    return {
        "ours_over_ceiling_marker_r": ratio(sets[ours]["marker_r_mean"], ceiling["marker_r_mean"]),
        "ours_over_ceiling_gene_r": ratio(sets[ours]["gene_r_mean"], ceiling["gene_r_mean"]),
        "accuracy_points_over_floor": 100 * (sets[ours]["accuracy"] - sets[floor]["accuracy"]),
        "accuracy_over_ceiling": ratio(sets[ours]["accuracy"], ceiling["accuracy"]),
        "accuracy_headroom_points": 100 * (ceiling["accuracy"] - sets[floor]["accuracy"]),
        "balanced_accuracy_points_over_floor": 100
        * (sets[ours]["balanced_accuracy"] - sets[floor]["balanced_accuracy"]),
        "balanced_accuracy_over_ceiling": ratio(sets[ours]["balanced_accuracy"], ceiling["balanced_accuracy"]),
        "cluster_auc": {name: sets[name]["cluster_auc"] for name in ("real", ours, floor)},
    }


def _mean(values: np.ndarray) -> float | None:
    return None if np.all(np.isnan(values)) else float(np.nanmean(values))


def _float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
