"""Tiles from expression profiles: cohort samples, other cohorts, synthetic and perturbed profiles.

Profiles come from one source per call:

- the prepared cohort (``samples`` by ID, or every sample of ``split``);
- an expression file of another cohort (``scale="raw"``): read, genes mapped and the missing
  ones reported and set to the training mean (z = 0), then scaled with the *training* scaler —
  the reference code fed raw GEO values to the VAE;
- a table of z-scored profiles (``scale="z"``, e.g. decoded ``rnagan vae sample`` output) or of
  latents (``mu_*`` columns, used as they are).

``perturb=["TP53=+2", "EGFR=x4"]`` adds, beside each profile, the profile with those genes moved
together: ``+2`` shifts the z-score, ``x4`` multiplies the expression on its original scale.
``directions=["immune=+1.5", "lung_aca=-2,0,2"]`` adds one twin per dose whose μ is moved that many
spreads along a direction learned from the training samples (:mod:`rnagan.directions`); dose 0 is the
profile's own μ. The generator's noise depends only on (seed, tile index), so tile j of a profile and
of each twin share their noise and differ by the edit alone. Output, under ``workspace.samples_run(run)``::

    tiles/<profile>/<j>.png   manifest.csv   contact_sheets/<profile>.png   panels/<profile>.png
    directions.json           (with directions: each one's unit vector, spread, score and genes)
    store.lmdb                (generate.tile_format "store": every tile, keys "<profile>/<j>_0", no tiles/)

Profiles are drawn, lifted and written ``generate.shard_profiles`` at a time (each with its twins), so
memory holds one shard's tiles whatever the run's size.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from rnagan.checkpoint import META, weights_fingerprint
from rnagan.config import Config, GenerateConfig
from rnagan.directions import DirectionRequest, label, learn_directions
from rnagan.errors import CheckpointError, InputFileError
from rnagan.fileio import atomic_dir, resolve_dir, write_json_atomic
from rnagan.logs import progress_bars
from rnagan.runtime import autocast, pick_device
from rnagan.samples import COVERAGE, DIRECTIONS, MANIFEST, MANIFEST_COLUMNS, STORE, sheet
from rnagan.slides.augment import resize_tiles
from rnagan.slides.store import TileStore, encode_tile, tile_key
from rnagan.spatial.prepare import spaces_holding
from rnagan.vae.directions import Direction
from rnagan.vae.edits import fit_edited_latents
from rnagan.workspace import Workspace, read_samples

if TYPE_CHECKING:
    from rnagan.flow.sample import FlowTileGenerator
    from rnagan.gan.sample import TileGenerator

log = logging.getLogger(__name__)

_PERTURBATION = re.compile(r"^\s*(?P<gene>[^=\s]+)\s*=\s*(?P<op>[+-]|x|\*)\s*(?P<value>\d+(\.\d*)?|\.\d+)\s*$")


@dataclass(frozen=True)
class Perturbation:
    """One gene moved: ``shift`` adds to its z-score, ``fold`` multiplies its original-scale value."""

    gene: str
    kind: Literal["shift", "fold"]
    value: float

    @classmethod
    def parse(cls, text: str) -> Perturbation:
        """``GENE=+2`` / ``GENE=-1.5`` (z-score shift) or ``GENE=x4`` (fold change)."""
        match = _PERTURBATION.match(text)
        if match is None:
            raise InputFileError(f"perturbation {text!r} is not GENE=+z, GENE=-z or GENE=xFOLD (e.g. TP53=+2, EGFR=x4)")
        value = float(match["value"])
        if match["op"] in "x*":
            if value <= 0:
                raise InputFileError(f"perturbation {text!r}: a fold change must be > 0")
            return cls(match["gene"], "fold", value)
        return cls(match["gene"], "shift", value if match["op"] == "+" else -value)

    @property
    def label(self) -> str:
        return f"{self.gene}=x{self.value:g}" if self.kind == "fold" else f"{self.gene}={self.value:+g}"


@dataclass
class Profiles:
    """Profiles to draw from: z-scores (None for latent-only input) or μ, plus one info row each."""

    z: pd.DataFrame | None
    mu: pd.DataFrame | None
    info: pd.DataFrame  # index profile; columns source, tissue, split
    coverage: dict[str, Any] | None = None


def _gene_column(gene: str, genes: Sequence[str], where: Callable[[str], str] | None) -> int:
    """Column index of ``gene`` (symbol or any Ensembl style) among the model's genes; ``where`` says, for a
    gene outside them, which gene spaces would hold it."""
    from rnagan.expression.genes import resolve_ids

    resolved = resolve_ids([gene])[0][0]
    if resolved is None or resolved not in genes:
        hint = f"; {where(gene)}" if where is not None else ""
        raise InputFileError(f"perturbed gene {gene!r} is not among the model's {len(genes):,} genes{hint}")
    return list(genes).index(resolved)


def perturb(
    z: pd.DataFrame, perturbations: Sequence[Perturbation], scaler: Any, where: Callable[[str], str] | None = None
) -> pd.DataFrame:
    """``z`` with every perturbation applied; fold changes go through the scaler's log and statistics."""
    from rnagan.expression.transform import inverse_log, log_transform

    out = z.copy()
    genes = [str(g) for g in z.columns]
    for p in perturbations:
        j = _gene_column(p.gene, genes, where)
        column = out.iloc[:, j].to_numpy(dtype=np.float64)
        if p.kind == "shift":
            out.iloc[:, j] = (column + p.value).astype(np.float32)
            continue
        if scaler is None:
            raise InputFileError(f"{p.label}: a fold change needs the expression scaler (none in the VAE checkpoint)")
        k = scaler.genes_.index(genes[j])
        mean, scale = scaler.mean_[k], scaler.scale_[k]
        if np.isnan(mean):
            raise InputFileError(f"{p.label}: the gene was never observed in training, so x-fold has no scale")
        original = inverse_log(column * scale + mean, scaler.log_transform)
        out.iloc[:, j] = ((log_transform(original * p.value, scaler.log_transform) - mean) / scale).astype(np.float32)
    return out


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputFileError(f"profile file {path} does not exist")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".txt") else ",", index_col=0)


