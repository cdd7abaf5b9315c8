"""``rnagan demo``: the whole pipeline on the bundled cohort, in a fixed number of steps, ending in a report.

What runs, in order (each stage is the same plain function its own command calls):

1. **cohort**: the bundled LC25000 lung tiles (:mod:`rnagan.datasets.lc25000`) and one *simulated*
   RNA-seq profile per source image (:func:`rnagan.datasets.simulate.simulate_counts`: a gene module
   per class, donor effects, negative-binomial noise) → ``prepare_expression`` (splits stratified by
   tissue, grouped by donor) → ``import_tiles`` (augmented copies only for training samples);
2. **tiling**: the real slide CMU-1-Small-Region.svs through ``tile_slides``, in its own workspace
   (``<out>/slide/``) so its tiles, which have no expression, never mix with the cohort;
3. **vae**, **latents**: the β-VAE and μ for every sample;
4. **gan**: rnagan, reference and baseline: projection-conditioned RNA-GAN (ours), the paper's
   input-only conditioning, and the noise-only GAN, ``demo.side_by_side`` at a time;
5. **generate**: tiles from every held-out (test split) profile, for each run, drawn at the GAN's size
   (64 px in ``small``), lifted by the shipped image stage (``demo.image_stage``) to 4× that and resized to the
   bundled tiles' 224 px, so generated and real tiles cover the same 224 µm pixel for pixel;
6. **evaluate**: FID/KID, conditioning fidelity, checkerboard, memorisation, UMAPs → ``evaluation.html``;
7. **report**: the demo's own page, ``report.html``, which links to it.

Why simulated expression: no public data set pairs RNA-seq with these images. The demo therefore
shows that generated tiles follow the class signal carried by an expression profile, and says nothing
about real gene–morphology biology.

Every trained stage runs a fixed number of steps (``vae.epochs``; ``gan.steps`` for the two compared
conditionings, ``demo.baseline_steps`` for the noise-only anchor), so one seed gives the same page on
any machine; time is a measured figure, in ``reports/demo_times.json``.

Example::

    from rnagan.config import preset
    summary = run_demo(Path("demo-workspace"), preset("small"))
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from rich.console import Console

from rnagan.config import Config, DemoConfig
from rnagan.datasets.lc25000 import CLASS_NAMES, CLASSES, lc25000_samples, load_lc25000
from rnagan.datasets.lc25000 import FIELD_UM as LC25000_FIELD_UM
from rnagan.datasets.lc25000 import TILE_SIZE as BUNDLED_TILE_SIZE
from rnagan.datasets.simulate import simulate_counts
from rnagan.demo.bundle import bundle_facts, bundle_sheets
from rnagan.demo.side_by_side import Job, run_side_by_side
from rnagan.errors import ConfigError
from rnagan.evaluate import report
from rnagan.evaluate.features import read_image
from rnagan.evaluate.results import EvaluationResult
from rnagan.evaluate.run import evaluate, real_tiles
from rnagan.evaluate.sizes import tiles_size
from rnagan.expression.genes import GeneSpace
from rnagan.expression.prepare import prepare_expression
from rnagan.fileio import write_json_atomic, write_text_atomic
from rnagan.gan.train import train_gan
from rnagan.generate import generate_tiles
from rnagan.html import pct, render
from rnagan.samples import read_manifest
from rnagan.slides.folder import import_tiles
from rnagan.slides.store import TileStore
from rnagan.slides.tiler import tile_slides
from rnagan.vae.train import train_vae
from rnagan.workspace import Workspace
from rnagan.workspace_config import write_workspace_config

log = logging.getLogger(__name__)

#: GAN runs of the demo and the conditioning each uses (docs/architecture.md names them).
RUNS: dict[str, str] = {"rnagan": "projection", "reference": "reference", "baseline": "none"}
SLIDE_NAME = "CMU-1-Small-Region.svs"
FIDELITY_BAR = 0.85  # the demo's bar for RNA-GAN's held-out ResNet fidelity (goal 0.95)
REFERENCE_BAR = 0.45  # the demo's bar for the paper's input-only conditioning: at most this (goal: chance)


@dataclass
class Cohort:
    """The demo's inputs: tiles (one row per tile), samples (one per source image), simulated counts."""

    tiles: pd.DataFrame
    samples: pd.DataFrame
    counts: pd.DataFrame


