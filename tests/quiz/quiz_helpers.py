"""Helpers of the quiz tests: a small study workspace, and playing through pages like a browser."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image, ImageFilter

from rnagan.slides.store import TileStore, encode_tile, tile_key
from rnagan.workspace import Workspace

LC25000 = Path(str(resources.files("rnagan.datasets") / "data" / "lc25000"))
TISSUES = ("lung_aca", "lung_n")
ADMIN = "test-admin-token"


def _images(tissue: str, start: int, n: int) -> list[Image.Image]:
    files = sorted((LC25000 / tissue).glob("*.jpg"))[start : start + n]
    return [Image.open(f).convert("RGB").resize((64, 64), Image.Resampling.LANCZOS) for f in files]  # small: fast


def make_workspace(root: Path, n: int = 12, slides: int = 4) -> Workspace:
    """Real: n test tiles per tissue from ``slides`` slides, plus train tiles that must stay out; synthetic: runs
    rnagan and baseline, n tiles per tissue drawn for n/2 profiles (each profile in both runs)."""
    ws = Workspace(root).create()
    rows, samples = [], []
    with TileStore(ws.tile_store, readonly=False) as store:
        for tissue in TISSUES:
            images = _images(tissue, 0, 2 * n)
            parts = [(f"{tissue}-test{j}", "test", images[j::slides][: n // slides]) for j in range(slides)]
            for sample, split, chosen in [*parts, (f"{tissue}-train", "train", images[n:])]:
                samples.append({"sample_id": sample, "donor_id": sample, "tissue": tissue, "split": split})
                for i, image in enumerate(chosen):
                    key = tile_key(sample, i, 0)
                    store.put_many([(key, encode_tile(np.asarray(image.resize((128, 128))), "jpeg", 80))])
                    rows.append(
                        {
                            "key": key,
                            "slide_id": sample,
                            "sample_id": sample,
                            "x": i,
                            "y": 0,
                            "level": 0,
                            "mpp": 0.5,
                            "tissue_fraction": 1.0,
                        }
                    )
    pd.DataFrame(rows).to_parquet(ws.tile_index)
    pd.DataFrame(samples).to_csv(ws.samples_table, index=False)
    for run, blur in (("rnagan", 0.6), ("baseline", 1.5)):
        _samples_run(ws.samples_run(run), blur, n)
    return ws


def _samples_run(folder: Path, blur: float, n: int) -> None:
    """Stand-ins for generated tiles (64 px PNG): other LC25000 tiles, blurred, plus a perturbed profile to skip."""
    rows = []
    for tissue in TISSUES:
        for i, image in enumerate(_images(tissue, 2 * n, n)):
            for perturbation in ("", "EGFR=+2"):
                path = f"tiles/{tissue}{perturbation and '_p'}/{i:04d}.png"
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                image.filter(ImageFilter.GaussianBlur(blur)).save(folder / path)
                profile = f"{tissue}-profile{i // 2}"
                rows.append(
                    {
                        "profile": f"{profile}{perturbation and '_p'}",
                        "base_profile": profile,
                        "perturbation": perturbation,
                        "source": "cohort",
                        "tissue": tissue,
                        "split": "test",
                        "seed": 0,
                        "noise_index": i % 2,
                        "path": path,
                    }
                )
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)


def form_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page's form (csrf, tile, nonce)."""
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def start_quiz(client: TestClient) -> dict[str, str]:
    page = client.get("/quiz")
    response = client.post("/quiz/start", data={"csrf": form_fields(page.text)["csrf"]})
    assert response.status_code == 200 and "Tile 1 of" in response.text
    return form_fields(response.text)


def play_through(client: TestClient, answer: str = "real") -> tuple[list[str], list[str]]:
    """Start a play and answer every round; the tile ids shown and every page the quiz sent, in order."""
    page = client.post("/quiz/start", data={"csrf": form_fields(client.get("/quiz").text)["csrf"]})
    shown, pages = [], [page.text]
    while "nonce" in (fields := form_fields(page.text)):
        shown.append(fields["tile"])
        page = client.post("/quiz/answer", data={**fields, "answer": answer})
        pages.append(page.text)
    return shown, pages


def pixel_hash(data: bytes) -> str:
    """What a person sees of an image: its decoded RGB pixels, whatever the file's bytes or name."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert("RGB"))
    return hashlib.sha256(repr(rgb.shape).encode() + rgb.tobytes()).hexdigest()


def create_invite(client: TestClient, label: str = "pathologist") -> str:
    """Create one invite as admin and return its join path."""
    page = client.get("/admin", params={"token": ADMIN})
    client.post("/admin/invites", data={"csrf": form_fields(page.text)["csrf"], "label": label, "count": 1})
    return re.findall(r"/rate/join/[\w-]+", client.get("/admin").text)[-1]


def rate_through(client: TestClient, link: str, quality: str = "4") -> list[str]:
    """Join by ``link`` and rate every tile; the tile ids rated, in order."""
    page = client.post(link, data={"csrf": form_fields(client.get(link).text)["csrf"]})
    rated = []
    while "nonce" in (fields := form_fields(page.text)):
        rated.append(fields["tile"])
        rating = {"tissue": "lung_n", "quality": quality, "artifacts": "no", "comment": "fine"}
        page = client.post("/rate/answer", data={**fields, **rating})
    return rated


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
