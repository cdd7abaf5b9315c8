"""The lung demo's tiles with the split of their sample, as ``rnagan demo`` would make them, without running it.

The shipped image stage trains on the demo's *training* tiles only, and its benchmark measures it on the
others; both take the splits from here, so no tile the demo evaluates on is ever trained on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from rnagan.config import Config
from rnagan.demo.pipeline import build_cohort
from rnagan.expression.genes import GeneSpace
from rnagan.expression.prepare import prepare_expression
from rnagan.workspace import Workspace


def demo_tile_splits(config: Config, *, workspace: Workspace | None = None) -> pd.DataFrame:
    """The demo cohort's tiles (``cohort.tiles`` columns) with a ``split`` column; the prepared expression goes to
    ``workspace`` (a temporary one by default)."""
    cohort = build_cohort(config.demo, list(GeneSpace.default().ids))
    with tempfile.TemporaryDirectory() as scratch:
        ws = workspace or Workspace(Path(scratch) / "ws").create()
        prepared = prepare_expression(
            cohort.counts,
            metadata=cohort.samples,
            workspace=ws,
            config=config.expression,
            gene_space=GeneSpace.default(),
        )
    return cohort.tiles.assign(split=cohort.tiles["sample_id"].map(prepared.samples["split"]))
