"""docs/quiz.md's load table is what benchmarks/results/quiz_load.json says (docs/scripts/quiz_figures.py)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_load_table_is_written_from_the_benchmark_json() -> None:
    script = runpy.run_path(str(ROOT / "docs" / "scripts" / "quiz_figures.py"))
    page = (ROOT / "docs" / "quiz.md").read_text()
    result = json.loads((ROOT / "benchmarks" / "results" / "quiz_load.json").read_text())
    assert script["render"](page, result) == page, "run python docs/scripts/quiz_figures.py"
    assert {"sqlite", "postgresql"} <= set(result["runs"]) and result["machine"]["note"]
