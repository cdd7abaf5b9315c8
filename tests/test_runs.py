"""The run layer on its own: the new/resume/overwrite guard, the resume check, the budget, the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnagan.checkpoint import save_checkpoint
from rnagan.config import Config, preset
from rnagan.errors import CheckpointError, ConfigError
from rnagan.logs import read_log
from rnagan.runs import MAY_DIFFER, Budget, RunFolder, RunLog, changed_settings
from rnagan.runtime import Distributed


def folder(path: Path, **kwargs: object) -> RunFolder:
    return RunFolder(path, "gan/demo", section="gan", log="log.jsonl", outputs=("samples",), **kwargs)


def write_last(run: RunFolder, config: Config | None = None, **meta: object) -> None:
    save_checkpoint(
        run.last_dir,
        tensors={"w": torch.zeros(1)},
        config=config or preset("tiny"),
        meta={"data_fingerprint": "abc", **meta},
        state={"step": 0},
    )


def test_an_empty_folder_is_claimed_without_writing(tmp_path: Path) -> None:
    folder(tmp_path / "run").claim(resume=False, overwrite=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("meta", "held"), [({"step": 500}, "at step 500"), ({"epoch": 3}, "at epoch 3"), ({}, "(last)")]
)
def test_an_existing_run_is_refused_naming_its_position(tmp_path: Path, meta: dict, held: str) -> None:
    run = folder(tmp_path / "run")
    write_last(run, **meta)
    with pytest.raises(CheckpointError) as refused:
        run.claim(resume=False, overwrite=False)
    assert str(refused.value) == (
        f"gan/demo already holds a run {held}: pass --resume to continue it or --overwrite to start again"
    )


def test_a_log_alone_marks_a_run(tmp_path: Path) -> None:
    run = folder(tmp_path)
    (tmp_path / "log.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(CheckpointError, match=r"holds a run \(log\.jsonl\)"):
        run.claim(resume=False, overwrite=False)


def test_a_checkpoint_caught_mid_swap_still_marks_a_run(tmp_path: Path) -> None:
    run = folder(tmp_path)
    write_last(run, step=7)
    run.last_dir.rename(tmp_path / "last.old")  # a crash between atomic_dir's two renames
    with pytest.raises(CheckpointError, match="at step 7"):
        run.claim(resume=False, overwrite=False)
    run.claim(resume=True, overwrite=False)


def test_overwrite_deletes_the_run_and_nothing_else(tmp_path: Path) -> None:
    run = folder(tmp_path)
    write_last(run, step=2)
    (tmp_path / "log.jsonl").write_text('{"step": 1}\n')
    (tmp_path / "samples").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    run.claim(resume=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_resume_needs_a_checkpoint_and_excludes_overwrite(tmp_path: Path) -> None:
    run = folder(tmp_path)
    with pytest.raises(CheckpointError, match="nothing to resume: gan/demo holds no checkpoint"):
        run.claim(resume=True, overwrite=False)
    with pytest.raises(ConfigError, match="not both"):
        run.claim(resume=True, overwrite=True)


def test_changed_settings_skip_the_allow_list_and_name_both_values() -> None:
    saved, wanted = preset("tiny").gan, preset("tiny").gan
    wanted = wanted.model_copy(update={"steps": saved.steps + 10, "log_every": 3, "batch_size": 2, "seed": 9})
    assert {"steps", "log_every"} <= MAY_DIFFER
    assert changed_settings(saved, wanted, may_differ=MAY_DIFFER) == [
        f"batch_size: checkpoint {saved.batch_size} vs now 2",
        f"seed: checkpoint {saved.seed} vs now 9",
    ]
    assert changed_settings(saved, wanted, may_differ=MAY_DIFFER | {"batch_size", "seed"}) == []


def test_restore_refuses_other_settings_or_other_data(tmp_path: Path) -> None:
    run = folder(tmp_path)
    write_last(run, step=4)
    longer = preset("tiny")
    longer.gan.steps += 100  # allowed
    assert run.restore(longer, data_fingerprint="abc").meta["step"] == 4
    other = preset("tiny")
    other.gan.noise_dim = 3
    with pytest.raises(
        CheckpointError, match=r"cannot resume gan/demo: the gan config changed \(noise_dim: checkpoint"
    ):
        run.restore(other, data_fingerprint="abc")
    with pytest.raises(CheckpointError, match="cannot resume gan/demo: its training data changed"):
        run.restore(preset("tiny"), data_fingerprint="def")


def test_only_rank_zero_writes(tmp_path: Path) -> None:
    run = folder(tmp_path, world=Distributed(rank=1, world_size=1))  # a rank other than 0 (no process group)
    run.save(run.last_dir, tensors={"w": torch.zeros(1)}, config=preset("tiny"))
    logbook = RunLog(run, step=0, resume=False)
    logbook.write({"step": 1, "loss": 0.5})
    logbook.close()
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_the_log_is_cut_back_to_the_resumed_step(tmp_path: Path) -> None:
    run = folder(tmp_path)
    (tmp_path / "log.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 3)))
    logbook = RunLog(run, step=2, resume=True)
    logbook.write({"step": 3, "loss": 0.25})
    logbook.close()
    assert read_log(tmp_path / "log.jsonl") == [{"step": 1}, {"step": 2}, {"step": 3, "loss": 0.25}]
    assert any((tmp_path / "tb").iterdir())


def test_the_budget_counts_steps_and_seconds() -> None:
    assert Budget(3).finished(3) and not Budget(3).finished(2)
    assert not Budget(3).over() and Budget(3, max_seconds=0).over()
    assert Budget(3, max_seconds=60, spent=61).over()  # seconds before a resume count
    assert Budget(3, max_seconds=0).out_of_time(Distributed(), torch.device("cpu"))
