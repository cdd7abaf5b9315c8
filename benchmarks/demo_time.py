"""How long `make demo` takes, stage by stage, and what it scores: `rnagan demo` on a fresh workspace.

The demo budgets in steps, so its figures do not depend on the machine; its time does, and is measured
here: each stage's wall and CPU seconds as the demo itself records them (``reports/demo_times.json``),
the machine's CPU model and load, and the demo page's headline figures beside them::

    python benchmarks/demo_time.py                          # runs `rnagan demo` → benchmarks/results/demo_time.json
    python benchmarks/demo_time.py --workspace demo-workspace   # reads a demo that has already run

Time it on an idle machine: the GAN runs take most of it and share the cores with anything else.

The baseline, in the same run, on the fresh demo's workspace: its GAN stage again at ``--ratio-steps``
steps per run (the baseline run at a fifth of them, as in the demo), one run after another with every
thread (``demo.side_by_side=1``) and side by side as the demo runs them; the ratio is their wall times.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "demo_time.json"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else the platform's."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def headline(workspace: Path) -> dict[str, Any]:
    """Per run: conditioning fidelity, frozen-feature probe, FID ratio, C2ST and nuclei ratio, with their n."""
    metrics = json.loads((workspace / "reports" / "metrics.json").read_text())
    runs = {}
    for name, run in metrics["runs"].items():
        runs[name] = {
            "conditioning_accuracy": run["conditioning"]["accuracy"],
            "conditioning_n": run["conditioning"]["n"],
            "frozen_probe_accuracy": run["probe"]["accuracy"],
            "frozen_probe_n": run["probe"]["n"],
            "fid_ratio": run["fid_ratio"]["value"],
            "fid_n": run["fid_ratio"]["n"],
            "c2st": run["two_sample_test"]["balanced_accuracy"],
            "nuclei_ratio": run["nuclei"]["ratio"],
            "image_size": run["image_size"],
        }
    return runs


def gan_stage_ratio(workspace: Path, steps: int) -> dict[str, Any]:
    """The demo's GAN stage at ``steps`` per compared run, one after another and side by side: wall seconds."""
    from rnagan.demo.pipeline import gan_jobs
    from rnagan.demo.side_by_side import run_side_by_side
    from rnagan.logs import setup_logging
    from rnagan.workspace import Workspace
    from rnagan.workspace_config import read_workspace_config

    setup_logging("WARNING")
    ws = Workspace(workspace)
    cfg = read_workspace_config(ws)
    cfg.gan.steps, cfg.demo.baseline_steps = steps, max(1, steps // 5)
    seconds = {}
    for processes in (1, cfg.demo.side_by_side):
        started = time.perf_counter()
        run_side_by_side(gan_jobs(ws, cfg), processes)
        seconds[processes] = time.perf_counter() - started
    one, many = seconds[1], seconds[cfg.demo.side_by_side]
    return {
        "steps": steps,
        "baseline_steps": cfg.demo.baseline_steps,
        "one_after_another_seconds": round(one, 1),
        "side_by_side_seconds": round(many, 1),
        "side_by_side": cfg.demo.side_by_side,
        "speedup": round(one / many, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, default=None, help="a finished demo workspace to read instead")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--ratio-steps", type=int, default=100, help="GAN steps per run for the baseline (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = args.workspace
        if workspace is None:
            workspace = Path(tmp) / "demo"
            subprocess.run([sys.executable, "-m", "rnagan", "demo", "--out", str(workspace)], check=True)
        times = json.loads((workspace / "reports" / "demo_times.json").read_text())
        runs = headline(workspace)
        # only on the fresh workspace: the baseline overwrites its GAN runs
        ratio = gan_stage_ratio(workspace, args.ratio_steps) if args.workspace is None and args.ratio_steps else None
        result = {
            "command": "rnagan demo (small preset, defaults)",
            "total_seconds": times["total_seconds"],
            "total_cpu_seconds": times["total_cpu_seconds"],
            "stages": times["stages"],
            "gan_stage_baseline": ratio,
            "runs": runs,
            "machine": {
                "cpu": cpu_model(),
                "cpus": times["cpu_count"],
                "load_average_1min": times["load_average_1min"],  # as the demo recorded it, at its end
            },
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"demo: {result['total_seconds']:.0f} s on {result['machine']['cpus']} × {result['machine']['cpu']}")


if __name__ == "__main__":
    main()
