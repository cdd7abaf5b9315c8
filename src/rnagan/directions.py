"""Directions in μ learned from a workspace's training samples: gene-set scores, class labels, a random control.

What ``rnagan generate --direction NAME=DOSE`` moves a profile along (:mod:`rnagan.vae.directions` says
how a direction and its dose unit are learned). A NAME is one of, in this order of precedence:

- a gene set the caller gives (``--direction-genes NAME=G1,G2,...``);
- a shipped gene set (:data:`rnagan.datasets.her2st.MARKERS`: immune, tumour, stroma, adipose);
- a class of the samples table's ``tissue`` column (``lung_aca``: toward that class, the paper's shift);
- ``random``: a seeded random direction, the control (any change it makes is not a module's).

A gene set's score is the mean z of its genes' log expression over the training samples. In a spatial
workspace it is read from the import's raw counts (every measured gene, the very score the paired
evaluation's probe predicts); otherwise from the prepared matrix, whose genes are the model's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnagan.datasets.her2st import MARKERS
from rnagan.errors import InputFileError
from rnagan.pairing import read_latents
from rnagan.vae.directions import Direction, learn_direction, random_direction
from rnagan.workspace import Workspace, read_samples

RANDOM = "random"
_DOSE = r"[+-]?(\d+(\.\d*)?|\.\d+)"
_REQUEST = re.compile(rf"^(?P<name>[^=]+?)\s*=\s*(?P<doses>{_DOSE}(\s*,\s*{_DOSE})*)\s*$")


@dataclass(frozen=True)
class DirectionRequest:
    """``NAME=DOSE[,DOSE...]``: one edited twin per dose, each ``dose`` spreads along NAME's direction."""

    name: str
    doses: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> DirectionRequest:
        match = _REQUEST.match(text.strip())
        if match is None:
            raise InputFileError(
                f"direction {text!r} is not NAME=DOSE or NAME=DOSE,DOSE,... (e.g. immune=+1.5, lung_aca=-2,0,2)"
            )
        return cls(match["name"].strip(), tuple(float(d) for d in match["doses"].split(",")))


def label(name: str, dose: float) -> str:
    """How an edit is written in the manifest's ``perturbation`` column: ``immune=+1.5sd``."""
    return f"{name}={dose:+g}sd"


def parse_gene_sets(entries: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``["hypoxia=VEGFA,CA9,SLC2A1"]`` → {"hypoxia": ("VEGFA", "CA9", "SLC2A1")}."""
    sets: dict[str, tuple[str, ...]] = {}
    for text in entries:
        name, _, genes = text.partition("=")
        members = tuple(g.strip() for g in genes.split(",") if g.strip())
        if not name.strip() or not members:
            raise InputFileError(f"gene set {text!r} is not NAME=GENE,GENE,... (e.g. hypoxia=VEGFA,CA9,SLC2A1)")
        sets[name.strip()] = members
    return sets


def learn_directions(
    workspace: Workspace,
    names: Sequence[str],
    *,
    gene_sets: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
) -> dict[str, Direction]:
    """The direction of each of ``names``, learned from the workspace's training μ (see the module docstring).

    An unknown name is refused in one line that lists the names this workspace offers.
    """
    gene_sets = {**MARKERS, **(gene_sets or {})}  # the caller's sets shadow the shipped ones
    latents = read_latents(workspace.latents)
    samples = read_samples(workspace)
    train = latents.index[latents.index.isin(samples.index[samples["split"] == "train"])]
    if len(train) < 3:
        raise InputFileError(
            f"{workspace.latents}: fewer than 3 training samples with μ, so no direction can be learned"
        )
    mu = latents.loc[train].to_numpy(np.float64)
    classes = sorted(samples.loc[train, "tissue"].dropna().unique())
    wanted = [n for n in dict.fromkeys(names) if n in gene_sets]
    scores, source = _gene_set_scores(workspace, {n: gene_sets[n] for n in wanted}, train) if wanted else ({}, "")
    directions: dict[str, Direction] = {}
    for name in dict.fromkeys(names):
        if name in scores:
            measured = tuple(scores[name][1])
            directions[name] = learn_direction(name, mu, scores[name][0], source=source, genes=measured)
        elif name in gene_sets:
            raise InputFileError(f"direction {name!r}: none of its genes {', '.join(gene_sets[name])} is measured here")
        elif name in classes:
            indicator = (samples.loc[train, "tissue"] == name).to_numpy(np.float64)
            directions[name] = learn_direction(name, mu, indicator, source="label tissue")
        elif name == RANDOM:
            directions[name] = random_direction(name, mu, seed=seed)
        else:
            offered = [*gene_sets, *classes, RANDOM]
            raise InputFileError(
                f"unknown direction {name!r}: choose from {', '.join(offered)}, or define a gene set with "
                "--direction-genes NAME=GENE,GENE,..."
            )
    return directions


def _gene_set_scores(
    workspace: Workspace, gene_sets: Mapping[str, Sequence[str]], train: pd.Index
) -> tuple[dict[str, tuple[np.ndarray, list[str]]], str]:
    """Per set: (score of each ``train`` sample, the genes it used); and where the expression was read."""
    from rnagan.spatial.importer import expression_file

    if expression_file(workspace).is_file():
        from rnagan.spatial.genes import log_expression, module_scores
        from rnagan.spatial.prepare import read_imported

        counts, _ = read_imported(workspace)
        counts = counts.loc[counts.index.intersection(train)]
        logged = log_expression(counts)
        table = module_scores(logged, np.ones(len(logged), dtype=bool), gene_sets)
        used = {n: [g for g in members if g in logged.columns] for n, members in gene_sets.items()}
        return {n: (table[n].reindex(train).to_numpy(), used[n]) for n in table}, "genes (spatial counts)"
    matrix = pd.read_parquet(workspace.expression_matrix).loc[train]
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    for name, members in gene_sets.items():
        columns = _matrix_columns(members, matrix.columns)
        if columns:
            out[name] = (matrix[list(columns.values())].mean(axis=1).to_numpy(), list(columns))
    return out, "genes (prepared matrix)"


def _matrix_columns(genes: Sequence[str], columns: pd.Index) -> dict[str, str]:
    """Gene (symbol or Ensembl ID) → its column of the prepared matrix, for the genes it holds."""
    from rnagan.expression.genes import resolve_ids

    resolved, _ = resolve_ids(list(genes))
    present = set(map(str, columns))
    return {g: r for g, r in zip(genes, resolved, strict=True) if r is not None and r in present}
