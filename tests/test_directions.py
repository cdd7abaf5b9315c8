"""Directions learned from a workspace: a planted gene set, a class, the control, and refused names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnagan.directions import DirectionRequest, label, learn_directions, parse_gene_sets
from rnagan.errors import InputFileError
from rnagan.workspace import Workspace

GENES = ["ENSG00000141510", "ENSG00000146648", "ENSG00000133703", "ENSG00000171862"]  # TP53, EGFR, KRAS, PTEN


def _workspace(root: Path, seed: int = 0) -> tuple[Workspace, np.ndarray, np.ndarray]:
    """μ (d = 8) carries a planted TP53+EGFR module score along v and the class 'b' along w."""
    rng = np.random.default_rng(seed)
    n, d = 240, 8
    v, w = np.eye(d)[1], np.eye(d)[5]
    module = rng.standard_normal(n)
    classes = np.where(rng.random(n) < 0.5, "a", "b")
    mu = rng.standard_normal((n, d)) + 1.5 * module[:, None] * v + 2.0 * (classes == "b")[:, None] * w
    z = rng.standard_normal((n, len(GENES))) * 0.5
    z[:, :2] += module[:, None]  # TP53 and EGFR follow the module
    z[:, 2] += 2.0 * (classes == "b")  # KRAS follows the class
    ids = [f"s{i:03d}" for i in range(n)]
    ws = Workspace(root).create()
    ws.samples_table.parent.mkdir(parents=True, exist_ok=True)
    split = np.where(np.arange(n) < 200, "train", "test")
    pd.DataFrame({"sample_id": ids, "tissue": classes, "split": split}).to_csv(ws.samples_table, index=False)
    pd.DataFrame(z, index=pd.Index(ids, name="sample_id"), columns=GENES).to_parquet(ws.expression_matrix)
    ws.latents.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(mu, columns=[f"mu_{k}" for k in range(d)]).assign(sample_id=ids)
    table.to_parquet(ws.latents, index=False)
    return ws, v, w


def test_gene_set_and_class_directions_point_along_the_planted_ones(tmp_path: Path) -> None:
    ws, v, w = _workspace(tmp_path / "ws")
    found = learn_directions(ws, ["p53egfr", "b", "random"], gene_sets={"p53egfr": ("TP53", "EGFR")})
    assert found["p53egfr"].unit @ v > 0.9 and found["p53egfr"].genes == ("TP53", "EGFR")
    assert found["p53egfr"].samples == 200 and found["p53egfr"].source == "genes (prepared matrix)"
    assert found["b"].unit @ w > 0.9 and found["b"].source == "label tissue"
    assert abs(found["random"].unit @ v) < 0.9
    other = learn_directions(ws, ["kras"], gene_sets={"kras": ("KRAS",)})["kras"]
    assert other.unit @ w > 0.9  # a gene set that follows something else points elsewhere


def test_unknown_names_and_unmeasured_sets_are_refused_naming_the_choices(tmp_path: Path) -> None:
    ws, _, _ = _workspace(tmp_path / "ws")
    with pytest.raises(InputFileError) as refused:
        learn_directions(ws, ["immnue"])
    message = str(refused.value)
    assert "\n" not in message
    assert all(name in message for name in ("immune", "tumour", "stroma", "adipose", "a, b", "random"))
    with pytest.raises(InputFileError, match="none of its genes"):
        learn_directions(ws, ["adipose"])  # FABP4, ADIPOQ, PLIN1, LEP: none in this matrix


def test_requests_and_gene_sets_parse_or_are_refused() -> None:
    assert DirectionRequest.parse("immune=+1.5") == DirectionRequest("immune", (1.5,))
    assert DirectionRequest.parse("lung aca = -2, 0,2") == DirectionRequest("lung aca", (-2.0, 0.0, 2.0))
    assert label("immune", 0.0) == "immune=+0sd" and label("immune", -1.5) == "immune=-1.5sd"
    for bad in ("immune", "immune=up", "=1", "immune=1,,2"):
        with pytest.raises(InputFileError, match="NAME=DOSE"):
            DirectionRequest.parse(bad)
    assert parse_gene_sets(["hyp=VEGFA, CA9"]) == {"hyp": ("VEGFA", "CA9")}
    with pytest.raises(InputFileError, match="NAME=GENE"):
        parse_gene_sets(["hyp="])
