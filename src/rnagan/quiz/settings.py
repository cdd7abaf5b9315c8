"""The settings of a running study: what ``serve`` decides at start-up and every page reads."""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("quiz", "rate", "both")


@dataclass
class QuizSettings:
    """Everything a running study needs besides its tiles and database."""

    secret_key: str
    admin_token: str
    mode: str = "both"
    rounds: int = 20
    seed: int = 0
    rate_ids: list[str] = field(default_factory=list)  # the rating set; every rater rates all of it
    quiz_ids: list[str] = field(default_factory=list)  # the quiz pool: no tile or source image of the rating set
    max_body: int = 16 * 1024
    max_comment: int = 2000
    max_refusals: int = 50  # refused requests a session may make before it is locked
    max_plays: int = 5  # quiz plays per player, counted on the server
    starts_per_address: int = 60  # quiz plays one client address may start per hour, whatever its cookies
    secure_cookies: bool = False  # set behind HTTPS
