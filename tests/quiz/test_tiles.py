"""The tile pool: which tiles are collected, and that all of them reach the browser in one uniform shape."""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from rnagan.errors import InputFileError
from rnagan.quiz import tiles
from rnagan.quiz.db import init_db, make_engine, sync_tiles
from rnagan.workspace import Workspace


def test_workspace_gives_held_out_real_tiles_and_unperturbed_generated_ones(study_workspace: Workspace) -> None:
    refs = tiles.workspace_tiles(study_workspace)
    groups = Counter((r.generator, r.tissue) for r in refs)
    # 12 test tiles per tissue (the 12 train tiles stay out); 12 plain + 12 perturbed per run and tissue
    assert groups == {(g, t): 12 for g in ("real", "rnagan", "baseline") for t in ("lung_aca", "lung_n")}
    assert all("-test" in r.origin for r in refs if r.source == "real")
    assert not any("_p/" in r.origin for r in refs)


def test_select_filters_and_caps_each_group_reproducibly(study_workspace: Workspace) -> None:
    refs = tiles.workspace_tiles(study_workspace)
    chosen = tiles.select(refs, tissues=["lung_n"], generators=["rnagan"], per_group=5, seed=3)
    assert Counter((r.generator, r.tissue) for r in chosen) == {("real", "lung_n"): 5, ("rnagan", "lung_n"): 5}
    assert chosen == tiles.select(refs, tissues=["lung_n"], generators=["rnagan"], per_group=5, seed=3)
    assert chosen != tiles.select(refs, tissues=["lung_n"], generators=["rnagan"], per_group=5, seed=4)


def test_every_tile_has_one_size_one_length_and_no_metadata(study) -> None:
    _, pool, _ = study
    lengths = {len(t.data) for t in pool.tiles.values()}
    assert len(lengths) == 1
    for tile in pool.tiles.values():
        with Image.open(io.BytesIO(tile.data)) as image:
            assert image.size == (64, 64) and image.mode == "RGB" and image.format == "PNG"
            assert set(image.info) <= {"dpi"} and not image.getexif()


@pytest.mark.parametrize("image_format", ["jpeg", "png"])
def test_real_tiles_are_resized_like_generated_ones_and_padded_to_one_length(
    study_workspace: Workspace, image_format: str
) -> None:
    refs = tiles.select(tiles.workspace_tiles(study_workspace), per_group=3)
    ids = {r.key: f"id{i}" for i, r in enumerate(refs)}
    pool = tiles.build_pool(refs, ids, size=48, image_format=image_format, quality=80)
    assert len({len(t.data) for t in pool.tiles.values()}) == 1
    real = next(t for t in pool.tiles.values() if t.ref.source == "real")
    original = Image.open(io.BytesIO(real.ref.read())).convert("RGB")
    assert original.size == (128, 128)
    expected = np.asarray(original.resize((48, 48), tiles.RESAMPLE), dtype=float)
    served = np.asarray(Image.open(io.BytesIO(real.data)).convert("RGB"), dtype=float)
    assert np.abs(served - expected).mean() < (6 if image_format == "jpeg" else 1e-9)  # JPEG is lossy; PNG exact


def test_ids_are_random_opaque_tokens_kept_across_restarts(study_workspace: Workspace, tmp_path: Path) -> None:
    refs = tiles.workspace_tiles(study_workspace)
    engine = make_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    init_db(engine)
    ids = sync_tiles(engine, refs)
    assert sync_tiles(engine, refs) == ids  # a restart keeps them
    other = make_engine(f"sqlite:///{tmp_path / 'b.sqlite'}")
    init_db(other)
    assert set(sync_tiles(other, refs).values()).isdisjoint(ids.values())  # random, not derived from the tile
    assert {len(i) for i in ids.values()} == {22}
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) for i in ids.values())
    for ref in refs:
        for word in (ref.source, ref.generator, ref.tissue, Path(ref.origin).stem):
            assert word not in ids[ref.key]


def test_tile_responses_have_identical_headers_for_real_and_synthetic(client: TestClient, study) -> None:
    _, pool, _ = study
    headers = {}
    for source in ("real", "synthetic"):
        response = client.get(f"/tile/{pool.ids(source)[0]}")
        assert response.status_code == 200
        headers[source] = {k: v for k, v in response.headers.items() if k != "date"}
    assert headers["real"] == headers["synthetic"]
    assert headers["real"]["cache-control"] == "no-store"
    assert not {"etag", "last-modified", "set-cookie"} & set(headers["real"])
    assert client.get("/tile/unknown").status_code == 404


def test_a_folder_needs_images(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no PNG or JPEG"):
        tiles.folder_tiles(tmp_path, "real", "real")


def test_folder_sub_folders_are_tissues(tmp_path: Path) -> None:
    for tissue in ("colon", "lung"):
        (tmp_path / tissue).mkdir()
        Image.new("RGB", (32, 32), "pink").save(tmp_path / tissue / "a.jpg")
    refs = tiles.folder_tiles(tmp_path, "synthetic", "baseline")
    assert sorted(r.tissue for r in refs) == ["colon", "lung"]
    assert {r.generator for r in refs} == {"baseline"}


def test_a_pool_needs_both_sources(study_workspace: Workspace) -> None:
    real_only = [r for r in tiles.workspace_tiles(study_workspace) if r.source == "real"]
    with pytest.raises(InputFileError, match="real and synthetic"):
        tiles.build_pool(real_only, {r.key: r.key for r in real_only})
