"""Fixtures for the expression tests: a small gene space and a small counts table in every layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnagan.expression.genes import GeneSpace


def _write_gct(frame: pd.DataFrame, path: Path, *, descriptions: list[str] | None = None) -> Path:
    """Write samples × genes ``frame`` as GCT v1.2 (genes as rows), gzipped if the name ends in .gz."""
    genes = frame.T
    body = genes.reset_index().rename(columns={"index": "Name"})
    body.insert(1, "Description", descriptions or ["-"] * len(genes))
    text = f"#1.2\n{len(genes)}\t{genes.shape[1]}\n" + body.to_csv(sep="\t", index=False)
    if path.name.endswith(".gz"):
        import gzip

        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture(scope="session")
def write_gct() -> Callable[..., Path]:
    return _write_gct


@pytest.fixture(scope="session")
def small_space() -> GeneSpace:
    """The first 40 genes of the default space (versioned IDs, all with symbols)."""
    return GeneSpace.from_ids(GeneSpace.default().versioned[:40])


@pytest.fixture
def counts(small_space: GeneSpace) -> pd.DataFrame:
    """Integer-valued counts, 6 GTEx-style samples × the small space's versioned IDs."""
    rng = np.random.default_rng(0)
    samples = [f"GTEX-D{i}-0{i}26-SM-A{i}" for i in range(6)]
    values = rng.poisson(50, size=(6, len(small_space))).astype(np.float32)
    return pd.DataFrame(values, index=pd.Index(samples, name="sample_id"), columns=list(small_space.versioned))
