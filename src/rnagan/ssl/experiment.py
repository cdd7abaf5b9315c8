"""The whole small-scale experiment on one workspace: SimCLR on synthetic / real / both, a batch-norm control,
every arm fine-tuned, all of it repeated for ``ssl.seeds`` seeds.

Data, from a workspace that went through ``rnagan generate`` (e.g. the demo's):

- synthetic: the generated tiles of ``samples/<run>/`` (held-out profiles);
- real, for pretraining: the train-split tiles, the ones the GAN learned from (the upper reference:
  what pretraining on the generator's own training data gives);
- real, labelled, for fine-tuning: the val and test splits, which neither the GAN nor any SimCLR
  arm saw, grouped by sample (for LC25000: the source image and its copies).

Budgets are counts: ``ssl.pretrain_epochs`` of SimCLR per arm, ``ssl.finetune_epochs`` (with
``ssl.finetune_patience``) per fine-tuning run, so a loaded machine changes the seconds, never a
result. Seed ``i`` moves every draw (pretraining tiles and weights, folds, label draws) to
``ssl.seed + i``. The headline is ``synthetic`` minus ``synthetic-bn`` at the lowest label fraction,
seed by seed: what SimCLR's gradient steps add beyond batch-norm statistics of the same tiles.
Writes ``ssl.json``, ``ssl.png`` and ``ssl.html`` under ``out``::

    run_experiment(Workspace("demo"), preset("small"), out=Path("demo/reports/ssl"))
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnagan.config import Config
from rnagan.errors import InputFileError
from rnagan.fileio import write_bytes_atomic, write_json_atomic, write_text_atomic
from rnagan.html import render
from rnagan.runtime import pick_device
from rnagan.ssl.backbone import initial_backbone, weight_distance
from rnagan.ssl.bn_control import bn_statistics_init
from rnagan.ssl.finetune import METRICS, cross_validate
from rnagan.ssl.simclr import load_backbone, pretrain
from rnagan.ssl.sources import TileSet, concat, read_samples_folder, read_workspace_tiles
from rnagan.ssl.stats import across_seeds, seed_differences
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)
YLABELS = {"accuracy": "accuracy", "f1_macro": "macro F1"}
PRETRAINED_ARMS = {"synthetic": ("synthetic",), "real": ("real",), "real+synthetic": ("real", "synthetic")}
HEADLINE = ("synthetic", "synthetic-bn")  # the arm and the control whose difference the experiment is about
TARGET = 0.05  # the difference, in accuracy, the experiment was designed to detect


def experiment_data(workspace: Workspace, run: str, size: int) -> tuple[dict[str, TileSet], TileSet]:
    """The unlabelled pools (synthetic, real) and the labelled fine-tuning set of a workspace."""
    synthetic = read_samples_folder(workspace.samples_run(run), size)
    real_pool = read_workspace_tiles(workspace, size, splits=("train",))
    labelled = read_workspace_tiles(workspace, size, splits=("val", "test"))
    if set(synthetic.classes) - set(labelled.classes):
        raise InputFileError(
            f"generated tissues {synthetic.classes} are not all among the real ones {labelled.classes}"
        )
    return {"synthetic": synthetic, "real": real_pool}, labelled


def _pretraining_record(meta: dict[str, Any], distance: dict[str, float]) -> dict[str, Any]:
    losses, per_epoch = meta["step_losses"], meta["steps_per_epoch"]
    record = {k: meta[k] for k in ("n_tiles", "origins", "epoch", "seconds")}
    first, last = float(np.mean(losses[:per_epoch])), float(np.mean(losses[-per_epoch:]))
    return record | {"steps": len(losses), "first_epoch_loss": first, "last_epoch_loss": last,
                     "distance_from_init": distance}  # fmt: skip


def pretrain_arms(
    pools: dict[str, TileSet], config: Config, out: Path, device: str
) -> tuple[dict[str, dict[str, torch.Tensor] | None], dict[str, Any]]:
    """Each arm's initial backbone (None: scratch) and what its pretraining did, in ``ssl.arms`` order."""
    cfg = config.ssl
    start = initial_backbone(cfg.backbone, cfg.seed)
    inits: dict[str, dict[str, torch.Tensor] | None] = {"scratch": None}
    record: dict[str, Any] = {}
    if "synthetic-bn" in cfg.arms:
        began = time.monotonic()
        inits["synthetic-bn"] = bn_statistics_init(pools["synthetic"], cfg, device=pick_device(device))
        n = min(len(pools["synthetic"]), cfg.pretrain_max_tiles or len(pools["synthetic"]))
        record["synthetic-bn"] = {"n_tiles": n, "steps": 0, "seconds": time.monotonic() - began,
                                  "distance_from_init": weight_distance(inits["synthetic-bn"], start)}  # fmt: skip
    for arm in (a for a in cfg.arms if a in PRETRAINED_ARMS):
        tiles = concat(*(pools[source] for source in PRETRAINED_ARMS[arm]))
        folder = out / "pretrain" / arm.replace("+", "_")
        log.info("seed %d, SimCLR on %s: %d tiles", cfg.seed, arm, len(tiles))
        meta = pretrain(tiles, config, folder, overwrite=True, device=device, progress=False)  # a rerun redoes it
        inits[arm], _ = load_backbone(folder / "checkpoint", cfg.backbone)
        record[arm] = _pretraining_record(meta, weight_distance(inits[arm], start))
    return {a: inits[a] for a in cfg.arms}, record


