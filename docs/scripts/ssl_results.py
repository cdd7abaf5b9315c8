"""Writes the measured part of docs/ssl.md and docs/img/ssl_label_curve.png from the committed result files.

Every number between the page's ``<!-- measured -->`` markers comes from a JSON that a script in the
repository writes: ``benchmarks/ssl_experiment.py`` (ssl_experiment.json), ``benchmarks/ssl_memory.py``
(ssl_memory.json), ``benchmarks/ssl.py`` (ssl.json) and ``rnagan ssl tstr`` (ssl_tstr.json, copied
from a workspace's ``reports/tstr.json``). Spreads are sample sds (ddof 1), as the JSON holds them. Run
from the repository root after any of those::

    python docs/scripts/ssl_results.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rnagan.ssl.experiment import label_curve_png

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "ssl.md"
BEGIN, END = "<!-- measured: written by docs/scripts/ssl_results.py -->", "<!-- /measured -->"


def points(value: float | None, sign: bool = False) -> str:
    return "–" if value is None else f"{100 * value:{'+' if sign else ''}.1f}"


def spread(entry: dict[str, Any], sign: bool = False) -> str:
    """Mean ± sample sd over seeds, then the per-seed values, in points."""
    sd = "" if entry["sd"] is None else f" ± {points(entry['sd'])}"
    return f"{points(entry['mean'], sign)}{sd} ({', '.join(points(v, sign) for v in entry['values'])})"


def compute_line(r: dict[str, Any]) -> str:
    """Where the measured seconds went: SimCLR against fine-tuning, over every seed."""
    simclr = sum(p["seconds"] for rep in r["replicates"] for p in rep["pretraining"].values())
    runs = [f for rep in r["replicates"] for a in rep["arms"].values() for e in a.values() for f in e["folds"]]
    tuning = sum(f["seconds"] for f in runs)
    share = simclr / (simclr + tuning)
    return (f"Compute (measured): pretraining {simclr / 60:.1f} min, {share:.0%} of the total; fine-tuning "
            f"{tuning / 60:.1f} min over {len(runs)} runs (at most the preset's epochs, early stopping).")  # fmt: skip


def experiment_section(r: dict[str, Any]) -> str:
    command = " ".join(f"--set '{o}'" for o in r["command"]["overrides"])
    h = r["headline"]
    verdict = "met" if h["met"] else "**not met**"
    lines = [
        "### Features or statistics (`benchmarks/ssl_experiment.py` → ssl_experiment.json)",
        "",
        f"Run: `python benchmarks/ssl_experiment.py --preset {r['command']['preset']} {command}` on the bundled demo "
        f"workspace: {r['n_tiles']} labelled real tiles ({r['n_groups']} groups; {', '.join(r['classes'])}), "
        f"{r['n_synthetic']} generated tiles, `{r['backbone']}` at {r['image_size']} px, "
        f"{len(r['replicates'])} seeds × {r['folds']} folds, {r['wall_seconds'] / 60:.0f} min on {r['cpus']} shared "
        f"CPUs, {r['threads']} thread (load average {r['load_average_1min_before']:.1f} before, "
        f"{r['load_average_1min_after']:.1f} after).",
        "",
        compute_line(r),
        "",
        f"**Headline: {h['arm']} − {h['control']} at {h['label_fraction']:.0%} of the labels = "
        f"{spread(h, sign=True)} points** (mean ± sample sd over seeds, then each seed); target "
        f"+{100 * h['target']:.0f}: {verdict}.",
        "",
        "| seed | arm | tiles | SimCLR steps | NT-Xent, first epoch → last | distance from init (relative L2) |",
        "|---|---|---|---|---|---|",
    ]
    for rep in r["replicates"]:
        for arm, p in rep["pretraining"].items():
            loss = f"{p['first_epoch_loss']:.3f} → {p['last_epoch_loss']:.3f}" if "first_epoch_loss" in p else "–"
            lines.append(f"| {rep['seed']} | {arm} | {p['n_tiles']} | {p['steps']} | {loss} | "
                         f"{p['distance_from_init']['relative']:.3f} |")  # fmt: skip
    lines += [
        "",
        "Accuracy in points: mean ± sample sd over seeds of each seed's 5-fold mean, then each seed.",
        "",
        "| labels | arm | accuracy | Δ vs scratch | Δ vs synthetic-bn |",
        "|---|---|---|---|---|",
    ]
    for fraction in r["label_fractions"]:
        f = str(fraction)
        for arm, entry in r["arms"].items():
            vs = [r["differences"][base].get(arm, {}).get(f) for base in ("scratch", "synthetic-bn")]
            cells = [spread(d, sign=True) if d else "–" for d in vs]
            lines.append(f"| {fraction:.0%} | {arm} | {spread(entry[f]['accuracy'])} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def memory_section(m: dict[str, Any]) -> str:
    modes = list(dict.fromkeys(row["mode"] for row in m["rows"]))
    sizes = list(dict.fromkeys(row["store_tiles"] for row in m["rows"]))
    peak = {(row["store_tiles"], row["mode"]): row["peak_rss_mb"] for row in m["rows"]}
    lines = [
        "### Memory (`benchmarks/ssl_memory.py` → ssl_memory.json)",
        "",
        f"Peak RSS in MB of one process per cell, synthetic {m['tile_size']} px PNG tiles, "
        f"`ssl.pretrain_max_tiles` {m['pretrain_max_tiles']}. *pretrain*: the source opened and one SimCLR epoch "
        "of the tiny backbone on the drawn tiles; *tstr*: the uncapped training split decoded 32 at a time once "
        "through; *-eager*: the decode-and-stack each path did before it read lazily, without training (shared "
        f"machine, load average {m['load_average_1min_before']:.1f} → {m['load_average_1min_after']:.1f}).",
        "",
        "| tiles in the store | " + " | ".join(modes) + " |",
        "|---" * (len(modes) + 1) + "|",
    ]
    lines += [f"| {n:,} | " + " | ".join(f"{peak[(n, mode)]:,.0f}" for mode in modes) + " |" for n in sizes]
    return "\n".join(lines)


def throughput_line(t: dict[str, Any]) -> str:
    return (
        "### Throughput (`benchmarks/ssl.py` → ssl.json)\n\n"
        f"SimCLR through `pretrain`: {t['rnagan_tiles_per_s']:.2f} tiles/s against {t['plain_tiles_per_s']:.2f} for a "
        f"plain loop on fixed views (ratio {t['ratio']:.2f}), `{t['backbone']}` at {t['image_size']} px, batch "
        f"{t['batch_size']}, {t['steps']} steps, {t['threads']} threads on {t['cpus']} CPUs at load average "
        f"{t['load_average_1min']:.1f}."
    )


def tstr_section(result: dict[str, Any]) -> str:
    trtr = result["trtr"]
    lines = [
        "### Train on synthetic, test on real (`rnagan ssl tstr` on a demo workspace → ssl_tstr.json)",
        "",
        f"{result['n_test']} real test tiles; the machine and its load were not recorded for this file.",
        "",
        "| trained on | tiles | accuracy | macro F1 | AUC | ratio to TRTR (accuracy) |",
        "|---|---|---|---|---|---|",
        f"| real (TRTR) | {trtr['n_train']} | {trtr['accuracy']:.3f} | {trtr['f1_macro']:.3f} | "
        f"{trtr['auc_macro']:.3f} | 1 |",
    ]
    for run, entry in result["runs"].items():
        t = entry["tstr"]
        lines.append(f"| generated, {run} (TSTR) | {t['n_train']} | {t['accuracy']:.3f} | {t['f1_macro']:.3f} | "
                     f"{t['auc_macro']:.3f} | {entry['ratio']['accuracy']:.3f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    load = {p.stem: json.loads(p.read_text()) for p in RESULTS.glob("ssl*.json")}
    sections = []
    if "ssl_experiment" in load:
        sections.append(experiment_section(load["ssl_experiment"]))
        (ROOT / "docs" / "img" / "ssl_label_curve.png").write_bytes(label_curve_png(load["ssl_experiment"]))
        sections.append("![accuracy and macro F1 against the share of training labels](img/ssl_label_curve.png)")
    writers = {"ssl_memory": memory_section, "ssl": throughput_line, "ssl_tstr": tstr_section}
    sections += [write(load[name]) for name, write in writers.items() if name in load]
    page = PAGE.read_text()
    block = f"{BEGIN}\n\n" + "\n\n".join(sections) + f"\n\n{END}"
    PAGE.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, page, flags=re.S))


if __name__ == "__main__":
    main()
