"""Assemble a study from its sources (tiles → pool, database, settings) and run it with uvicorn."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from rnagan.errors import InputFileError
from rnagan.quiz import tiles
from rnagan.quiz.app import create_app
from rnagan.quiz.db import init_db, make_engine, meta_value, sync_tiles
from rnagan.quiz.draws import plays_available
from rnagan.quiz.settings import MODES, QuizSettings
from rnagan.quiz.split import split
from rnagan.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class StudyOptions:
    """What ``rnagan quiz serve`` is told: where tiles come from, which to keep, how to encode them, the study."""

    workspace: Path | None = None
    real: list[Path] = field(default_factory=list)
    synthetic: list[str] = field(default_factory=list)  # DIR or GENERATOR=DIR
    tissues: list[str] = field(default_factory=list)
    generators: list[str] = field(default_factory=list)
    per_group: int | None = 200  # tiles kept per (generator, tissue) for the quiz
    rate_per_group: int = 10  # tiles per (generator, tissue) every rater rates
    max_plays: int = 5  # quiz plays per player
    starts_per_address: int = 60  # quiz plays per client address and hour
    size: int | None = None
    image_format: str = "png"
    quality: int = 90
    db: str | None = None
    mode: str = "both"
    rounds: int = 20
    seed: int = 0
    admin_token: str | None = None


def default_db(workspace: Path | None) -> str:
    """A SQLite file in the workspace (quiz/study.sqlite), or in the current folder without one."""
    folder = workspace / "quiz" if workspace is not None else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'study.sqlite').resolve()}"


def collect(options: StudyOptions) -> list[tiles.TileRef]:
    refs: list[tiles.TileRef] = []
    if options.workspace is not None:
        refs += tiles.workspace_tiles(Workspace(options.workspace))
    for folder in options.real:
        refs += tiles.folder_tiles(Path(folder), "real", "real")
    for spec in options.synthetic:
        name, _, folder = spec.rpartition("=")
        refs += tiles.folder_tiles(Path(folder), "synthetic", name or Path(folder).name)
    return tiles.select(
        refs, tissues=options.tissues, generators=options.generators, per_group=options.per_group, seed=options.seed
    )


def open_study(options: StudyOptions) -> tuple[QuizSettings, tiles.TilePool, Engine]:
    """Everything ``create_app`` needs; tile ids, the cookie secret and the admin token persist in the database."""
    if options.mode not in MODES:
        raise InputFileError(f"--mode must be one of {', '.join(MODES)}, got {options.mode!r}")
    if options.rounds < 2:
        raise InputFileError("--rounds must be at least 2 (one real and one synthetic tile)")
    refs = collect(options)
    engine = make_engine(options.db or default_db(options.workspace))
    init_db(engine)
    ids = sync_tiles(engine, refs)
    pool = tiles.build_pool(refs, ids, size=options.size, image_format=options.image_format, quality=options.quality)
    quiz_needed = options.mode in ("quiz", "both")
    sides = split(pool, options.rate_per_group, options.seed, quiz_needed=quiz_needed)
    plays = plays_available(pool, sides.quiz_ids, options.rounds) if quiz_needed else 0
    if quiz_needed and plays == 0:
        raise InputFileError(f"the quiz pool has too few real or synthetic tiles for one play of {options.rounds}")
    settings = QuizSettings(
        secret_key=meta_value(engine, "secret_key", secrets.token_urlsafe(32)),
        admin_token=options.admin_token or meta_value(engine, "admin_token", secrets.token_urlsafe(24)),
        mode=options.mode,
        rounds=options.rounds,
        seed=options.seed,
        rate_ids=sides.rate_ids,
        quiz_ids=sides.quiz_ids,
        max_plays=min(options.max_plays, plays),
        starts_per_address=options.starts_per_address,
    )
    return settings, pool, engine


def describe(pool: tiles.TilePool, ids: list[str]) -> str:
    counts: dict[tuple[str, str], int] = {}
    for tile in (pool.tiles[i] for i in ids):
        group = (tile.ref.generator, tile.ref.tissue)
        counts[group] = counts.get(group, 0) + 1
    return ", ".join(f"{g}/{t} {n}" for (g, t), n in sorted(counts.items()))


def serve(options: StudyOptions, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Build the study, print its addresses, and serve until interrupted."""
    import uvicorn

    settings, pool, engine = open_study(options)
    base = f"http://{host}:{port}"
    print(f"{len(pool.tiles)} tiles ({pool.size} px {pool.image_format})", flush=True)
    print(f"quiz pool: {describe(pool, settings.quiz_ids)}", flush=True)
    print(f"rating set (no tile or source image in the quiz): {describe(pool, settings.rate_ids)}", flush=True)
    print(f"database: {engine.url.render_as_string(hide_password=True)}", flush=True)
    if settings.mode in ("quiz", "both"):
        print(f"quiz:  {base}/quiz", flush=True)
    print(f"admin: {base}/admin?token={settings.admin_token}", flush=True)
    if settings.mode in ("rate", "both"):
        print(f"raters: create invite links on the admin page ({len(settings.rate_ids)} tiles per rater)", flush=True)
    app = create_app(settings, pool, engine)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, backlog=4096, timeout_keep_alive=60)