def load_profiles(
    workspace: Workspace,
    config: Config,
    vae: Any,
    *,
    samples: Sequence[str] | None = None,
    split: str | None = None,
    expression_file: str | Path | None = None,
    scale: Literal["raw", "z"] = "raw",
) -> Profiles:
    """The profiles of one source (see module docstring), in the VAE's gene space."""
    if expression_file is not None:
        return _file_profiles(Path(expression_file), config, vae, scale)
    table = read_samples(workspace)
    if samples:
        unknown = [s for s in samples if s not in table.index]
        if unknown:
            raise InputFileError(f"{len(unknown)} sample(s) not in {workspace.samples_table}, e.g. {unknown[:3]}")
        chosen = list(samples)
    else:
        chosen = table.index[table["split"] == split].tolist() if split else table.index.tolist()
        if not chosen:
            raise InputFileError(f"no sample of split {split!r} in {workspace.samples_table}")
    z = pd.read_parquet(workspace.expression_matrix).loc[chosen]
    info = table.loc[chosen, ["tissue", "split"]].assign(source="cohort")
    return Profiles(z=z, mu=None, info=info)


def _file_profiles(path: Path, config: Config, vae: Any, scale: str) -> Profiles:
    if scale == "z":
        return _z_profiles(path, config, vae)
    from rnagan.expression.prepare import apply_to_cohort

    if vae.scaler is None:
        raise InputFileError(
            "the VAE checkpoint holds no expression scaler, so raw profiles cannot be "
            "scaled; pass z-scored profiles with --scale z"
        )
    # read as expression.* says (input scale, metadata columns, orientation); missing genes are logged
    z, report = apply_to_cohort(path, vae.scaler, config=config.expression)
    return _profiles_of(z, vae, "external", report.to_dict())


