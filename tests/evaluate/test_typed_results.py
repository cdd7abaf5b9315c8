"""metrics.json is the typed result's JSON: it round-trips, the bundled file loads, a malformed one is refused."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from rnagan.demo.bundle import BUNDLE, METRICS
from rnagan.errors import InputFileError
from rnagan.evaluate.results import EvaluationResult, MissingRun, RunResult, load_metrics


@pytest.fixture
def bundled() -> dict[str, Any]:
    return json.loads((BUNDLE / METRICS).read_text())


def test_the_bundled_metrics_load_with_every_number_as_written(bundled: dict[str, Any]) -> None:
    result = load_metrics(BUNDLE / METRICS)
    assert isinstance(result.runs["rnagan"], RunResult)
    assert result.runs["rnagan"].fid.value == bundled["runs"]["rnagan"]["fid"]["value"]
    assert (
        result.classifier.real_test.per_tissue["lung_n"].accuracy
        == (bundled["classifier"]["real_test"]["per_tissue"]["lung_n"]["accuracy"])
    )
    assert result.settings.evaluate == bundled["settings"]["evaluate"]  # as recorded, not re-read through today's
    assert result.runs["rnagan"].conditioning.accuracy_ci95 is None  # older than the Wilson interval


def test_a_result_round_trips_through_its_json(bundled: dict[str, Any], tmp_path: Path) -> None:
    bundled["runs"]["rnagan"]["diversity"]["lung_n"]["ratio"] = math.nan  # one real tile: no pairs to measure
    bundled["runs"]["reference"] = {"status": "missing", "folder": "samples/reference"}
    result = EvaluationResult.model_validate(bundled)
    path = tmp_path / "metrics.json"
    path.write_text(result.model_dump_json(indent=2))
    again = load_metrics(path)
    assert math.isnan(again.runs["rnagan"].diversity["lung_n"].ratio)
    assert isinstance(again.runs["reference"], MissingRun)
    assert again.model_dump_json() == result.model_dump_json()


DELETE = object()


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("runs.rnagan.fid.value", "high", "runs.rnagan.fid.value"),
        ("runs.baseline.memorisation.n_flagged", DELETE, "runs.baseline.memorisation.n_flagged"),
        ("real.probe.per_tissue.lung_n.recall", 0.5, "real.probe.per_tissue.lung_n.recall"),  # not a field
        ("runs.rnagan.status", "done", "runs.rnagan"),
    ],
)
def test_a_malformed_metrics_file_is_refused_in_one_line_naming_the_field(
    bundled: dict[str, Any], tmp_path: Path, field: str, value: Any, named: str
) -> None:
    *parents, last = field.split(".")
    block = bundled
    for key in parents:
        block = block[key]
    if value is DELETE:
        del block[last]
    else:
        block[last] = value
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(bundled))
    with pytest.raises(
        InputFileError, match=re.escape(f"{path} is not a metrics file of this rnagan: {named}: ")
    ) as err:
        load_metrics(path)
    assert "\n" not in str(err.value)


def test_a_file_that_is_not_json_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text('{"settings": ')
    with pytest.raises(InputFileError, match="not a metrics file") as err:
        load_metrics(path)
    assert "\n" not in str(err.value)


def test_the_pages_read_fidelity_through_the_result(bundled: dict[str, Any]) -> None:
    bundled["runs"]["reference"] = {"status": "missing", "folder": "samples/reference"}
    result = EvaluationResult.model_validate(bundled)
    rnagan = bundled["runs"]["rnagan"]["conditioning"]
    assert result.fidelity("rnagan").accuracy == rnagan["accuracy"]
    assert result.fidelity("reference") is None and result.measured("reference") is None
    assert result.fidelity("not asked for") is None
    assert result.fidelity("rnagan").recall("lung_aca") == rnagan["per_tissue"]["lung_aca"]["accuracy"]
    assert result.fidelity("rnagan").recall("lung_xyz") is None
