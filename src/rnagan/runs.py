"""The run layer every trainer shares: a run folder's guard, its resume check, its checkpoints, its budget.

A trainer describes its folder once (:class:`RunFolder`: where, what marks a run, what may change on
resume) and lets it decide the rest, so every trainer refuses, continues and overwrites alike::

    run = RunFolder(ws.gan_run("rnagan"), "gan/rnagan", section="gan", may_differ=GAN_MAY_DIFFER, world=world)
    run.claim(resume=resume, overwrite=overwrite)  # refuse an existing run, or delete it (overwrite)
    ckpt = run.restore(config, data_fingerprint=fp) if resume else None
    budget = Budget(config.gan.steps, max_seconds)
    while not budget.finished(step):
        ...
        run.save(run.last_dir, tensors=..., config=config, meta={"step": step, "data_fingerprint": fp})

Only rank 0 writes (checkpoints, logs); every rank takes the same decisions (refusals, stops).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from pydantic import BaseModel
from torch.utils.tensorboard import SummaryWriter

from rnagan.checkpoint import META, Checkpoint, load_checkpoint, save_checkpoint
from rnagan.config import Config
from rnagan.errors import CheckpointError, ConfigError
from rnagan.fileio import resolve_dir
from rnagan.logs import append_record, truncate_log
from rnagan.runtime import Distributed

log = logging.getLogger(__name__)

# Settings a resumed run may change in any trainer: how long it runs, how often it reports, how it loads
# data. None of them changes what one step computes. (The device is an argument, never a setting.)
MAY_DIFFER: frozenset[str] = frozenset(
    {"steps", "epochs", "pretrain_epochs", "log_every", "checkpoint_every", "sample_every", "num_workers"}
)


def changed_settings(saved: BaseModel, wanted: BaseModel, *, may_differ: Iterable[str]) -> list[str]:
    """``"field: checkpoint X vs now Y"`` for every setting outside ``may_differ`` that differs, by name."""
    allowed = set(may_differ)
    old, new = saved.model_dump(), wanted.model_dump()
    return [
        f"{name}: checkpoint {old.get(name)!r} vs now {new[name]!r}"
        for name in sorted(new)
        if name not in allowed and old.get(name) != new[name]
    ]


@dataclass(frozen=True)
class RunFolder:
    """One run's folder: what in it marks a run, what a resume may change, and who writes there.

    ``last`` holds weights and training state after every save (what ``resume`` continues); ``best``
    the checkpoint later stages load, when it is another folder; ``log`` a ``log.jsonl``. ``outputs``
    are the other files the run writes, deleted with it by ``overwrite`` (nothing else in the folder is).
    """

    path: Path
    label: str  # how messages name the run, e.g. "gan/rnagan"
    section: str  # the Config section the trainer reads, e.g. "gan"
    may_differ: frozenset[str] = MAY_DIFFER
    data: str = "training data"  # what the data fingerprint covers, for the refusal
    world: Distributed = field(default_factory=Distributed)
    last: str = "last"
    best: str | None = "checkpoint"
    log: str | None = None
    outputs: tuple[str, ...] = ()

    @property
    def last_dir(self) -> Path:
        return self.path / self.last

    @property
    def best_dir(self) -> Path | None:
        return None if self.best is None else self.path / self.best

    @property
    def log_file(self) -> Path | None:
        return None if self.log is None else self.path / self.log

    def held(self) -> str | None:
        """How the run already in the folder is named in a refusal ("at step 500"); None when there is none."""
        checkpoints = [d for d in (self.last_dir, self.best_dir) if d is not None]
        for folder in checkpoints:
            position = _position(resolve_dir(folder) / META)
            if position:
                return position
        found = [p.name for p in (*checkpoints, self.log_file) if p is not None and resolve_dir(p).exists()]
        return f"({' and '.join(found)})" if found else None

    def claim(self, *, resume: bool, overwrite: bool) -> None:
        """Start a run here: refuse one that exists unless ``overwrite`` (which deletes it first), and refuse
        to ``resume`` one that does not."""
        if resume and overwrite:
            raise ConfigError("pass --resume or --overwrite, not both")
        if resume:
            if not resolve_dir(self.last_dir).is_dir():
                raise CheckpointError(
                    f"nothing to resume: {self.label} holds no checkpoint at {self.last_dir} "
                    "(train once without --resume)"
                )
            return
        held = self.held()
        if held is not None and not overwrite:
            raise CheckpointError(
                f"{self.label} already holds a run {held}: pass --resume to continue it or --overwrite to start again"
            )
        if held is not None and self.world.is_main:
            log.warning("overwrite: deleting the run %s in %s", held, self.path)
            self._delete()
        self.world.barrier()  # every rank, whatever it saw: rank 0 may have deleted the run meanwhile

    def restore(self, config: Config, *, data_fingerprint: str) -> Checkpoint:
        """``last`` with its training state, once its settings (outside ``may_differ``) and data match."""
        ckpt = load_checkpoint(self.last_dir, with_state=True)
        saved, wanted = getattr(ckpt.config, self.section), getattr(config, self.section)
        changed = changed_settings(saved, wanted, may_differ=self.may_differ)
        if changed:
            raise CheckpointError(
                f"cannot resume {self.label}: the {self.section} config changed ({'; '.join(changed)}); "
                "resume with the checkpoint's settings, or pass --overwrite to start again"
            )
        if ckpt.meta.get("data_fingerprint") != data_fingerprint:
            raise CheckpointError(
                f"cannot resume {self.label}: its {self.data} changed since it was written; "
                "restore them, or pass --overwrite to start again on the new ones"
            )
        return ckpt

    def save(self, path: Path, **checkpoint: Any) -> None:
        """Rank 0 writes the checkpoint folder atomically (:func:`save_checkpoint`); every rank waits for it."""
        if self.world.is_main:
            save_checkpoint(path, **checkpoint)
        self.world.barrier()

    def _delete(self) -> None:
        names = [self.last, self.best, self.log, *self.outputs]
        for name in filter(None, names):
            for path in (self.path / name, self.path / f"{name}.old"):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)


def _position(meta: Path) -> str | None:
    """A checkpoint's position from its meta.json ("at step N", "at epoch N"); None when missing or unreadable."""
    try:
        saved = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    for key in ("step", "epoch"):
        if isinstance(saved.get(key), int):
            return f"at {key} {saved[key]}"
    return None


