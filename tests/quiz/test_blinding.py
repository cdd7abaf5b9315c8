"""Blinding through the HTTP API: the quiz never reveals a rating tile, and replays cannot collect labels."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from quiz_helpers import create_invite, form_fields, pixel_hash, play_through, rate_through, start_quiz
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rnagan.errors import InputFileError
from rnagan.quiz.app import create_app
from rnagan.quiz.db import Player, Refusal
from rnagan.quiz.draws import play_sequence, session_rng
from rnagan.quiz.serve import StudyOptions, open_study
from rnagan.quiz.split import groups

TILE_SRC = re.compile(r'src="/tile/([\w-]+)"')


def test_rating_set_and_quiz_pool_share_no_tile_no_source_image_and_no_pixels(study) -> None:
    settings, pool, _ = study
    rate, quiz = set(settings.rate_ids), set(settings.quiz_ids)
    assert rate and quiz and not rate & quiz
    assert not {pool.tiles[t].ref.image for t in rate} & {pool.tiles[t].ref.image for t in quiz}
    assert not {pixel_hash(pool.tiles[t].data) for t in rate} & {pixel_hash(pool.tiles[t].data) for t in quiz}
    cells = {(pool.tiles[t].ref.generator, pool.tiles[t].ref.tissue) for t in rate}
    assert len(cells) == 6 and len(rate) == 2 * len(cells)  # rate_per_group tiles of every generator and tissue


def test_tiles_with_the_same_pixels_are_one_group_whatever_their_source(study) -> None:
    _, pool, _ = study
    a, b = pool.tiles[pool.ids("real")[0]], pool.tiles[pool.ids("synthetic")[0]]
    twin = {a.id: a, b.id: replace(b, data=a.data)}
    (group,) = groups(replace(pool, tiles=twin))
    assert sorted(group) == sorted(twin)


def test_a_rater_who_first_plays_the_quiz_learns_nothing_about_any_rating_tile(client: TestClient, study) -> None:
    """Play every play the server allows, keep everything the quiz sent, then rate as an invited rater."""
    settings, pool, _ = study
    revealed_ids, pages = set(), []
    for _ in range(settings.max_plays):
        shown, play_pages = play_through(client)
        revealed_ids |= set(shown)
        pages += play_pages
    assert len(revealed_ids) == settings.max_plays * settings.rounds  # no tile twice to one player
    in_pages = {match for page in pages for match in TILE_SRC.findall(page)}
    assert in_pages <= revealed_ids
    revealed_pixels = {pixel_hash(client.get(f"/tile/{t}").content) for t in revealed_ids}
    rated = rate_through(client, create_invite(client))
    assert sorted(rated) == sorted(settings.rate_ids)
    rated_pixels = {pixel_hash(client.get(f"/tile/{t}").content) for t in rated}
    assert not revealed_pixels & rated_pixels
    assert not any(t in page for t in rated for page in pages)
    assert not {pool.tiles[t].ref.image for t in rated} & {pool.tiles[t].ref.image for t in revealed_ids}


def test_a_play_in_progress_is_continued_not_redrawn(client: TestClient, study) -> None:
    _, _, engine = study
    first = start_quiz(client)
    again = client.post("/quiz/start", data={"csrf": first["csrf"]})
    assert form_fields(again.text)["tile"] == first["tile"] and form_fields(again.text)["nonce"] == first["nonce"]
    assert "Start a new quiz" not in client.get("/quiz").text
    with Session(engine) as db:
        assert db.scalar(select(func.count()).select_from(Player)) == 1


def test_a_players_draws_are_fixed_on_the_server(study) -> None:
    settings, pool, _ = study

    def draw(play: int) -> list[str]:
        return play_sequence(pool, settings.quiz_ids, settings.rounds, session_rng(settings.seed, "player", "p"), play)

    assert draw(0) == draw(0) and draw(1) == draw(1)
    assert not set(draw(0)) & set(draw(1))


def test_plays_are_counted_per_player_on_the_server(client: TestClient, study) -> None:
    settings = study[0]
    for _ in range(settings.max_plays):
        assert len(play_through(client)[0]) == settings.rounds
    shown, pages = play_through(client)
    assert not shown and "too many plays" in pages[0]
    assert "Play again" not in client.get("/quiz/done").text


def test_clearing_cookies_does_not_escape_the_address_rate_limit(study) -> None:
    settings, pool, engine = study
    settings = replace(settings, starts_per_address=3)
    statuses = []
    for _ in range(4):  # a fresh browser (no cookies) each time, from one address
        with TestClient(create_app(settings, pool, engine), base_url="http://127.0.0.1") as browser:
            csrf = form_fields(browser.get("/quiz").text)["csrf"]
            statuses.append(browser.post("/quiz/start", data={"csrf": csrf}, follow_redirects=False).status_code)
    assert statuses == [303, 303, 303, 429]
    with Session(engine) as db:
        assert db.scalar(select(func.count()).where(Refusal.reason == "rate_limited")) == 1
        assert db.scalar(select(func.count(func.distinct(Player.participant)))) == 3


def test_a_player_token_signed_with_another_key_is_not_a_player(client: TestClient) -> None:
    start_quiz(client)
    session = client.cookies["rnagan_quiz"]
    payload = session.split(".")[0]
    forged = TimestampSigner("not-the-secret").sign(payload.encode()).decode()
    assert forged != session
    client.cookies.clear()
    client.cookies.set("rnagan_quiz", forged)
    assert client.get("/quiz/play", follow_redirects=False).headers["location"] == "/quiz"


def test_a_rating_set_that_leaves_the_quiz_no_tiles_is_refused_at_start(study_workspace, tmp_path) -> None:
    options = StudyOptions(workspace=study_workspace.root, db=f"sqlite:///{tmp_path / 's.sqlite'}", rate_per_group=50)
    with pytest.raises(InputFileError, match="lower --rate-per-group"):
        open_study(options)
