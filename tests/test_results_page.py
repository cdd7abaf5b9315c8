"""docs/results.md is what docs/scripts/results_page.py writes from the recorded results, never a hand edit."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "docs" / "scripts" / "results_page.py"


def load_script():
    spec = importlib.util.spec_from_file_location("results_page", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
def test_results_page_is_the_scripts_output() -> None:
    script = load_script()
    text = script.page()
    assert script.PAGE == ROOT / "docs" / "results.md"
    assert script.PAGE.read_text() == text, (
        "docs/results.md was edited by hand: run python docs/scripts/results_page.py"
    )
    assert script.main(["--check"]) == 0
    subprocess.run([sys.executable, str(SCRIPT), "--check"], check=True, cwd=ROOT)  # as a user runs it


def test_every_benchmark_result_file_is_on_the_page() -> None:
    text = load_script().page()
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json*")):
        assert f"→ {path.name}" in text, f"{path.name} has no row on the page"


def test_every_figure_row_names_its_n_and_machine() -> None:
    text = load_script().page()
    benchmarks = text.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in benchmarks.splitlines() if "→" in line]
    assert len(rows) >= 10
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 6 and all(cells), row  # script, figure, rnagan, baseline, n, machine


def test_a_hand_edit_is_caught(tmp_path: Path, monkeypatch) -> None:
    script = load_script()
    page = tmp_path / "results.md"
    page.write_text(script.page().replace("| GAN steps |", "| GAN steps (edited) |"))
    monkeypatch.setattr(script, "PAGE", page)
    assert script.main(["--check"]) == 1
