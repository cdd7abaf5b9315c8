"""``rnagan flow train`` through the real entry point: it trains the ablation by name, and refuses to clobber."""

from __future__ import annotations

import json
import sys

import pytest

from rnagan.cli import main
from rnagan.workspace import Workspace


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["rnagan", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_train_names_the_ablation_and_refuses_to_overwrite(toy_workspace: Workspace, monkeypatch, capsys) -> None:
    args = ["flow", "train", "-w", toy_workspace.root, "--preset", "tiny", "--device", "cpu"]
    ablation = [*args, "--set", "flow.conditioning=none", "--set", "flow.steps=2"]
    code, out = run_cli(ablation, monkeypatch, capsys)
    assert code == 0, out
    meta = json.loads((toy_workspace.gan_run("flow_none") / "checkpoint" / "meta.json").read_text())
    assert (meta["kind"], meta["conditioning"], meta["step"]) == ("flow", "none", 2)
    code, out = run_cli(ablation, monkeypatch, capsys)
    assert code == 2 and "gan/flow_none already holds a run at step 2" in " ".join(out.split()), out
