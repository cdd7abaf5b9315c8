"""End to end in a real headless Chromium: play a short quiz and fill the rating form by clicking and by keys.

Needs Debian's ``chromium`` at /usr/bin/chromium and Playwright's Python package (its own browser download
is not used). Screenshots go to ``$RNAGAN_TEST_ARTIFACTS/quiz`` when set, else to the test's tmp folder.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from quiz_helpers import ADMIN, CHROMIUM, CHROMIUM_ARGS, live_server, pixel_hash
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rnagan.quiz.app import create_app
from rnagan.quiz.db import Answer, Rating

pytestmark = [
    pytest.mark.integration,  # a live server and a real Chromium
    pytest.mark.skipif(
        not CHROMIUM.is_file() or importlib.util.find_spec("playwright") is None,
        reason="browser tests: install Debian's chromium (apt-get install chromium) and `pip install playwright` "
        "to run",
    ),
]


@pytest.fixture
def database() -> str:
    """One database is enough here: the API tests run on both."""
    return "sqlite"


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RNAGAN_TEST_ARTIFACTS", tmp_path)) / "quiz"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_play_a_quiz_by_clicking_and_by_keys_on_a_phone(browser, study, artifacts: Path) -> None:
    settings, _, engine = study
    with live_server(create_app(*study)) as base:
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        page.goto(f"{base}/quiz")
        page.get_by_role("button", name="Start a new quiz").click()
        page.wait_for_url("**/quiz/play")
        assert page.get_by_role("img").get_attribute("alt").startswith("Tissue tile 1 of")
        page.screenshot(path=artifacts / "quiz_play_phone.png", full_page=True)
        for round_ in range(settings.rounds):
            if round_ % 2:
                page.keyboard.press("s")
            else:
                page.get_by_role("button", name="Real").click()
            page.wait_for_load_state()
        page.wait_for_url("**/quiz/done")
        assert page.get_by_text("Each round revealed").is_visible()
        assert page.locator("tbody tr").count() == settings.rounds
        assert page.locator("img").count() == 0  # no tile, and so no tile id, on the end page
        page.screenshot(path=artifacts / "quiz_done_phone.png", full_page=True)
    with Session(engine) as db:
        answers = db.scalars(select(Answer.answer).order_by(Answer.position)).all()
    assert answers == ["real", "synthetic"] * (settings.rounds // 2)


def test_a_rater_who_first_plays_the_quiz_in_the_browser_sees_none_of_its_tiles_again(browser, study) -> None:
    """Every image the browser received during all of a player's plays, against every image of the rating form."""
    settings, _, _ = study
    with live_server(create_app(*study)) as base:
        seen: dict[str, dict[str, str]] = {"quiz": {}, "rate": {}}  # tile URL → pixel hash
        phase = "quiz"
        page = browser.new_page()
        page.on("response", lambda r: "/tile/" in r.url and seen[phase].update({r.url: pixel_hash(r.body())}))
        page.goto(f"{base}/quiz")
        for play in range(settings.max_plays):
            with page.expect_navigation():
                page.get_by_role("button", name="Play again" if play else "Start a new quiz").click()
            for _round in range(settings.rounds):
                with page.expect_navigation():
                    page.keyboard.press("r")
            assert page.url.endswith("/quiz/done")
        assert page.get_by_role("button", name="Play again").count() == 0
        admin = browser.new_page()
        admin.goto(f"{base}/admin?token={ADMIN}")
        admin.get_by_role("button", name="Create invite links").click()
        link = admin.locator("code", has_text="/rate/join/").first.inner_text()
        admin.close()
        phase = "rate"
        page.goto(link)
        with page.expect_navigation():
            page.get_by_role("button", name="Start rating").click()
        for _ in range(len(settings.rate_ids)):
            page.get_by_text("unsure", exact=True).click()
            page.keyboard.press("3")
            page.keyboard.press("n")
            with page.expect_navigation():
                page.get_by_role("button", name="Save and next").click()
    assert len(seen["quiz"]) == settings.max_plays * settings.rounds
    assert len(seen["rate"]) == len(settings.rate_ids)
    assert not set(seen["quiz"].values()) & set(seen["rate"].values())


def test_admin_invites_a_rater_who_rates_by_clicking_and_resumes(browser, study, artifacts: Path) -> None:
    _, _, engine = study
    with live_server(create_app(*study)) as base:
        admin = browser.new_page(viewport={"width": 1100, "height": 900})
        admin.goto(f"{base}/admin?token={ADMIN}")
        admin.get_by_label("Rater name or label").fill("pathologist A")
        admin.get_by_role("button", name="Create invite links").click()
        link = admin.locator("code", has_text="/rate/join/").first.inner_text()

        rater = browser.new_page(viewport={"width": 1100, "height": 800})
        rater.goto(link)
        rater.get_by_role("button", name="Start rating").click()
        rater.get_by_text("lung aca", exact=True).click()
        rater.get_by_label("4", exact=True).check()
        rater.get_by_label("no", exact=True).check()
        rater.get_by_label("Comment").fill("<b>nuclei crisp</b>")
        rater.screenshot(path=artifacts / "rate_form.png", full_page=True)
        rater.get_by_role("button", name="Save and next").click()
        assert rater.get_by_text("Tile 2 of").is_visible()
        rater.get_by_text("lung n", exact=True).click()
        rater.keyboard.press("2")
        rater.keyboard.press("y")
        rater.get_by_role("button", name="Save and next").click()
        rater.goto(link)  # stop and come back later
        assert rater.get_by_text("You have rated 2 of").is_visible()

        admin.reload()
        assert admin.get_by_text("<b>nuclei crisp</b>").is_visible()  # escaped, shown as text
        admin.screenshot(path=artifacts / "admin.png", full_page=True)
    with Session(engine) as db:
        ratings = db.scalars(select(Rating).order_by(Rating.position)).all()
        assert db.scalar(select(func.count()).select_from(Rating)) == 2
    assert [(r.tissue, r.quality, r.artifacts) for r in ratings] == [("lung_aca", 4, False), ("lung_n", 2, True)]
