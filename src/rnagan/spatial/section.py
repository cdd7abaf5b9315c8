"""A spatial section: an H&E image, the spot centres on it, and the raw counts measured at each spot.

Every reader (:mod:`rnagan.spatial.readers`) returns a :class:`Section` and :func:`check_section`
refuses what later stages could not use, one line naming the file and the fix. A spot's sample id
is ``<section>_<spot>``, so spots of different sections never collide and every patch cut from a
spot carries the spot's sample id (and therefore its split).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnagan.errors import InputFileError
from rnagan.expression.io import check_values
from rnagan.spatial.image import RegionReader

log = logging.getLogger(__name__)

# Optional per-spot columns kept from a spot table: array position, the authors' cluster, its annotation.
SPOT_EXTRA_COLUMNS = ("x", "y", "cluster", "annotation", "tissue")


@dataclass
class Section:
    """One section; ``spots`` and ``counts`` share their index (the spot ids of the source files)."""

    section_id: str
    donor_id: str
    image: RegionReader
    mpp: float  # µm per pixel of ``image``
    spots: pd.DataFrame  # pixel_x, pixel_y (spot centre in image px) [, x, y, cluster, annotation, tissue]
    counts: pd.DataFrame  # spots × genes, raw counts
    sources: dict[str, str] = field(default_factory=dict)  # what each part was read from, for messages

    def sample_ids(self) -> pd.Index:
        return pd.Index([f"{self.section_id}_{s}" for s in self.spots.index], name="sample_id")


def match_spots(spots: pd.DataFrame, counts: pd.DataFrame, *, spots_source: str, counts_source: str) -> pd.DataFrame:
    """The spots that have counts, in the spot table's order; refuses when fewer than half match."""
    common = spots.index.intersection(counts.index)
    if len(common) < max(1, 0.5 * min(len(spots), len(counts))):
        raise InputFileError(
            f"{spots_source}: only {len(common)} of {len(spots)} spot ids match the {len(counts)} rows of "
            f"{counts_source} (spots e.g. {', '.join(map(str, spots.index[:3]))}; counts e.g. "
            f"{', '.join(map(str, counts.index[:3]))}): give the spot table that belongs to these counts"
        )
    if len(common) < len(spots) or len(common) < len(counts):
        log.warning(
            "%s: %d of %d spots match a row of %s (%d rows); the %d spots without counts and %d rows without a "
            "spot are left out",
            spots_source,
            len(common),
            len(spots),
            counts_source,
            len(counts),
            len(spots) - len(common),
            len(counts) - len(common),
        )
    return spots.loc[spots.index.isin(common)]


def numeric_counts(counts: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Counts as float32 after refusing text cells, NaN and negative values (one line naming the first)."""
    kinds = np.array([dtype.kind for dtype in counts.dtypes])
    bad_columns = counts.columns[~np.isin(kinds, list("fiub"))]
    if len(bad_columns):
        column = bad_columns[0]
        converted = pd.to_numeric(counts[column], errors="coerce")
        row = converted.index[converted.isna() & counts[column].notna()]
        where = f"spot {row[0]}, gene {column}: {counts.loc[row[0], column]!r}" if len(row) else f"gene {column}"
        raise InputFileError(
            f"{source}: counts must be numbers; {len(bad_columns)} gene column(s) hold text, e.g. {where}"
        )
    values = counts.astype(np.float32)
    check_values(values, source=source)
    return values


def check_on_image(section: Section, half_width_px: float) -> None:
    """Refuse spots whose patch (centre ± ``half_width_px``) leaves the image, naming how many and the first."""
    width, height = section.image.size
    x, y = section.spots["pixel_x"].to_numpy(), section.spots["pixel_y"].to_numpy()
    off = (x - half_width_px < 0) | (y - half_width_px < 0) | (x + half_width_px > width) | (y + half_width_px > height)
    if off.any():
        i = int(np.argmax(off))
        raise InputFileError(
            f"{section.sources.get('spots', section.section_id)}: {int(off.sum())} of {len(off)} spots lie off the "
            f"{width}×{height} px image {section.sources.get('image', '')} or too near its edge for a "
            f"{2 * half_width_px:.0f} px patch (first: spot {section.spots.index[i]} at {x[i]:.0f}, {y[i]:.0f}); "
            "check that the coordinates are full-resolution pixels of this image (or lower --fov-um / --jitter-um)"
        )


def spot_frame(
    pixel_x: np.ndarray, pixel_y: np.ndarray, index: pd.Index, extra: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The spot table every reader returns: pixel centres first, then any known extra columns."""
    frame = pd.DataFrame({"pixel_x": np.asarray(pixel_x, float), "pixel_y": np.asarray(pixel_y, float)}, index=index)
    if extra is not None:
        for column in SPOT_EXTRA_COLUMNS:
            if column in extra.columns:
                frame[column] = extra[column].to_numpy()
    frame.index = pd.Index(frame.index.astype(str), name="spot")
    return frame
