"""``rnagan vae``: train the β-VAE, encode cohorts, and use its latent space."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import pandas as pd
import typer

from rnagan.cli._common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    DeviceOpt,
    PresetOpt,
    SetOpt,
    WorkspaceOpt,
    open_workspace,
    resolve_config,
)
from rnagan.errors import InputFileError
from rnagan.workspace import Workspace, read_samples
from rnagan.workspace_config import remember

if TYPE_CHECKING:
    from rnagan.vae.latent import LoadedVAE

app = typer.Typer(
    help="β-VAE: train it, encode profiles to μ, sample, shift and interpolate in its latent space.",
    no_args_is_help=True,
)

CheckpointOpt = Annotated[
    Path | None, typer.Option("--checkpoint", help="β-VAE checkpoint folder. (default: WORKSPACE/vae/checkpoint)")
]
OutOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Parquet file to write (samples × genes).")]
ScaleOpt = Annotated[
    Literal["expression", "z"],
    typer.Option(
        "--scale",
        help="expression: undo z-score and log with the checkpoint's scaler "
        "(the input's scale, e.g. TPM); z: the model's z-scores.",
    ),
]


@app.command("train")
def train_cli(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from vae/last/ (at most one epoch is lost).")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Delete an existing VAE run and start over (without it, one is refused)."),
    ] = False,
    device: DeviceOpt = "auto",
    max_seconds: Annotated[
        float | None,
        typer.Option(min=0, help="Stop at the end of the first epoch past this many seconds; the best epoch is kept."),
    ] = None,
) -> None:
    """Train on WORKSPACE/expression/ and write vae/{checkpoint/, metrics.json, curves.png, latents.parquet}.

    Under torchrun it trains with DistributedDataParallel (vae.batch_size is the global batch):
    torchrun --nproc_per_node=4 -m rnagan vae train -w WORKSPACE
    """
    from rnagan.vae.train import train_vae

    cfg = resolve_config(preset, config, set_, workspace=workspace)
    ws = open_workspace(workspace)
    metrics = train_vae(ws, cfg, resume=resume, overwrite=overwrite, device=device, max_seconds=max_seconds)
    if "test" in metrics:  # the main process
        remember(ws, cfg, writes="vae")
        test = metrics["test"]
        mape = "n/a" if test["mape"] is None else f"{test['mape']:.1f} %"
        typer.echo(
            f"best epoch {metrics['best_epoch']}/{metrics['epochs_run']} ({metrics['stop_reason']}); "
            f"test RMSE {test['rmse']} (z scale; training mean {test['rmse_train_mean']}), MAPE {mape}; "
            f"silhouette of tissues in μ {metrics['silhouette_mu_test']} → {Workspace(workspace).vae}"
        )


@app.command("encode")
def encode_cli(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    checkpoint: CheckpointOpt = None,
    matrix: Annotated[
        Path | None,
        typer.Option(
            help="z-scored samples × genes Parquet (any gene order and ID style; missing genes get z = 0). "
            "(default: WORKSPACE/expression/matrix.parquet)"
        ),
    ] = None,
    output: OutOpt = None,
) -> None:
    """μ and log σ² of every sample, keyed by sample ID.

    Default output: WORKSPACE/vae/latents.parquet, the file the GAN reads.
    """
    from rnagan.vae import latent

    ws = open_workspace(workspace)
    vae = latent.load_vae(checkpoint or ws.vae_checkpoint)
    source = matrix or ws.expression_matrix
    latents = latent.encode_cohort(vae, _read_parquet(source, "run `rnagan expr prepare` first"))
    path = _write(latents, output or ws.latents)
    typer.echo(f"{len(latents)} samples × {vae.latent_dim} latent dimensions → {path}")


@app.command("sample")
def sample_cli(
    tissue: Annotated[str, typer.Option("--tissue", "-t", help="Tissue whose centroid the draws are added to.")],
    n: Annotated[int, typer.Option("-n", min=1, help="Number of profiles.")] = 100,
    mode: Annotated[
        Literal["prior", "around"],
        typer.Option(
            help="prior: centroid + N(0, I) (the paper); around: centroid + the tissue's own spread of μ "
            "(stays inside the cluster)."
        ),
    ] = "prior",
    seed: Annotated[int, typer.Option(help="Seed of the latent draws.")] = 0,
    scale: ScaleOpt = "expression",
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    checkpoint: CheckpointOpt = None,
    output: OutOpt = None,
) -> None:
    """Synthetic profiles of TISSUE decoded from its latent centroid (training split) plus noise."""
    from rnagan.vae import latent

    ws, vae, latents, samples = _open(workspace, checkpoint)
    profiles = latent.sample_profiles(vae, latents, samples, tissue, n, seed=seed, mode=mode)
    path = _write(_rescale(vae, profiles, scale), output or ws.vae / f"synthetic_{tissue}.parquet")
    typer.echo(f"{n} synthetic {tissue} profiles ({mode}, {scale} scale) → {path}")


@app.command("shift")
def shift_cli(
    source: Annotated[str, typer.Option("--from", help="Tissue the samples come from.")],
    target: Annotated[str, typer.Option("--to", help="Tissue to shift them to.")],
    sample: Annotated[
        list[str] | None,
        typer.Option("--sample", help="Sample ID (repeatable). (default: every test-split sample of --from)"),
    ] = None,
    scale: ScaleOpt = "expression",
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    checkpoint: CheckpointOpt = None,
    output: OutOpt = None,
) -> None:
    """Decode μ_sample + (c_to − c_from): what each profile would look like in the other tissue."""
    from rnagan.vae import latent

    ws, vae, latents, samples = _open(workspace, checkpoint)
    profiles = latent.shift(vae, latents, samples, source=source, target=target, sample_ids=sample or None)
    path = _write(_rescale(vae, profiles, scale), output or ws.vae / f"shift_{source}_to_{target}.parquet")
    typer.echo(f"{len(profiles)} profiles shifted {source} → {target} → {path}")


@app.command("interpolate")
def interpolate_cli(
    a: Annotated[str, typer.Argument(help="Sample ID at the start.")],
    b: Annotated[str, typer.Argument(help="Sample ID at the end.")],
    steps: Annotated[int, typer.Option(min=2, help="Profiles along the line, both ends included.")] = 5,
    scale: ScaleOpt = "expression",
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    checkpoint: CheckpointOpt = None,
    output: OutOpt = None,
) -> None:
    """Profiles decoded at evenly spaced points between μ_A and μ_B."""
    from rnagan.vae import latent

    ws, vae, latents, _ = _open(workspace, checkpoint)
    profiles = latent.interpolate(vae, latents, a, b, steps=steps)
    path = _write(_rescale(vae, profiles, scale), output or ws.vae / f"interpolate_{a}_{b}.parquet")
    typer.echo(f"{steps} profiles from {a} to {b} → {path}")


def _open(workspace: Path, checkpoint: Path | None) -> tuple[Workspace, LoadedVAE, pd.DataFrame, pd.DataFrame]:
    from rnagan.vae import latent

    ws = open_workspace(workspace)
    vae = latent.load_vae(checkpoint or ws.vae_checkpoint)
    latents = _read_parquet(ws.latents, "run `rnagan vae encode` first")
    return ws, vae, latents, read_samples(ws)


def _rescale(vae: LoadedVAE, profiles: pd.DataFrame, scale: str) -> pd.DataFrame:
    from rnagan.vae import latent

    return profiles if scale == "z" else latent.to_expression(vae, profiles)


def _read_parquet(path: Path, hint: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise InputFileError(f"{path} not found: {hint}")
    frame = pd.read_parquet(path)
    frame.index = frame.index.astype(str)
    return frame


def _write(frame: pd.DataFrame, path: Path) -> Path:
    from rnagan.fileio import atomic_path

    with atomic_path(path, suffix=".parquet") as tmp:
        frame.to_parquet(tmp)
    return path


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="vae")