def _z_profiles(path: Path, config: Config, vae: Any) -> Profiles:
    """z-scored profiles (aligned to the model's genes) or a latent table (``mu_*`` columns)."""
    from rnagan.expression.genes import GeneSpace
    from rnagan.vae.latent import align_to_model

    frame = _read_table(path)
    if any(str(c).startswith("mu_") for c in frame.columns):
        mu = frame[[c for c in frame.columns if str(c).startswith("mu_")]]
        info = pd.DataFrame({"source": "latents", "tissue": frame.get("tissue"), "split": None}, index=frame.index)
        return Profiles(z=None, mu=mu, info=info)
    frame = frame.select_dtypes("number")
    # the coverage report for coverage.json; align_to_model logs the missing genes itself
    min_coverage = config.expression.min_coverage
    _, report = GeneSpace.from_ids(vae.genes).align(frame, min_coverage=min_coverage, source=str(path))
    return _profiles_of(align_to_model(vae, frame, source=str(path)), vae, "profiles", report.to_dict())


def _profiles_of(z: pd.DataFrame, vae: Any, source: str, coverage: dict[str, Any]) -> Profiles:
    z.columns = pd.Index(vae.genes)
    info = pd.DataFrame({"source": source, "tissue": None, "split": None}, index=z.index.astype(str))
    z.index = info.index
    return Profiles(z=z, mu=None, info=info, coverage=coverage)