def run_seed(pools: dict[str, TileSet], labelled: TileSet, config: Config, out: Path, device: str) -> dict[str, Any]:
    """One replicate: every arm pretrained (or not) and fine-tuned on this seed's folds."""
    inits, pretraining = pretrain_arms(pools, config, out, device)
    results = cross_validate(labelled, inits, config, device=pick_device(device), log=log.info)
    return results | {"seed": config.ssl.seed, "pretraining": pretraining}


def seeded(config: Config, i: int) -> Config:
    """``config`` with ``ssl.seed`` moved by ``i``."""
    copy = config.model_copy(deep=True)
    copy.ssl.seed = config.ssl.seed + i
    return copy


def headline(differences: dict[str, Any], fractions: list[float]) -> dict[str, Any] | None:
    """``synthetic`` minus ``synthetic-bn`` at the lowest label fraction, per seed, against :data:`TARGET`."""
    arm, control = HEADLINE
    entry = differences.get(control, {}).get(arm, {}).get(str(min(fractions)))
    if entry is None or entry["mean"] is None:
        return None
    return {"arm": arm, "control": control, "label_fraction": min(fractions), "target": TARGET,
            **entry, "met": entry["mean"] >= TARGET}  # fmt: skip


def run_experiment(
    workspace: Workspace, config: Config, *, run: str = "rnagan", out: Path | None = None, device: str = "auto"
) -> dict[str, Any]:
    """Every seed's replicate, their spread and the headline difference; returned and written."""
    cfg = config.ssl
    out = out or workspace.reports / "ssl"
    started = time.monotonic()
    pools, labelled = experiment_data(workspace, run, cfg.image_size)
    replicates = [run_seed(pools, labelled, seeded(config, i), out / f"seed{i}", device) for i in range(cfg.seeds)]
    differences = {base: seed_differences(replicates, base, "accuracy") for base in ("scratch", HEADLINE[1])}
    first = replicates[0]
    results = {k: first[k] for k in ("classes", "n_tiles", "n_groups", "folds", "label_fractions")} | {
        "spread": "seeds",
        "arms": across_seeds(replicates, METRICS),
        "differences": differences,
        "headline": headline(differences, cfg.label_fractions),
        "replicates": replicates,
        "run": run,
        "workspace": str(workspace.root),
        "preset": config.preset,
        "backbone": cfg.backbone,
        "image_size": cfg.image_size,
        "seconds": time.monotonic() - started,
    }
    write_report(results, out)
    return results


def write_report(results: dict[str, Any], out: Path) -> None:
    """``ssl.json``, the label-fraction plot ``ssl.png`` and the HTML section ``ssl.html``."""
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "ssl.json", results)
    figure = label_curve_png(results)
    write_bytes_atomic(out / "ssl.png", figure)
    write_text_atomic(out / "ssl.html", render("ssl.html.j2", results=results, figure=figure))


def label_curve_png(results: dict[str, Any]) -> bytes:
    """Accuracy and macro F1 (mean ± sample sd over folds or seeds) against the share of labels, one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110, sharey=True)
    fractions = results["label_fractions"]
    for ax, metric in zip(axes, ("accuracy", "f1_macro"), strict=True):
        for i, (name, entry) in enumerate(results["arms"].items()):
            means = [entry[str(f)][metric]["mean"] for f in fractions]
            sds = [entry[str(f)][metric]["sd"] or 0.0 for f in fractions]
            x = np.asarray(fractions) * (1 + 0.02 * (i - 2))  # small offsets keep error bars apart
            ax.errorbar(x, means, yerr=sds, marker="o", capsize=3, label=name)
        if metric == "accuracy":  # guessing one class scores 1/C accuracy but only ~1/(2C) macro F1
            ax.axhline(1 / len(results["classes"]), color="grey", ls=":", lw=1, label="chance")
        ax.set(xscale="log", xlabel="share of the training labels", ylabel=YLABELS[metric])
        ax.minorticks_off()
        ax.set_xticks(fractions, [f"{f:.0%}" for f in fractions])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    over = f"{len(results['replicates'])} seeds of " if results["spread"] == "seeds" else ""
    fig.suptitle(f"{over}{results['folds']}-fold CV on {results['n_tiles']} real tiles "
                 f"({', '.join(results['classes'])}); bars: sample sd over {results['spread']}")  # fmt: skip
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
