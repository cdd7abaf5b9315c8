"""The real side of an evaluation: reference and training tiles, drawn and measured once, the units of every run.

``real_split`` tiles are the reference every run is measured against; ``train_split`` tiles give the real-vs-real
FID at a run's n, and the probes learn from them. Each split is drawn (seeded) to at most
``evaluate.fid_max_images`` tiles and read at the runs' own tile size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnagan.config import EvaluateConfig
from rnagan.errors import InputFileError
from rnagan.evaluate import fid, probes, report
from rnagan.evaluate.results import Classification, FidScore, InceptionInfo, RealResult
from rnagan.evaluate.streamed import FeatureCache, Features, PixelMeasures
from rnagan.slides.tilesets import StoreTiles
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)


def draw(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """At most ``limit`` rows, drawn without replacement (seeded), in their original order."""
    if limit is None or len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).sort_index()


@dataclass
class RealSets:
    """The real reference (``real_split``) and training tiles drawn for the Inception measures."""

    test: StoreTiles
    train: StoreTiles
    test_features: Features
    train_features: Features
    test_rows: pd.DataFrame  # the tiles of ``test_features.rows``: their tissue
    test_pixels: PixelMeasures  # its checkerboard score is the unit of the runs' scores
    probe: probes.LinearProbe | None  # tissue from frozen Inception features, fitted on the training tiles
    colour: probes.LinearProbe | None  # tissue from colour alone (per-channel mean and sd); None: one tissue

    @property
    def test_tissues(self) -> list[str]:
        return self.test_rows["tissue"].tolist()

    def fid_train(self, n: int, seed: int) -> tuple[float, int]:
        """FID of ``n`` real training tiles (drawn with ``seed``; fewer if fewer were kept) against the reference,
        and that n: the unit of a run's FID at the same n, since FID falls as n grows."""
        train = self.train_features.rows
        rows = np.random.default_rng(seed).choice(len(train), min(n, len(train)), replace=False)
        stats = fid.FeatureStats.from_features(train[rows])
        return fid.frechet_distance(self.test_features.stats, stats), len(rows)

    def result(self, real_split: str, inception: InceptionInfo) -> RealResult:
        """The real block of the metrics: set sizes, tissues, real-vs-real FID, the checkerboard unit, the probes."""
        probe = colour = None
        if self.probe is not None and self.colour is not None:
            probe = Classification.model_validate(self.probe.score(self.test_features.rows, self.test_tissues))
            kept_colour = self.test_pixels.colour[self.test_features.kept]
            colour = Classification.model_validate(self.colour.score(kept_colour, self.test_tissues))
        return RealResult(
            n_test=len(self.test),
            n_train=len(self.train),
            tissues=self.test_rows["tissue"].value_counts().sort_index().to_dict(),
            fid_train_vs_test=fid_score(self.test_features.stats, self.train_features.stats, real_split, inception),
            checkerboard_set_score=self.test_pixels.checkerboard,
            probe=probe,
            colour_control=colour,
        )

    def sheets(self, n: int) -> dict[str, bytes]:
        """A contact sheet (PNG) of the first ``n`` real reference tiles of each tissue."""
        sheets = {}
        for tissue, rows in self.test_rows.groupby("tissue"):
            positions = self.test_features.kept[[self.test_rows.index.get_loc(i) for i in rows.index[:n]]]
            sheets[tissue] = report.tiles_png(self.test[positions])
        return sheets


def fid_score(
    real: fid.FeatureStats, generated: fid.FeatureStats, reference: str, inception: InceptionInfo
) -> FidScore:
    """FID of ``generated`` against ``real`` (the ``reference`` split), with the network that measured it."""
    return FidScore(
        value=fid.frechet_distance(real, generated),
        n_generated=generated.n,
        n_real=real.n,
        reference_split=reference,
        backbone=inception.backbone,
        weights_sha1=inception.weights_sha1,
        resize=inception.resize,
    )


def real_sets(
    workspace: Workspace,
    tiles_table: pd.DataFrame,
    cfg: EvaluateConfig,
    cache: FeatureCache,
    real_split: str,
    train_split: str,
    image_size: int,
) -> RealSets:
    """At most ``fid_max_images`` real tiles of each split (seeded), their features and checkerboard score."""
    test_rows = draw(tiles_table[tiles_table["split"] == real_split], cfg.fid_max_images, cfg.seed)
    train_rows = draw(tiles_table[tiles_table["split"] == train_split], cfg.fid_max_images, cfg.seed)
    if len(test_rows) < 2 or len(train_rows) < 2:
        raise InputFileError(
            f"need at least 2 real tiles in splits {real_split!r} and {train_split!r}; "
            f"found {len(test_rows)} and {len(train_rows)}"
        )
    test = StoreTiles(workspace.tile_store, test_rows["key"].tolist(), image_size)
    train = StoreTiles(workspace.tile_store, train_rows["key"].tolist(), image_size)
    log.info("Inception features of %d %s and %d %s real tiles", len(test), real_split, len(train), train_split)
    test_features = Features.of(test, cache, cfg.feature_max_tiles, cfg.seed)
    train_features = Features.of(train, cache, cfg.feature_max_tiles, cfg.seed)
    train_tissues = train_rows["tissue"].to_numpy()
    several = len(set(train_tissues)) > 1  # a probe needs two tissues to tell apart
    # the colour probe learns from colour alone: no checkerboard spectra of the training tiles
    train_colour = (
        np.concatenate([probes.colour_features(batch) for _, batch in train.chunks(cfg.stream_chunk)])
        if several
        else None
    )
    return RealSets(
        test=test,
        train=train,
        test_features=test_features,
        train_features=train_features,
        test_rows=test_rows.iloc[test_features.kept],
        test_pixels=PixelMeasures.of(test, cfg.checkerboard_periods, cfg.stream_chunk),
        probe=probes.LinearProbe.fit(train_features.rows, train_tissues[train_features.kept]) if several else None,
        colour=probes.LinearProbe.fit(train_colour, train_tissues) if train_colour is not None else None,
    )