def _slugs(names: Sequence[str]) -> dict[str, str]:
    """Profile name → a distinct name usable as a folder and a tile-store slide id (no '/')."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        slug = re.sub(r"[^A-Za-z0-9._=+,-]+", "_", str(name)).strip("_") or "profile"
        candidate, i = slug, 1
        while candidate in taken:
            candidate, i = f"{slug}_{i}", i + 1
        taken.add(candidate)
        out[name] = candidate
    return out


def _save_png(tile: torch.Tensor, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(tile.permute(1, 2, 0).numpy()).save(path, compress_level=1)


def generate_tiles(
    workspace: Workspace,
    config: Config,
    *,
    run: str = "rnagan",
    samples: Sequence[str] | None = None,
    split: str | None = None,
    expression_file: str | Path | None = None,
    scale: Literal["raw", "z"] = "raw",
    perturbations: Sequence[str] = (),
    directions: Sequence[str] = (),
    direction_genes: Mapping[str, Sequence[str]] | None = None,
    out: str | Path | None = None,
    device: str = "auto",
) -> pd.DataFrame:
    """Draw ``config.generate.tiles_per_profile`` tiles per profile with the GAN or flow ``run``; return the manifest.

    The profiles are the workspace's samples (``samples`` by ID, or every sample of ``split``), or the
    rows of ``expression_file`` (another cohort; ``scale="raw"`` values are prepared on the training
    scale, ``"z"`` are taken as z-scores, or as μ when the columns are ``mu_*``). Each is encoded to μ
    by the workspace's β-VAE. Every
    ``perturbations`` entry (``"EGFR=+2"``: z-score shift; ``"EGFR=x2"``: fold change) adds a perturbed
    twin of each profile, drawn with the same noise, its μ fitted through the decoder or encoded
    (``config.generate.edit``); every ``directions`` entry (``"immune=+1.5"``,
    ``"lung_aca=-2,0,2"``) one twin per dose, moved along a direction learned from the training samples
    (``direction_genes`` names extra gene sets). ``config.generate.image_stage`` lifts every tile to
    that image stage's scale (e.g. 64 → 256 px), ``config.generate.tile_size`` resizes it to the real tiles'
    side (e.g. 224 px). Tiles go to ``out`` (default ``samples/<run>/``) with ``manifest.csv``, as PNG files or
    into one tile store (``config.generate.tile_format``).
    """
    from rnagan.vae.latent import load_vae

    parsed = [Perturbation.parse(p) for p in perturbations]
    requests = [DirectionRequest.parse(d) for d in directions]
    learned = (
        learn_directions(workspace, [r.name for r in requests], gene_sets=direction_genes, seed=config.generate.seed)
        if requests
        else {}
    )
    torch_device = pick_device(device)
    vae = load_vae(workspace.vae_checkpoint, device=str(torch_device))
    generator = load_run_generator(workspace.gan_run(run) / "checkpoint", config, device=str(torch_device))
    check_same_vae(generator.meta, workspace.vae_checkpoint, run=run)
    profiles = load_profiles(
        workspace, config, vae, samples=samples, split=split, expression_file=expression_file, scale=scale
    )
    where = functools.partial(spaces_holding, workspace, config)
    info, mu = _latents_with_twins(profiles, parsed, vae, config.generate, where)
    info, mu = _with_direction_twins(info, mu, requests, learned)
    seeds = _noise_seeds(info, config.generate.seed)
    out = Path(out) if out is not None else workspace.samples_run(run)
    files = {COVERAGE: profiles.coverage, DIRECTIONS: {n: d.to_dict() for n, d in learned.items()} or None}
    checkpoint = workspace.gan_run(run) / "checkpoint"
    manifest = _draw_into(out, generator, info, mu, seeds, files, config, torch_device, checkpoint)
    log.info("%d tiles of %d profiles (run %s) written to %s", len(manifest), len(info), run, out)
    return manifest


def _draw_into(
    out: Path,
    generator: TileGenerator | FlowTileGenerator,
    info: pd.DataFrame,
    mu: np.ndarray,
    seeds: pd.Series,
    files: Mapping[str, dict[str, Any] | None],
    config: Config,
    device: torch.device,
    checkpoint: Path,
) -> pd.DataFrame:
    """Every row's tiles drawn, lifted and written into ``out`` (replaced whole) a shard at a time, here or one
    task a shard on ``config.generate.cluster``, with the JSON ``files`` given; the manifest."""
    settings = config.generate
    shards = list(_shards(info, settings.shard_profiles))
    with atomic_dir(out) as tmp, _FolderWriter(tmp, _slugs(info.index), settings, tmp / STORE) as writer:
        bar = tqdm(total=len(info) * settings.tiles_per_profile, desc="generate", unit="tile", disable=_bar_off())
        if settings.cluster is None:
            lift = _lifter(settings, device)
            for shard in shards:
                tiles = lift(_draw(generator, info.iloc[shard], mu[shard], seeds.iloc[shard], settings, device))
                writer.write(info.iloc[shard], seeds.iloc[shard], tiles)
                bar.update(len(tiles))
        else:
            for rows, part in _on_cluster(tmp, checkpoint, info, mu, seeds, config, writer.slugs, shards):
                writer.add_part(rows, part)
                bar.update(sum(len(r) for r in rows.values()))
        bar.close()
        for name, payload in files.items():
            if payload is not None:
                write_json_atomic(tmp / name, payload)
        return writer.manifest(info.index)


def _bar_off() -> bool | None:
    return None if progress_bars() else True  # None: a bar on a terminal only


def _on_cluster(
    tmp: Path,
    checkpoint: Path,
    info: pd.DataFrame,
    mu: np.ndarray,
    seeds: pd.Series,
    config: Config,
    slugs: dict[str, str],
    shards: list[np.ndarray],
) -> Iterator[tuple[dict[str, list[dict[str, Any]]], Path]]:
    """Each shard as one task on the Dask cluster, its manifest rows and store part as it finishes. A task writes
    its PNG files into ``tmp``, or its tiles into a store part of its own (LMDB's lock does not hold across
    machines) that the caller merges; a task run twice (its worker died) writes the same tiles under the same
    names."""
    from rnagan.executors import open_pool

    parts = tmp / "parts"
    parts.mkdir()
    payload = config.model_dump_json()
    with open_pool(1, config.generate.cluster, shared_paths=[tmp, checkpoint]) as pool:
        log.info("generating %d shards on %s", len(shards), pool.where)
        futures = {
            pool.executor.submit(
                _shard_task,
                str(checkpoint),
                payload,
                info.iloc[shard],
                mu[shard],
                seeds.iloc[shard],
                {name: slugs[name] for name in info.index[shard]},
                str(tmp),
                str(parts / f"shard-{i:06d}.lmdb"),
            ): i
            for i, shard in enumerate(shards)
        }
        for future in as_completed(futures):
            part = parts / f"shard-{futures.pop(future):06d}.lmdb"  # popped: Dask recomputes a result it holds
            yield future.result(), part
            shutil.rmtree(part, ignore_errors=True)
    parts.rmdir()


def _shard_task(
    checkpoint: str,
    config_json: str,
    info: pd.DataFrame,
    mu: np.ndarray,
    seeds: pd.Series,
    slugs: dict[str, str],
    root: str,
    part: str,
) -> dict[str, list[dict[str, Any]]]:
    """One shard on a cluster worker: the run's generator loaded there, the tiles drawn, lifted and written as
    in one process (the same noise seeds, so the same tiles); its manifest rows."""
    config = Config.model_validate_json(config_json)
    device = pick_device("auto")
    generator = load_run_generator(Path(checkpoint), config, device=str(device))
    tiles = _lifter(config.generate, device)(_draw(generator, info, mu, seeds, config.generate, device))
    with _FolderWriter(Path(root), slugs, config.generate, Path(part)) as writer:
        writer.write(info, seeds, tiles)
    return writer.rows


def load_run_generator(checkpoint: Path, config: Config, *, device: str) -> TileGenerator | FlowTileGenerator:
    """The run's sampler, chosen by its checkpoint's kind: a flow run's (solved as ``config.flow`` says:
    solver, steps, guidance), else the GAN's EMA generator (GAN checkpoints of every age)."""
    meta = resolve_dir(checkpoint) / META
    kind = json.loads(meta.read_text()).get("kind") if meta.is_file() else None
    if kind == "flow":
        from rnagan.flow.objective import Solve
        from rnagan.flow.sample import load_flow_generator

        return load_flow_generator(checkpoint, device=device, solve=Solve.from_config(config.flow))
    from rnagan.gan.sample import load_generator

    return load_generator(checkpoint, device=device)