def build_cohort(demo: DemoConfig, genes: list[str]) -> Cohort:
    """Bundled tiles (optionally ``samples_per_class`` per class) plus one simulated profile per sample.

    The subset for tests takes whole donors, drawn with ``demo.seed``, so the donor-grouped split
    still has donors to group.
    """
    tiles = load_lc25000(samples_per_donor=demo.samples_per_donor, include_augmented=demo.include_augmented)
    samples = lc25000_samples(tiles)
    if demo.samples_per_class is not None:
        donors = samples["donor_id"].drop_duplicates().sample(frac=1.0, random_state=demo.seed)
        donor_rank = samples["donor_id"].map({d: i for i, d in enumerate(donors)})
        in_order = samples.assign(_rank=donor_rank).sort_values(["_rank", "sample_id"])
        keep = in_order.groupby("tissue").head(demo.samples_per_class)["sample_id"]
        samples = samples[samples["sample_id"].isin(keep)].reset_index(drop=True)
        tiles = tiles[tiles["sample_id"].isin(keep)].reset_index(drop=True)
    counts = simulate_counts(
        samples["sample_id"],
        samples["tissue"],
        genes,
        donors=samples["donor_id"],
        module_size=demo.module_size,
        log2_fold_change=demo.log2_fold_change,
        donor_sd=demo.donor_sd,
        seed=demo.seed,
    )
    return Cohort(tiles=tiles, samples=samples, counts=counts)


@dataclass
class StageClock:
    """Times each stage, prints its progress, and records wall and CPU seconds.

    CPU seconds (this process, all threads) are recorded beside wall seconds because a shared machine
    stretches wall time: on 2 idle cores with 2 torch threads, wall ≈ CPU / 2 for the training stages.
    """

    console: Console = field(default_factory=lambda: Console(stderr=True))
    names: tuple[str, ...] = ()
    times: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    started_cpu: float = field(default_factory=time.process_time)
    worker_cpu: float = 0.0  # CPU seconds of the stages' worker processes, which process_time() does not count

    def jobs_stage(self, name: str, jobs: Sequence[Job], processes: int) -> None:
        """A stage of independent jobs run side by side (:mod:`rnagan.demo.side_by_side`); each job's times are
        kept under the stage's ``jobs``."""
        with self.stage(name):
            ran = run_side_by_side(jobs, processes)
        self.worker_cpu += ran.worker_cpu_seconds
        entry = self.times[name]
        entry["cpu_seconds"] = round(entry["cpu_seconds"] + ran.worker_cpu_seconds, 2)
        entry["jobs"] = ran.times
        entry["side_by_side"] = ran.at_once

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        position = f"[{len(self.times) + 1}/{len(self.names)}]" if self.names else ""
        self.console.rule(f"[bold]{position} {name}[/]", align="left")
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            yield
        except BaseException:  # an error or Ctrl-C: say which stage stopped; what came before it stays on disk
            self.console.print(
                f"[red]✗[/] {name} stopped after {time.perf_counter() - t0:.1f} s; the workspace keeps the stages "
                "before it",
                highlight=False,
            )
            raise
        seconds = time.perf_counter() - t0
        self.times[name] = {
            "seconds": round(seconds, 2),
            "cpu_seconds": round(time.process_time() - cpu0, 2),
        }
        elapsed = time.perf_counter() - self.started
        self.console.print(f"[green]✓[/] {name}: {seconds:.1f} s (pipeline {elapsed:.0f} s)", highlight=False)

    def summary(self) -> dict[str, Any]:
        total = time.perf_counter() - self.started
        return {
            "total_seconds": round(total, 2),
            "total_cpu_seconds": round(time.process_time() - self.started_cpu + self.worker_cpu, 2),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "cpu_count": os.cpu_count(),
            "stages": self.times,
        }


def demo_config(config: Config, *, field_um: float) -> Config:
    """``config`` with the demo's choices applied: tiles per profile, FID set size, and the side of its tiles in
    µm (``field_um``, the data's) for the nuclei statistics.

    The β-VAE's UMAP figure is left out: UMAP's first call compiles for ~20-40 s in a fresh environment,
    which is most of the β-VAE's own time (the evaluation's feature map still uses UMAP).
    """
    cfg = config.model_copy(deep=True)
    cfg.vae.umap_figure = False
    cfg.generate.tiles_per_profile = cfg.demo.generated_per_profile
    cfg.evaluate.fid_max_images = cfg.demo.fid_images
    cfg.evaluate.tile_field_um = field_um
    return cfg


