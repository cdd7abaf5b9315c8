"""``rnagan evaluate``: every measure of generated tiles against real ones → metrics.json + evaluation.html.

Real tiles come from the tile store, joined through the tile index to the samples table
(sample_id → tissue, split): ``real_split`` (test) is the reference set, ``train_split`` the set the
classifier and the probes learn from; memorisation is checked against every tile each run trained on
(its checkpoint's list). Generated tiles come from each run's manifest (``rnagan generate``); perturbed
twins are left out of the metrics and shown as panels. Every set is read at the size the runs were trained
at, from their own checkpoints (:mod:`rnagan.evaluate.sizes`), whatever the caller's config says. At most
``evaluate.fid_max_images`` tiles per set are drawn (seeded) for the Inception measures, because Inception
runs at ~5 images/s on 2 CPU cores; conditioning fidelity scores up to ``evaluate.fidelity_max_tiles``
held-out tiles per set, since the classifier is far cheaper.

No set is ever decoded whole (:mod:`rnagan.evaluate.streamed`): features are cached per chunk under
``reports/cache/`` by content, so a rerun only pays for what changed. The result is an
:class:`~rnagan.evaluate.results.EvaluationResult`; metrics.json is its JSON::

    result = evaluate(Workspace("runs/lung"), preset("small"))
    result.runs["rnagan"].fid.value
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from rnagan.config import Config, EvaluateConfig
from rnagan.errors import InputFileError
from rnagan.evaluate import classify, embed, fid, memorisation, nuclei, realism, report
from rnagan.evaluate.features import InceptionFeatures
from rnagan.evaluate.reference import RealSets, draw, fid_score, real_sets
from rnagan.evaluate.results import (
    Checkerboard,
    Classification,
    ClassifierResult,
    EvaluationResult,
    FidRatio,
    InceptionInfo,
    KidScore,
    Memorisation,
    MissingRun,
    NucleiScore,
    PaperConditioning,
    RunResult,
    Settings,
    TwoSampleTest,
)
from rnagan.evaluate.sizes import evaluation_image_size
from rnagan.evaluate.streamed import FeatureCache, Features, PixelMeasures
from rnagan.fileio import write_text_atomic
from rnagan.runtime import pick_device
from rnagan.samples import has_manifest, manifest_tiles, read_manifest
from rnagan.slides.dataset import read_tile_index
from rnagan.slides.tilesets import StoreTiles, TileSet
from rnagan.workspace import Workspace, read_samples

log = logging.getLogger(__name__)

PAPER_CONDITIONING = PaperConditioning(accuracy=0.805, f1=0.797, auc=0.805, source="Carrillo-Perez et al. 2023, GEO")


def real_tiles(workspace: Workspace) -> pd.DataFrame:
    """Tile index rows joined to the samples table: key, sample_id, tissue, split."""
    index = read_tile_index(workspace.tile_index)
    samples = read_samples(workspace).reset_index()[["sample_id", "tissue", "split"]]
    joined = index[["key", "sample_id"]].astype(str).merge(samples, on="sample_id", how="inner")
    if joined.empty:
        raise InputFileError(f"no tile of {workspace.tile_index} belongs to a sample of {workspace.samples_table}")
    return joined


def evaluate(
    workspace: Workspace,
    config: Config,
    *,
    runs: Sequence[str] = ("rnagan", "reference", "baseline"),
    real_split: str = "test",
    train_split: str = "train",
    weights: str | Path | None = None,
) -> EvaluationResult:
    """Measure each run's tiles at the size it was trained at; write ``workspace.metrics`` (the result's JSON) and
    ``workspace.evaluation_html``; return the result."""
    cfg = config.evaluate
    present = [run for run in runs if has_manifest(workspace.samples_run(run))]
    size = evaluation_image_size(workspace, present, default=config.gan.image_size)
    device = pick_device(cfg.device)
    extractor = InceptionFeatures.load(weights, device=device, batch_size=cfg.fid_batch_size)
    inception = InceptionInfo.model_validate(extractor.describe())
    cache = FeatureCache(workspace.reports / "cache", extractor, cfg.stream_chunk)

    tiles_table = real_tiles(workspace)
    real = real_sets(workspace, tiles_table, cfg, cache, real_split, train_split, size)
    classifier = train_fidelity_classifier(workspace, tiles_table, train_split, config, device, image_size=size)
    scored = (
        None if classifier is None else _classifier_result(workspace, classifier, tiles_table, real_split, cfg, size)
    )
    measuring = _Measuring(workspace, real, classifier, cache, inception, cfg, real_split, size)
    figures: dict[str, Any] = {"real_sheets": real.sheets(cfg.report_tiles), "runs": {}, "pairs": {}, "panels": {}}
    umap_sets = {"real": (real.test_features.rows, real.test_tissues)}
    results: dict[str, RunResult | MissingRun] = {}
    for run in runs:
        if run not in present:
            results[run] = _missing(workspace, run)
            continue
        log.info("measuring run %s", run)
        results[run], umap_sets[run], run_figures = measuring.run(run)
        for key, value in run_figures.items():
            figures[key][run] = value
    figures["umap"] = embed.feature_map_figure(
        umap_sets, method=cfg.embedding, neighbors=cfg.umap_neighbors, seed=cfg.seed, max_per_set=cfg.map_max_tiles
    )
    result = EvaluationResult(
        settings=Settings(
            runs=list(runs),
            real_split=real_split,
            train_split=train_split,
            inception=inception,
            evaluate=cfg.model_dump(mode="json"),
            preset=config.preset,
        ),
        real=real.result(real_split, inception),
        paper_conditioning=PAPER_CONDITIONING,
        runs=results,
        classifier=scored,
    )
    write_text_atomic(workspace.metrics, result.model_dump_json(indent=2) + "\n")
    write_text_atomic(workspace.evaluation_html, report.render_report(result, figures))
    log.info("metrics in %s, report in %s", workspace.metrics, workspace.evaluation_html)
    return result


def _hwc(tiles: TileSet) -> Iterator[np.ndarray]:
    """A tile set as (H, W, 3) uint8 arrays, one at a time."""
    for _, batch in tiles.chunks(64):
        yield from batch.permute(0, 2, 3, 1).numpy()


def _missing(workspace: Workspace, run: str) -> MissingRun:
    folder = workspace.samples_run(run)
    log.warning("run %s has no generated tiles at %s: skipped (run `rnagan generate --run %s`)", run, folder, run)
    return MissingRun(folder=str(folder))


def _training_keys(workspace: Workspace, run: str, real: RealSets) -> list[str]:
    """Every tile the run trained on (its checkpoint's ``training_tiles.csv``), for the memorisation check;
    the drawn real training tiles for a run saved without that list."""
    path = workspace.gan_run(run) / "checkpoint" / "training_tiles.csv"
    if not path.is_file():
        log.warning(
            "run %s has no training tile list at %s: memorisation is checked against %d drawn training tiles",
            run,
            path,
            len(real.train),
        )
        return real.train.keys
    return pd.read_csv(path, usecols=["key"])["key"].astype(str).tolist()


@dataclass
class _Measuring:
    """What every run is measured against, and how; :meth:`run` measures one run."""

    workspace: Workspace
    real: RealSets
    classifier: classify.TissueClassifier | None
    cache: FeatureCache
    inception: InceptionInfo
    cfg: EvaluateConfig
    real_split: str
    size: int  # px: every set is read at the size the runs were trained at
    real_nuclei: pd.DataFrame | None = None  # the reference's nuclei statistics, measured for the first run

    def run(self, run: str) -> tuple[RunResult, tuple[np.ndarray, list[str]], dict[str, Any]]:
        """One run's result, its feature-map set (features, tissues) and its figures (sheet, pairs, panels)."""
        cfg, folder = self.cfg, self.workspace.samples_run(run)
        manifest = read_manifest(folder)
        plain = draw(manifest[manifest["perturbation"] == ""].reset_index(drop=True), cfg.fid_max_images, cfg.seed)
        tiles = self._tiles(run, plain)
        features = Features.of(tiles, self.cache, cfg.feature_max_tiles, cfg.seed)
        kept = plain.iloc[features.kept]
        tissues = kept["tissue"].replace("", "unknown").tolist()
        pixels = PixelMeasures.of(tiles, cfg.checkerboard_periods, cfg.stream_chunk)
        trained_on = StoreTiles(self.workspace.tile_store, _training_keys(self.workspace, run, self.real), self.size)
        memo = memorisation.memorisation_check(
            features.rows,
            self.cache.chunks(trained_on),
            self.real.test_features.rows,
            quantile=cfg.memorisation_quantile,
        )
        probe, colour = self._probes(kept, features, pixels)
        result = RunResult(
            n_tiles=len(tiles),
            n_profiles=int(plain["profile"].nunique()),
            image_size=self.size,
            **self._distances(features, tissues),
            checkerboard=Checkerboard(
                score=pixels.checkerboard / self.real.test_pixels.checkerboard, periods=cfg.checkerboard_periods
            ),
            memorisation=Memorisation(**memo.summary(cfg.memorisation_quantile), n_train=len(trained_on)),
            probe=probe,
            colour_control=colour,
            conditioning=self._conditioning(run, manifest),
            nuclei=self._nuclei(tiles),
        )
        figures = {
            "runs": report.tiles_png(tiles[: cfg.report_tiles]),
            "pairs": [
                (report.png_bytes(tiles[features.kept[g]]), report.png_bytes(trained_on[t]), d)
                for g, t, d in memo.closest(cfg.report_pairs)
            ],
            "panels": {p.stem: p.read_bytes() for p in sorted((folder / "panels").glob("*.png"))},
        }
        return result, (features.rows, tissues), figures

    def _nuclei(self, tiles: TileSet) -> NucleiScore | None:
        """The run's nuclei statistics against the real reference's, at the tiles' µm per pixel."""
        if self.cfg.tile_field_um is None:
            return None
        mpp = self.cfg.tile_field_um / self.size
        if self.real_nuclei is None:
            self.real_nuclei = nuclei.nuclei_features(_hwc(self.real.test), mpp)
        drawn = nuclei.nuclei_features(_hwc(tiles), mpp)
        score = nuclei.nuclei_distance(self.real_nuclei, drawn, seed=self.cfg.seed)
        return NucleiScore(**{k: v for k, v in score.items() if k in NucleiScore.model_fields}, mpp=mpp)

    def _tiles(self, run: str, rows: pd.DataFrame) -> TileSet:
        """The run's drawn tiles; refused when they are not the size it was trained at (left by an older run)."""
        tiles = manifest_tiles(self.workspace.samples_run(run), rows, self.size)
        found = tiles.stored(0).shape[-1]
        if found != self.size:
            raise InputFileError(
                f"run {run}'s generated tiles are {found} px but it was trained at {self.size} px: "
                f"regenerate them (`rnagan generate --run {run}`)"
            )
        return tiles

    def _distances(self, features: Features, tissues: list[str]) -> dict[str, Any]:
        """FID, its ratio to real-vs-real FID at the same n, KID, C2ST and diversity, against the real reference."""
        cfg, real_rows = self.cfg, self.real.test_features.rows
        # Subsets of at most half the smaller set, so they differ from each other and the spread means something.
        kid_size = max(2, min(cfg.kid_subset_size, len(features.rows) // 2, len(real_rows) // 2))
        kid_mean, kid_std = fid.kernel_inception_distance(
            real_rows, features.rows, subsets=cfg.kid_subsets, subset_size=kid_size, seed=cfg.seed
        )
        score = fid_score(self.real.test_features.stats, features.stats, self.real_split, self.inception)
        fid_train, n_train = self.real.fid_train(features.stats.n, cfg.seed)
        return {
            "fid": score,
            "fid_ratio": FidRatio(value=score.value / fid_train, n=features.stats.n, n_train=n_train),
            "kid": KidScore(mean=kid_mean, std=kid_std, subsets=cfg.kid_subsets, subset_size=kid_size),
            "two_sample_test": TwoSampleTest(**realism.two_sample_test(real_rows, features.rows, seed=cfg.seed)),
            "diversity": realism.diversity(features.rows, tissues, real_rows, self.real.test_tissues),
        }

    def _probes(
        self, kept: pd.DataFrame, features: Features, pixels: PixelMeasures
    ) -> tuple[Classification | None, Classification | None]:
        """The frozen-feature and colour-only probes on the drawn tiles of held-out profiles; None without them."""
        held_out = (kept["split"] == self.real_split).to_numpy()
        if not held_out.any() or self.real.probe is None or self.real.colour is None:
            return None, None
        labels = kept.loc[held_out, "tissue"].tolist()
        probe = self.real.probe.score(features.rows[held_out], labels)
        colour = self.real.colour.score(pixels.colour[features.kept][held_out], labels)
        return Classification.model_validate(probe), Classification.model_validate(colour)

    def _conditioning(self, run: str, manifest: pd.DataFrame) -> Classification | None:
        """The tissue classifier on up to ``fidelity_max_tiles`` tiles of held-out profiles; None without it."""
        held_out = manifest[(manifest["perturbation"] == "") & (manifest["split"] == self.real_split)]
        held_out = draw(held_out.reset_index(drop=True), self.cfg.fidelity_max_tiles, self.cfg.seed)
        if self.classifier is None or held_out.empty:
            return None
        proba = self.classifier.predict_proba(manifest_tiles(self.workspace.samples_run(run), held_out, self.size))
        scores = classify.classification_metrics(held_out["tissue"], proba, self.classifier.classes)
        return Classification.model_validate(scores)


def _classifier_result(
    workspace: Workspace,
    classifier: classify.TissueClassifier,
    tiles_table: pd.DataFrame,
    real_split: str,
    cfg: EvaluateConfig,
    size: int,
) -> ClassifierResult:
    """How well the tissue classifier names real held-out tiles: the ceiling for conditioning fidelity."""
    scored = draw(tiles_table[tiles_table["split"] == real_split], cfg.fidelity_max_tiles, cfg.seed)
    proba = classifier.predict_proba(StoreTiles(workspace.tile_store, scored["key"].tolist(), size))
    return ClassifierResult(
        classes=classifier.classes,
        n_train_tiles=classifier.n_train,
        real_test=Classification.model_validate(
            classify.classification_metrics(scored["tissue"], proba, classifier.classes)
        ),
    )


def train_fidelity_classifier(
    workspace: Workspace,
    tiles_table: pd.DataFrame,
    train_split: str,
    config: Config,
    device: torch.device,
    *,
    image_size: int | None = None,
) -> classify.TissueClassifier | None:
    """ResNet-18 on real training tiles read at ``image_size`` (default: the config's GAN size), as generated tiles
    are before it scores them (validation: the ``val`` split); None with fewer than 2 tissues."""
    cfg = config.evaluate
    train = draw(tiles_table[tiles_table["split"] == train_split], cfg.classifier_max_tiles, cfg.seed)
    if train["tissue"].nunique() < 2:
        log.warning("conditioning fidelity skipped: the %s split has fewer than 2 tissues", train_split)
        return None
    val = draw(tiles_table[tiles_table["split"] == "val"], cfg.classifier_max_tiles, cfg.seed)
    if val.empty:
        val = train.sample(frac=0.1, random_state=cfg.seed)
        train = train.drop(val.index)
    log.info("training the tissue classifier on %d real tiles (%d for validation)", len(train), len(val))
    size = config.gan.image_size if image_size is None else image_size
    images = StoreTiles(workspace.tile_store, train["key"].tolist(), size)
    val_images = StoreTiles(workspace.tile_store, val["key"].tolist(), size)
    return classify.train_classifier(
        images,
        train["tissue"].tolist(),
        val_images,
        val["tissue"].tolist(),
        epochs=cfg.classifier_epochs,
        lr=cfg.classifier_lr,
        batch_size=cfg.classifier_batch_size,
        image_size=cfg.classifier_image_size,
        seed=cfg.seed,
        device=device,
    )
