"""The bundled demo generators: the three runs of a longer ``rnagan demo``, shipped inside the package.

The demo trains each GAN for ``gan.steps`` steps; the bundle shows, without training,
what a longer run of the same recipe on the same cohort gives. It holds, per run, the EMA generator
with its fixed latent statistics, ``config.yaml`` and ``meta.json`` (step, seed, training seconds),
plus the μ table of the VAE it was trained on (the demo's VAE is retrained each time, so a fresh
demo's μ would not fit these generators), the splits, and the metrics measured when it was made.
Made by one command (:data:`BUNDLE_COMMAND`, docs/demo.md): the demo's own budget split over two hours, each
run ending at its share of the time or 10,000 steps, in fp32 (as it was trained, before ``gan.precision``), and
FID on every real held-out tile.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import yaml

from rnagan.checkpoint import load_checkpoint, save_checkpoint
from rnagan.config import preset
from rnagan.directions import learn_directions
from rnagan.errors import CheckpointError
from rnagan.evaluate.report import tiles_png
from rnagan.evaluate.results import load_metrics
from rnagan.fileio import atomic_dir
from rnagan.gan.sample import TileGenerator, load_generator
from rnagan.pairing import read_latents
from rnagan.vae.directions import Direction
from rnagan.workspace import Workspace, read_samples

BUNDLE = Path(str(resources.files("rnagan.datasets") / "data" / "demo_bundle"))
BUNDLE_COMMAND = (
    "rnagan demo --minutes 120 --set gan.steps=10000 --set gan.precision=fp32 --set demo.fid_images=152 "
    "--out demo-long --save-bundle src/rnagan/datasets/data/demo_bundle"
)
LATENTS, SAMPLES, METRICS, TIMES = "latents.parquet", "samples.csv", "metrics.json", "demo_times.json"


def export_bundle(workspace: Workspace, dest: Path, runs: tuple[str, ...]) -> Path:
    """Copy each run's EMA generator (no critic, no optimiser state), μ, splits, metrics and times to ``dest``."""
    times = json.loads((workspace.reports / TIMES).read_text())
    with atomic_dir(dest) as tmp:
        for run in runs:
            ckpt = load_checkpoint(workspace.gan_run(run) / "checkpoint")
            tensors = {k: v for k, v in ckpt.tensors.items() if k.startswith(("ema.", "latent_"))}
            seconds = times["stages"].get("gan", {}).get("jobs", {}).get(run, {}).get("seconds")
            meta = {**ckpt.meta, "training_seconds": seconds, "seed": ckpt.config.gan.seed}
            save_checkpoint(tmp / run, tensors=tensors, config=ckpt.config, meta=meta)
        shutil.copyfile(workspace.latents, tmp / LATENTS)
        shutil.copyfile(workspace.samples_table, tmp / SAMPLES)
        if workspace.metrics.is_file():
            shutil.copyfile(workspace.metrics, tmp / METRICS)
        shutil.copyfile(workspace.reports / TIMES, tmp / TIMES)
    return dest


def bundled_generator(run: str, bundle: Path = BUNDLE) -> TileGenerator:
    """The bundled EMA generator of ``run`` (rnagan, reference or baseline), ready to sample."""
    if not (bundle / run / "meta.json").is_file():
        raise CheckpointError(f"no bundled generator {run!r} in {bundle}: make one with `rnagan demo --save-bundle`")
    return load_generator(bundle / run)


def bundled_tiles(
    run: str, *, split: str = "test", n_per_profile: int = 1, seed: int = 0, bundle: Path = BUNDLE
) -> tuple[torch.Tensor, list[str]]:
    """uint8 tiles (N, 3, S, S) drawn by the bundled ``run`` from the bundled μ of ``split``'s profiles,
    and each tile's tissue."""
    samples = read_samples(bundle / SAMPLES)
    profiles = samples.index[samples["split"] == split]
    mu = torch.from_numpy(read_latents(bundle / LATENTS).loc[profiles].to_numpy())
    tiles = bundled_generator(run, bundle).generate(mu, n_per_profile=n_per_profile, seed=seed)
    return tiles, [t for t in samples.loc[profiles, "tissue"] for _ in range(n_per_profile)]


