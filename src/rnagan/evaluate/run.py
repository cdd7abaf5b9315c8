"""``rnagan evaluate``: every measure of generated tiles against real ones → metrics.json + report.html.

Real tiles come from the tile store, joined through the tile index to the samples table
(sample_id → tissue, split): ``real_split`` (test) is the reference set, ``train_split`` the set the
classifier and the probes learn from; memorisation is checked against every tile each run trained on
(its checkpoint's list), streamed ``evaluate.stream_chunk`` tiles at a time. Generated tiles come from each
run's manifest (``rnagan generate``); perturbed twins are left out of the metrics and shown as
panels. At most ``evaluate.fid_max_images`` tiles per set are drawn (seeded) for the Inception
measures, because Inception runs at ~5 images/s on 2 CPU cores; conditioning fidelity scores up to
``evaluate.fidelity_max_tiles`` held-out tiles per set, since the classifier is far cheaper.
Inception features are cached under ``reports/cache/`` by content, so a rerun only pays for what
changed::

    metrics = evaluate(Workspace("runs/lung"), preset("small"))
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from rnagan.config import Config, EvaluateConfig
from rnagan.errors import InputFileError
from rnagan.evaluate import artifacts, classify, embed, fid, memorisation, probes, realism, report
from rnagan.evaluate.features import RESIZE_MODE, InceptionFeatures, read_image
from rnagan.fileio import write_json_atomic, write_text_atomic
from rnagan.runtime import pick_device
from rnagan.samples import has_manifest, read_manifest
from rnagan.slides.augment import resize_tiles
from rnagan.slides.dataset import read_tile_index
from rnagan.slides.store import TileStore
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


def _load_store_tiles(store_path: Path, keys: Sequence[str], size: int) -> list[torch.Tensor]:
    """Real tiles, resized to the generator's ``size`` exactly as its training resized them."""
    with TileStore(store_path) as store:
        return [resize_tiles(torch.from_numpy(np.array(store.get(k))).permute(2, 0, 1), size) for k in keys]


def _stack(tiles: Sequence[torch.Tensor]) -> torch.Tensor:
    """uint8 tiles → one (N, 3, S, S) batch; tiles of another size are resized to the most common one."""
    sizes = pd.Series([tuple(t.shape[-2:]) for t in tiles]).mode()[0]
    same = [
        t
        if tuple(t.shape[-2:]) == sizes
        else F.interpolate(t[None].float(), size=sizes, mode="bilinear", antialias=True)[0].round().to(torch.uint8)
        for t in tiles
    ]
    return torch.stack(same)


class _FeatureCache:
    """Inception features keyed by a digest of (weights, resize, tile identities): reruns are free."""

    def __init__(self, folder: Path, extractor: InceptionFeatures) -> None:
        self.folder = folder
        self.extractor = extractor

    def __call__(self, identity: Sequence[str], tiles: Sequence[torch.Tensor]) -> np.ndarray:
        digest = hashlib.sha256("\n".join([self.extractor.weights_sha1, RESIZE_MODE, *identity]).encode())
        path = self.folder / f"{digest.hexdigest()[:24]}.npy"
        if path.is_file():
            return np.load(path)
        features = self.extractor.extract(tiles)
        self.folder.mkdir(parents=True, exist_ok=True)
        np.save(path, features)
        return features


def _store_identity(workspace: Workspace, keys: Sequence[str], size: int) -> list[str]:
    stat = (workspace.tile_store / "data.mdb").stat()
    return [f"store:{stat.st_size}:{stat.st_mtime_ns}:{size}px", *keys]


def _file_identity(paths: Sequence[str]) -> list[str]:
    return [f"{p}:{Path(p).stat().st_mtime_ns}" for p in paths]