def bundled_slide() -> Path:
    """The real CC0 H&E slide shipped with the package."""
    return Path(str(resources.files("rnagan.datasets") / "data" / SLIDE_NAME))


def training_tiles(tiles: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """The tiles to import: every sample's own tile, and augmented copies of training samples only.

    Augmented copies are rotations and flips of their original, so one in a validation or test
    sample would leak its twin into evaluation (FID reference set, held-out fidelity): they are
    dropped there rather than merely kept in the same split.
    """
    split_of = splits.set_index("sample_id")["split"]
    split = tiles["sample_id"].map(split_of)
    if split.isna().any():
        missing = tiles.loc[split.isna(), "sample_id"].unique()[:5]
        raise ValueError(f"samples without a split in the samples table: {list(missing)}")
    keep = (tiles["subset"] == "unique") | (split == "train")
    return tiles[keep].reset_index(drop=True)


STAGES: tuple[str, ...] = (
    "cohort",
    "tiling",
    "vae",
    "gan",
    "generate",
    "evaluate",
    "report",
)


def start_demo(
    out: Path, config: Config, stages: tuple[str, ...], *, field_um: float
) -> tuple[Config, Workspace, StageClock]:
    """The demo's config, its workspace (created, remembering that config) and a clock over ``stages``.
    Shared by the lung and her2st demos; ``field_um`` is the side of their tiles in µm."""
    cfg = demo_config(config, field_um=field_um)
    workspace = Workspace(out).create()
    write_workspace_config(workspace, cfg)
    return cfg, workspace, StageClock(names=stages)


def train_models(ws: Workspace, cfg: Config, clock: StageClock) -> dict[str, Any]:
    """The β-VAE, then the three GAN runs (:data:`RUNS`), each for its steps; returns the VAE's metrics.

    Every run is overwritten: the demo reruns its own workspace. Shared by the lung and her2st demos.
    """
    with clock.stage("vae"):
        vae_metrics = train_vae(ws, cfg, overwrite=True)
    clock.jobs_stage("gan", gan_jobs(ws, cfg), cfg.demo.side_by_side)
    return vae_metrics


def gan_jobs(ws: Workspace, cfg: Config) -> list[Job]:
    """The three GAN runs (:data:`RUNS`) as jobs, each for its steps, overwriting what the workspace holds."""
    jobs = []
    for run, conditioning in RUNS.items():
        run_cfg = cfg.model_copy(deep=True)
        run_cfg.gan.conditioning = conditioning
        if conditioning == "none":  # the noise-only GAN only anchors the comparison
            run_cfg.gan.steps = cfg.demo.baseline_steps
        call = functools.partial(train_gan, ws, run_cfg, run=run, overwrite=True)
        jobs.append(Job(run, call, log_file=ws.gan_run(run) / "log.jsonl", steps=run_cfg.gan.steps))
    return jobs


def generate_held_out(ws: Workspace, cfg: Config, clock: StageClock, *, extra: Sequence[Job] = ()) -> None:
    """Every run's tiles from the held-out (test split) profiles, and the ``extra`` generations, side by side;
    shared by the lung and her2st demos."""
    jobs = [Job(run, functools.partial(generate_tiles, ws, cfg, run=run, split="test")) for run in RUNS]
    clock.jobs_stage("generate", [*jobs, *extra], cfg.demo.side_by_side)


def _refuse_tiles_larger_than_bundled(config: Config) -> None:
    if config.gan.image_size > BUNDLED_TILE_SIZE:
        raise ConfigError(
            f"the demo's bundled tiles are {BUNDLED_TILE_SIZE} px but gan.image_size is {config.gan.image_size}: "
            "use --preset small (the demo's recipe: 64 px, lifted to 256 px by the image stage) "
            "or --set gan.image_size=64"
        )


def run_demo(out: Path, config: Config) -> dict[str, Any]:
    """Run the demo into the workspace ``out``; returns a summary (paths, stage times, headline metrics).

    The stages are the library's own functions, each for the steps its config gives (module docstring),
    so the workspace it leaves is an ordinary one: every ``rnagan`` command can continue from it.
    """
    _refuse_tiles_larger_than_bundled(config)
    lifted = config.model_copy(deep=True)
    lifted.generate.image_stage = config.demo.image_stage
    lifted.generate.tile_size = BUNDLED_TILE_SIZE if config.demo.image_stage else None  # real and drawn alike
    cfg, ws, clock = start_demo(out, lifted, STAGES, field_um=LC25000_FIELD_UM)
    lift = f" lifted by the {cfg.generate.image_stage} image stage" if cfg.generate.image_stage else ""
    clock.console.print(
        f"[bold]rnagan demo[/] → {ws.root}: preset {cfg.preset}, {cfg.gan.image_size} px{lift}, "
        f"{cfg.gan.steps} GAN steps. [yellow]The expression profiles are simulated[/] "
        "(no public RNA-seq data set pairs with these images).",
        highlight=False,
    )

    with clock.stage("cohort"):
        space = GeneSpace.default()
        cohort = build_cohort(cfg.demo, list(space.ids))
        prepared = prepare_expression(
            cohort.counts, metadata=cohort.samples, workspace=ws, config=cfg.expression, gene_space=space
        )
        splits = prepared.samples.reset_index()
        # One "slide" per class folder, not per sample: the import writes one index part and marker per
        # slide, and 740 of them cost ~20 s on 2 cores for nothing (pairing goes by sample_id).
        table = training_tiles(cohort.tiles, splits)
        imported = import_tiles(table.assign(slide_id=table["label"]), ws, image_format="jpeg")

    with clock.stage("tiling"):
        slide_ws = Workspace(ws.root / "slide")
        tiling = tile_slides([bundled_slide()], slide_ws, cfg.tiling)

    vae_metrics = train_models(ws, cfg, clock)

    generate_held_out(ws, cfg, clock)

    with clock.stage("evaluate"):
        metrics = evaluate(ws, cfg, runs=tuple(RUNS))

    with clock.stage("report"):
        times = clock.summary()  # the report shows every stage but itself, so it is timed before rendering
        figures = {
            "sheets": class_sheets(ws, cfg, runs=tuple(RUNS)),
            "thumbnail": _thumbnail_png(slide_ws.thumbnails / f"{bundled_slide().stem}.png"),
            "bundle_sheets": bundle_sheets(cfg.demo.sheet_tiles),
        }
        facts = {
            "cohort": _cohort_facts(cohort, splits, imported),
            "tiling": tiling.drop(columns=["error"], errors="ignore").to_dict(orient="records"),
            "vae": {k: vae_metrics.get(k) for k in ("test", "silhouette_mu_test", "stop_reason", "epochs")},
            "gan_steps": {run: _gan_steps(ws, run) for run in RUNS},
            "real_tile_px": BUNDLED_TILE_SIZE,
            "generated_tile_px": tiles_size(ws.samples_run("rnagan")),
            "bundle": bundle_facts(),
        }
        page = render_demo_report(cfg, metrics, times, facts, figures, evaluation_page=ws.evaluation_html.name)
        write_text_atomic(ws.report_html, page)
    return _finish(ws, metrics, clock)


def _finish(ws: Workspace, metrics: EvaluationResult, clock: StageClock) -> dict[str, Any]:
    """Stage times to ``reports/demo_times.json``, the headline printed; the summary ``run_demo`` returns."""
    times = clock.summary()
    write_json_atomic(ws.reports / "demo_times.json", times)
    summary = {
        "workspace": str(ws.root),
        "report": str(ws.report_html),
        "evaluation_report": str(ws.evaluation_html),
        "metrics": str(ws.metrics),
        "times": times,
        "conditioning_accuracy": {run: None if (f := metrics.fidelity(run)) is None else f.accuracy for run in RUNS},
    }
    clock.console.print(
        "conditioning fidelity on held-out profiles: "
        + ", ".join(f"{run} {pct(acc)}" for run, acc in summary["conditioning_accuracy"].items())
        + f" (chance {pct(1 / len(CLASSES))}); total {times['total_seconds']:.0f} s",
        highlight=False,
    )
    return summary


def class_sheets(workspace: Workspace, config: Config, *, runs: tuple[str, ...]) -> dict[str, dict[str, bytes]]:
    """Contact sheets (PNG bytes) per class: held-out real tiles, then each run's tiles from held-out profiles.

    ``{tissue: {"real": png, "rnagan": png, ...}}``; the generated tiles of a class are those drawn
    from its first ``n`` profiles, profile k with noise draw k (modulo the draws), so a sheet shows what
    varies with the profile and with the noise (every profile shares each noise draw).
    """
    n = config.demo.sheet_tiles
    real = real_tiles(workspace)
    real = real[real["split"] == "test"]
    sheets: dict[str, dict[str, bytes]] = {}
    with TileStore(workspace.tile_store) as store:
        for tissue, rows in real.groupby("tissue"):
            keys = rows["key"].sort_values().head(n)
            sheets[str(tissue)] = {"real": report.tiles_png([_tensor(store.get(k)) for k in keys])}
    for run in runs:
        manifest = read_manifest(workspace.samples_run(run))
        held_out = manifest[(manifest["split"] == "test") & (manifest["perturbation"] == "")]
        for tissue, rows in held_out.groupby("tissue"):
            paths = _one_draw_per_profile(rows, n)["path"]
            sheets.setdefault(str(tissue), {})[run] = report.tiles_png([read_image(p) for p in paths])
    return sheets


def _one_draw_per_profile(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """The manifest rows of the first ``n`` profiles (sorted), profile k with noise index k modulo the draws."""
    profiles = sorted(rows["profile"].unique())[:n]
    draws = sorted(rows["noise_index"].unique())
    wanted = pd.DataFrame({"profile": profiles, "noise_index": [draws[k % len(draws)] for k in range(len(profiles))]})
    return rows.merge(wanted, on=["profile", "noise_index"]).sort_values("profile")


def _tensor(tile: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(tile)).permute(2, 0, 1)  # a writable copy (LMDB buffers are read-only)


def _thumbnail_png(path: Path, max_side: int = 640) -> bytes | None:
    """The tiler's thumbnail (mask and kept tiles drawn), shrunk for the page; None if tiling failed."""
    if not path.is_file():
        return None
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def _cohort_facts(cohort: Cohort, splits: pd.DataFrame, imported: pd.DataFrame) -> dict[str, Any]:
    table = splits.groupby(["tissue", "split"]).size().unstack(fill_value=0)
    return {
        "samples": len(cohort.samples),
        "donors": int(cohort.samples["donor_id"].nunique()),
        "genes": int(cohort.counts.shape[1]),
        "tiles_imported": len(imported),
        "augmented_imported": int((imported["subset"] == "augmented_extra").sum()),
        "splits": {str(t): {str(s): int(v) for s, v in row.items()} for t, row in table.iterrows()},
    }


def _gan_steps(workspace: Workspace, run: str) -> int | None:
    meta = workspace.gan_run(run) / "checkpoint" / "meta.json"
    return json.loads(meta.read_text()).get("step") if meta.is_file() else None


def render_demo_report(
    config: Config,
    metrics: EvaluationResult,
    times: dict[str, Any],
    facts: dict[str, Any],
    figures: dict[str, Any],
    *,
    evaluation_page: str,
) -> str:
    """The demo's page: the simulated-expression note, fidelity and FID per run, sheets per class, times; it links
    to ``evaluation_page``, evaluate's full page beside it."""
    return render(
        "demo.html.j2",
        config=config,
        metrics=metrics,
        times=times,
        facts=facts,
        figures=figures,
        runs=RUNS,
        class_names=CLASS_NAMES,
        evaluation_page=evaluation_page,
        bar=FIDELITY_BAR,
        reference_bar=REFERENCE_BAR,
        meets_bar=meets_bar,
    )


def meets_bar(run: str, accuracy: float) -> bool | None:
    """Whether a run's held-out ResNet fidelity meets the demo's bar: at least :data:`FIDELITY_BAR` for ours, at
    most :data:`REFERENCE_BAR` for the paper's input-only conditioning; None for the baseline, which has none."""
    return {"rnagan": accuracy >= FIDELITY_BAR, "reference": accuracy <= REFERENCE_BAR}.get(run)
