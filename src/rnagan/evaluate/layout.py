"""The held-out section drawn at its spot positions: real patches beside the tiles generated from each spot.

"Virtual H&E from expression": each panel places one tile per spot where the spot sits on the array
(array ``x``, ``y`` when known, else the image pixel centres), so tissue structure — tumour nests,
immune aggregates, fat — can be compared by eye between the real section and each generated one.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw

from rnagan.config import Config

CELL_PX = 40  # side of one spot's tile on the figure
TITLE_PX = 22
GAP_PX = 8
PANELS_PER_ROW = 3
LABELS = {
    "real": "real H&E (held-out section)",
    "rnagan": "generated from each spot's expression (ours)",
    "shuffled": "ours, profiles shuffled across spots (floor)",
    "reference": "paper's input-only conditioning",
    "baseline": "noise only",
}


def grid_positions(obs: pd.DataFrame) -> np.ndarray:
    """(n, 2) integer cell positions of the spots: array coordinates in units of the array pitch."""
    columns = (
        ("x", "y") if {"x", "y"} <= set(obs.columns) and obs[["x", "y"]].notna().all().all() else ("pixel_x", "pixel_y")
    )
    xy = obs[list(columns)].to_numpy(float)
    steps = [np.diff(np.unique(xy[:, k])) for k in range(2)]
    pitch = min((s[s > 0].min() for s in steps if (s > 0).any()), default=1.0)
    return np.rint((xy - xy.min(axis=0)) / pitch).astype(int)


def layout_figure(obs: pd.DataFrame, panels: Mapping[str, pd.DataFrame], config: Config) -> bytes:
    """PNG of one panel per tile set (``sample_id``, ``tile`` uint8 (3, H, W)), first tile of each spot."""
    if config.spatial.layout_spots is not None:
        obs = obs.iloc[: config.spatial.layout_spots]
    cells = grid_positions(obs)
    width, height = (cells.max(axis=0) + 1) * CELL_PX
    images = [
        _panel(obs.index, cells, tiles, (width, height), LABELS.get(name, name)) for name, tiles in panels.items()
    ]
    columns = min(PANELS_PER_ROW, len(images))
    rows = -(-len(images) // columns)
    pitch_x, pitch_y = images[0].width + GAP_PX, images[0].height + GAP_PX
    figure = Image.new("RGB", (columns * pitch_x - GAP_PX, rows * pitch_y - GAP_PX), "white")
    for i, image in enumerate(images):
        figure.paste(image, ((i % columns) * pitch_x, (i // columns) * pitch_y))
    buffer = io.BytesIO()
    figure.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _panel(spots: pd.Index, cells: np.ndarray, tiles: pd.DataFrame, size: tuple[int, int], title: str) -> Image.Image:
    panel = Image.new("RGB", (int(size[0]), int(size[1]) + TITLE_PX), (235, 235, 235))
    ImageDraw.Draw(panel).text((4, 4), title, fill=(0, 0, 0))
    first = tiles.drop_duplicates("sample_id").set_index("sample_id")["tile"]
    for spot, (cx, cy) in zip(spots, cells, strict=True):
        if spot in first.index:
            panel.paste(_small(first[spot]), (int(cx * CELL_PX), int(cy * CELL_PX) + TITLE_PX))
    return panel


def _small(tile: torch.Tensor) -> Image.Image:
    image = Image.fromarray(tile.permute(1, 2, 0).numpy())
    return image.resize((CELL_PX, CELL_PX), Image.Resampling.BICUBIC)
