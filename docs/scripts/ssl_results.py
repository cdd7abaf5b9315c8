"""Draws docs/img/ssl_label_curve.png and prints the markdown tables of docs/ssl.md from an experiment's JSON.

Run from the repository root after ``rnagan ssl experiment`` (and ``rnagan ssl tstr``)::

    python docs/scripts/ssl_results.py W/reports/ssl/ssl.json [W/reports/tstr.json]

The JSON files are copied to ``benchmarks/results/ssl_experiment.json`` and ``ssl_tstr.json``, so the
numbers on the page stay traceable.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from rnagan.ssl.experiment import label_curve_png

ROOT = Path(__file__).resolve().parents[2]


def pct(entry: dict) -> str:
    return "–" if entry["mean"] is None else f"{100 * entry['mean']:.1f} ± {100 * entry['sd']:.1f}"


def p_value(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def fine_tuning_table(results: dict) -> str:
    lines = [
        "| labels | arm | accuracy % | macro F1 % | AUC | Δ accuracy vs scratch | t-test p | Wilcoxon p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fraction in results["label_fractions"]:
        for arm, by_fraction in results["arms"].items():
            entry = by_fraction[str(fraction)]
            test = results["comparisons"].get(arm, {}).get(str(fraction), {}).get("accuracy")
            delta = "–" if test is None else f"{100 * test['mean_difference']:+.1f}"
            auc = "–" if entry["auc"]["mean"] is None else f"{entry['auc']['mean']:.3f} ± {entry['auc']['sd']:.3f}"
            lines.append(
                f"| {fraction:.0%} | {arm} | {pct(entry['accuracy'])} | {pct(entry['f1_macro'])} | {auc} | {delta} | "
                f"{p_value(test and test['t_test_p'])} | {p_value(test and test['wilcoxon_p'])} |"
            )
    return "\n".join(lines)


def pretraining_table(results: dict) -> str:
    lines = [
        "| arm | tiles | epochs done | steps | seconds | loss, first steps → last steps |",
        "|---|---|---|---|---|---|",
    ]
    for arm, p in results["pretraining"].items():
        lines.append(
            f"| {arm} | {p['n_tiles']} | {p['epoch']} | {p.get('steps', '–')} | {p['seconds']:.0f} | "
            f"{p['first_epoch_loss']:.3f} → {p['last_epoch_loss']:.3f} |"
        )
    return "\n".join(lines)


def tstr_table(result: dict) -> str:
    trtr = result["trtr"]
    lines = [
        "| trained on | tiles | accuracy | macro F1 | AUC | ratio to TRTR (accuracy) |",
        "|---|---|---|---|---|---|",
    ]
    lines.append(f"| real (TRTR) | {trtr['n_train']} | {trtr['accuracy']:.3f} | {trtr['f1_macro']:.3f} | "
                 f"{trtr['auc_macro']:.3f} | 1 |")  # fmt: skip
    for run, entry in result["runs"].items():
        t = entry["tstr"]
        lines.append(f"| generated, {run} (TSTR) | {t['n_train']} | {t['accuracy']:.3f} | {t['f1_macro']:.3f} | "
                     f"{t['auc_macro']:.3f} | {entry['ratio']['accuracy']:.3f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    results = json.loads(Path(sys.argv[1]).read_text())
    (ROOT / "docs" / "img" / "ssl_label_curve.png").write_bytes(label_curve_png(results))
    shutil.copy(sys.argv[1], ROOT / "benchmarks" / "results" / "ssl_experiment.json")
    print(pretraining_table(results), fine_tuning_table(results), sep="\n\n")
    if len(sys.argv) > 2:
        shutil.copy(sys.argv[2], ROOT / "benchmarks" / "results" / "ssl_tstr.json")
        print("\n" + tstr_table(json.loads(Path(sys.argv[2]).read_text())))


if __name__ == "__main__":
    main()
