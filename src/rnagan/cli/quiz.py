"""``rnagan quiz``: serve the real-or-synthetic quiz and the blinded rating form; analyse the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnagan.cli._common import DEFAULT_WORKSPACE

app = typer.Typer(
    help="Reader study: a web quiz (real or synthetic?) and a blinded expert rating form.", no_args_is_help=True
)


@app.command("serve")
def serve_cli(
    workspace: Annotated[
        Path,
        typer.Option(
            "--workspace",
            "-w",
            "--out",
            help="Workspace: its held-out real tiles (split test) and every run under samples/ (default: ./workspace).",
        ),
    ] = DEFAULT_WORKSPACE,
    real: Annotated[
        list[Path] | None,
        typer.Option(help=("Real tiles: a folder of PNG/JPEG (sub-folders = tissues) or a tile store (repeatable).")),
    ] = None,
    synthetic: Annotated[
        list[str] | None,
        typer.Option(help=("Synthetic tiles: [GENERATOR=]DIR, a samples run, folder or tile store (repeatable).")),
    ] = None,
    tissue: Annotated[list[str] | None, typer.Option(help="Keep only this tissue (repeatable).")] = None,
    generator: Annotated[
        list[str] | None, typer.Option(help=("Keep only this generator: rnagan, reference, baseline... (repeatable)."))
    ] = None,
    per_group: Annotated[int, typer.Option(min=1, help="At most this many tiles per generator and tissue.")] = 200,
    rate_per_group: Annotated[
        int,
        typer.Option(
            min=1,
            help=(
                "Tiles per generator and tissue in the rating set (every rater rates all of them); whole source"
                " images are kept out of the quiz for it."
            ),
        ),
    ] = 10,
    max_plays: Annotated[
        int, typer.Option(min=1, help="Quiz plays per player (no tile is shown to a player twice).")
    ] = 5,
    starts_per_address: Annotated[
        int, typer.Option(min=1, help="Quiz plays one client address may start per hour, whatever its cookies.")
    ] = 60,
    size: Annotated[
        int | None,
        typer.Option(
            min=8, help=("Tile size in px (default: the synthetic tiles' size; real tiles are resized to it).")
        ),
    ] = None,
    image_format: Annotated[str, typer.Option("--format", help="png (uncompressed, equal length) or jpeg.")] = "png",
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG quality.")] = 90,
    mode: Annotated[str, typer.Option(help="quiz, rate or both.")] = "both",
    rounds: Annotated[int, typer.Option(min=2, help="Tiles per quiz session (half real, half synthetic).")] = 20,
    db: Annotated[
        str | None,
        typer.Option(help=("Database URL, e.g. postgresql://user@host/study (default: sqlite in WORKSPACE/quiz/).")),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for a lab network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    admin_token: Annotated[
        str | None, typer.Option(help="Admin token (default: made once, kept in the database).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds tile selection, quiz streams and rating orders.")] = 0,
) -> None:
    """Re-encode every tile the same way, then serve the quiz, the rating form and the admin pages."""
    from rnagan.quiz.serve import StudyOptions, serve

    options = StudyOptions(
        workspace=workspace if workspace.exists() else None,  # --real/--synthetic alone need none
        real=list(real or []),
        synthetic=list(synthetic or []),
        tissues=list(tissue or []),
        generators=list(generator or []),
        per_group=per_group,
        rate_per_group=rate_per_group,
        max_plays=max_plays,
        starts_per_address=starts_per_address,
        size=size,
        image_format=image_format,
        quality=quality,
        db=db,
        mode=mode,
        rounds=rounds,
        seed=seed,
        admin_token=admin_token,
    )
    serve(options, host=host, port=port)


@app.command("results")
def results_cli(
    db: Annotated[str, typer.Option(help="Database URL, e.g. sqlite:///WORKSPACE/quiz/study.sqlite.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the CSV tables, summary.json and figures.")],
) -> None:
    """Accuracy with exact intervals, rating comparisons, agreement: CSV, JSON and figures."""
    from rnagan.quiz.db import make_engine
    from rnagan.quiz.results import write_results

    for path in write_results(make_engine(db), out):
        typer.echo(path)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="quiz")
