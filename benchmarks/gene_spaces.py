"""Spatial gene spaces side by side: which ranking keeps the biology, and what it does to the β-VAE.

On the bundled her2st cohort (its own splits: train C2, C3, B4; test C5), each variant chooses
``spatial.hvg_genes`` genes from the training spots: ``seurat`` (dispersion) or ``seurat_v3`` (raw-count
variance after a loess fit), each alone and with the compartment marker panel kept
(``spatial.include_genes`` = ``rnagan.datasets.her2st.MARKER_PANEL``, what the her2st demo does). Per variant:
how many of the panel's markers the space holds, and the ``small`` β-VAE trained on it: held-out RMSE over
the RMSE of predicting the training mean (lower is better; the same genes on both sides, so comparable across
spaces) and the silhouette of μ by annotated class on the test section::

    python benchmarks/gene_spaces.py

Results go to ``benchmarks/results/gene_spaces.json``.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from rnagan.config import preset
from rnagan.datasets.her2st import MARKER_PANEL, SPLITS
from rnagan.expression.genes import resolve_ids
from rnagan.spatial.importer import import_sections
from rnagan.spatial.patches import PatchGeometry
from rnagan.spatial.prepare import prepare_spatial
from rnagan.spatial.readers import read_bundled
from rnagan.vae.train import train_vae
from rnagan.workspace import Workspace

RESULTS = Path(__file__).parent / "results" / "gene_spaces.json"
VARIANTS = {
    "seurat": ("seurat", False),
    "seurat_v3": ("seurat_v3", False),
    "seurat + panel": ("seurat", True),
    "seurat_v3 + panel": ("seurat_v3", True),
}


def measure(ws: Workspace, flavor: str, panel: bool) -> dict[str, object]:
    cfg = preset("small")
    cfg.spatial.hvg_flavor = flavor
    cfg.spatial.include_genes = list(MARKER_PANEL) if panel else []
    prepared = prepare_spatial(ws, cfg)
    space = set(prepared.matrix.columns)
    ids = resolve_ids(list(MARKER_PANEL))[0]
    held = [g for g, i in zip(MARKER_PANEL, ids, strict=True) if i in space]
    metrics = train_vae(ws, cfg, overwrite=True)
    test = metrics["test"]
    return {
        "genes": len(space),
        "markers_kept": len(held),
        "markers_missing": [g for g in MARKER_PANEL if g not in held],
        "vae_rmse_over_mean_baseline": test["rmse"] / test["rmse_train_mean"],
        "vae_test_spots": test["n"],
        "silhouette_mu_test": metrics.get("silhouette_mu_test"),
    }


def main() -> None:
    started = time.perf_counter()
    cfg = preset("small")
    with tempfile.TemporaryDirectory() as scratch:
        ws = Workspace(Path(scratch) / "ws").create()
        import_sections(read_bundled(), ws, PatchGeometry.from_config(cfg.spatial), splits=SPLITS)
        variants = {name: measure(ws, flavor, panel) for name, (flavor, panel) in VARIANTS.items()}
    result = {
        "what": "bundled her2st, genes chosen on the training sections; small β-VAE per gene space",
        "hvg_genes": cfg.spatial.hvg_genes,
        "panel_size": len(MARKER_PANEL),
        "variants": variants,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "load_average_1min": os.getloadavg()[0],
        },
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for name, v in variants.items():
        print(
            f"{name:18s} markers {v['markers_kept']}/{len(MARKER_PANEL)}  VAE RMSE/baseline "
            f"{v['vae_rmse_over_mean_baseline']:.3f}  silhouette {v['silhouette_mu_test']}"
        )


if __name__ == "__main__":
    main()