@dataclass
class _StoreTiles:
    """Tiles of the store by key, resized to ``size``: their features streamed ``chunk`` tiles at a time
    (cached per chunk), so a training set of any size is never decoded whole."""

    workspace: Workspace
    keys: list[str]
    size: int
    cache: _FeatureCache
    chunk: int

    def _chunks(self) -> Iterator[tuple[list[str], list[torch.Tensor]]]:
        for start in range(0, len(self.keys), self.chunk):
            keys = self.keys[start : start + self.chunk]
            yield keys, _load_store_tiles(self.workspace.tile_store, keys, self.size)

    def features(self) -> Iterator[np.ndarray]:
        for keys, tiles in self._chunks():
            yield self.cache(_store_identity(self.workspace, keys, self.size), tiles)

    def colour_features(self) -> np.ndarray:
        """(N, 6) per-channel mean and sd of every tile (:func:`probes.colour_features`), chunk by chunk."""
        return np.concatenate([probes.colour_features(_stack(tiles)) for _, tiles in self._chunks()])

    def tile(self, index: int) -> torch.Tensor:
        return _load_store_tiles(self.workspace.tile_store, [self.keys[index]], self.size)[0]


def _training_keys(workspace: Workspace, run: str, real: _RealSets) -> list[str]:
    """Every tile the run trained on (its checkpoint's ``training_tiles.csv``), for the memorisation check;
    the drawn real training tiles for a run saved without that list."""
    path = workspace.gan_run(run) / "checkpoint" / "training_tiles.csv"
    if not path.is_file():
        log.warning("run %s has no training tile list at %s: memorisation is checked against %d drawn training "
                    "tiles", run, path, len(real.train_rows))
        return real.train_rows["key"].tolist()
    return pd.read_csv(path, usecols=["key"])["key"].astype(str).tolist()


def _fid_entry(
    real: fid.FeatureStats, generated: np.ndarray, reference: str, inception: dict[str, Any]
) -> dict[str, Any]:
    value = fid.frechet_distance(real, fid.FeatureStats.from_features(generated))
    return {
        "value": value,
        "n_generated": len(generated),
        "n_real": real.n,
        "reference_split": reference,
        **{k: inception[k] for k in ("backbone", "weights_sha1", "resize")},
    }


@dataclass
class _RealSets:
    """The real reference (``real_split``) and training tiles drawn for the Inception measures."""

    test_rows: pd.DataFrame
    train_rows: pd.DataFrame
    test_tiles: list[torch.Tensor]
    test_feats: np.ndarray
    train_feats: np.ndarray
    test_stats: fid.FeatureStats
    test_batch: torch.Tensor  # (N, 3, S, S) uint8
    checkerboard: float  # the real tiles' set score, the unit of the runs' scores
    probe: probes.LinearProbe | None  # tissue from frozen Inception features, fitted on the training tiles
    colour: probes.LinearProbe | None  # tissue from colour alone (per-channel mean and sd); None: one tissue

    def fid_train(self, n: int, seed: int) -> float:
        """FID of ``n`` real training tiles (drawn with ``seed``) against the reference: the unit of a run's
        FID at the same n, since FID falls as n grows."""
        rows = np.random.default_rng(seed).choice(len(self.train_feats), min(n, len(self.train_feats)), replace=False)
        return fid.frechet_distance(self.test_stats, fid.FeatureStats.from_features(self.train_feats[rows]))


