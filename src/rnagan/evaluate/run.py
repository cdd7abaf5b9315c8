"""``rnagan evaluate``: every measure of generated tiles against real ones → metrics.json + evaluation.html.

Real tiles come from the tile store, joined through the tile index to the samples table
(sample_id → tissue, split): ``real_split`` (test) is the reference set, ``train_split`` the set the
classifier and the probes learn from; memorisation is checked against every tile each run trained on
(its checkpoint's list). Generated tiles come from each run's manifest (``rnagan generate``); perturbed
twins are left out of the metrics and shown as panels. At most ``evaluate.fid_max_images`` tiles per set
are drawn (seeded) for the Inception measures, because Inception runs at ~5 images/s on 2 CPU cores;
conditioning fidelity scores up to ``evaluate.fidelity_max_tiles`` held-out tiles per set, since the
classifier is far cheaper.

No set is ever decoded whole: every set is a lazy :class:`TileSet` read ``evaluate.stream_chunk`` tiles at
a time; FID statistics stream over every tile, and the measures that need feature rows use a seeded draw
of at most ``evaluate.feature_max_tiles``, so memory stops growing with the cohort. Inception features are
cached per chunk under ``reports/cache/`` by content, so a rerun only pays for what changed::

    metrics = evaluate(Workspace("runs/lung"), preset("small"))
"""

from __future__ import annotations

import hashlib
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
from rnagan.evaluate import artifacts, classify, embed, fid, memorisation, probes, realism, report
from rnagan.evaluate.features import RESIZE_MODE, InceptionFeatures, read_image
from rnagan.evaluate.tilesets import FileTiles, StoreTiles, TileSet
from rnagan.fileio import write_json_atomic, write_text_atomic
from rnagan.runtime import pick_device
from rnagan.samples import has_manifest, read_manifest
from rnagan.slides.dataset import read_tile_index
from rnagan.workspace import Workspace, read_samples

log = logging.getLogger(__name__)

PAPER_CONDITIONING = {"accuracy": 0.805, "f1": 0.797, "auc": 0.805, "source": "Carrillo-Perez et al. 2023, GEO"}


def real_tiles(workspace: Workspace) -> pd.DataFrame:
    """Tile index rows joined to the samples table: key, sample_id, tissue, split."""
    index = read_tile_index(workspace.tile_index)
    samples = read_samples(workspace).reset_index()[["sample_id", "tissue", "split"]]
    joined = index[["key", "sample_id"]].astype(str).merge(samples, on="sample_id", how="inner")
    if joined.empty:
        raise InputFileError(f"no tile of {workspace.tile_index} belongs to a sample of {workspace.samples_table}")
    return joined


def _draw(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """At most ``limit`` rows, drawn without replacement (seeded), in their original order."""
    if limit is None or len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).sort_index()


class _FeatureCache:
    """Inception features by chunk, keyed by a digest of (weights, resize, tile identities): reruns decode
    and extract nothing they did before, and no set is ever decoded whole."""

    def __init__(self, folder: Path, extractor: InceptionFeatures, chunk: int) -> None:
        self.folder = folder
        self.extractor = extractor
        self.chunk = chunk

    def chunks(self, tiles: TileSet) -> Iterator[np.ndarray]:
        for positions in tiles.spans(self.chunk):
            identity = [self.extractor.weights_sha1, RESIZE_MODE, *tiles.identities(positions)]
            digest = hashlib.sha256("\n".join(identity).encode()).hexdigest()
            path = self.folder / f"{digest[:24]}.npy"
            if path.is_file():
                yield np.load(path)
                continue
            features = self.extractor.extract(tiles[positions])
            self.folder.mkdir(parents=True, exist_ok=True)
            np.save(path, features)
            yield features

    def __call__(self, tiles: TileSet) -> np.ndarray:
        return np.concatenate(list(self.chunks(tiles)))


@dataclass
class _PixelMeasures:
    """What evaluation reads from pixels rather than features, gathered in one streamed pass."""

    colour: np.ndarray  # (N, 6) per-channel mean and sd (:func:`probes.colour_features`)
    checkerboard: float  # the set score of :mod:`artifacts`

    @classmethod
    def of(cls, tiles: TileSet, periods: Sequence[int], chunk: int) -> _PixelMeasures:
        colour, ratios = [], []
        for _, batch in tiles.chunks(chunk):
            colour.append(probes.colour_features(batch))
            ratios.append(artifacts.peak_ratios(batch, periods))
        return cls(np.concatenate(colour), artifacts.geometric_mean(np.concatenate(ratios)))


