"""``rnagan ssl``: SimCLR pretraining on tiles, k-fold fine-tuning on real tiles, the whole experiment, TSTR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnagan.cli._common import DEFAULT_WORKSPACE, ConfigOpt, DeviceOpt, PresetOpt, SetOpt, WorkspaceOpt, resolve_config
from rnagan.errors import ConfigError

app = typer.Typer(
    help="Self-supervised pretraining on synthetic tiles and its downstream test (docs/ssl.md).", no_args_is_help=True
)

SourceOpt = Annotated[
    list[str],
    typer.Option(
        "--source",
        help="Tiles to pretrain on (repeatable, pooled): a samples folder (manifest.csv), a workspace or its "
        "tiles/ folder, a folder per class, or 'lc25000' (the bundled lung tiles).",
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]


@app.command("pretrain")
def pretrain_cmd(
    source: SourceOpt,
    out: OutOpt = Path("ssl-pretrain"),
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last (same settings).")] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Delete the run in OUT and start over (without it, such a run is refused).")
    ] = False,
    device: DeviceOpt = "auto",
) -> None:
    """SimCLR on the tiles of every --source → OUT/checkpoint (backbone), OUT/last, OUT/loss.png. torchrun-ready.

    The budget is ssl.pretrain_epochs (--set ssl.pretrain_epochs=N); at most ssl.pretrain_max_tiles are drawn
    from the pooled sources before any is decoded."""
    from rnagan.ssl.simclr import pretrain
    from rnagan.ssl.sources import concat, open_source

    cfg = resolve_config(preset, config, set_)
    tiles = concat(*(open_source(s, cfg.ssl.image_size) for s in source))
    meta = pretrain(tiles, cfg, out, resume=resume, overwrite=overwrite, device=device)
    typer.echo(f"{meta['epoch']} epochs on {meta['n_tiles']} tiles; backbone: {out / 'checkpoint'}")


def _parse_inits(values: list[str]) -> dict[str, Path]:
    inits = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path or name == "scratch":
            raise ConfigError(f"--init takes NAME=CHECKPOINT (NAME not 'scratch'), got {value!r}")
        inits[name] = Path(path)
    return inits


@app.command("finetune")
def finetune_cmd(
    data: Annotated[
        str,
        typer.Option(
            "--data", help="Labelled real tiles: a folder per class, a workspace (tissue or label), 'lc25000'."
        ),
    ],
    init: Annotated[
        list[str] | None,
        typer.Option(
            "--init", help="An arm NAME=CHECKPOINT (an `ssl pretrain` backbone), repeatable; scratch always runs."
        ),
    ] = None,
    groups: Annotated[
        Path | None,
        typer.Option(
            help="CSV of file,group for class folders (file relative to --data): tiles of one group share a fold."
        ),
    ] = None,
    out: OutOpt = Path("ssl-finetune"),
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Stratified grouped k-fold fine-tuning of every arm at every label fraction → OUT/ssl.json, ssl.png, ssl.html."""
    from rnagan.runtime import pick_device
    from rnagan.ssl.experiment import write_report
    from rnagan.ssl.finetune import cross_validate
    from rnagan.ssl.simclr import load_backbone
    from rnagan.ssl.sources import open_source

    cfg = resolve_config(preset, config, set_)
    inits = {"scratch": None} | {n: load_backbone(p, cfg.ssl.backbone)[0] for n, p in _parse_inits(init or []).items()}
    labelled = open_source(data, cfg.ssl.image_size, groups=groups)
    results = cross_validate(labelled, inits, cfg, device=pick_device(device))
    results.update(
        run=None,
        preset=cfg.preset,
        backbone=cfg.ssl.backbone,
        image_size=cfg.ssl.image_size,
        pretraining={},
        seconds=sum(f["seconds"] for a in results["arms"].values() for e in a.values() for f in e["folds"]),
    )
    write_report(results, out)
    typer.echo(f"results: {out / 'ssl.json'}")


@app.command("experiment")
def experiment_cmd(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    run: Annotated[
        str, typer.Option(help="Generated run (samples/<run>/) whose tiles are the synthetic pool.")
    ] = "rnagan",
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output folder (default: WORKSPACE/reports/ssl).")
    ] = None,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """The whole experiment on a generated workspace (e.g. the demo's), ssl.seeds times: pretrain, fine-tune, report."""
    from rnagan.ssl.experiment import run_experiment
    from rnagan.workspace import Workspace

    results = run_experiment(
        Workspace(workspace),
        resolve_config(preset, config, set_, workspace=workspace),
        run=run,
        out=out,
        device=device,
    )
    line = results["headline"]
    if line is not None:
        typer.echo(f"{line['arm']} − {line['control']} at {line['label_fraction']:.0%} of the labels: "
                   f"{100 * line['mean']:+.1f} points over {len(line['values'])} seeds")  # fmt: skip
    typer.echo(
        f"{results['seconds'] / 60:.1f} min; results: {(out or Workspace(workspace).reports / 'ssl') / 'ssl.json'}"
    )


@app.command("tstr")
def tstr_cmd(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    run: Annotated[
        list[str] | None, typer.Option(help="Generated run (samples/<run>/), repeatable (default: rnagan).")
    ] = None,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train on synthetic, test on real, beside train on real → WORKSPACE/reports/tstr.json (evaluate.device)."""
    from rnagan.evaluate.tstr import workspace_tstr
    from rnagan.fileio import write_json_atomic
    from rnagan.workspace import Workspace

    ws = Workspace(workspace)
    cfg = resolve_config(preset, config, set_, workspace=workspace)
    result = workspace_tstr(ws, cfg, runs=tuple(run or ("rnagan",)))
    write_json_atomic(ws.reports / "tstr.json", result)
    typer.echo(f"TRTR accuracy {result['trtr']['accuracy']:.3f}")
    for name, entry in result["runs"].items():
        typer.echo(f"{name}: TSTR accuracy {entry['tstr']['accuracy']:.3f}, ratio {entry['ratio']['accuracy']:.3f}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="ssl")
