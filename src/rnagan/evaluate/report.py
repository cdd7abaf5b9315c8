"""The evaluation report: one self-contained HTML page (images inlined as base64 PNG).

Readable without the workspace: contact sheets of real and generated tiles, the UMAP, the metric
tables, the memorisation pairs, the perturbation panels and every setting, rendered with the
template ``rnagan/templates/evaluation.html.j2`` through :func:`rnagan.html.render`.
"""

from __future__ import annotations

import io
import json
from typing import Any

import torch
from PIL import Image

from rnagan.evaluate.results import EvaluationResult
from rnagan.html import render
from rnagan.samples import sheet


def png_bytes(image: torch.Tensor) -> bytes:
    """uint8 (3, H, W) → PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).contiguous().numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def tiles_png(tiles: torch.Tensor, columns: int = 8) -> bytes:
    """A contact sheet of uint8 tiles (N, 3, H, W) as PNG bytes."""
    return png_bytes(sheet(tiles, columns=min(columns, len(tiles))))


def render_report(result: EvaluationResult, figures: dict[str, Any]) -> str:
    """HTML text of the report for ``result`` (as written to metrics.json) and its ``figures`` (PNG bytes)."""
    settings = json.dumps(result.settings.model_dump(mode="json"), indent=2)
    return render("evaluation.html.j2", metrics=result, figures=figures, settings_json=settings)
