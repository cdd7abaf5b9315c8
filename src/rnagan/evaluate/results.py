"""What ``rnagan evaluate`` measured, as typed blocks: metrics.json is :meth:`EvaluationResult.model_dump_json`.

One model per block, so the evaluation page, the demo page and anything reading metrics.json name fields the
model declares, and a file whose shape has drifted is refused on load, naming the field, instead of failing as a
missing key deep inside a template. Fields that older files lack (the Wilson interval, the confusion row, the
best relabelling, a run's image size) default to None::

    result = load_metrics(workspace.metrics)
    result.runs["rnagan"].fid.value
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rnagan.errors import InputFileError


class _Block(BaseModel):
    # NaN and infinity stay numbers in the JSON (as json.dumps writes them), so a written file loads back.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")


class FidScore(_Block):
    """Fréchet Inception distance of one set against the real reference, and the network that measured it."""

    value: float
    n_generated: int
    n_real: int
    reference_split: str
    backbone: str
    weights_sha1: str
    resize: str


class FidRatio(_Block):
    """A run's FID over the FID of as many real training tiles: FID falls as n grows, so only equal n compares."""

    value: float
    n: int
    n_train: int | None = None


class KidScore(_Block):
    """Kernel Inception distance (unbiased, can be slightly negative) over random subsets."""

    mean: float
    std: float
    subsets: int
    subset_size: int


class TissueScore(_Block):
    """A classifier on one tissue's tiles: recall (``accuracy``), F1, AUC, and what its tiles were called."""

    n: int
    accuracy: float | None
    f1: float
    auc: float | None
    predicted_as: dict[str, int] | None = None  # a row of the confusion matrix


class Classification(_Block):
    """A classifier or probe naming the tissues of a set of tiles (as :func:`classify.classification_metrics`)."""

    n: int
    accuracy: float | None
    accuracy_ci95: tuple[float, float] | None = None  # Wilson
    f1_macro: float | None
    auc_macro: float | None
    relabelled_accuracy: float | None = None
    per_tissue: dict[str, TissueScore]

    def recall(self, tissue: str) -> float | None:
        """The share of ``tissue``'s tiles named ``tissue``; None when the set has none."""
        score = self.per_tissue.get(tissue)
        return None if score is None else score.accuracy


class TwoSampleTest(_Block):
    """C2ST: cross-validated balanced accuracy of a linear model telling real from generated (0.5: it cannot)."""

    balanced_accuracy: float
    sd: float
    folds: int
    n_real: int
    n_generated: int


class DiversityScore(_Block):
    """Mean pairwise feature distance of one tissue's generated and real tiles, and their ratio."""

    generated: float
    real: float
    ratio: float


class Checkerboard(_Block):
    """Spectral energy at the upsampling periods, over the same for real tiles (real = 1)."""

    score: float
    periods: list[int]


class Memorisation(_Block):
    """Generated tiles nearer to a training tile than ``threshold_quantile`` of real held-out tiles are."""

    n_generated: int
    n_reference: int
    median_distance_generated: float
    median_distance_real_test: float
    threshold: float
    threshold_quantile: float
    n_flagged: int
    fraction_flagged: float
    fraction_expected_by_chance: float
    n_train: int


class NucleiScore(_Block):
    """Nuclei statistics of generated tiles against real ones, over real half against real half at the same n."""

    ratio: float
    distance: float
    real_half_distance: float
    n_real: int
    n_generated: int
    n_per_side: int
    mpp: float  # µm per pixel the tiles were measured at


class RunResult(_Block):
    """Every measure of one run's generated tiles."""

    status: Literal["ok"] = "ok"
    n_tiles: int
    n_profiles: int
    image_size: int | None = None  # px, from the run's checkpoint; None in files written before it was recorded
    fid: FidScore
    fid_ratio: FidRatio
    kid: KidScore
    two_sample_test: TwoSampleTest
    diversity: dict[str, DiversityScore]
    checkerboard: Checkerboard
    memorisation: Memorisation
    probe: Classification | None = None
    colour_control: Classification | None = None
    conditioning: Classification | None = None
    nuclei: NucleiScore | None = None  # when evaluate.tile_field_um gives the tiles' scale


class MissingRun(_Block):
    """A run asked for that had no generated tiles."""

    status: Literal["missing"] = "missing"
    folder: str


class RealResult(_Block):
    """The real reference and training tiles: the units the runs' figures are read against."""

    n_test: int
    n_train: int
    tissues: dict[str, int]
    fid_train_vs_test: FidScore
    checkerboard_set_score: float
    probe: Classification | None = None
    colour_control: Classification | None = None


class ClassifierResult(_Block):
    """The tissue classifier behind conditioning fidelity, scored on real held-out tiles (the ceiling)."""

    classes: list[str]
    n_train_tiles: int
    real_test: Classification


class PaperConditioning(_Block):
    accuracy: float
    f1: float
    auc: float
    source: str


class InceptionInfo(_Block):
    """The FID network, recorded beside every FID/KID number (:meth:`InceptionFeatures.describe`)."""

    backbone: str
    weights_file: str
    weights_sha1: str
    weights_known_as: str
    resize: str
    input_scaling: str


class Settings(_Block):
    runs: list[str]
    real_split: str
    train_split: str
    inception: InceptionInfo
    # The evaluate section as it was, not re-read through today's EvaluateConfig: a file written before a setting
    # existed would otherwise claim its default, and one written before a setting was renamed would not load.
    evaluate: dict[str, Any]
    preset: str


class EvaluationResult(_Block):
    """Everything ``rnagan evaluate`` measured; metrics.json is its JSON."""

    settings: Settings
    real: RealResult
    paper_conditioning: PaperConditioning
    runs: dict[str, Annotated[RunResult | MissingRun, Field(discriminator="status")]]
    classifier: ClassifierResult | None = None

    def measured(self, run: str) -> RunResult | None:
        """``run``'s measures; None when it was not asked for or had no tiles."""
        entry = self.runs.get(run)
        return entry if isinstance(entry, RunResult) else None

    def fidelity(self, run: str) -> Classification | None:
        """``run``'s conditioning fidelity on held-out profiles; None when it was not measured."""
        entry = self.measured(run)
        return None if entry is None else entry.conditioning


def load_metrics(path: Path) -> EvaluationResult:
    """Read a metrics.json; one whose shape the model does not accept raises naming the first bad field."""
    try:
        return EvaluationResult.model_validate_json(path.read_bytes())
    except ValidationError as err:
        first = err.errors()[0]
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise InputFileError(
            f"{path} is not a metrics file of this rnagan: {_field(first['loc'])}: {first['msg']}{more}"
        ) from None


def _field(loc: tuple[int | str, ...]) -> str:
    """A validation error's location as a dotted field name, without the run's status tag (``runs.rnagan.fid``)."""
    parts = [p for i, p in enumerate(loc) if not (i == 2 and loc[0] == "runs")]
    return ".".join(str(p) for p in parts) or "(the whole file)"
