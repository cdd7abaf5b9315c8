"""The demo: its cohort, its steps, and real end-to-end runs at ``tiny`` settings."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from rnagan.cli import app
from rnagan.config import DemoConfig, preset
from rnagan.datasets.lc25000 import CLASSES, TILE_SIZE
from rnagan.demo.pipeline import (
    RUNS,
    STAGES,
    StageClock,
    build_cohort,
    meets_bar,
    run_demo,
    training_tiles,
)
from rnagan.evaluate.sizes import tiles_size
from rnagan.workspace import Workspace

GENES = [f"ENSG{i:011d}" for i in range(2000)]  # the cohort checks need a gene space, not the real one


def _tiny_demo() -> DemoConfig:
    """The tiny demo settings with class modules that fit the 2,000-gene test space."""
    return DemoConfig(**{**preset("tiny").demo.model_dump(), "module_size": 100})


def test_cohort_subset_takes_whole_donors_per_class() -> None:
    demo = _tiny_demo()
    cohort = build_cohort(demo, GENES)
    per_class = cohort.samples.groupby("tissue").size()
    assert per_class.to_dict() == dict.fromkeys(CLASSES, demo.samples_per_class)
    assert (cohort.samples.groupby("donor_id").size() == demo.samples_per_donor).all()
    assert list(cohort.counts.index) == list(cohort.samples["sample_id"])
    assert cohort.counts.shape == (len(cohort.samples), len(GENES))
    assert set(cohort.tiles["sample_id"]) == set(cohort.samples["sample_id"])
    assert build_cohort(demo, GENES).counts.equals(cohort.counts)  # seeded


def test_augmented_copies_are_imported_for_training_samples_only() -> None:
    cohort = build_cohort(_tiny_demo(), GENES)
    splits = cohort.samples.assign(split=["train", "val", "test", "train"] * (len(cohort.samples) // 4))
    kept = training_tiles(cohort.tiles, splits)
    split_of = splits.set_index("sample_id")["split"]
    extras = kept[kept["subset"] == "augmented_extra"]
    assert len(extras) > 0 and (extras["sample_id"].map(split_of) == "train").all()
    assert (kept["subset"] == "unique").sum() == len(cohort.samples)  # every sample keeps its own tile
    with pytest.raises(ValueError, match="without a split"):
        training_tiles(cohort.tiles, splits.iloc[1:])


def test_a_stage_that_fails_says_which_and_the_error_goes_on() -> None:
    printed = io.StringIO()
    clock = StageClock(console=Console(file=printed, width=200), names=("cohort", "vae"))
    with clock.stage("cohort"):
        pass
    with pytest.raises(RuntimeError, match="disk full"), clock.stage("vae"):
        raise RuntimeError("disk full")
    assert "✓ cohort" in printed.getvalue() and "✗ vae stopped after" in printed.getvalue()
    assert list(clock.times) == ["cohort"]  # a stage that did not finish records no time


def test_fidelity_bars_point_up_for_ours_and_down_for_the_reference() -> None:
    assert meets_bar("rnagan", 0.90) and not meets_bar("rnagan", 0.50)
    assert meets_bar("reference", 0.30) and not meets_bar("reference", 0.50)  # the paper's conditioning should not
    assert meets_bar("baseline", 0.90) is None


def test_cli_help_names_the_simulated_expression() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    assert "SIMULATED" in result.output and "--minutes" not in result.output  # steps, not a time budget


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo") / "ws"
    return out, run_demo(out, preset("tiny"))


@pytest.mark.integration  # the whole tiny demo runs once for these three
def test_tiny_demo_writes_report_metrics_and_times(tiny_demo: tuple[Path, dict]) -> None:
    out, summary = tiny_demo
    report = (out / "reports" / "report.html").read_text()
    assert "simulated" in report.lower() and "data:image/png;base64," in report
    assert all(f"<b>{run}</b>" in report for run in RUNS)
    assert (out / "reports" / "evaluation.html").is_file()
    assert (out / "slide" / "tiles" / "index.parquet").is_file()  # the real slide was tiled, apart
    assert "frozen-feature probe" in report  # the realism table beside the ResNet's fidelity
    assert all(f"bundled {run}" in report for run in RUNS)  # the longer bundled run, labelled as such

    metrics = json.loads((out / "reports" / "metrics.json").read_text())
    evaluation = (out / "reports" / "evaluation.html").read_text()
    for run in RUNS:
        entry = metrics["runs"][run]
        assert entry["status"] == "ok"
        searched = entry["memorisation"]["n_train"]  # every tile the run trained on, named on the page
        assert re.search(rf"<td>\d+ \([\d.]+ %\) /\s+{searched:,}</td>", evaluation)
        per_tissue = [t for t in entry["conditioning"]["per_tissue"].values() if t["n"]]  # accuracy: share right
        right = sum(t["n"] * t["accuracy"] for t in per_tissue) / sum(t["n"] for t in per_tissue)
        assert entry["conditioning"]["accuracy"] == pytest.approx(right)
        fidelity = entry["conditioning"]
        assert fidelity["relabelled_accuracy"] >= fidelity["accuracy"]  # no renaming is one of the renamings
        assert math.isfinite(entry["fid"]["value"]) and entry["fid"]["value"] > 1.0  # generated ≠ real tiles
        drawn = tiles_size(out / "samples" / run)
        assert drawn == TILE_SIZE  # lifted by the shipped image stage, then resized to the real tiles' side
        assert entry["nuclei"]["mpp"] == pytest.approx(224.0 / drawn)  # LC25000's field over the drawn tile
        assert entry["nuclei"]["n_real"] > 0 and math.isfinite(entry["nuclei"]["ratio"])
        assert summary["conditioning_accuracy"][run] == entry["conditioning"]["accuracy"]
        row = report.split(f"<b>{run}</b>", 1)[1].split("</tr>", 1)[0]
        verdict = {True: 'class="pass"', False: 'class="fail"', None: 'class=""'}
        assert verdict[meets_bar(run, entry["conditioning"]["accuracy"])] in row  # green or red by the run's own bar

    times = json.loads((out / "reports" / "demo_times.json").read_text())
    assert list(times["stages"]) == list(STAGES)
    assert all(stage["seconds"] >= 0 for stage in times["stages"].values())
    stage_sum = sum(stage["seconds"] for stage in times["stages"].values())
    rounding = 0.005 * (len(times["stages"]) + 1)  # every figure is rounded to 0.01 s, the total too
    assert times["total_seconds"] >= stage_sum - rounding
    assert summary["times"] == times
    gan = times["stages"]["gan"]
    assert list(gan["jobs"]) == list(RUNS) and gan["side_by_side"] == min(preset("tiny").demo.side_by_side, len(RUNS))
    assert all(job["seconds"] <= gan["seconds"] for job in gan["jobs"].values())  # each inside its stage
    assert gan["cpu_seconds"] >= sum(job["cpu_seconds"] for job in gan["jobs"].values())  # the workers' CPU counted
    steps = {run: json.loads((out / "gan" / run / "checkpoint" / "meta.json").read_text())["step"] for run in RUNS}
    tiny = preset("tiny")
    assert steps == {"rnagan": tiny.gan.steps, "reference": tiny.gan.steps, "baseline": tiny.demo.baseline_steps}


@pytest.mark.integration
def test_one_seed_gives_the_same_demo(tiny_demo: tuple[Path, dict], tmp_path: Path) -> None:
    """Steps, not seconds: a second run of the same config reproduces every figure of the first."""
    out, _ = tiny_demo
    again = tmp_path / "again"
    run_demo(again, preset("tiny"))
    first, second = (json.loads((ws / "reports" / "metrics.json").read_text()) for ws in (out, again))
    for metrics in (first, second):
        metrics.pop("created", None)
    assert first == second


@pytest.mark.integration  # reads the tiny demo's run
def test_tiny_demo_generates_only_from_held_out_profiles(tiny_demo: tuple[Path, dict]) -> None:
    out, _ = tiny_demo
    samples = pd.read_csv(out / "expression" / "samples.csv")
    test_ids = set(samples.loc[samples["split"] == "test", "sample_id"])
    for run in RUNS:
        manifest = pd.read_csv(out / "samples" / run / "manifest.csv")
        assert set(manifest["profile"]) == test_ids
        assert set(manifest["tissue"]) == set(CLASSES)
    index = pd.read_parquet(out / "tiles" / "index.parquet")
    split_of = samples.set_index("sample_id")["split"]
    extras = index[index["subset"] == "augmented_extra"]
    assert (extras["sample_id"].map(split_of) == "train").all()


@pytest.mark.integration  # evaluates the tiny demo's run again
def test_evaluating_a_demo_workspace_again_keeps_the_demo_page(tiny_demo: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = tiny_demo
    ws = Workspace(shutil.copytree(out, tmp_path / "ws"))
    demo_page = ws.report_html.read_text()
    ws.evaluation_html.unlink()
    result = CliRunner().invoke(app, ["evaluate", "--out", str(ws.root), "--preset", "tiny"])
    assert result.exit_code == 0, result.output
    assert ws.evaluation_html.is_file() and ws.report_html.read_text() == demo_page
