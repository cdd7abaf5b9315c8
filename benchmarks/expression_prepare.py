"""Seconds and peak memory to read and prepare a GTEx-sized GCT, against pandas' plain ``read_csv``.

A GCT v1.2 file (TPM-like values, the 19,198 gene-space genes first, then made-up IDs) is generated
on the fly; each measurement runs in its own subprocess so its peak RSS is clean::

    python benchmarks/expression_prepare.py                        # 20,000 samples × 56,200 genes (~10 GB text)
    python benchmarks/expression_prepare.py --samples 4000         # reduced size

Goals (issue 2): rnagan's read within 1.5× pandas' read time, and peak memory under 2× the float32
matrix. Results go to ``benchmarks/results/expression_prepare.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODES = ("pandas_read_csv", "rnagan_read", "rnagan_prepare")
_POOL = 64  # distinct value rows, reused: parsing cost does not depend on repeats


def write_gct(path: Path, *, samples: int, genes: int, seed: int = 0) -> None:
    from rnagan.expression.genes import GeneSpace

    rng = np.random.default_rng(seed)
    space = list(GeneSpace.default().versioned)
    ids = (space + [f"ENSG9{i:010d}.1" for i in range(max(0, genes - len(space)))])[:genes]
    pool = []
    for _ in range(_POOL):
        values = rng.lognormal(1.0, 2.0, size=samples) * (rng.random(samples) > 0.3)  # ~30% zeros, as TPM
        pool.append("\t".join(f"{v:.4g}" for v in values))
    with open(path, "w") as handle:
        handle.write(f"#1.2\n{genes}\t{samples}\n")
        handle.write("Name\tDescription\t" + "\t".join(f"GTEX-S{i:05d}-0001-SM-X" for i in range(samples)) + "\n")
        for i, gene in enumerate(ids):
            handle.write(f"{gene}\tG{i}\t{pool[i % _POOL]}\n")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def measure(mode: str, path: Path) -> dict[str, float]:
    """Run one mode in this process (a fresh subprocess): seconds and peak RSS of the call.

    ``peak_above_imports_bytes`` subtracts the RSS after imports (interpreter, numpy, pandas,
    pyarrow: ~0.2–0.3 GB), which would otherwise dominate at small sizes.
    """
    import pandas as pd

    from rnagan.config import ExpressionConfig
    from rnagan.expression.io import read_expression
    from rnagan.expression.prepare import prepare_expression
    from rnagan.workspace import Workspace

    baseline = _rss_bytes()
    if mode == "pandas_read_csv":
        start = time.perf_counter()
        pd.read_csv(path, sep="\t", skiprows=2)
    elif mode == "rnagan_read":
        start = time.perf_counter()
        read_expression(path)
    else:
        with tempfile.TemporaryDirectory() as ws:
            start = time.perf_counter()
            prepare_expression(path, workspace=Workspace(ws).create(), config=ExpressionConfig(min_coverage=0))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "peak_rss_bytes": peak, "peak_above_imports_bytes": peak - baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--genes", type=int, default=56_200)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "expression_prepare.json")
    parser.add_argument("--measure", choices=MODES, help=argparse.SUPPRESS)  # internal: one child run
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.file)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.gct"
        start = time.perf_counter()
        write_gct(path, samples=args.samples, genes=args.genes)
        print(f"wrote {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        results = {}
        for mode in MODES:
            out = subprocess.run(
                [sys.executable, __file__, "--measure", mode, "--file", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            print(mode, results[mode], file=sys.stderr)
        file_bytes = path.stat().st_size
    matrix_bytes = args.samples * args.genes * 4  # float32
    pandas_s = results["pandas_read_csv"]["seconds"]
    report = {
        "samples": args.samples,
        "genes": args.genes,
        "full_size": (args.samples, args.genes) == (20_000, 56_200),
        "file_bytes": file_bytes,
        "matrix_float32_bytes": matrix_bytes,
        "results": results,
        "read_time_ratio_vs_pandas": results["rnagan_read"]["seconds"] / pandas_s,
        "prepare_time_ratio_vs_pandas": results["rnagan_prepare"]["seconds"] / pandas_s,
        # peak memory of the call (above the imports) over the float32 matrix's size
        "read_peak_over_matrix": results["rnagan_read"]["peak_above_imports_bytes"] / matrix_bytes,
        "prepare_peak_over_matrix": results["rnagan_prepare"]["peak_above_imports_bytes"] / matrix_bytes,
        "pandas_peak_over_matrix": results["pandas_read_csv"]["peak_above_imports_bytes"] / matrix_bytes,
        "goals": {"read_time_ratio_max": 1.5, "peak_over_matrix_max": 2.0},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "results"}, indent=2))


if __name__ == "__main__":
    main()
