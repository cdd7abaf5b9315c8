"""``rnagan demo``: the whole pipeline on the bundled cohort (:mod:`rnagan.demo.pipeline`)."""

from rnagan.demo.pipeline import run_demo

__all__ = ["run_demo"]
