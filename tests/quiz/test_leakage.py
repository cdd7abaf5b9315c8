"""Nothing but the pixels tells real from synthetic: a classifier on lengths, headers, ids, order and timing is at
chance on enough tiles to see a 5-point leak, and it catches a leak planted on purpose.

Tiles are fetched from a live server (uvicorn on 127.0.0.1), as a browser would. n = 480 (240 real, 240 synthetic):
the exact 95 % interval of an accuracy near 0.5 is then ±0.045 wide, so a classifier at 0.55 falls outside it.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import replace

import httpx
import pytest
from PIL import Image, ImageFilter
from quiz_helpers import LC25000, live_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnagan.quiz import leakage, tiles
from rnagan.quiz.app import create_app
from rnagan.quiz.db import make_engine
from rnagan.quiz.settings import QuizSettings
from rnagan.quiz.stats import Proportion

PER_SOURCE = 240
REPEATS = 3


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> tiles.TilePool:
    """Real: original LC25000 JPEG files (their lengths vary); synthetic: other LC25000 tiles, blurred, as PNG."""
    files = sorted(p for folder in ("lung_aca", "lung_n", "lung_scc") for p in (LC25000 / folder).glob("*.jpg"))
    assert len(files) >= 2 * PER_SOURCE
    synthetic = tmp_path_factory.mktemp("synthetic")
    for i, path in enumerate(files[PER_SOURCE : 2 * PER_SOURCE]):
        Image.open(path).convert("RGB").resize((64, 64)).filter(ImageFilter.GaussianBlur(1)).save(
            synthetic / f"{i}.png"
        )
    refs = [tiles.TileRef("real", "real", "lung", str(p)) for p in files[:PER_SOURCE]]
    refs += tiles.folder_tiles(synthetic, "synthetic", "rnagan")
    return tiles.build_pool(refs, {ref.key: secrets.token_urlsafe(16) for ref in refs}, size=32)


@pytest.fixture(scope="module")
def app(pool: tiles.TilePool, tmp_path_factory: pytest.TempPathFactory) -> ASGIApp:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'study.sqlite'}")
    return create_app(QuizSettings(secret_key="k" * 32, admin_token="a" * 24, mode="quiz"), pool, engine)


def _fetch(app: ASGIApp, pool: tiles.TilePool, repeats: int) -> list[leakage.Fetch]:
    """Every tile ``repeats`` times over keep-alive HTTP, in a fresh random order each time."""
    with live_server(app) as base, httpx.Client(base_url=base) as client:

        def get(path: str):
            response = client.get(path)
            return response.status_code, dict(response.headers), response.content

        return leakage.fetch_all(get, list(pool.tiles), repeats=repeats)


def _classify(rows: list[leakage.Fetch], pool: tiles.TilePool) -> Proportion:
    """Pairs of one real and one synthetic tile, each pair one cross-validation group: every fold is balanced.

    Pairs are drawn at random, independent of every feature: tiles paired by fetch time share the server's
    momentary speed, tiles paired by sorted id share id features, and either ties the features to the folds.
    """
    labels = [int(pool.tiles[f.tile_id].ref.source == "synthetic") for f in rows]
    rng = random.Random(0)
    pair = {}
    for source in ("real", "synthetic"):
        ids = sorted(pool.ids(source))
        pair |= {tile_id: i for i, tile_id in enumerate(rng.sample(ids, len(ids)))}
    return leakage.classify(leakage.feature_rows(rows), labels, [pair[f.tile_id] for f in rows])


def _report(name: str, result: Proportion) -> str:
    interval = f"[{result.ci_low:.3f}, {result.ci_high:.3f}]"
    return f"{name}: {result.k}/{result.n} = {result.estimate:.3f}, exact 95 % CI {interval}"


@pytest.fixture(scope="module")
def fetches(app, pool) -> list[leakage.Fetch]:
    return _fetch(app, pool, REPEATS)


def test_classifier_on_everything_but_pixels_is_at_chance_and_latency_does_not_differ(fetches, pool, report) -> None:
    result = _classify(leakage.per_tile(fetches), pool)
    raw = leakage.per_tile(fetches, detrended=False)
    timing = leakage.latency_difference(raw, [pool.tiles[f.tile_id].ref.source == "synthetic" for f in raw])
    typical = sorted(f.seconds for f in raw)[len(raw) // 2]
    report(_report("leakage classifier", result))
    report(
        f"latency real - synthetic: {1e6 * timing.seconds:+.1f} us, 95 % CI [{1e6 * timing.ci_low:+.1f},"
        f" {1e6 * timing.ci_high:+.1f}] us (n {timing.n_real} + {timing.n_synthetic});"
        f" median fetch {1e6 * typical:.0f} us"
    )
    assert result.n >= 400 and {len(r) for r in leakage.feature_rows(raw)} == {len(leakage.FEATURES)}
    # Leakage is accuracy above chance; cross-validating a classifier on pure noise with balanced classes can
    # land below chance (each fold's training set leans to the other class), which tells nothing.
    assert result.ci_low <= 0.5
    assert max(abs(timing.ci_low), abs(timing.ci_high)) < typical  # any gap is below one fetch's time


class PlantedLeak:
    """A server that pads synthetic tiles by one byte: the smallest length leak a careless encoder could make."""

    def __init__(self, app: ASGIApp, pool: tiles.TilePool) -> None:
        self.app, self.pool = app, pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tile = self.pool.tiles.get(scope.get("path", "").removeprefix("/tile/"))
        extra = b"\0" if tile is not None and tile.ref.source == "synthetic" else b""

        async def padded(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                headers = [(k, v) for k, v in message["headers"] if k != b"content-length"]
                message = {**message, "headers": [*headers, (b"content-length", str(len(tile.data) + 1).encode())]}
            elif message["type"] == "http.response.body" and extra:
                message = {**message, "body": message["body"] + extra}
            await send(message)

        await self.app(scope, receive, padded)


@pytest.fixture(scope="module")
def leaky_rows(app, pool) -> list[leakage.Fetch]:
    return leakage.per_tile(_fetch(PlantedLeak(app, pool), pool, repeats=1))


def test_the_same_classifier_catches_a_planted_one_byte_leak(leaky_rows, pool, report) -> None:
    result = _classify(leaky_rows, pool)
    report(_report("positive control (synthetic tiles one byte longer)", result))
    assert result.ci_low > 0.9


def test_the_same_classifier_catches_the_original_file_lengths(fetches, pool, report) -> None:
    """What skipping the re-encoding would leak: each file's own length."""
    leaky = [replace(f, body_length=len(pool.tiles[f.tile_id].ref.read())) for f in leakage.per_tile(fetches)]
    result = _classify(leaky, pool)
    report(_report("positive control (original file lengths)", result))
    assert result.ci_low > 0.8
