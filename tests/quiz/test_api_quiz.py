"""Quiz integrity rules through the HTTP API: each answer once, for the shown tile, with the page's nonce."""

from __future__ import annotations

from fastapi.testclient import TestClient
from quiz_helpers import form_fields, start_quiz
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rnagan.quiz.db import Answer, Refusal


def _count(engine, model) -> int:
    with Session(engine) as db:
        return db.scalar(select(func.count()).select_from(model))


def _refusals(engine) -> dict[str, int]:
    with Session(engine) as db:
        return dict(db.execute(select(Refusal.reason, func.count()).group_by(Refusal.reason)).all())


def test_a_full_quiz_is_balanced_scored_and_revealed(client: TestClient, study) -> None:
    settings, pool, engine = study
    fields = start_quiz(client)
    shown = []
    for _ in range(settings.rounds):
        shown.append(fields["tile"])
        response = client.post("/quiz/answer", data={**fields, "answer": "real"})
        assert response.status_code == 200
        fields = form_fields(response.text)
    assert response.url.path == "/quiz/done"
    sources = [pool.tiles[t].ref.source for t in shown]
    assert sources.count("real") == sources.count("synthetic") == settings.rounds // 2
    assert len(set(shown)) == len(shown)
    assert f"{settings.rounds // 2} of {settings.rounds} correct" in response.text  # "real" is right for half
    assert not any(t in response.text for t in pool.tiles)  # the end page names no tile
    assert response.text.count("<td>real</td>") == response.text.count("<td>synthetic</td>") == settings.rounds // 2
    assert _count(engine, Answer) == settings.rounds


def test_running_score_counts_correct_answers(client: TestClient, study) -> None:
    _, pool, _ = study
    fields = start_quiz(client)
    truth = pool.tiles[fields["tile"]].ref.source
    page = client.post("/quiz/answer", data={**fields, "answer": truth})
    assert "Score 1 / 1" in page.text


def test_replayed_answer_is_refused_and_counted(client: TestClient, study) -> None:
    _, _, engine = study
    fields = start_quiz(client)
    assert client.post("/quiz/answer", data={**fields, "answer": "real"}).status_code == 200
    replay = client.post("/quiz/answer", data={**fields, "answer": "synthetic"})
    assert replay.status_code == 409
    assert _count(engine, Answer) == 1
    assert _refusals(engine) == {"duplicate": 1}


def test_answer_for_a_tile_not_shown_is_refused(client: TestClient, study) -> None:
    _, pool, engine = study
    fields = start_quiz(client)
    other = next(t for t in pool.tiles if t != fields["tile"])
    response = client.post("/quiz/answer", data={**fields, "tile": other, "answer": "real"})
    assert response.status_code == 409
    assert _refusals(engine) == {"wrong_tile": 1}
    assert _count(engine, Answer) == 0
    # the real round is still open
    assert client.post("/quiz/answer", data={**fields, "answer": "real"}).status_code == 200


def test_forged_nonce_is_refused(client: TestClient, study) -> None:
    _, _, engine = study
    fields = start_quiz(client)
    response = client.post("/quiz/answer", data={**fields, "nonce": "forged-nonce", "answer": "real"})
    assert response.status_code == 409
    assert _refusals(engine) == {"bad_nonce": 1}
    assert _count(engine, Answer) == 0


def test_malformed_answers_are_refused_and_counted(client: TestClient, study) -> None:
    _, _, engine = study
    fields = start_quiz(client)
    bad = [
        {**fields, "answer": "maybe"},
        {"csrf": fields["csrf"], "answer": "real"},
        {**fields, "answer": "real", "tile": "x" * 500},
    ]
    for data in bad:
        assert client.post("/quiz/answer", data=data).status_code == 400
    assert _refusals(engine) == {"malformed": 3}
    assert _count(engine, Answer) == 0


def test_missing_or_wrong_csrf_is_403(client: TestClient, study) -> None:
    _, _, engine = study
    fields = start_quiz(client)
    no_csrf = {k: v for k, v in fields.items() if k != "csrf"}
    assert client.post("/quiz/answer", data={**no_csrf, "answer": "real"}).status_code == 403
    assert client.post("/quiz/answer", data={**fields, "csrf": "nope", "answer": "real"}).status_code == 403
    assert client.post("/quiz/start", data={}).status_code == 403
    assert _refusals(engine) == {"csrf": 3}
    assert _count(engine, Answer) == 0


def test_another_browser_cannot_answer_for_a_session(client: TestClient, study) -> None:
    engine = study[2]
    fields = start_quiz(client)
    with TestClient(client.app, base_url="http://127.0.0.1") as stranger:
        csrf = form_fields(stranger.get("/quiz").text)["csrf"]
        response = stranger.post("/quiz/answer", data={**fields, "csrf": csrf, "answer": "real"})
    assert response.status_code == 401
    assert _count(engine, Answer) == 0


def test_oversized_body_is_413(client: TestClient, study) -> None:
    settings, _, engine = study
    fields = start_quiz(client)
    response = client.post("/quiz/answer", data={**fields, "answer": "real", "pad": "x" * (settings.max_body + 1)})
    assert response.status_code == 413
    assert _count(engine, Answer) == 0


def test_a_session_that_keeps_being_refused_is_locked(client: TestClient, study) -> None:
    settings, _, engine = study
    fields = start_quiz(client)
    for _ in range(settings.max_refusals):
        client.post("/quiz/answer", data={**fields, "nonce": "forged", "answer": "real"})
    locked = client.post("/quiz/answer", data={**fields, "answer": "real"})  # even a valid answer now
    assert locked.status_code == 429
    assert _count(engine, Answer) == 0


def test_pages_carry_security_headers_and_load_nothing_external(client: TestClient) -> None:
    response = client.get("/quiz")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert 'name="viewport"' in response.text
    assert "http://" not in response.text.replace('content="width', "")  # no external assets