@dataclass
class Budget:
    """When a run stops: ``total`` steps (or epochs) done, or ``max_seconds`` spent (None: no limit)."""

    total: int
    max_seconds: float | None = None
    spent: float = 0.0  # seconds trained before a resume that count against ``max_seconds``
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return self.spent + time.monotonic() - self.started

    def finished(self, done: int) -> bool:
        return done >= self.total

    def over(self) -> bool:
        """Whether this process's clock has passed ``max_seconds``."""
        return self.max_seconds is not None and self.seconds > self.max_seconds

    def out_of_time(self, world: Distributed, device: torch.device) -> bool:
        """:meth:`over` agreed by every rank: one rank over stops them all (a lone stop would hang the others)."""
        over = self.over()
        if not world.enabled:
            return over
        flag = torch.tensor([float(over)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


class RunLog:
    """Rank 0's scalars of a run: ``log.jsonl`` (cut back to the step a resume starts from) and TensorBoard."""

    def __init__(self, run: RunFolder, *, step: int, resume: bool) -> None:
        self.run, self.writer = run, None
        if run.world.is_main and run.log_file is not None:
            run.path.mkdir(parents=True, exist_ok=True)
            truncate_log(run.log_file, step)
            self.writer = SummaryWriter(str(run.path / "tb"), purge_step=step if resume else None)

    def write(self, record: dict[str, Any]) -> None:
        """One ``{"step": N, name: value, ...}`` record; TensorBoard files it under ``section/name``."""
        if self.writer is None or self.run.log_file is None:
            return
        for key, value in record.items():
            if key != "step":
                self.writer.add_scalar(f"{self.run.section}/{key}", value, record["step"])
        append_record(self.run.log_file, record)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