def check_same_vae(gan_meta: dict, vae_checkpoint: Path, *, run: str) -> None:
    """Refuse a GAN trained on another VAE's μ: it would draw tiles from a latent space it never saw."""
    expected = gan_meta.get("vae_fingerprint")
    if expected is None:  # a GAN written before runs recorded their VAE
        return
    actual = weights_fingerprint(vae_checkpoint)
    if actual != expected:
        raise CheckpointError(
            f"GAN run {run!r} was trained on μ of another VAE (weights {expected}, {vae_checkpoint} has {actual}): "
            "put back the VAE it was trained on, or retrain the run with --overwrite after `rnagan vae encode`"
        )


def _latents_with_twins(
    profiles: Profiles, parsed: Sequence[Perturbation], vae: Any, settings: GenerateConfig, where: Callable[[str], str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Each profile's info row (+ base_profile, perturbation) and raw μ; the perturbed twins follow them all.

    Twins are named ``<profile>|<perturbations>``; a latent table (no z-scores) cannot be perturbed.
    """
    info = profiles.info.assign(base_profile=profiles.info.index, perturbation="")
    if profiles.z is None:
        if parsed:
            raise InputFileError("perturbations need expression profiles, not a latent table (mu_* columns)")
        return info, profiles.mu.to_numpy(np.float32)
    z = profiles.z
    if not parsed:
        return info, _mu(vae, z)
    label = ",".join(p.label for p in parsed)
    moved = perturb(z, parsed, vae.scaler, where).set_axis([f"{name}|{label}" for name in z.index], axis=0)
    info = pd.concat([info, info.assign(perturbation=label).set_axis(moved.index, axis=0)])
    if settings.edit == "encoder":
        return info, _mu(vae, pd.concat([z, moved]))
    genes = [str(g) for g in z.columns]
    edited = list(dict.fromkeys(genes[_gene_column(p.gene, genes, where)] for p in parsed))
    mu = _mu(vae, z)
    delta = moved.to_numpy(np.float32) - z.to_numpy(np.float32)
    fitted = fit_edited_latents(
        vae, mu, delta, edited, steps=settings.edit_steps, lr=settings.edit_lr, keep_weight=settings.edit_keep_weight
    )
    return info, np.concatenate([mu, fitted])


def _mu(vae: Any, z: pd.DataFrame) -> np.ndarray:
    """The β-VAE's μ of every row of ``z`` (float32)."""
    from rnagan.vae.latent import encode_cohort, mu_columns

    latents = encode_cohort(vae, z)
    return latents[mu_columns(latents)].to_numpy(np.float32)


def _with_direction_twins(
    info: pd.DataFrame, mu: np.ndarray, requests: Sequence[DirectionRequest], learned: Mapping[str, Direction]
) -> tuple[pd.DataFrame, np.ndarray]:
    """``info`` and ``mu`` followed by one twin of every measured profile per requested (direction, dose)."""
    bases = (info["perturbation"] == "").to_numpy()
    base_info, base_mu = info[bases], mu[bases]
    infos, mus = [info], [mu]
    for request in requests:
        for dose in request.doses:
            edit = label(request.name, dose)
            infos.append(base_info.assign(perturbation=edit).set_axis([f"{p}|{edit}" for p in base_info.index]))
            mus.append(learned[request.name].shift(base_mu, dose))
    index = pd.concat(infos).index
    if index.duplicated().any():
        raise InputFileError(f"the same edit is asked twice: {sorted(set(index[index.duplicated()]))[:3]}")
    return pd.concat(infos), np.concatenate(mus)


def _noise_seeds(info: pd.DataFrame, seed: int) -> pd.Series:
    """One noise seed per measured profile, shared with its perturbed twin.

    Twins differ by the perturbation alone, while different profiles get independent noise (one seed
    for all would make a noise-only generator draw the same n tiles for every profile, and FID see
    duplicates).
    """
    bases = list(dict.fromkeys(info["base_profile"]))
    return info["base_profile"].map({b: seed + k for k, b in enumerate(bases)})


def _draw(
    generator: TileGenerator | FlowTileGenerator,
    info: pd.DataFrame,
    mu: np.ndarray,
    seeds: pd.Series,
    settings: GenerateConfig,
    device: torch.device,
) -> torch.Tensor:
    """``tiles_per_profile`` uint8 tiles per row of ``info``: (P * n, 3, S, S), profile-major in ``info`` order."""
    n = settings.tiles_per_profile
    parts: dict[str, torch.Tensor] = {}
    with torch.inference_mode(), autocast(device):
        for base in dict.fromkeys(info["base_profile"]):
            rows_of = np.flatnonzero((info["base_profile"] == base).to_numpy())
            drawn = generator.generate(
                torch.from_numpy(mu[rows_of]),
                n_per_profile=n,
                seed=int(seeds.iloc[rows_of[0]]),
                batch_size=settings.batch_size,
            )  # (len(rows_of)*n, 3, S, S), profile-major
            for i, row in enumerate(rows_of):
                parts[info.index[row]] = drawn[i * n : (i + 1) * n]
    return torch.cat([parts[name] for name in info.index])


def _lifter(settings: GenerateConfig, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """What becomes of drawn tiles before they are written: lifted to the image stage's scale (its upsampler sees
    each tile alone: no profile, no noise), then resized to ``settings.tile_size``; each step only when set."""
    upsampler = None
    if settings.image_stage is not None:
        from rnagan.image.sample import load_upsampler, upsample_tiles

        upsampler = load_upsampler(settings.image_stage, device=str(device))
        log.info("image stage %s lifts every tile", settings.image_stage)

    def lift(tiles: torch.Tensor) -> torch.Tensor:
        if upsampler is not None:
            tiles = upsample_tiles(upsampler, tiles, batch_size=settings.batch_size)
        return tiles if settings.tile_size is None else resize_tiles(tiles, settings.tile_size)

    return lift


def _shards(info: pd.DataFrame, per_shard: int) -> Iterator[np.ndarray]:
    """Row positions of ``per_shard`` base profiles at a time, each with its twins: a twin's panel needs its
    base's tiles, and memory holds one shard's tiles, not the run's."""
    bases = list(dict.fromkeys(info["base_profile"]))
    for start in range(0, len(bases), per_shard):
        yield np.flatnonzero(info["base_profile"].isin(bases[start : start + per_shard]).to_numpy())


class _FolderWriter:
    """A generated folder, written a shard at a time: its tiles (PNG files, or ``store.lmdb`` as
    ``settings.tile_format`` says), each profile's contact sheet, each twin's panel, the manifest's rows."""

    def __init__(self, root: Path, slugs: dict[str, str], settings: GenerateConfig, store: Path) -> None:
        self.root, self.settings, self.slugs = root, settings, slugs
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.store = TileStore(store, readonly=False) if settings.tile_format == "store" else None

    def __enter__(self) -> _FolderWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.store is not None:
            self.store.close()

    def write(self, info: pd.DataFrame, seeds: pd.Series, tiles: torch.Tensor) -> None:
        """One shard: ``tiles_per_profile`` tiles per row of ``info`` (profile-major), twins with their bases."""
        n, slugs = self.settings.tiles_per_profile, self.slugs
        if self.store is not None:
            self.store.put_many(
                (tile_key(slugs[name], j, 0), encode_tile(tiles[p * n + j].permute(1, 2, 0).numpy()))
                for p, name in enumerate(info.index)
                for j in range(n)
            )
        for p, name in enumerate(info.index):
            self.rows[name] = [
                self._tile(name, j, tiles[p * n + j], info.loc[name], int(seeds[name])) for j in range(n)
            ]
            shown = tiles[p * n : p * n + min(n, self.settings.contact_sheet_tiles)]
            _save_png(sheet(shown), self.root / "contact_sheets" / f"{slugs[name]}.png")
            if info.loc[name, "perturbation"]:
                b = info.index.get_loc(info.loc[name, "base_profile"])
                pair = torch.cat([tiles[b * n : b * n + len(shown)], shown])
                _save_png(sheet(pair, columns=len(shown)), self.root / "panels" / f"{slugs[name]}.png")

    def _tile(self, name: str, j: int, tile: torch.Tensor, info: pd.Series, seed: int) -> dict[str, Any]:
        """Tile ``j`` of profile ``name``: its PNG file written (in a PNG folder), its manifest row."""
        path = key = ""
        if self.store is None:
            path = f"tiles/{self.slugs[name]}/{j:04d}.png"
            _save_png(tile, self.root / path)
        else:
            key = tile_key(self.slugs[name], j, 0)
        return {"profile": name, **info.to_dict(), "seed": seed, "noise_index": j, "path": path, "key": key}

    def add_part(self, rows: dict[str, list[dict[str, Any]]], part: Path) -> None:
        """A shard written elsewhere: its manifest rows, and its store part's tiles copied into the store."""
        self.rows.update(rows)
        if self.store is not None:
            with TileStore(part) as source:
                self.store.put_many((key, source.get_bytes(key)) for key in source.keys(prefix=""))

    def manifest(self, order: Sequence[str]) -> pd.DataFrame:
        """Every row written, profiles in ``order``; written as the folder's ``manifest.csv``."""
        manifest = pd.DataFrame([row for name in order for row in self.rows[name]], columns=list(MANIFEST_COLUMNS))
        manifest.to_csv(self.root / MANIFEST, index=False)
        return manifest