def bundle_facts(bundle: Path = BUNDLE) -> dict[str, Any] | None:
    """Per run: steps, training seconds, seed; the demo's budget in minutes; and the metrics measured when the
    bundle was made (None if none were). None when nothing is bundled."""
    metas = {p.parent.name: json.loads(p.read_text()) for p in sorted(bundle.glob("*/meta.json"))}
    if not metas:
        return None
    runs = {run: {k: meta.get(k) for k in ("step", "training_seconds", "seed")} for run, meta in metas.items()}
    budget = json.loads((bundle / TIMES).read_text()).get("budget_seconds") if (bundle / TIMES).is_file() else None
    metrics = load_metrics(bundle / METRICS) if (bundle / METRICS).is_file() else None
    return {
        "runs": runs,
        "minutes": None if budget is None else round(budget / 60),
        "metrics": metrics,
        "command": BUNDLE_COMMAND,
        "recipe_changes": recipe_changes(bundle),
    }


def recipe_changes(bundle: Path = BUNDLE) -> dict[str, list[Any]]:
    """GAN settings of today's ``small`` preset that the bundled rnagan run had otherwise, ``{field: [bundled, now]}``
    (bundled None: not recorded, the setting is newer than the bundle), so the page never calls an older recipe
    "this one". A setting the bundle's config lacks is read from :data:`BUNDLE_COMMAND`'s ``--set`` where it names
    it; ``steps`` is left out: the command sets it."""
    commanded = {k: yaml.safe_load(v) for k, v in re.findall(r"--set gan\.(\w+)=(\S+)", BUNDLE_COMMAND)}
    saved = {**commanded, **yaml.safe_load((bundle / "rnagan" / "config.yaml").read_text())["gan"]}
    now = preset("small").gan.model_dump(mode="json")
    return {k: [saved.get(k), v] for k, v in now.items() if k != "steps" and saved.get(k) != v}


def bundled_draws(run: str, profiles: list[str], *, seed: int = 0, bundle: Path = BUNDLE) -> torch.Tensor:
    """One uint8 tile per profile, profile i with noise draw i: a row of them shows what varies with the
    profile and with the noise (one draw shared by every profile would hide the second)."""
    mu = torch.from_numpy(read_latents(bundle / LATENTS).loc[profiles].to_numpy())
    generator = bundled_generator(run, bundle)
    return generator.generate_from_noise(mu, generator.sample_noise(len(profiles), seed))


def bundle_directions(names: list[str], *, seed: int = 0, bundle: Path = BUNDLE) -> dict[str, Direction]:
    """Directions (:func:`rnagan.directions.learn_directions`: tissue classes, ``random``) in the bundled μ,
    learned from its training samples, as ``rnagan generate --direction`` learns them in a workspace."""
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp) / "bundle").create()
        for source, dest in ((bundle / LATENTS, workspace.latents), (bundle / SAMPLES, workspace.samples_table)):
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
        return learn_directions(workspace, names, seed=seed)


def bundle_sheets(n: int, bundle: Path = BUNDLE) -> dict[str, dict[str, bytes]]:
    """Contact sheets (PNG bytes) ``{tissue: {run: png}}``: what each bundled run draws from the first ``n``
    test-split profiles of each tissue (:func:`bundled_draws`)."""
    samples = read_samples(bundle / SAMPLES)
    test = samples[samples["split"] == "test"]
    sheets: dict[str, dict[str, bytes]] = {}
    for meta in sorted(bundle.glob("*/meta.json")):
        for tissue, rows in test.groupby("tissue"):
            tiles = bundled_draws(meta.parent.name, sorted(rows.index)[:n], bundle=bundle)
            sheets.setdefault(str(tissue), {})[meta.parent.name] = tiles_png(tiles)
    return sheets
