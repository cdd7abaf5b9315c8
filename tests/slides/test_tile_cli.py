"""``rnagan tile`` and ``rnagan tiles import/export`` through typer, on a root app of their own."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from rnagan.cli import tile as tile_cli


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None: ...

    tile_cli.register(app)
    return app


def test_tile_then_export(tmp_path: Path, real_slide: Path) -> None:
    runner, app = CliRunner(), _app()
    result = runner.invoke(
        app, ["tile", str(real_slide), "--out", str(tmp_path), "--set", "tiling.max_tiles_per_slide=5"]
    )
    assert result.exit_code == 0, result.output
    assert "CMU-1-Small-Region" in result.output and "done" in result.output
    again = runner.invoke(app, ["tile", str(real_slide), "--out", str(tmp_path)])
    assert "skipped" in again.output
    exported = runner.invoke(app, ["tiles", "export", str(tmp_path / "png"), "--out", str(tmp_path), "--limit", "2"])
    assert exported.exit_code == 0 and len(list((tmp_path / "png").rglob("*.png"))) == 2


def test_tile_help_gives_units_and_resume() -> None:
    result = CliRunner().invoke(_app(), ["tile", "--help"])
    assert "µm" in result.output and "rerun skips" in result.output
