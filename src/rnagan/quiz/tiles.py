"""Collect real and synthetic tiles and re-encode them into one uniform pool.

Every tile, whatever its origin, goes through the same steps at start-up — decode, convert to RGB,
resize to one size with one filter, encode with one encoder, pad to one byte length — so nothing the
browser receives besides the pixels themselves can tell a real tile from a synthetic one. Where a tile
came from (source, generator, tissue) stays in server memory and the database, never in a response.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from rnagan.errors import InputFileError
from rnagan.samples import STORE
from rnagan.slides.store import TileStore, decode_tile
from rnagan.workspace import Workspace

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# torchvision's resize(antialias=True), which brings real tiles to the GAN's size for training, is
# designed to match PIL's antialiased bilinear filter: real tiles reach the quiz the way they reached the GAN.
RESAMPLE = Image.Resampling.BILINEAR
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
UNKNOWN_TISSUE = "unknown"


@dataclass(frozen=True)
class TileRef:
    """Where one tile comes from. Server-side only: nothing here is ever sent to a browser."""

    source: str  # "real" or "synthetic"
    generator: str  # "real" for real tiles; the GAN run (rnagan, reference, baseline...) otherwise
    tissue: str
    origin: str  # a file path, or a key of the tile store at ``store``
    store: Path | None = None
    parent: str = ""  # the slide or profile it comes from; "" for a file of its own

    @property
    def image(self) -> str:
        """The source image: tiles that share one never go to both the rating set and the quiz pool."""
        return self.parent or f"file:{self.store or ''}|{self.origin}"

    @property
    def key(self) -> str:
        """Stable across restarts (the database keys answers by it); a hash, so no path leaks to the DB's users."""
        raw = f"{self.source}|{self.generator}|{self.store or ''}|{self.origin}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def read(self) -> bytes:
        if self.store is None:
            return Path(self.origin).read_bytes()
        with TileStore(self.store) as store:
            return store.get_bytes(self.origin)


@dataclass
class PooledTile:
    id: str  # random and opaque: the only name a browser ever sees
    ref: TileRef
    data: bytes = field(repr=False)


@dataclass
class TilePool:
    """The re-encoded tiles by opaque id, all of one size, format and byte length."""

    tiles: dict[str, PooledTile]
    size: int
    image_format: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.image_format]

    def ids(self, source: str | None = None) -> list[str]:
        return [t.id for t in self.tiles.values() if source is None or t.ref.source == source]

    def tissues(self) -> list[str]:
        return sorted({t.ref.tissue for t in self.tiles.values()})


# Collecting ------------------------------------------------------------------------------------


def workspace_tiles(workspace: Workspace, generators: Iterable[str] | None = None) -> list[TileRef]:
    """Held-out real tiles (split == test) of the tile store, and every generated-samples run under samples/."""
    refs = _workspace_real(workspace) if workspace.tile_index.is_file() else []
    runs = sorted(p for p in workspace.samples.glob("*") if (p / "manifest.csv").is_file())
    wanted = set(generators) if generators is not None else None
    for run in runs:
        if wanted is None or run.name in wanted:
            refs += samples_run_tiles(run, generator=run.name)
    return refs


def _workspace_real(workspace: Workspace) -> list[TileRef]:
    index = pd.read_parquet(workspace.tile_index, columns=["key", "slide_id", "sample_id"])
    if not workspace.samples_table.is_file():
        raise InputFileError(f"{workspace.samples_table} is missing: it says which samples are held out (split)")
    samples = pd.read_csv(workspace.samples_table, dtype=str, keep_default_na=False)
    test = samples.loc[samples["split"] == "test", ["sample_id", "tissue"]]
    rows = index.astype({"sample_id": str}).merge(test, on="sample_id")
    return [
        TileRef("real", "real", tissue or UNKNOWN_TISSUE, key, workspace.tile_store, f"slide:{slide}")
        for key, slide, tissue in zip(rows["key"], rows["slide_id"], rows["tissue"], strict=True)
    ]


def samples_run_tiles(folder: Path, generator: str) -> list[TileRef]:
    """A generated-samples run (``manifest.csv``); perturbed profiles are left out: their tissue is not a label.

    Tiles drawn for one profile share a parent, in every run: they are views of one expression profile.
    """
    manifest = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    missing = {"tissue", "path", "perturbation"} - set(manifest.columns)
    if missing:
        raise InputFileError(f"{folder / 'manifest.csv'} lacks column(s) {', '.join(sorted(missing))}")
    plain = manifest[manifest["perturbation"] == ""]
    profiles = plain["base_profile"] if "base_profile" in plain.columns else plain["path"]
    keyed = "key" in plain.columns and len(plain) > 0 and bool((plain["key"] != "").all())
    store, origins = (folder / STORE, plain["key"]) if keyed else (None, [str(folder / p) for p in plain["path"]])
    return [
        TileRef("synthetic", generator, tissue or UNKNOWN_TISSUE, origin, store, parent=f"profile:{profile}")
        for tissue, origin, profile in zip(plain["tissue"], origins, profiles, strict=True)
    ]


