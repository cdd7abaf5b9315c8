"""The evaluation report: one self-contained HTML page (images inlined as base64 PNG).

Readable without the workspace: contact sheets of real and generated tiles, the UMAP, the metric
tables, the memorisation pairs, the perturbation panels and every setting, rendered with the
jinja2 template ``templates/report.html.j2``.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime, timezone
from importlib import resources
from typing import Any

import jinja2
import torch
from PIL import Image

import rnagan
from rnagan.samples import sheet


def png_bytes(image: torch.Tensor) -> bytes:
    """uint8 (3, H, W) → PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).contiguous().numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def tiles_png(tiles: torch.Tensor, columns: int = 8) -> bytes:
    """A contact sheet of uint8 tiles (N, 3, H, W) as PNG bytes."""
    return png_bytes(sheet(tiles, columns=min(columns, len(tiles))))


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_report(metrics: dict[str, Any], figures: dict[str, Any]) -> str:
    """HTML text of the report for ``metrics`` (as written to metrics.json) and its ``figures`` (PNG bytes)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("rnagan.evaluate") / "templates")),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["fmt"] = _fmt
    environment.filters["img"] = data_uri
    return environment.get_template("report.html.j2").render(
        metrics=metrics,
        figures=figures,
        settings_json=json.dumps(metrics["settings"], indent=2),
        version=rnagan.__version__,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
