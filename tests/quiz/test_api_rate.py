"""Blinded rating and admin rules through the HTTP API: invites, one rating per rater and tile, resume, escaping."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from quiz_helpers import ADMIN, create_invite, form_fields
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rnagan.quiz.db import Rater, Rating, Refusal

RATING = {"tissue": "lung_n", "quality": "4", "artifacts": "no", "comment": ""}


def _join(client: TestClient, link: str):
    page = client.get(link)
    assert page.status_code == 200
    return client.post(link, data={"csrf": form_fields(page.text)["csrf"]})


def _ratings(engine) -> int:
    with Session(engine) as db:
        return db.scalar(select(func.count()).select_from(Rating))


def test_admin_needs_the_token(client: TestClient, study) -> None:
    assert client.get("/admin").status_code == 401
    assert client.get("/admin", params={"token": "wrong"}).status_code == 401
    assert client.get("/admin/summary.json").status_code == 401
    assert client.get("/admin/summary.json", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
    with Session(study[2]) as db:
        assert db.scalar(select(func.count()).where(Refusal.reason == "admin_token")) == 3


def test_admin_token_link_is_remembered_and_removed_from_the_address(client: TestClient) -> None:
    response = client.get("/admin", params={"token": ADMIN})
    assert response.status_code == 200 and response.url.path == "/admin" and not response.url.query
    assert client.get("/admin").status_code == 200


def test_invites_need_admin_and_csrf(client: TestClient, study) -> None:
    assert client.post("/admin/invites", data={"label": "x"}).status_code == 401
    client.get("/admin", params={"token": ADMIN})
    assert client.post("/admin/invites", data={"label": "x"}).status_code == 403
    with Session(study[2]) as db:
        assert db.scalar(select(func.count()).select_from(Rater)) == 0


def test_rating_is_blinded_and_covers_the_rating_set_in_a_random_order_per_rater(client: TestClient, study) -> None:
    settings, pool, _ = study
    orders = []
    for label in ("first", "second"):
        page = _join(client, create_invite(client, label))
        assert "Tile 1 of" in page.text
        assert "synthetic" not in page.text.lower() and "generated" not in page.text.lower()
        with Session(study[2]) as db:
            orders.append(db.scalars(select(Rater.sequence).where(Rater.label == label)).one())
    assert sorted(json.loads(orders[0])) == sorted(json.loads(orders[1])) == sorted(settings.rate_ids)
    assert orders[0] != orders[1]
    generators = {pool.tiles[t].ref.generator for t in settings.rate_ids}
    assert generators == {"real", "rnagan", "baseline"}


def test_one_rating_per_rater_and_tile_and_resume_keeps_the_order(client: TestClient, study) -> None:
    settings, _, engine = study
    link = create_invite(client)
    page = _join(client, link)
    first = form_fields(page.text)
    page = client.post("/rate/answer", data={**first, **RATING})
    second = form_fields(page.text)
    assert client.post("/rate/answer", data={**first, **RATING, "quality": "1"}).status_code == 409  # again
    assert _ratings(engine) == 1
    # a new device resumes with the same link, at the same tile, in the same order
    with TestClient(client.app, base_url="http://127.0.0.1") as other_device:
        resumed = _join(other_device, link)
        assert "Tile 2 of" in resumed.text
        assert form_fields(resumed.text)["tile"] == second["tile"]
    with Session(engine) as db:
        stored = db.scalars(select(Rating)).one()
    assert stored.quality == 4 and stored.tile_id == first["tile"]
    assert len(settings.rate_ids) > 2


def test_invalid_ratings_are_refused(client: TestClient, study) -> None:
    settings, _, engine = study
    fields = form_fields(_join(client, create_invite(client)).text)
    bad = [
        {**RATING, "quality": "6"},
        {**RATING, "quality": "three"},
        {**RATING, "artifacts": "maybe"},
        {**RATING, "tissue": "brain"},
        {**RATING, "comment": "x" * (settings.max_comment + 1)},
    ]
    for rating in bad:
        assert client.post("/rate/answer", data={**fields, **rating}).status_code == 400
    assert client.post("/rate/answer", data={**fields, **RATING, "nonce": "forged"}).status_code == 409
    assert _ratings(engine) == 0


def test_unknown_invite_is_404(client: TestClient) -> None:
    assert client.get("/rate/join/not-an-invite").status_code == 404
    assert client.get("/rate").status_code == 401


def test_comment_markup_is_shown_as_text_in_the_admin_view(client: TestClient) -> None:
    fields = form_fields(_join(client, create_invite(client)).text)
    comment = '<script>alert("x")</script><b>bold</b>'
    client.post("/rate/answer", data={**fields, **RATING, "comment": comment})
    admin = client.get("/admin").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in admin
    assert "<script>alert" not in admin and "<b>bold</b>" not in admin


def test_admin_summary_counts_ratings(client: TestClient) -> None:
    fields = form_fields(_join(client, create_invite(client)).text)
    client.post("/rate/answer", data={**fields, **RATING, "artifacts": "yes"})
    summary = client.get("/admin/summary.json").json()
    assert summary["ratings"] == 1
    rates = summary["ratings_study"]["rates"]
    assert len(rates) == 1 and rates[0]["artifact_rate"] == 1.0