def evaluate(
    workspace: Workspace,
    config: Config,
    *,
    runs: Sequence[str] = ("rnagan", "reference", "baseline"),
    real_split: str = "test",
    train_split: str = "train",
    weights: str | Path | None = None,
) -> dict[str, Any]:
    """Measure each run's tiles; write ``workspace.metrics`` and ``workspace.report_html``; return the metrics."""
    cfg = config.evaluate
    device = pick_device(cfg.device)
    extractor = InceptionFeatures.load(weights, device=device, batch_size=cfg.fid_batch_size)
    inception = extractor.describe()
    cache = _FeatureCache(workspace.reports / "cache", extractor)

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
            "n_test": len(real.test_tiles),
            "n_train": len(real.train_rows),
            "tissues": real.test_rows["tissue"].value_counts().sort_index().to_dict(),
            "fid_train_vs_test": _fid_entry(real.test_stats, real.train_feats, real_split, inception),
            "checkerboard_set_score": real.checkerboard,
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
        metrics["real"]["probe"] = real.probe.score(real.test_feats, test_tissues)
        metrics["real"]["colour_control"] = real.colour.score(probes.colour_features(real.test_batch), test_tissues)
    if classifier is not None:
        metrics["classifier"] = _classifier_metrics(workspace, classifier, tiles_table, real_split, cfg, size)
    umap_sets = {"real": (real.test_feats, real.test_rows["tissue"].tolist())}

    for run in runs:
        folder = workspace.samples_run(run)
        if not has_manifest(folder):
            log.warning(
                "run %s has no generated tiles at %s: skipped (run `rnagan generate --run %s`)", run, folder, run
            )
            metrics["runs"][run] = {"status": "missing", "folder": str(folder)}
            continue
        trained_on = _StoreTiles(workspace, _training_keys(workspace, run, real), size, cache, cfg.stream_chunk)
        metrics["runs"][run], umap_sets[run], run_figures = _evaluate_run(
            folder, real, trained_on, classifier, cache, inception, cfg, real_split
        )
        for key, value in run_figures.items():
            figures[key][run] = value

    figures["umap"] = embed.feature_map_figure(
        umap_sets, method=cfg.embedding, neighbors=cfg.umap_neighbors, seed=cfg.seed
    )
    write_json_atomic(workspace.metrics, metrics)
    write_text_atomic(workspace.report_html, report.render_report(metrics, figures))
    log.info("metrics in %s, report in %s", workspace.metrics, workspace.report_html)
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
    size = image_size
    test_tiles = _load_store_tiles(workspace.tile_store, test_rows["key"].tolist(), size)
    train = _StoreTiles(workspace, train_rows["key"].tolist(), size, cache, cfg.stream_chunk)  # never held whole
    log.info(
        "Inception features of %d %s and %d %s real tiles", len(test_tiles), real_split, len(train.keys), train_split
    )
    test_feats = cache(_store_identity(workspace, test_rows["key"].tolist(), size), test_tiles)
    train_feats = np.concatenate(list(train.features()))
    test_batch = _stack(test_tiles)
    train_tissues = train_rows["tissue"].tolist()
    several = len(set(train_tissues)) > 1  # a probe needs two tissues to tell apart
    return _RealSets(
        test_rows=test_rows,
        train_rows=train_rows,
        test_tiles=test_tiles,
        test_feats=test_feats,
        train_feats=train_feats,
        test_stats=fid.FeatureStats.from_features(test_feats),
        test_batch=test_batch,
        checkerboard=artifacts.set_score(test_batch, cfg.checkerboard_periods),
        probe=probes.LinearProbe.fit(train_feats, train_tissues) if several else None,
        colour=probes.LinearProbe.fit(train.colour_features(), train_tissues) if several else None,
    )


def _real_sheets(real: _RealSets, n: int) -> dict[str, bytes]:
    """A contact sheet (PNG) of the first ``n`` real reference tiles of each tissue."""
    sheets = {}
    for tissue, rows in real.test_rows.groupby("tissue"):
        positions = [real.test_rows.index.get_loc(i) for i in rows.index[:n]]
        sheets[tissue] = report.tiles_png(real.test_batch[positions])
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
    proba = _predict_in_chunks(
        classifier, scored["key"].tolist(), lambda keys: _load_store_tiles(workspace.tile_store, keys, size)
    )
    return {
        "classes": classifier.classes,
        "n_train_tiles": classifier.n_train,
        "real_test": classify.classification_metrics(scored["tissue"], proba, classifier.classes),
    }


