"""The workspace: one folder per stage, every file name in one place.

Each stage reads the previous stage's files and writes its own, so any stage can be rerun alone::

    ws = Workspace("runs/lung")
    ws.expression_matrix   # runs/lung/expression/matrix.parquet
    samples = read_samples(ws)  # expression/samples.csv, indexed by sample_id
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rnagan.errors import InputFileError

STAGES = ("tiles", "expression", "vae", "gan", "samples", "reports")
SAMPLE_COLUMNS = ("sample_id", "tissue", "split")  # what every stage reads from the samples table
PAIRING_FILE = "pairing.csv"  # next to the tile index; written by `rnagan gan train` (rnagan.gan.data)


@dataclass(frozen=True)
class Workspace:
    """The folder one study lives in; every stage's files are properties of it.

    ``Workspace("runs/lung").create()`` makes ``tiles/``, ``expression/``, ``vae/``, ``gan/``, ``samples/``
    and ``reports/``. Each stage reads the files of the stages before it and writes its own, so any
    stage can be rerun alone. Paths are only named here, never opened: ``ws.tile_store``,
    ``ws.expression_matrix``, ``ws.latents``, ``ws.gan_run("rnagan")``, ``ws.samples_run("rnagan")``,
    ``ws.metrics``.
    """

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    def create(self) -> Workspace:
        """Make the stage folders (idempotent) and return self."""
        for stage in STAGES:
            (self.root / stage).mkdir(parents=True, exist_ok=True)
        return self

    @property
    def config_file(self) -> Path:
        """YAML: the resolved config later commands start from (rnagan.workspace_config)."""
        return self.root / "config.yaml"

    # tiles/ ------------------------------------------------------------------------------------
    @property
    def tiles(self) -> Path:
        return self.root / "tiles"

    @property
    def tile_store(self) -> Path:
        """LMDB environment (a folder) holding encoded tiles keyed ``slide_id/x_y``."""
        return self.tiles / "store.lmdb"

    @property
    def tile_index(self) -> Path:
        """Parquet: key, slide_id, sample_id, x, y, level, mpp, tissue_fraction (+ label if known)."""
        return self.tiles / "index.parquet"

    @property
    def tile_pairing(self) -> Path:
        """CSV: slide_id, sample_id, rule — slides whose tiles belong to an expression sample of another name."""
        return self.tiles / PAIRING_FILE

    @property
    def thumbnails(self) -> Path:
        return self.tiles / "thumbnails"

    @property
    def tiling_summary(self) -> Path:
        return self.tiles / "summary.csv"

    # expression/ -------------------------------------------------------------------------------
    @property
    def expression(self) -> Path:
        return self.root / "expression"

    @property
    def expression_matrix(self) -> Path:
        """Parquet, samples × genes (unversioned Ensembl IDs in gene-space order), z-scored float32."""
        return self.expression / "matrix.parquet"

    @property
    def samples_table(self) -> Path:
        """CSV: sample_id, donor_id, tissue, split (train/val/test); read by every later stage."""
        return self.expression / "samples.csv"

    @property
    def scaler(self) -> Path:
        """Folder written by ``ExpressionScaler.save``: the transform reapplied to any later cohort."""
        return self.expression / "scaler"

    @property
    def coverage_report(self) -> Path:
        return self.expression / "coverage.json"

    # vae/ --------------------------------------------------------------------------------------
    @property
    def vae(self) -> Path:
        return self.root / "vae"

    @property
    def vae_checkpoint(self) -> Path:
        return self.vae / "checkpoint"

    @property
    def latents(self) -> Path:
        """Parquet keyed by sample_id: mu_0..mu_{d-1}, logvar_0..logvar_{d-1}."""
        return self.vae / "latents.parquet"

    @property
    def vae_metrics(self) -> Path:
        return self.vae / "metrics.json"

    # image/ ------------------------------------------------------------------------------------
    @property
    def image(self) -> Path:
        """The image stage's run (``rnagan image train``): checkpoint/, last/, samples/, log.jsonl."""
        return self.root / "image"

    # gan/ --------------------------------------------------------------------------------------
    @property
    def gan(self) -> Path:
        return self.root / "gan"

    def gan_run(self, name: str) -> Path:
        """One training run (``rnagan``, ``reference``, ``baseline``...): checkpoint/, samples/, tb/."""
        return self.gan / name

    # samples/ ----------------------------------------------------------------------------------
    @property
    def samples(self) -> Path:
        return self.root / "samples"

    def samples_run(self, name: str) -> Path:
        """Generated tiles of one run: PNGs + manifest.csv + contact sheets."""
        return self.samples / name

    # reports/ ----------------------------------------------------------------------------------
    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def metrics(self) -> Path:
        return self.reports / "metrics.json"

    @property
    def evaluation_html(self) -> Path:
        """``rnagan evaluate``'s page."""
        return self.reports / "evaluation.html"

    @property
    def report_html(self) -> Path:
        """A demo's page (``rnagan demo``); no other command writes it, so re-evaluating keeps it."""
        return self.reports / "report.html"


def read_samples(source: Workspace | str | Path) -> pd.DataFrame:
    """The samples table (``expression/samples.csv``) of a workspace, or at a path: the one reader.

    Every column is read as text (IDs such as ``007`` keep their zeros); the index is ``sample_id``;
    ``tissue`` and ``split`` (train/val/test) are required. A missing file or column raises
    :class:`InputFileError` naming the command that writes the table.
    """
    path = source.samples_table if isinstance(source, Workspace) else Path(source)
    if not path.is_file():
        raise InputFileError(f"no samples table at {path}: run `rnagan expr prepare` first")
    table = pd.read_csv(path, dtype=str)
    missing = [c for c in SAMPLE_COLUMNS if c not in table.columns]
    if missing:
        raise InputFileError(f"samples table {path} lacks the column(s) {missing}: rerun `rnagan expr prepare`")
    return table.set_index("sample_id")
