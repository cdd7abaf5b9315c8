"""Draws docs/img/her2st_layout.png: the held-out her2st section, real patches beside generated tiles.

Run from the repository root after the her2st demo: ``python docs/scripts/her2st_layout.py demo-her2st``
(the demo's workspace). The figure is the paired evaluation's own (``reports/spatial_layout.png``:
real, ours, ours from shuffled profiles, reference conditioning, noise only), halved and reduced to
256 colours for the docs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from rnagan.evaluate.paired_run import LAYOUT_FILE
from rnagan.workspace import Workspace

OUT = Path(__file__).resolve().parents[1] / "img" / "her2st_layout.png"


def main(workspace: Path) -> None:
    with Image.open(Workspace(workspace).reports / LAYOUT_FILE) as image:
        half = image.convert("RGB").resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    half.quantize(256).save(OUT, optimize=True)  # 256 colours: far fewer bytes, the same look
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
