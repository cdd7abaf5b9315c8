"""Train/val/test splits stratified by tissue and grouped by donor.

A donor's samples all land in one split (GTEx donors give many tissues; a donor in train and test
would leak their individual expression signature), and each tissue is spread over the splits in
roughly the requested fractions. Donors are assigned whole, in a seeded random order:

1. for each tissue, rarest first, every split with a non-zero fraction gets one of its donors;
2. every other donor goes to the split furthest below its target for that donor's tissues.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rnagan.errors import InputFileError

SPLITS = ("train", "val", "test")


def make_splits(
    metadata: pd.DataFrame,
    *,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> pd.Series:
    """A ``split`` Series (train/val/test) over ``metadata``'s index, which needs ``tissue`` and ``donor_id``."""
    if len(fractions) != len(SPLITS) or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be three numbers >= 0 summing to 1, got {tuple(fractions)}")
    missing = {"tissue", "donor_id"} - set(metadata.columns)
    if missing:
        raise InputFileError(f"sample metadata lacks {', '.join(sorted(missing))}")
    used = [s for s, f in enumerate(fractions) if f > 0]
    counts = pd.crosstab(metadata["donor_id"], metadata["tissue"])  # donors × tissues, sample counts
    donors_per_tissue = (counts > 0).sum(axis=0)
    too_few = donors_per_tissue[donors_per_tissue < len(used)]
    if len(too_few):
        tissue, n = too_few.index[0], int(too_few.iloc[0])
        raise InputFileError(
            f"tissue {tissue!r} has {n} donor(s) but splits grouped by donor need at least {len(used)} "
            f"(one per split with fraction > 0, fractions {tuple(fractions)}); add samples, drop the tissue, "
            "or set expression.split_fractions, e.g. [0.8, 0.2, 0.0]"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(counts))
    donors = counts.index[order]
    matrix = counts.to_numpy(dtype=float)[order]  # donors (shuffled) × tissues
    target = np.outer(fractions, matrix.sum(axis=0))  # splits × tissues
    filled = np.zeros_like(target)
    assigned = np.full(len(donors), -1)

    def place(d: int, s: int) -> None:
        assigned[d] = s
        filled[s] += matrix[d]

    for t in np.argsort(donors_per_tissue.to_numpy(), kind="stable"):
        for s in used:
            if filled[s, t] == 0:
                free = np.flatnonzero((assigned < 0) & (matrix[:, t] > 0))
                if len(free) == 0:
                    raise InputFileError(
                        f"tissue {counts.columns[t]!r}: its donors are taken by other tissues' splits, "
                        f"so split {SPLITS[s]!r} gets none; add donors or change expression.split_fractions"
                    )
                place(int(free[0]), s)
    for d in np.flatnonzero(assigned < 0)[np.argsort(-matrix[assigned < 0].sum(axis=1), kind="stable")]:
        # relative shortfall of each split, over the tissues this donor brings (weighted by samples)
        deficit = ((target - filled) / np.maximum(target, 1e-9) * matrix[d]).sum(axis=1)
        deficit[[s for s in range(len(SPLITS)) if s not in used]] = -np.inf
        place(int(d), int(np.argmax(deficit)))
    by_donor = pd.Series(np.asarray(SPLITS)[assigned], index=donors)
    return pd.Series(by_donor.loc[metadata["donor_id"]].to_numpy(), index=metadata.index, name="split")