@dataclass
class _Features:
    """A set's FID statistics over every tile, streamed, and the features of a seeded draw of at most ``cap``
    tiles (positions ``kept``, in order) for the measures that need rows: memory stops growing at ``cap``."""

    stats: fid.FeatureStats
    kept: np.ndarray
    rows: np.ndarray

    @classmethod
    def of(cls, tiles: TileSet, cache: _FeatureCache, cap: int | None, seed: int) -> _Features:
        n = len(tiles)
        drawn = cap is not None and n > cap
        kept = np.sort(np.random.default_rng(seed).choice(n, cap, replace=False)) if drawn else np.arange(n)
        rows: list[np.ndarray] = []

        def keeping(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            start = 0
            for chunk in chunks:
                inside = kept[(kept >= start) & (kept < start + len(chunk))]
                rows.append(chunk[inside - start])
                start += len(chunk)
                yield chunk

        stats = fid.FeatureStats.from_chunks(keeping(cache.chunks(tiles)))
        return cls(stats=stats, kept=kept, rows=np.concatenate(rows))


def _training_keys(workspace: Workspace, run: str, real: _RealSets) -> list[str]:
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


def _fid_entry(
    real: fid.FeatureStats, generated: fid.FeatureStats, reference: str, inception: dict[str, Any]
) -> dict[str, Any]:
    return {
        "value": fid.frechet_distance(real, generated),
        "n_generated": generated.n,
        "n_real": real.n,
        "reference_split": reference,
        **{k: inception[k] for k in ("backbone", "weights_sha1", "resize")},
    }


@dataclass
class _RealSets:
    """The real reference (``real_split``) and training tiles drawn for the Inception measures."""

    test: StoreTiles
    train: StoreTiles
    test_features: _Features
    train_features: _Features
    test_rows: pd.DataFrame  # the tiles of ``test_features.rows``: their tissue
    test_pixels: _PixelMeasures  # its checkerboard score is the unit of the runs' scores
    probe: probes.LinearProbe | None  # tissue from frozen Inception features, fitted on the training tiles
    colour: probes.LinearProbe | None  # tissue from colour alone (per-channel mean and sd); None: one tissue

    def fid_train(self, n: int, seed: int) -> tuple[float, int]:
        """FID of ``n`` real training tiles (drawn with ``seed``; fewer if fewer were kept) against the reference,
        and that n: the unit of a run's FID at the same n, since FID falls as n grows."""
        train = self.train_features.rows
        rows = np.random.default_rng(seed).choice(len(train), min(n, len(train)), replace=False)
        stats = fid.FeatureStats.from_features(train[rows])
        return fid.frechet_distance(self.test_features.stats, stats), len(rows)


def evaluate(
    workspace: Workspace,
    config: Config,
    *,
    runs: Sequence[str] = ("rnagan", "reference", "baseline"),
    real_split: str = "test",
    train_split: str = "train",
    weights: str | Path | None = None,
) -> dict[str, Any]:
    """Measure each run's tiles; write ``workspace.metrics`` and ``workspace.evaluation_html``; return the metrics."""
    cfg = config.evaluate
    device = pick_device(cfg.device)
    extractor = InceptionFeatures.load(weights, device=device, batch_size=cfg.fid_batch_size)
    inception = extractor.describe()
    cache = _FeatureCache(workspace.reports / "cache", extractor, cfg.stream_chunk)

    tiles_table = real_tiles(workspace)
    size = config.gan.image_size
    real = _real_sets(workspace, tiles_table, cfg, cache, real_split, train_split, size)
    classifier = train_fidelity_classifier(workspace, tiles_table, train_split, config, device)
    test_tissues = real.test_rows["tissue"].tolist()
    metrics: dict[str, Any] = {
        "settings": {
            "runs": list(runs),
            "real_split": real_split,
            "train_split": train_split,
            "inception": inception,
            "evaluate": cfg.model_dump(mode="json"),
            "preset": config.preset,
        },
        "real": {
            "n_test": len(real.test),
            "n_train": len(real.train),
            "tissues": real.test_rows["tissue"].value_counts().sort_index().to_dict(),
            "fid_train_vs_test": _fid_entry(real.test_features.stats, real.train_features.stats, real_split, inception),
            "checkerboard_set_score": real.test_pixels.checkerboard,
        },
        "paper_conditioning": PAPER_CONDITIONING,
        "runs": {},
    }
    figures: dict[str, Any] = {
        "real_sheets": _real_sheets(real, cfg.report_tiles),
        "runs": {},
        "pairs": {},
        "panels": {},
    }
    if real.probe is not None and real.colour is not None:
        metrics["real"]["probe"] = real.probe.score(real.test_features.rows, test_tissues)
        kept_colour = real.test_pixels.colour[real.test_features.kept]
        metrics["real"]["colour_control"] = real.colour.score(kept_colour, test_tissues)
    if classifier is not None:
        metrics["classifier"] = _classifier_metrics(workspace, classifier, tiles_table, real_split, cfg, size)
    umap_sets = {"real": (real.test_features.rows, test_tissues)}

    for run in runs:
        folder = workspace.samples_run(run)
        if not has_manifest(folder):
            log.warning(
                "run %s has no generated tiles at %s: skipped (run `rnagan generate --run %s`)", run, folder, run
            )
            metrics["runs"][run] = {"status": "missing", "folder": str(folder)}
            continue
        trained_on = StoreTiles(workspace.tile_store, _training_keys(workspace, run, real), size)
        metrics["runs"][run], umap_sets[run], run_figures = _evaluate_run(
            folder, real, trained_on, classifier, cache, inception, cfg, real_split
        )
        for key, value in run_figures.items():
            figures[key][run] = value

    figures["umap"] = embed.feature_map_figure(
        umap_sets, method=cfg.embedding, neighbors=cfg.umap_neighbors, seed=cfg.seed
    )
    write_json_atomic(workspace.metrics, metrics)
    write_text_atomic(workspace.evaluation_html, report.render_report(metrics, figures))
    log.info("metrics in %s, report in %s", workspace.metrics, workspace.evaluation_html)
    return metrics


def _real_sets(
    workspace: Workspace,
    tiles_table: pd.DataFrame,
    cfg: EvaluateConfig,
    cache: _FeatureCache,
    real_split: str,
    train_split: str,
    image_size: int,
) -> _RealSets:
    """At most ``fid_max_images`` real tiles of each split (seeded), their features and checkerboard score."""
    test_rows = _draw(tiles_table[tiles_table["split"] == real_split], cfg.fid_max_images, cfg.seed)
    train_rows = _draw(tiles_table[tiles_table["split"] == train_split], cfg.fid_max_images, cfg.seed)
    if len(test_rows) < 2 or len(train_rows) < 2:
        raise InputFileError(
            f"need at least 2 real tiles in splits {real_split!r} and {train_split!r}; "
            f"found {len(test_rows)} and {len(train_rows)}"
        )
    test = StoreTiles(workspace.tile_store, test_rows["key"].tolist(), image_size)
    train = StoreTiles(workspace.tile_store, train_rows["key"].tolist(), image_size)
    log.info("Inception features of %d %s and %d %s real tiles", len(test), real_split, len(train), train_split)
    test_features = _Features.of(test, cache, cfg.feature_max_tiles, cfg.seed)
    train_features = _Features.of(train, cache, cfg.feature_max_tiles, cfg.seed)
    train_tissues = train_rows["tissue"].to_numpy()
    several = len(set(train_tissues)) > 1  # a probe needs two tissues to tell apart
    # the colour probe learns from colour alone: no checkerboard spectra of the training tiles
    train_colour = (
        np.concatenate([probes.colour_features(batch) for _, batch in train.chunks(cfg.stream_chunk)])
        if several
        else None
    )
    return _RealSets(
        test=test,
        train=train,
        test_features=test_features,
        train_features=train_features,
        test_rows=test_rows.iloc[test_features.kept],
        test_pixels=_PixelMeasures.of(test, cfg.checkerboard_periods, cfg.stream_chunk),
        probe=probes.LinearProbe.fit(train_features.rows, train_tissues[train_features.kept]) if several else None,
        colour=probes.LinearProbe.fit(train_colour, train_tissues) if train_colour is not None else None,
    )


def _real_sheets(real: _RealSets, n: int) -> dict[str, bytes]:
    """A contact sheet (PNG) of the first ``n`` real reference tiles of each tissue."""
    sheets = {}
    for tissue, rows in real.test_rows.groupby("tissue"):
        positions = real.test_features.kept[[real.test_rows.index.get_loc(i) for i in rows.index[:n]]]
        sheets[tissue] = report.tiles_png(real.test[positions])
    return sheets


def _classifier_metrics(
    workspace: Workspace,
    classifier: classify.TissueClassifier,
    tiles_table: pd.DataFrame,
    real_split: str,
    cfg: EvaluateConfig,
    size: int,
) -> dict[str, Any]:
    """How well the tissue classifier names real held-out tiles: the ceiling for conditioning fidelity."""
    scored = _draw(tiles_table[tiles_table["split"] == real_split], cfg.fidelity_max_tiles, cfg.seed)
    proba = classifier.predict_proba(StoreTiles(workspace.tile_store, scored["key"].tolist(), size))
    return {
        "classes": classifier.classes,
        "n_train_tiles": classifier.n_train,
        "real_test": classify.classification_metrics(scored["tissue"], proba, classifier.classes),
    }


def _evaluate_run(
    folder: Path,
    real: _RealSets,
    trained_on: StoreTiles,
    classifier: classify.TissueClassifier | None,
    cache: _FeatureCache,
    inception: dict[str, Any],
    cfg: EvaluateConfig,
    real_split: str,
) -> tuple[dict[str, Any], tuple[np.ndarray, list[str]], dict[str, Any]]:
    """One run's metrics entry, its UMAP set (features, tissues) and its figures (sheet, pairs, panels)."""
    manifest = read_manifest(folder)
    plain = _draw(manifest[manifest["perturbation"] == ""].reset_index(drop=True), cfg.fid_max_images, cfg.seed)
    paths = plain["path"].tolist()
    tiles = FileTiles(paths, read_image(paths[0]).shape[-1])
    features = _Features.of(tiles, cache, cfg.feature_max_tiles, cfg.seed)
    feats, kept = features.rows, plain.iloc[features.kept]
    real_feats = real.test_features.rows
    pixels = _PixelMeasures.of(tiles, cfg.checkerboard_periods, cfg.stream_chunk)
    # Subsets of at most half the smaller set, so they differ from each other and the spread means something.
    kid_size = max(2, min(cfg.kid_subset_size, len(feats) // 2, len(real_feats) // 2))
    kid_mean, kid_std = fid.kernel_inception_distance(
        real_feats, feats, subsets=cfg.kid_subsets, subset_size=kid_size, seed=cfg.seed
    )
    tissues = kept["tissue"].replace("", "unknown").tolist()
    fid_entry = _fid_entry(real.test_features.stats, features.stats, real_split, inception)
    fid_train, n_train = real.fid_train(features.stats.n, cfg.seed)
    memo = memorisation.memorisation_check(
        feats, cache.chunks(trained_on), real_feats, quantile=cfg.memorisation_quantile
    )
    entry: dict[str, Any] = {
        "status": "ok",
        "n_tiles": len(tiles),
        "n_profiles": int(plain["profile"].nunique()),
        "fid": fid_entry,
        "fid_ratio": {"value": fid_entry["value"] / fid_train, "n": features.stats.n, "n_train": n_train},
        "kid": {"mean": kid_mean, "std": kid_std, "subsets": cfg.kid_subsets, "subset_size": kid_size},
        "two_sample_test": realism.two_sample_test(real_feats, feats, seed=cfg.seed),
        "diversity": realism.diversity(feats, tissues, real_feats, real.test_rows["tissue"].tolist()),
        "checkerboard": {
            "score": pixels.checkerboard / real.test_pixels.checkerboard,
            "periods": cfg.checkerboard_periods,
        },
        "memorisation": {**memo.summary(cfg.memorisation_quantile), "n_train": len(trained_on)},
    }
    held_out_drawn = (kept["split"] == real_split).to_numpy()
    if held_out_drawn.any() and real.probe is not None and real.colour is not None:  # drawn held-out tiles
        labels = kept.loc[held_out_drawn, "tissue"].tolist()
        entry["probe"] = real.probe.score(feats[held_out_drawn], labels)
        entry["colour_control"] = real.colour.score(pixels.colour[features.kept][held_out_drawn], labels)
    held_out = manifest[(manifest["perturbation"] == "") & (manifest["split"] == real_split)]
    held_out = _draw(held_out.reset_index(drop=True), cfg.fidelity_max_tiles, cfg.seed)
    if classifier is not None and not held_out.empty:
        proba = classifier.predict_proba(FileTiles(held_out["path"].tolist(), tiles.size))
        entry["conditioning"] = classify.classification_metrics(held_out["tissue"], proba, classifier.classes)
    figures = {
        "runs": report.tiles_png(tiles[: cfg.report_tiles]),
        "pairs": [
            (report.png_bytes(tiles[features.kept[g]]), report.png_bytes(trained_on[t]), d)
            for g, t, d in memo.closest(cfg.report_pairs)
        ],
        "panels": {p.stem: p.read_bytes() for p in sorted((folder / "panels").glob("*.png"))},
    }
    return entry, (feats, tissues), figures


def train_fidelity_classifier(
    workspace: Workspace, tiles_table: pd.DataFrame, train_split: str, config: Config, device: torch.device
) -> classify.TissueClassifier | None:
    """ResNet-18 on real training tiles (validation: the ``val`` split); None with fewer than 2 tissues."""
    cfg = config.evaluate
    train = _draw(tiles_table[tiles_table["split"] == train_split], cfg.classifier_max_tiles, cfg.seed)
    if train["tissue"].nunique() < 2:
        log.warning("conditioning fidelity skipped: the %s split has fewer than 2 tissues", train_split)
        return None
    val = _draw(tiles_table[tiles_table["split"] == "val"], cfg.classifier_max_tiles, cfg.seed)
    if val.empty:
        val = train.sample(frac=0.1, random_state=cfg.seed)
        train = train.drop(val.index)
    log.info("training the tissue classifier on %d real tiles (%d for validation)", len(train), len(val))
    size = config.gan.image_size
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