def folder_tiles(folder: Path, source: str, generator: str) -> list[TileRef]:
    """A samples run, a tile store, or a folder of PNG/JPEG files (one sub-folder per tissue, optionally)."""
    if (folder / "manifest.csv").is_file():
        return samples_run_tiles(folder, generator)
    if (folder / "data.mdb").is_file():
        return store_tiles(folder, source, generator)
    if not folder.is_dir():
        raise InputFileError(f"{folder} is not a folder of tiles, a samples run or a tile store")
    refs = [
        TileRef(source, generator, _tissue_of(path, folder), str(path))
        for path in sorted(folder.rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    ]
    if not refs:
        raise InputFileError(f"no PNG or JPEG tiles in {folder}")
    return refs


def _tissue_of(path: Path, folder: Path) -> str:
    parts = path.relative_to(folder).parts
    return parts[0] if len(parts) > 1 else UNKNOWN_TISSUE


def store_tiles(store: Path, source: str, generator: str) -> list[TileRef]:
    """Every tile of a store; the tissue comes from the ``label`` column of an ``index.parquet`` beside it."""
    index = store.parent / "index.parquet"
    labels: Mapping[str, str] = {}
    if index.is_file():
        table = pd.read_parquet(index)
        if "label" in table.columns:
            labels = dict(zip(table["key"], table["label"].astype(str), strict=True))
    with TileStore(store) as opened:
        keys = list(opened.keys())
    return [
        TileRef(source, generator, labels.get(key, UNKNOWN_TISSUE), key, store, f"slide:{store}|{key.split('/')[0]}")
        for key in keys
    ]


def select(
    refs: list[TileRef],
    *,
    tissues: Iterable[str] | None = None,
    generators: Iterable[str] | None = None,
    per_group: int | None = None,
    seed: int = 0,
) -> list[TileRef]:
    """Keep the wanted tissues and generators, then at most ``per_group`` tiles per (generator, tissue), seeded."""
    keep_t = set(tissues) if tissues else None
    keep_g = set(generators) if generators else None
    groups: dict[tuple[str, str], list[TileRef]] = defaultdict(list)
    for ref in refs:
        synthetic_unwanted = ref.source == "synthetic" and keep_g is not None and ref.generator not in keep_g
        if (keep_t is None or ref.tissue in keep_t) and not synthetic_unwanted:
            groups[(ref.generator, ref.tissue)].append(ref)
    rng = random.Random(seed)
    chosen: list[TileRef] = []
    for group in sorted(groups):
        members = groups[group]
        chosen += members if per_group is None or len(members) <= per_group else rng.sample(members, per_group)
    return chosen


# Re-encoding -----------------------------------------------------------------------------------


def build_pool(
    refs: list[TileRef],
    ids: Mapping[str, str],
    *,
    size: int | None = None,
    image_format: str = "png",
    quality: int = 90,
) -> TilePool:
    """Re-encode every tile the same way; ``ids`` maps each ref's stable key to its opaque id.

    ``size`` defaults to the most common size of the synthetic tiles (the generator's output size).
    """
    if image_format not in CONTENT_TYPES:
        raise InputFileError(f"unknown tile format {image_format!r}: use png or jpeg")
    sources = Counter(ref.source for ref in refs)
    if sources["real"] == 0 or sources["synthetic"] == 0:
        raise InputFileError(f"the quiz needs real and synthetic tiles; found {dict(sources) or 'none'}")
    images = [_rgb(ref) for ref in refs]
    size = size or _common_size(images, refs)
    encoded = [encode_uniform(image, size, image_format, quality) for image in images]
    length = max(len(data) for data in encoded)
    tiles = {
        ids[ref.key]: PooledTile(ids[ref.key], ref, pad(data, length)) for ref, data in zip(refs, encoded, strict=True)
    }
    return TilePool(tiles, size, image_format)


def _rgb(ref: TileRef) -> np.ndarray:
    try:
        return decode_tile(ref.read())
    except OSError as err:
        raise InputFileError(f"cannot read tile {ref.origin}: {err}") from None


def _common_size(images: list[np.ndarray], refs: list[TileRef]) -> int:
    sizes = Counter(img.shape[0] for img, ref in zip(images, refs, strict=True) if ref.source == "synthetic")
    return sizes.most_common(1)[0][0]


def encode_uniform(rgb: np.ndarray, size: int, image_format: str, quality: int) -> bytes:
    """One tile → bytes with no metadata (a fresh image carries none), at ``size`` × ``size``.

    PNG is written uncompressed, so every tile of a size has exactly the same length; JPEG is padded later.
    """
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]))
    if image.size != (size, size):
        image = image.resize((size, size), RESAMPLE)
    buffer = io.BytesIO()
    if image_format == "png":
        image.save(buffer, format="PNG", compress_level=0)
    else:
        image.save(buffer, format="JPEG", quality=quality, subsampling=0, optimize=False, progressive=False)
    return buffer.getvalue()


def pad(data: bytes, length: int) -> bytes:
    """Pad to ``length`` bytes after the image's end marker (PNG IEND, JPEG EOI), where decoders stop reading."""
    return data + b"\0" * (length - len(data))
