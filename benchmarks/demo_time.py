"""How long `make demo` takes, stage by stage, and what it scores: `rnagan demo` on a fresh workspace.

The demo budgets in steps, so its figures do not depend on the machine; its time does, and is measured
here: each stage's wall and CPU seconds as the demo itself records them (``reports/demo_times.json``),
the machine's CPU model and load, and the demo page's headline figures beside them::

    python benchmarks/demo_time.py                          # runs `rnagan demo` → benchmarks/results/demo_time.json
    python benchmarks/demo_time.py --workspace demo-workspace   # reads a demo that has already run

Time it on an idle machine: the two GAN runs take two thirds of it and share the cores with anything else.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, default=None, help="a finished demo workspace to read instead")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = args.workspace
        if workspace is None:
            workspace = Path(tmp) / "demo"
            subprocess.run([sys.executable, "-m", "rnagan", "demo", "--out", str(workspace)], check=True)
        times = json.loads((workspace / "reports" / "demo_times.json").read_text())
        result = {
            "command": "rnagan demo (small preset, defaults)",
            "total_seconds": times["total_seconds"],
            "total_cpu_seconds": times["total_cpu_seconds"],
            "stages": times["stages"],
            "runs": headline(workspace),
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
