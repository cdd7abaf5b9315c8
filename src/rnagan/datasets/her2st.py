"""The bundled real paired cohort: five HER2+ breast cancer sections (her2st), one sample per spot.

Andersson et al. 2021 measured expression with legacy spatial transcriptomics arrays (100 µm spots,
200 µm apart) on serial sections of HER2+ tumours. Bundled (``data/her2st/``, see ``data/SOURCES.md``):
sections B4 (patient B) and C2–C5 (patient C, serial sections of one tumour), each as a her2st-layout
section small enough to ship: a mosaic of one 160 µm context patch per spot at 1.0 µm/px, the spot
table (mosaic centres, array position, the authors' cluster and its annotation), and raw counts.
Made by ``scripts/her2st_bundle.py``; read with :func:`rnagan.spatial.readers.read_bundled`.

Splits go by section, never by spot (neighbouring spots share tissue): :data:`SPLITS` trains on C2,
C3 and B4, validates on C4 and tests on C5. C5 is a new section of a tumour seen in training (patient
C), not a new patient: with two patients, a held-out patient would leave one patient to train on.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rnagan.errors import InputFileError

SECTIONS: dict[str, str] = {"B4": "B", "C2": "C", "C3": "C", "C4": "C", "C5": "C"}  # section → patient
SPLITS: dict[str, str] = {"C2": "train", "C3": "train", "B4": "train", "C4": "val", "C5": "test"}
BUNDLE_MPP = 1.0  # µm per pixel of the bundled mosaics
CONTEXT_UM = 160  # side of each spot's stored context patch

# Marker genes of the tissue compartments of HER2+ breast cancer (Andersson et al. 2021 annotated their
# clusters with these): plasma/B cells, HER2+ tumour epithelium, fibroblast stroma, adipocytes. The paired
# evaluation scores them and the her2st demo keeps them in its gene space (``spatial.include_genes``).
MARKERS: dict[str, tuple[str, ...]] = {
    "immune": ("IGKC", "IGHG1", "IGHG3", "IGHG4", "IGHA1", "IGHM", "IGLC2", "IGLC3", "JCHAIN", "MZB1"),
    "tumour": ("ERBB2", "GRB7", "KRT8", "KRT18", "KRT19", "KRT7"),
    "stroma": ("COL1A1", "COL1A2", "COL3A1", "COL6A1", "SPARC"),
    "adipose": ("FABP4", "ADIPOQ", "PLIN1", "LEP"),
}
MARKER_PANEL: tuple[str, ...] = tuple(g for genes in MARKERS.values() for g in genes)


def her2st_dir() -> Path:
    return Path(str(resources.files("rnagan.datasets") / "data" / "her2st"))


def section_files(name: str) -> tuple[Path, Path, Path]:
    """(image, spot table, counts) of one bundled section; read them with ``rnagan.spatial.readers.read_bundled``."""
    if name not in SECTIONS:
        raise InputFileError(f"no bundled her2st section {name!r}: choose from {', '.join(SECTIONS)}")
    root = her2st_dir()
    image = root / f"{name}_HE.jpg"
    if not image.is_file():
        raise InputFileError(f"the bundled her2st files are missing at {root}; reinstall rnagan")
    return image, root / f"{name}_spots.tsv", root / f"{name}_counts.tsv.gz"
