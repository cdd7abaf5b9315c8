"""From the database to tables (CSV), one JSON summary and figures: what ``rnagan quiz results`` writes."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: no global state, no display backend
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from rnagan.fileio import atomic_path, write_json_atomic
from rnagan.quiz import stats
from rnagan.quiz.db import Answer, Rater, Rating, Refusal, Tile

TILE_COLUMNS = [Tile.source, Tile.generator, Tile.tissue]


def answers_frame(engine: Engine) -> pd.DataFrame:
    query = select(Answer.player_id, Answer.tile_id, Answer.answer, Answer.correct, *TILE_COLUMNS).join(
        Tile, Tile.id == Answer.tile_id
    )
    with engine.connect() as conn:
        return pd.DataFrame(
            conn.execute(query).all(),
            columns=["player_id", "tile_id", "answer", "correct", "source", "generator", "tissue"],
        )


def ratings_frame(engine: Engine) -> pd.DataFrame:
    query = (
        select(
            Rating.rater_id,
            Rater.label,
            Rating.tile_id,
            Rating.tissue,
            Rating.quality,
            Rating.artifacts,
            Rating.comment,
            *TILE_COLUMNS,
        )
        .join(Tile, Tile.id == Rating.tile_id)
        .join(Rater, Rater.id == Rating.rater_id)
    )
    columns = [
        "rater_id",
        "rater",
        "tile_id",
        "rated_tissue",
        "quality",
        "artifacts",
        "comment",
        "source",
        "generator",
        "tissue",
    ]
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=columns)


def refusal_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as db:
        return dict(db.execute(select(Refusal.reason, func.count()).group_by(Refusal.reason)).all())


def summary(engine: Engine) -> dict[str, object]:
    """The numbers of both studies in one JSON-ready dictionary (NaN → None)."""
    answers, ratings = answers_frame(engine), ratings_frame(engine)
    result: dict[str, object] = {"answers": len(answers), "ratings": len(ratings), "refusals": refusal_counts(engine)}
    if len(answers):
        result["quiz"] = {
            **stats.pooled(answers),
            "by_tissue": stats.by_group(answers, "tissue").to_dict("records"),
            "by_generator": stats.by_group(answers, "generator").to_dict("records"),
        }
    if len(ratings):
        result["ratings_study"] = {
            "quality": stats.quality_summary(ratings).to_dict("records"),
            "comparisons": stats.compare_sources(ratings).to_dict("records"),
            "rates": stats.rates_per_source(ratings).to_dict("records"),
            "agreement": stats.agreement(ratings),
        }
    return _finite(result)


def _finite(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value.item() if hasattr(value, "item") else value


def write_results(engine: Engine, out: Path) -> list[Path]:
    """Write every table, ``summary.json`` and the figures to ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    answers, ratings = answers_frame(engine), ratings_frame(engine)
    tables: dict[str, pd.DataFrame] = {"answers": answers, "ratings": ratings}
    if len(answers):
        tables |= {
            "quiz_players": stats.per_player(answers),
            "quiz_by_tissue": stats.by_group(answers, "tissue"),
            "quiz_by_generator": stats.by_group(answers, "generator"),
            "quiz_fooled_per_tile": stats.fooled_per_tile(answers),
        }
    if len(ratings):
        tables |= {
            "ratings_quality": stats.quality_summary(ratings),
            "ratings_comparisons": stats.compare_sources(ratings),
            "ratings_rates": stats.rates_per_source(ratings),
        }
    written = []
    for name, table in tables.items():
        with atomic_path(out / f"{name}.csv", suffix=".csv") as tmp:
            table.to_csv(tmp, index=False)
        written.append(out / f"{name}.csv")
    write_json_atomic(out / "summary.json", summary(engine))
    written.append(out / "summary.json")
    if len(answers):
        written.append(_save(quiz_figure(answers), out / "quiz.png"))
    if len(ratings):
        written.append(_save(ratings_figure(ratings), out / "ratings.png"))
    return written


def _save(figure: Figure, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=150, bbox_inches="tight")
    return path


def _interval_bars(ax: Axes, table: pd.DataFrame, label: str, value: str, low: str, high: str) -> None:
    x = range(len(table))
    ax.bar(x, table[value], color="#4c72b0")
    ax.errorbar(
        x,
        table[value],
        yerr=[table[value] - table[low], table[high] - table[value]],
        fmt="none",
        ecolor="black",
        capsize=3,
    )
    ax.set_xticks(list(x), table[label], rotation=30, ha="right")


def quiz_figure(answers: pd.DataFrame) -> Figure:
    """Per-player accuracy with exact intervals against chance; accuracy per generator; fooled per tile."""
    fig = Figure(figsize=(13, 3.8), layout="tight")
    axes = fig.subplots(1, 3)
    players = stats.per_player(answers).sort_values("estimate", ignore_index=True)
    axes[0].errorbar(
        range(len(players)),
        players["estimate"],
        fmt="o",
        capsize=2,
        yerr=[players["estimate"] - players["ci_low"], players["ci_high"] - players["estimate"]],
    )
    axes[0].axhline(stats.CHANCE, color="grey", linestyle="--", label="chance")
    axes[0].set(xlabel="player (sorted)", ylabel="accuracy", ylim=(0, 1), title="Accuracy per player (95 % CI)")
    axes[0].legend(frameon=False)
    _interval_bars(axes[1], stats.by_group(answers, "generator"), "generator", "estimate", "ci_low", "ci_high")
    axes[1].axhline(stats.CHANCE, color="grey", linestyle="--")
    axes[1].set(ylabel="accuracy", ylim=(0, 1), title="Accuracy by tile source")
    axes[2].hist(stats.fooled_per_tile(answers)["fooled"], bins=10, range=(0, 1), color="#dd8452")
    axes[2].set(xlabel="fraction of players fooled", ylabel="tiles", title="Fooled per tile")
    return fig


def ratings_figure(ratings: pd.DataFrame) -> Figure:
    """Like the paper's Figure 6: quality per source and tissue, tissue identified, artifacts, per source."""
    fig = Figure(figsize=(13, 3.8), layout="tight")
    axes = fig.subplots(1, 3)
    quality = stats.quality_summary(ratings)
    quality = quality[quality["tissue"] != "all"].pivot(index="tissue", columns="generator", values=["mean", "sd"])
    quality["mean"].plot.bar(yerr=quality["sd"].fillna(0), ax=axes[0], capsize=2, rot=30)
    axes[0].set(ylabel="quality (1–5), mean ± sd", ylim=(0, 5.5), title="Morphology quality")
    axes[0].legend(title=None, frameon=False, fontsize=8)
    rates = stats.rates_per_source(ratings)
    _interval_bars(axes[1], rates, "generator", "tissue_accuracy", "tissue_ci_low", "tissue_ci_high")
    axes[1].set(ylabel="fraction", ylim=(0, 1), title="Tissue identified (95 % CI)")
    _interval_bars(axes[2], rates, "generator", "artifact_rate", "artifact_ci_low", "artifact_ci_high")
    axes[2].set(ylabel="fraction", ylim=(0, 1), title="Artifacts reported (95 % CI)")
    return fig
