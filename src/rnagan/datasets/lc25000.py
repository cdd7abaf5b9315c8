"""The bundled demo cohort: LC25000 lung H&E tiles (benign, adenocarcinoma, squamous cell carcinoma).

The package ships the 224×224 px JPEG copy of the 740 LC25000 lung tiles that are one per source image
(``subset == "unique"``) plus 751 augmented copies (rotations, flips) of the benign ones
(``subset == "augmented_extra"``); see ``data/SOURCES.md`` and ``data/lc25000/README.md``.

Two things LC25000 does not record are made explicit here, because the pipeline's splits need them:

- **sample**: one per source image. LC25000 made its 5,000 images per class by augmenting ~250
  originals; LC25000-clean clusters those near-duplicates, so (label, cluster) names one source image.
  An augmented copy carries its original's cluster and hence its original's ``sample_id``: it follows
  that sample into whatever split the sample lands in, so no augmented twin straddles train and test.
- **donor**: LC25000 gives no patient ids. Samples are grouped ``samples_per_donor`` at a time within a
  class (in cluster-id order, which carries no meaning, so the grouping is arbitrary), so that the
  donor-grouped split and the simulated donor effects of :func:`rnagan.datasets.simulate.simulate_counts`
  have something to act on. A donor therefore never spans two classes.

Example::

    tiles = load_lc25000()                     # 1,491 rows
    samples = tiles.drop_duplicates("sample_id")  # 740 source images
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from rnagan.errors import InputFileError

CLASSES: tuple[str, ...] = ("lung_n", "lung_aca", "lung_scc")
CLASS_NAMES: dict[str, str] = {
    "lung_n": "benign lung tissue",
    "lung_aca": "lung adenocarcinoma",
    "lung_scc": "lung squamous cell carcinoma",
}
TILE_SIZE = 224  # pixels of the bundled copy
FIELD_UM = 224.0  # side of a tile in µm: at 224 px red blood cells (7–8 µm) measure about 7 px


def lc25000_dir() -> Path:
    """Folder of the bundled tiles and their ``labels.csv``."""
    return Path(str(resources.files("rnagan.datasets") / "data" / "lc25000"))


def load_lc25000(*, samples_per_donor: int = 4, include_augmented: bool = True) -> pd.DataFrame:
    """The bundled tiles, one row each, with the sample and donor each belongs to.

    Columns: ``path`` (absolute, str), ``label`` (``lung_n``/``lung_aca``/``lung_scc``), ``label_name``,
    ``cluster`` (LC25000-clean cluster id within the label), ``subset`` (``unique`` or
    ``augmented_extra``), ``sample_id`` (``<label>_c<cluster>``, one per source image) and
    ``donor_id`` (``<label>_d<k>``, ``samples_per_donor`` samples each). Rows are ordered by label,
    then cluster, then subset (the unique tile first).
    """
    if samples_per_donor < 1:
        raise ValueError(f"samples_per_donor must be >= 1, got {samples_per_donor}")
    root = lc25000_dir()
    labels_csv = root / "labels.csv"
    if not labels_csv.is_file():
        raise InputFileError(f"the bundled LC25000 labels are missing at {labels_csv}; reinstall rnagan")
    table = pd.read_csv(labels_csv)
    if not include_augmented:
        table = table[table["subset"] == "unique"]
    table = table.assign(path=[str(root / f) for f in table["file"]]).drop(columns="file")
    table["sample_id"] = table["label"] + "_c" + table["cluster"].map("{:03d}".format)

    # Donors: consecutive runs of samples within a class, in cluster order.
    unique = table.loc[table["subset"] == "unique", ["label", "cluster", "sample_id"]].sort_values(["label", "cluster"])
    rank = unique.groupby("label").cumcount() // samples_per_donor
    donor_of = pd.Series((unique["label"] + "_d" + rank.map("{:02d}".format)).to_numpy(), index=unique["sample_id"])
    orphans = set(table["sample_id"]) - set(donor_of.index)
    if orphans:
        raise InputFileError(f"augmented tiles without their original in labels.csv: {sorted(orphans)[:5]}")
    table["donor_id"] = table["sample_id"].map(donor_of)

    class_rank = table["label"].map({c: i for i, c in enumerate(CLASSES)})
    table = table.assign(_class=class_rank, _extra=table["subset"] != "unique")
    table = table.sort_values(["_class", "cluster", "_extra", "path"]).reset_index(drop=True)
    return table[["path", "label", "label_name", "cluster", "subset", "sample_id", "donor_id"]]


def lc25000_samples(tiles: pd.DataFrame) -> pd.DataFrame:
    """One row per sample (source image): ``sample_id``, ``donor_id``, ``tissue`` (the class label)."""
    samples = tiles.drop_duplicates("sample_id")[["sample_id", "donor_id", "label"]]
    return samples.rename(columns={"label": "tissue"}).reset_index(drop=True)