def _evaluate_run(
    folder: Path,
    real: _RealSets,
    trained_on: _StoreTiles,
    classifier: classify.TissueClassifier | None,
    cache: _FeatureCache,
    inception: dict[str, Any],
    cfg: EvaluateConfig,
    real_split: str,
) -> tuple[dict[str, Any], tuple[np.ndarray, list[str]], dict[str, Any]]:
    """One run's metrics entry, its UMAP set (features, tissues) and its figures (sheet, pairs, panels)."""
    manifest = read_manifest(folder)
    plain = _draw(manifest[manifest["perturbation"] == ""].reset_index(drop=True), cfg.fid_max_images, cfg.seed)
    tiles = [read_image(p) for p in plain["path"]]
    feats = cache(_file_identity(plain["path"].tolist()), tiles)
    batch = _stack(tiles)
    # Subsets of at most half the smaller set, so they differ from each other and the spread means something.
    kid_size = max(2, min(cfg.kid_subset_size, len(feats) // 2, len(real.test_feats) // 2))
    kid_mean, kid_std = fid.kernel_inception_distance(
        real.test_feats, feats, subsets=cfg.kid_subsets, subset_size=kid_size, seed=cfg.seed
    )
    tissues = plain["tissue"].replace("", "unknown").tolist()
    fid_entry = _fid_entry(real.test_stats, feats, real_split, inception)
    memo = memorisation.memorisation_check(
        feats, trained_on.features(), real.test_feats, quantile=cfg.memorisation_quantile
    )
    entry: dict[str, Any] = {
        "status": "ok",
        "n_tiles": len(tiles),
        "n_profiles": int(plain["profile"].nunique()),
        "fid": fid_entry,
        "fid_ratio": {"value": fid_entry["value"] / real.fid_train(len(feats), cfg.seed), "n": len(feats)},
        "kid": {"mean": kid_mean, "std": kid_std, "subsets": cfg.kid_subsets, "subset_size": kid_size},
        "two_sample_test": realism.two_sample_test(real.test_feats, feats, seed=cfg.seed),
        "diversity": realism.diversity(feats, tissues, real.test_feats, real.test_rows["tissue"].tolist()),
        "checkerboard": {
            "score": artifacts.set_score(batch, cfg.checkerboard_periods) / real.checkerboard,
            "periods": cfg.checkerboard_periods,
        },
        "memorisation": {**memo.summary(cfg.memorisation_quantile), "n_train": len(trained_on.keys)},
    }
    held_out_drawn = (plain["split"] == real_split).to_numpy()
    if held_out_drawn.any() and real.probe is not None and real.colour is not None:  # drawn held-out tiles
        labels = plain.loc[held_out_drawn, "tissue"].tolist()
        entry["probe"] = real.probe.score(feats[held_out_drawn], labels)
        entry["colour_control"] = real.colour.score(probes.colour_features(batch[held_out_drawn]), labels)
    held_out = manifest[(manifest["perturbation"] == "") & (manifest["split"] == real_split)]
    held_out = _draw(held_out.reset_index(drop=True), cfg.fidelity_max_tiles, cfg.seed)
    if classifier is not None and not held_out.empty:
        proba = _predict_in_chunks(classifier, held_out["path"].tolist(), lambda paths: [read_image(p) for p in paths])
        entry["conditioning"] = classify.classification_metrics(held_out["tissue"], proba, classifier.classes)
    figures = {
        "runs": report.tiles_png(batch[: cfg.report_tiles]),
        "pairs": [
            (report.png_bytes(tiles[g]), report.png_bytes(trained_on.tile(t)), d)
            for g, t, d in memo.closest(cfg.report_pairs)
        ],
        "panels": {p.stem: p.read_bytes() for p in sorted((folder / "panels").glob("*.png"))},
    }
    return entry, (feats, tissues), figures


def _predict_in_chunks(
    classifier: classify.TissueClassifier,
    items: Sequence[str],
    load: Callable[[Sequence[str]], list[torch.Tensor]],
    chunk: int = 512,
) -> np.ndarray:
    """Class probabilities of many tiles, loaded ``chunk`` at a time so memory stays flat."""
    parts = [classifier.predict_proba(_stack(load(items[i : i + chunk]))) for i in range(0, len(items), chunk)]
    return np.concatenate(parts) if parts else np.empty((0, len(classifier.classes)))


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
    images = _stack(_load_store_tiles(workspace.tile_store, train["key"].tolist(), size))
    val_images = _stack(_load_store_tiles(workspace.tile_store, val["key"].tolist(), size))
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
