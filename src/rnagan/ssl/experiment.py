"""The whole small-scale experiment on one workspace: SimCLR on synthetic / real / both, then every arm fine-tuned.

Data, from a workspace that went through ``rnagan generate`` (e.g. the demo's):

- synthetic: the generated tiles of ``samples/<run>/`` (held-out profiles);
- real, for pretraining: the train-split tiles, the ones the GAN learned from (the upper reference:
  what pretraining on the generator's own training data gives);
- real, labelled, for fine-tuning: the val and test splits, which neither the GAN nor any SimCLR
  arm saw, grouped by sample (for LC25000: the source image and its copies).

``ssl.minutes`` (or ``minutes``) is shared: ``ssl.pretrain_share`` of it between the pretraining arms,
the rest between the fine-tuning runs. Writes ``ssl.json``, ``ssl.png`` and ``ssl.html`` under ``out``::

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
from rnagan.ssl.finetune import cross_validate
from rnagan.ssl.simclr import load_backbone, pretrain
from rnagan.ssl.sources import TileSet, concat, read_samples_folder, read_workspace_tiles
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)
YLABELS = {"accuracy": "accuracy", "f1_macro": "macro F1"}
PRETRAINED_ARMS = {"synthetic": ("synthetic",), "real": ("real",), "real+synthetic": ("real", "synthetic")}


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


def run_experiment(
    workspace: Workspace,
    config: Config,
    *,
    run: str = "rnagan",
    out: Path | None = None,
    minutes: float | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Pretrain each SimCLR arm, fine-tune every arm on the same folds; return (and write) the results."""
    cfg = config.ssl
    out = out or workspace.reports / "ssl"
    budget = (minutes or cfg.minutes or 0) * 60 or None
    started = time.monotonic()
    pools, labelled = experiment_data(workspace, run, cfg.image_size)
    pretrained = [arm for arm in cfg.arms if arm != "scratch"]
    inits: dict[str, dict[str, torch.Tensor] | None] = {"scratch": None} if "scratch" in cfg.arms else {}
    pretraining: dict[str, Any] = {}
    for arm in pretrained:
        share = None if budget is None else budget * cfg.pretrain_share / len(pretrained)
        tiles = concat(*(pools[source] for source in PRETRAINED_ARMS[arm]))
        log.info("SimCLR on %s: %d tiles", arm, len(tiles))
        meta = pretrain(  # a rerun of the experiment pretrains every arm again
            tiles, config, out / "pretrain" / arm.replace("+", "_"), overwrite=True, device=device, max_seconds=share
        )
        inits[arm], _ = load_backbone(out / "pretrain" / arm.replace("+", "_") / "checkpoint", cfg.backbone)
        pretraining[arm] = {k: meta[k] for k in ("n_tiles", "origins", "epoch", "seconds", "stopped_early")}
        pretraining[arm]["steps"] = len(meta["step_losses"])
        pretraining[arm]["first_epoch_loss"] = float(np.mean(meta["step_losses"][: meta["steps_per_epoch"]]))
        pretraining[arm]["last_epoch_loss"] = float(np.mean(meta["step_losses"][-meta["steps_per_epoch"] :]))
    left = None if budget is None else max(budget - (time.monotonic() - started), 0.0)
    results = cross_validate(labelled, inits, config, device=pick_device(device), max_seconds=left, log=log.info)
    results.update(
        run=run,
        workspace=str(workspace.root),
        preset=config.preset,
        backbone=cfg.backbone,
        image_size=cfg.image_size,
        pretraining=pretraining,
        seconds=time.monotonic() - started,
        budget_seconds=budget,
    )
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
    """Accuracy and macro F1 (mean ± sd over folds) against the share of training labels, one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110, sharey=True)
    fractions = results["label_fractions"]
    for ax, metric in zip(axes, ("accuracy", "f1_macro"), strict=True):
        for i, (name, entry) in enumerate(results["arms"].items()):
            means = [entry[str(f)][metric]["mean"] for f in fractions]
            sds = [entry[str(f)][metric]["sd"] for f in fractions]
            x = np.asarray(fractions) * (1 + 0.02 * (i - 1.5))  # small offsets keep error bars apart
            ax.errorbar(x, means, yerr=sds, marker="o", capsize=3, label=name)
        if metric == "accuracy":  # guessing one class scores 1/C accuracy but only ~1/(2C) macro F1
            ax.axhline(1 / len(results["classes"]), color="grey", ls=":", lw=1, label="chance")
        ax.set(xscale="log", xlabel="share of the training labels", ylabel=YLABELS[metric])
        ax.minorticks_off()
        ax.set_xticks(fractions, [f"{f:.0%}" for f in fractions])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{results['folds']}-fold CV on {results['n_tiles']} real tiles ({', '.join(results['classes'])})")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
