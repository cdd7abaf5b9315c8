"""The one Jinja environment behind every HTML page rnagan writes; the templates live in ``rnagan/templates/``.

Pages are self-contained (images inlined as base64 PNG) and autoescaped; every page gets ``version``
and ``created``, and the filters ``fmt`` (a number to 3 digits), ``pct`` (a fraction as a percentage)
and ``img`` (PNG bytes to a ``data:`` URI)::

    html = render("evaluation.html.j2", metrics=metrics, figures=figures)
"""

from __future__ import annotations

import base64
import functools
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import jinja2

import rnagan

TEMPLATE_DIR = Path(str(resources.files("rnagan") / "templates"))


def data_uri(png: bytes) -> str:
    """PNG bytes → a ``data:image/png;base64,...`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell: floats to ``digits`` decimals, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal (0.891 → ``89.1 %``), None as a dash."""
    return "–" if value is None else f"{100 * value:.1f} %"


class Scored(Protocol):
    """What :func:`pct_ci` reads of a classifier's scores (``rnagan.evaluate.results.Classification``)."""

    accuracy: float
    accuracy_ci95: tuple[float, float] | None


def pct_ci(scores: Scored | None) -> str:
    """A classifier's accuracy with its 95 % interval when the scores carry one (``89.1 % [85.2–92.0]``)."""
    if scores is None:
        return "–"
    interval = scores.accuracy_ci95
    bounds = f" [{100 * interval[0]:.1f}–{100 * interval[1]:.1f}]" if interval else ""
    return pct(scores.accuracy) + bounds


@functools.cache
def environment() -> jinja2.Environment:
    """The package's templates, autoescaped, failing loudly on an undefined name."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        auto_reload=False,  # package files: no stat() per page (the quiz renders one per answer)
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(fmt=fmt, pct=pct, pct_ci=pct_ci, img=data_uri)
    return env


def render(template_name: str, **context: Any) -> str:
    """HTML text of ``template_name`` (a file in ``rnagan/templates/``) with ``context``, version and date."""
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return environment().get_template(template_name).render(version=rnagan.__version__, created=created, **context)
