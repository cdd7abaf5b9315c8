"""``rnagan quiz results``: tables, summary and figures from a database filled through the pages."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient
from quiz_helpers import create_invite, play_through, rate_through
from typer.testing import CliRunner

from rnagan.cli import app as cli


def test_results_command_writes_tables_summary_and_figures(client: TestClient, study, tmp_path: Path) -> None:
    settings, _, engine = study
    for _ in range(2):  # answering "synthetic" throughout: accuracy exactly 50 %
        play_through(client, answer="synthetic")
    rate_through(client, create_invite(client, "a"), quality="4")
    rate_through(client, create_invite(client, "b"), quality="3")
    out = tmp_path / "results"
    result = CliRunner().invoke(
        cli, ["quiz", "results", "--db", engine.url.render_as_string(hide_password=False), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"summary.json", "quiz.png", "ratings.png", "quiz_players.csv", "ratings_comparisons.csv"} <= names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["answers"] == 2 * settings.rounds
    assert summary["quiz"]["accuracy"]["estimate"] == 0.5
    assert summary["quiz"]["sensitivity"]["estimate"] == 1.0 and summary["quiz"]["specificity"]["estimate"] == 0.0
    assert summary["ratings"] == 2 * len(settings.rate_ids)
    agreement = summary["ratings_study"]["agreement"]
    assert agreement["tiles_rated_by_all"] == len(settings.rate_ids)
    players = pd.read_csv(out / "quiz_players.csv")
    assert list(players["k"]) == [settings.rounds // 2] * 2
