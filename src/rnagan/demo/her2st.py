"""``rnagan demo --dataset her2st``: the whole pipeline on REAL paired data (spatial expression → H&E).

The bundled her2st cohort (:mod:`rnagan.datasets.her2st`: five HER2+ breast sections, one sample per
spot, real UMI counts) goes through the same stage functions as the lung demo:

1. **cohort**: ``import_sections`` (patches per spot, split by section: train C2, C3, B4; val C4;
   test C5) → ``prepare_spatial`` (CPM, the training sections' top variable genes plus the compartment
   marker panel, :func:`with_marker_panel`; fixed splits);
2. **vae**; **gan**: rnagan, reference and baseline, each for its steps, side by side (as the lung demo);
3. **generate**: tiles from every held-out spot's profile for each run, and the **floor**: ours from
   the same profiles shuffled across spots;
4. **evaluate**: the paired probe (:func:`rnagan.evaluate.paired_run.evaluate_paired`) → the page.

The GAN is whatever ``gan train`` trains under the preset: with the ``small`` preset's steps its tiles
are colour- and texture-level, and the report states the measured numbers as they are.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnagan.config import Config
from rnagan.datasets.her2st import MARKER_PANEL, SECTIONS, SPLITS
from rnagan.demo.pipeline import RUNS, generate_held_out, start_demo, train_models
from rnagan.demo.side_by_side import Job
from rnagan.evaluate.paired_run import LAYOUT_FILE, evaluate_paired
from rnagan.fileio import write_json_atomic, write_text_atomic
from rnagan.generate import generate_tiles
from rnagan.html import render
from rnagan.spatial.importer import import_sections
from rnagan.spatial.patches import PatchGeometry
from rnagan.spatial.prepare import prepare_spatial
from rnagan.spatial.readers import read_bundled
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)

FLOOR = "shuffled"  # samples/<FLOOR>: ours, from the held-out profiles shuffled across spots
STAGES = ("cohort", "vae", "gan", "generate", "evaluate", "report")
# The paired demo's bars: ours/ceiling of marker r, permutation p, accuracy points over the floor.
BARS = {"ours_over_ceiling_marker_r": 0.4, "p": 0.01, "accuracy_points_over_floor": 15.0}


def run_her2st_demo(out: Path, config: Config) -> dict[str, Any]:
    """Run the her2st demo into the workspace ``out``; returns a summary (paths, stage times, headline)."""
    cfg, ws, clock = start_demo(out, with_marker_panel(config), STAGES, field_um=config.spatial.fov_um)
    clock.console.print(
        f"[bold]rnagan demo --dataset her2st[/] → {ws.root}: REAL spatial expression and H&E of "
        f"{len(SECTIONS)} HER2+ breast sections; preset {cfg.preset}, {cfg.gan.steps} GAN steps",
        highlight=False,
    )
    with clock.stage("cohort"):
        index = import_sections(
            read_bundled(),
            ws,
            PatchGeometry.from_config(cfg.spatial),
            splits=SPLITS,
            image_format=cfg.spatial.image_format,
        )
        prepared = prepare_spatial(ws, cfg)
    vae_metrics = train_models(ws, cfg, clock)
    floor = functools.partial(
        generate_tiles,
        ws,
        cfg,
        run="rnagan",
        expression_file=shuffled_profiles(ws, prepared.matrix, prepared.samples, cfg.spatial.seed),
        scale="z",
        out=ws.samples_run(FLOOR),
    )
    generate_held_out(ws, cfg, clock, extra=(Job(FLOOR, floor),))
    with clock.stage("evaluate"):
        runs = {name: ws.samples_run(name) for name in ("rnagan", FLOOR, "reference", "baseline")}
        metrics = evaluate_paired(ws, cfg, runs=runs, ours="rnagan", floor=FLOOR)
    with clock.stage("report"):
        times = clock.summary()
        facts = {
            "patches": len(index),
            "spots": {s: int((prepared.samples["split"] == s).sum()) for s in ("train", "val", "test")},
            "genes": int(prepared.matrix.shape[1]),
            "vae": {k: vae_metrics.get(k) for k in ("stop_reason", "epochs")},
            "gan_steps": {run: _gan_steps(ws, run) for run in RUNS},
        }
        layout = (ws.reports / LAYOUT_FILE).read_bytes()
        write_text_atomic(ws.report_html, render_her2st_report(cfg, metrics, times, facts, layout))
    times = clock.summary()
    write_json_atomic(ws.reports / "demo_times.json", times)
    headline = metrics["headline"]
    clock.console.print(
        f"ours/ceiling marker r {_fmt(headline['ours_over_ceiling_marker_r'])}, permutation p "
        f"{metrics['sets']['rnagan']['permutation']['p']:.4f}, accuracy {headline['accuracy_points_over_floor']:+.1f} "
        f"points over the floor; total {times['total_seconds']:.0f} s",
        highlight=False,
    )
    return {"workspace": str(ws.root), "report": str(ws.report_html), "times": times, "headline": headline}


def with_marker_panel(config: Config) -> Config:
    """``config`` keeping the compartment markers the paired evaluation scores in the gene space, unless
    ``spatial.include_genes`` already names genes: a perturbation of ERBB2 or COL1A1 needs them in the model."""
    if config.spatial.include_genes:
        return config
    kept = config.model_copy(deep=True)
    kept.spatial.include_genes = list(MARKER_PANEL)
    return kept


def shuffled_profiles(ws: Workspace, matrix: pd.DataFrame, samples: pd.DataFrame, seed: int) -> Path:
    """The test spots' z-profiles, each spot given another spot's profile (one seeded permutation)."""
    test = samples.index[samples["split"] == "test"]
    order = np.random.default_rng(seed).permutation(len(test))
    table = matrix.loc[test[order]].set_axis(test, axis=0)
    path = ws.root / "spatial" / "shuffled_profiles.parquet"
    table.to_parquet(path)
    return path


def render_her2st_report(
    config: Config, metrics: dict[str, Any], times: dict[str, Any], facts: dict[str, Any], layout: bytes
) -> str:
    return render(
        "her2st.html.j2",
        config=config,
        metrics=metrics,
        times=times,
        facts=facts,
        layout=layout,
        bars=BARS,
        splits=SPLITS,
        floor=FLOOR,
    )


def _gan_steps(workspace: Workspace, run: str) -> int | None:
    meta = workspace.gan_run(run) / "checkpoint" / "meta.json"
    return json.loads(meta.read_text()).get("step") if meta.is_file() else None


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
