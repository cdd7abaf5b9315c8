"""docs/results.md: every measured figure, read from the files the measurements wrote.

Sources: ``benchmarks/results/*.json`` (one file per benchmark script) and the bundled demo run's
``src/rnagan/datasets/data/demo_bundle/`` (``metrics.json``, ``demo_times.json``, each run's
``meta.json``). Each figure is printed with its n, the machine the file records ("not recorded"
where it records none) and the baseline it is compared with. Run from the repo root::

    python docs/scripts/results_page.py            # rewrites docs/results.md
    python docs/scripts/results_page.py --check    # exit 1 if docs/results.md differs

``tests/test_results_page.py`` fails when the page and the files disagree, so the page is never
edited by hand.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
BUNDLE = ROOT / "src" / "rnagan" / "datasets" / "data" / "demo_bundle"
PAGE = ROOT / "docs" / "results.md"
NOT_RECORDED = "not recorded"
RUNS = {"rnagan": "rnagan (ours)", "reference": "reference (paper's conditioning)", "baseline": "baseline (noise only)"}


# ------------------------------------------------------------------------------------------ formatting
def num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return NOT_RECORDED
    return f"{value:,.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    return NOT_RECORDED if value is None else f"{100 * value:.{digits}f} %"


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion p measured on n trials."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def accuracy(entry: dict[str, Any] | None) -> str:
    """``81.2 % [74.3–86.6]``: an accuracy with its Wilson 95 % interval."""
    if not entry:
        return NOT_RECORDED
    low, high = wilson(entry["accuracy"], entry["n"])
    return f"{pct(entry['accuracy'])} [{100 * low:.1f}–{100 * high:.1f}]"


def machine(record: dict[str, Any]) -> str:
    """What a result file says about the machine it ran on, or "not recorded"."""
    facts = dict(record.get("machine") or {}) if isinstance(record.get("machine"), dict) else {}
    if isinstance(record.get("machine"), str):
        facts["arch"] = record["machine"]
    for key in ("cpu_count", "cpus", "threads", "platform", "torch", "device", "load_average_1min", "cpu_native_bf16"):
        if key in record and key not in facts:
            facts[key] = record[key]
    parts = []
    cpus = facts.get("cpu_count", facts.get("cpus"))
    if cpus is not None:
        parts.append(f"{cpus} CPUs")
    if "threads" in facts:
        parts.append(f"{facts['threads']} thread{'s' if facts['threads'] != 1 else ''}")
    if "device" in facts:
        parts.append(f"device {facts['device']}")
    if facts.get("gpu") is None and "gpu" in facts:
        parts.append("no GPU")
    if facts.get("cpu_native_bf16"):
        parts.append("CPU with native bf16")
    if "platform" in facts:
        parts.append(str(facts["platform"]).split("-with-")[0])
    if "arch" in facts:
        parts.append(str(facts["arch"]))
    if "python" in facts:
        parts.append(f"Python {facts['python']}")
    if "torch" in facts:
        parts.append(f"torch {facts['torch']}")
    load = facts.get("load_average_1min", facts.get("load_average_at_start"))
    if isinstance(load, list):
        load = load[0]
    if load is not None:
        parts.append(f"load average {load:.1f}")
    return ", ".join(parts) if parts else NOT_RECORDED


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def read(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text())


# ------------------------------------------------------------------------------------------ the bundled demo run
def bundled_demo() -> list[str]:
    metrics = json.loads((BUNDLE / "metrics.json").read_text())
    times = json.loads((BUNDLE / "demo_times.json").read_text())
    metas = {run: json.loads((BUNDLE / run / "meta.json").read_text()) for run in RUNS if (BUNDLE / run).is_dir()}
    runs = {name: metrics["runs"][name] for name in RUNS if name in metrics["runs"]}
    real = metrics["real"]
    n_classes = len(metrics["classifier"]["classes"])

    def per_run(fn: Callable[[dict[str, Any]], str]) -> list[str]:
        return [
            fn(entry) if entry.get("status") == "ok" else entry.get("status", NOT_RECORDED) for entry in runs.values()
        ]

    def diversity(entry: dict[str, Any]) -> str:
        ratios = [d["ratio"] for d in entry["diversity"].values()]
        return f"{min(ratios):.2f}–{max(ratios):.2f}"

    def memorised(entry: dict[str, Any]) -> str:
        m = entry["memorisation"]
        return f"{m['n_flagged']} of {m['n_generated']} ({pct(m['fraction_flagged'])})"

    rnagan = runs.get("rnagan", next(iter(runs.values())))
    fid_n = f"{rnagan['fid']['n_generated']} generated vs {rnagan['fid']['n_real']} real test tiles"
    c2st = rnagan["two_sample_test"]
    rows = [
        ["GAN steps", *(f"{metas[r]['step']:,}" if r in metas else NOT_RECORDED for r in runs), "–", "–"],
        [
            "FID (Inception pool3)",
            *per_run(lambda e: num(e["fid"]["value"], 1)),
            f"{num(real['fid_train_vs_test']['value'], 1)} (real train vs real test)",
            fid_n,
        ],
        [
            "FID ratio (FID / real-vs-real FID)",
            *per_run(lambda e: num(e["fid_ratio"]["value"])),
            "1 (real tissue)",
            f"{rnagan['fid_ratio']['n']} tiles a set",
        ],
        [
            "KID (mean ± sd)",
            *per_run(lambda e: f"{e['kid']['mean']:.3f} ± {e['kid']['std']:.3f}"),
            "0",
            f"{rnagan['kid']['subsets']} subsets of {rnagan['kid']['subset_size']}",
        ],
        [
            "ResNet-18 fidelity: tiles named the tissue of their profile [95 % interval]",
            *per_run(lambda e: accuracy(e["conditioning"])),
            f"{accuracy(metrics['classifier']['real_test'])} on real test tiles; chance {pct(1 / n_classes)}",
            f"{rnagan['conditioning']['n']} generated tiles; {metrics['classifier']['real_test']['n']} real",
        ],
        [
            "frozen-feature probe (Inception + logistic regression)",
            *per_run(lambda e: accuracy(e["probe"])),
            f"{accuracy(real['probe'])} on real test tiles",
            f"{rnagan['probe']['n']} tiles a set",
        ],
        [
            "colour-only probe (mean and sd of R, G, B)",
            *per_run(lambda e: accuracy(e["colour_control"])),
            f"{accuracy(real['colour_control'])} on real test tiles",
            f"{rnagan['colour_control']['n']} tiles a set",
        ],
        [
            "C2ST: real vs generated, balanced accuracy (0.5 = indistinguishable)",
            *per_run(lambda e: f"{e['two_sample_test']['balanced_accuracy']:.3f}"),
            "0.5",
            f"{c2st['n_real']} real + {c2st['n_generated']} generated, {c2st['folds']}-fold",
        ],
        [
            "diversity, generated / real, range over tissues",
            *per_run(diversity),
            "1",
            f"{rnagan['n_tiles']} tiles a set",
        ],
        [
            "memorisation: tiles nearer a training tile than the nearest 1 % of real test tiles",
            *per_run(memorised),
            f"{pct(rnagan['memorisation']['fraction_expected_by_chance'])} expected by chance",
            f"searched {rnagan['memorisation']['n_train']} training tiles",
        ],
        [
            "checkerboard score",
            *per_run(lambda e: num(e["checkerboard"]["score"])),
            f"{num(real['checkerboard_set_score'])} (real test tiles)",
            f"{rnagan['n_tiles']} tiles a set",
        ],
    ]
    budget, total = times.get("budget_seconds"), times.get("total_seconds")
    trained = ", ".join(
        f"{r} {metas[r]['step']:,} steps in {metas[r]['training_seconds']:,.0f} s" for r in runs if r in metas
    )
    paper = metrics.get("paper_conditioning")
    lines = [
        "## The bundled demo run (lung, simulated expression)",
        "",
        "The generators shipped in `src/rnagan/datasets/data/demo_bundle/`: one longer `rnagan demo` of the "
        f"`{metrics['settings']['preset']}` preset ({num(total, 0)} s of a {num(budget, 0)} s budget; {trained}). "
        "Tiles are drawn from the held-out (test split) profiles, one per profile and noise draw; the real "
        "tiles are the test split's. The expression is simulated, so these figures say whether tiles follow "
        "the tissue class a profile carries, not real gene–morphology biology (docs/demo.md).",
        "",
        f"Machine: {machine(times)}.",
        "",
        *table(["figure", *(RUNS[r] for r in runs), "baseline: real tiles", "n"], rows),
    ]
    if paper:
        lines += [
            "",
            f"The paper's own figure for its conditioning ({paper['source']}): accuracy {pct(paper['accuracy'])}, "
            f"F1 {paper['f1']:.3f}, AUC {paper['auc']:.3f}; n and machine {NOT_RECORDED}.",
        ]
    return lines


# ------------------------------------------------------------------------------------------ benchmarks
def tiling() -> list[str]:
    d = read("tiling.json")
    ours, theirs = d["rnagan"], d["histolab"]
    return [
        "`tiling.py` → tiling.json",
        f"tiles/s on {d['slide']}, {d['cores']} core, {d['tile_size']} px, ≥ {pct(d['min_tissue_fraction'], 0)} tissue "
        f"(share of the tissue covered)",
        f"{ours['tiles_per_second']} ({pct(ours['tissue_covered'])})",
        f"histolab `GridTiler` {theirs['tiles_per_second']} ({pct(theirs['tissue_covered'])}); {d['speedup']}×",
        f"{ours['tiles']} / {theirs['tiles']} tiles, median of {d['repeats']}",
        machine(d),
    ]


def dask_tiling() -> list[str]:
    d = read("dask_tiling.json")
    pool, cluster = d["process_pool"], d["dask"]
    width, height = d["slide_size_px"]
    loads = [load for mode in (pool, cluster) for load in mode["load_average_1min_before"]]
    return [
        "`dask_tiling.py` → dask_tiling.json",
        f"slides/s (tiles/s) tiling {width} × {height} px synthetic slides on a local Dask cluster, "
        f"{d['workers']} worker processes over TCP",
        f"{cluster['slides_per_second']} ({cluster['tiles_per_second']})",
        f"process pool of {d['workers']}: {pool['slides_per_second']} ({pool['tiles_per_second']}); "
        f"{d['ratio_slides_per_second']}× (bar 0.85×, goal 0.95×); CPU seconds {d['ratio_cpu_seconds']}×",
        f"{d['slides']} slides ({d['distinct_images']} distinct images), {cluster['tiles']:,} tiles, "
        f"median of {d['repeats']} runs each, order rotated",
        f"{machine(d)}, load average {min(loads):.1f}–{max(loads):.1f} before the runs",
    ]


def tile_loading() -> list[str]:
    d = read("tile_loading.json")
    speed, ratio, sizes = d["images_per_second"], d["ratio_vs_best_imagefolder"], d["bytes_per_tile"]
    workers = list(speed["ImageFolder+PILToTensor"])
    counts = " / ".join(w.split("_")[1] for w in workers)

    def store(name: str) -> str:
        rates = " / ".join(f"{speed[name][w]:,}" for w in workers)
        ratios = " / ".join(f"{ratio[name][w]:.2f}×" for w in workers)
        image_format = name.split("(")[1].rstrip(")")
        default = " (default)" if image_format == d["default_format"] else ""
        kib = sizes[image_format]["value_bytes_per_tile"] / 1024
        return f"{image_format}{default} {rates} ({ratios}; {kib:,.1f} KiB/tile)"

    rates = " / ".join(f"{speed['ImageFolder+PILToTensor'][w]:,}" for w in workers)
    return [
        "`tile_loading.py` → tile_loading.json",
        f"images/s through a DataLoader, batch {d['batch_size']}, {counts} workers (× ImageFolder; bytes per tile); "
        f"bar {d['bar']:g}×, goal {d['goal']:g}× for the default",
        "; ".join(store(k) for k in speed if "TileStore" in k),
        f"`ImageFolder` + PILToTensor {rates} ({d['folder_bytes_per_tile'] / 1024:,.1f} KiB/tile JPEG files)",
        f"{d['tiles']:,} tiles, median of {d['rounds']} interleaved passes",
        machine(d),
    ]


def fid() -> list[str]:
    d = read("fid.json")
    return [
        "`fid.py` → fid.json",
        "FID of two LC25000 classes (lung_n vs lung_aca); images/s",
        f"{d['fid']['rnagan']:.5f}, {d['images_per_second']['rnagan']:.2f}/s",
        f"clean-fid `legacy_tensorflow` {d['fid']['clean-fid']:.5f}, {d['images_per_second']['clean-fid']:.2f}/s "
        f"(relative difference {d['relative_difference']:.1e})",
        f"{d['images']} images (2 × {d['images'] // 2}), median of {d['repeats']}",
        machine(d),
    ]


def expression_prepare() -> list[str]:
    d = read("expression_prepare.json")
    return [
        "`expression_prepare.py` → expression_prepare.json",
        "read a GCT: time, and peak memory over the float32 matrix",
        f"{d['read_time_ratio_vs_pandas']:.2f}× pandas' time, {d['read_peak_over_matrix']:.2f}×",
        f"pandas `read_csv` 1.00×, {d['pandas_peak_over_matrix']:.2f}×",
        f"{d['samples']:,} samples × {d['genes']:,} genes",
        machine(d),
    ]


def vae_train() -> list[str]:
    d = read("vae_train.json")
    speed = {(r["preset"], r["impl"]): r for r in d["runs"]}
    presets = sorted({p for p, _ in speed}, key=["paper", "small", "tiny"].index)
    return [
        "`vae_train.py` → vae_train.json",
        "β-VAE training samples/s, CPU fp32",
        "; ".join(f"{p} {speed[p, 'rnagan']['samples_per_second']:.1f}" for p in presets),
        f"{d['baseline']}: " + "; ".join(f"{p} {speed[p, 'baseline']['samples_per_second']:.1f}" for p in presets),
        "; ".join(f"{p}: {speed[p, 'rnagan']['steps']} steps of {speed[p, 'rnagan']['batch_size']}" for p in presets),
        machine(d),
    ]


def train_gan() -> list[str]:
    d = read("train_gan.json")
    small = d["cpu"]["small"]
    modes = [m for m in ("fp32", "generator", "auto") if m in small]
    return [
        "`train_gan.py` → train_gan.json",
        f"s per GAN step, `small` networks ({small['image_size']} px, batch {small['batch_size']}), "
        f"by `gan.precision` (the preset: {small['preset_precision']})",
        "; ".join(f"{m} {small[m]['seconds_per_step']:.3f} ({small['speedup'][m]:.2f}×)" for m in modes),
        f"plain fp32 WGAN-GP loop, same networks: {small['plain']['seconds_per_step']:.3f}",
        f"{small['rounds']} alternating processes per mode",
        machine({**d, "load_average_1min": small.get("load_average_1min")}),
    ]


def evaluate_memory() -> list[str]:
    d = read("evaluate_memory.json")
    runs = d["results"]

    def peaks(side: str) -> str:
        return "; ".join(
            f"{r['tiles']:,} tiles {r[side]['peak_anonymous_mb']:,.0f} / {r[side]['peak_rss_mb']:,.0f}" for r in runs
        )

    return [
        "`evaluate_memory.py` → evaluate_memory.json",
        f"peak anonymous / peak RSS (MB) of `rnagan evaluate`, caps lifted, tiles stored at {d['stored_px']} px, "
        f"generated tiles in a {d['generated_format']}, feature rows capped at {d['feature_max_tiles']:,} a set; "
        f"growth {runs[0]['tiles']:,} → {runs[-1]['tiles']:,}: anonymous {d['growth_anonymous']:.2f}×, "
        f"RSS {d['growth_rss']:.2f}×",
        peaks("evaluate"),
        "every tile and feature held at once: " + peaks("baseline"),
        "; ".join(
            f"{r['evaluate']['n_test']:,} test, {r['evaluate']['n_train']:,} train, "
            f"{r['evaluate']['n_generated']:,} generated"
            for r in runs
        ),
        f"{machine(d)}; anonymous memory sampled every {d['anonymous_sampling_ms']} ms",
    ]


def sharded_fid() -> list[str]:
    d = read("sharded_fid.json")
    runs = d["results"]
    return [
        "`sharded_fid.py` → sharded_fid.json",
        "FID from merged per-shard moments: relative error against the single-process FID; peak traced MB, "
        f"streamed (growth {d['streamed_peak_growth']:.2f}×)",
        "; ".join(
            f"{r['rows']:,} rows: sharded {r['sharded']['relative_error']:.1e}, streamed "
            f"{r['streamed']['relative_error']:.1e}, {r['streamed']['peak_traced_mb']:,.1f} MB"
            for r in runs
        ),
        "every row held at once: "
        + "; ".join(f"{r['rows']:,} rows {r['baseline']['peak_traced_mb']:,.1f} MB" for r in runs),
        f"synthetic {d['dim']}-d features offset {d['offset']:g}, {d['shards']} uneven shards, "
        f"chunks of {d['chunk']}, reference {d['reference_rows']:,} rows",
        machine(d),
    ]


def ssl_memory() -> list[str]:
    d = read("ssl_memory.json")
    peak = {(r["store_tiles"], r["mode"]): r["peak_rss_mb"] for r in d["rows"]}
    sizes = list(dict.fromkeys(r["store_tiles"] for r in d["rows"]))

    def cells(*modes: str) -> str:
        return "; ".join(f"{n:,} tiles " + " / ".join(f"{peak[(n, m)]:,.0f}" for m in modes) for n in sizes)

    return [
        "`ssl_memory.py` → ssl_memory.json",
        f"peak RSS (MB) of the SSL data paths, pretrain / TSTR split, {d['tile_size']} px tiles in a store",
        cells("pretrain", "tstr"),
        "every tile decoded and stacked first: " + cells("pretrain-eager", "tstr-eager"),
        f"{len(sizes)} store sizes, {d['pretrain_max_tiles']} tiles drawn for SimCLR",
        machine(d),
    ]


def generate() -> list[str]:
    d = read("generate.json")
    res = d["results"]
    return [
        "`generate.py` → generate.json",
        "tiles/s drawn and written as PNG",
        "; ".join(f"{p} ({r['image_size']} px) {r['with_png_tiles_per_second']:.2f}" for p, r in res.items()),
        "none measured",
        "; ".join(f"{r['tiles']} tiles, batch {r['batch_size']}" for r in res.values()),
        machine(d),
    ]


def ssl() -> list[str]:
    d = read("ssl.json")
    return [
        "`ssl.py` → ssl.json",
        f"SimCLR tiles/s, {d['backbone']}, {d['image_size']} px, batch {d['batch_size']} "
        "(lightly views, loader, checkpoints)",
        f"{d['rnagan_tiles_per_s']:.2f}",
        f"plain loop on fixed views {d['plain_tiles_per_s']:.2f} (ratio {d['ratio']:.2f})",
        f"{d['steps']} steps",
        machine(d),
    ]


def quiz_load() -> list[str]:
    d = read("quiz_load.json")
    runs = [(db, players, v) for db, by_players in d["runs"].items() for players, v in by_players.items()]
    return [
        "`quiz_load.py` → quiz_load.json",
        "quiz answers: p99 latency (ms), answers lost",
        "; ".join(
            f"{db}, {int(k):,} players: {v['quiz_answers']['p99_ms']:,.0f}, {v['quiz_answers']['lost']} lost"
            for db, k, v in runs
        ),
        "`/healthz` under the same load: "
        + "; ".join(f"{db} {v['baseline_healthz']['p99_ms']:,.0f}" for db, _, v in runs),
        "; ".join(f"{v['quiz_answers']['accepted']:,} answers" for _, _, v in runs),
        machine(d),
    ]


def gan_fidelity_curve() -> list[str]:
    d = read("gan_fidelity_curve.json")
    ours, other = d["variants"]["small"], d["variants"]["equal-rates"]
    steps = [c["steps"] for c in ours["curve"]]
    return [
        "`gan_fidelity_curve.py` → gan_fidelity_curve.json",
        f"held-out ResNet fidelity over checkpoints {steps[1]}–{steps[-1]}: median, minimum",
        f"`small` {pct(ours['median_from_step'])}, {pct(ours['min_from_step'])}",
        f"equal learning rates, tile-balanced ({', '.join(other['overrides'])}): "
        f"{pct(other['median_from_step'])}, {pct(other['min_from_step'])}",
        f"{d['held_out_profiles']} held-out profiles × {d['per_profile']} tiles, {len(steps)} checkpoints",
        machine(d),
    ]


def gan_conditioning() -> list[str]:
    rows = [json.loads(line) for line in (RESULTS / "gan_conditioning_lc25000.jsonl").read_text().splitlines() if line]
    return [
        "`gan_conditioning_lc25000.py` → gan_conditioning_lc25000.jsonl",
        "LC25000 held-out conditioning accuracy with synthetic μ, by training length",
        "; ".join(f"{r['steps']} steps {pct(r['held_out_accuracy'])}" for r in rows),
        f"the same ResNet-18 on real held-out tiles: {pct(rows[0]['classifier_real_held_out_accuracy'])}",
        NOT_RECORDED,
        machine(rows[0]),
    ]


def ssl_tstr() -> list[str]:
    d = read("ssl_tstr.json")
    tstr = d["runs"]["rnagan"]["tstr"]
    return [
        "`rnagan ssl tstr` on the demo workspace → ssl_tstr.json",
        "train on synthetic, test on real: accuracy",
        f"{accuracy(tstr)} (trained on {tstr['n_train']} generated tiles)",
        f"train on real: {accuracy(d['trtr'])} (trained on {d['trtr']['n_train']} real tiles)",
        f"{d['n_test']} real test tiles",
        machine(d),
    ]


BENCHMARKS = (
    tiling,
    dask_tiling,
    tile_loading,
    fid,
    expression_prepare,
    vae_train,
    train_gan,
    evaluate_memory,
    sharded_fid,
    ssl_memory,
    generate,
    ssl,
    quiz_load,
    gan_fidelity_curve,
    gan_conditioning,
    ssl_tstr,
)


def ssl_experiment() -> list[str]:
    d = read("ssl_experiment.json")
    fractions = [str(f) for f in d["label_fractions"]]
    rows = []
    for arm, by_fraction in d["arms"].items():
        accuracy = [by_fraction[f]["accuracy"] for f in fractions]
        rows.append([arm, *(f"{pct(a['mean'])} ± {100 * a['sd']:.1f}" for a in accuracy)])
    h = d["headline"]
    return [
        "## Pretraining on synthetic tiles (`benchmarks/ssl_experiment.py` → ssl_experiment.json)",
        "",
        f"Fine-tuning accuracy, mean ± sample sd over {len(d['replicates'])} seeds of each seed's {d['folds']}-fold "
        f"mean, {d['n_tiles']} real tiles ({d['n_groups']} groups), by the share of each fold's labels used; "
        f"`{d['backbone']}` at {d['image_size']} px. {h['arm']} − {h['control']} (the batch-norm control) at "
        f"{pct(h['label_fraction'], 0)} of the labels: {100 * h['mean']:+.1f} points, target +{100 * h['target']:.0f} "
        f"{'met' if h['met'] else 'not met'}; every seed, the SimCLR losses and the distances from initialisation: "
        "[ssl.md](ssl.md#measured).",
        f"Machine: {machine(d)}.",
        "",
        *table(["arm", *(f"{pct(float(f), 0)} of labels" for f in fractions)], rows),
    ]


def generator_families() -> list[str]:
    d = read("generator_families.json")
    rows = []
    for steps, budget in d["budgets"].items():
        for family, f in budget["families"].items():
            rows.append(
                [
                    f"{int(steps):,}",
                    str(budget["n"]),
                    f"{budget['real']['fid_train_vs_test']} / {pct(budget['real']['probe_accuracy_test'])}",
                    family,
                    f"{f['train_seconds']:.0f}",
                    num(f["fid_ratio"]),
                    pct(f["probe_accuracy"]),
                    num(f["c2st"], 3),
                    num(f["diversity_ratio"]),
                    f"{f['network_evaluations_per_tile']} × {f['parameters'] / 1e6:.2f} M",
                    f"{f['seconds_per_tile']:.3f}",
                ]
            )
    first = next(iter(d["budgets"].values()))
    curves = []
    for steps, budget in d["budgets"].items():
        points = ", ".join(
            f"w {p['guidance_scale']:g}: probe {pct(p['probe_accuracy'])}, diversity {num(p['diversity_ratio'])}"
            for p in budget.get("guidance_curve", [])
        )
        curves.append(f"at {int(steps):,} steps: {points}")
    return [
        "## Generator families: GAN and flow matching (`benchmarks/generator_families.py` → generator_families.json)",
        "",
        f"The lung demo's cohort (`{first['preset']}` preset), the same split and seeds for both, one tile for each of "
        "n held-out profiles; FID ratio: FID against the real test tiles over real train vs real test at the same n "
        "(the real columns: that FID, and the frozen-feature probe's accuracy on real test tiles; chance 33.3 %). "
        "Each family trains the same number of steps; its seconds are measured. "
        f"Machine: {first['cpu_count']} CPUs, {first['threads']} torch thread per run, load average at the start "
        + ", ".join(f"{b['load_average_before'][0]:.1f}" for b in d["budgets"].values())
        + " (budgets in order).",
        "",
        *table(
            [
                "steps",
                "n",
                "real: FID / probe",
                "family",
                "train s",
                "FID ratio",
                "probe",
                "C2ST",
                "diversity / real",
                "evaluations × parameters per tile",
                "s per tile",
            ],
            rows,
        ),
        "",
        "Guidance curve (flow): " + "; ".join(curves) + ".",
    ]


IMAGE_STAGE_SETS = {
    "real": "real half B (the real-vs-real unit)",
    "bicubic": "B at 64 px, bicubic back to full size",
    "image_stage": "B at 64 px, through the image stage (×4, then to full size)",
}


def image_stage() -> list[str]:
    d = read("image_stage.json")
    rows = [
        [
            IMAGE_STAGE_SETS.get(name, name),
            num(e["fid_ratio"]),
            num(e["c2st_accuracy"], 3),
            num(e["nuclei_ratio"]),
            num(e["mean_abs_error"], 1),
        ]
        for name, e in d["sets"].items()
    ]
    return [
        "## The image stage (`benchmarks/image_stage.py` → image_stage.json)",
        "",
        f"The lung demo's held-out tiles (val and test samples, never trained on by the stage "
        f"`{d['image_stage']}`) at {d['image_size']} px, in two disjoint halves of {d['n_per_set']}: each set below "
        "is compared with real half A. "
        "FID ratio: its FID over the real-vs-real FID at the same n (1 = real tissue); C2ST: balanced accuracy of a "
        "logistic regression on frozen Inception features telling it from half A (0.5 = indistinguishable); nuclei "
        "ratio: the nuclei statistics' distance to half A over real half B's (section above; the bar is 3); pixel "
        "error: mean absolute difference from B's originals (0–255). The stage took "
        f"{d['image_stage_seconds_per_tile']:.3f} s per tile.",
        f"Machine: {machine(d)}.",
        "",
        *table(["set", "FID ratio", "C2ST", "nuclei ratio", "pixel error"], rows),
    ]


BUNDLE_ARMS = {"drawn_64px": "as drawn, 64 px", "lifted_224px": "image stage → 224 px"}


def bundle_at_scale() -> list[str]:
    d = read("bundle_at_scale.json")
    rows = []
    for arm, runs in d["arms"].items():
        for run, e in runs.items():
            if run == "real":
                continue
            probe = None if e["frozen_probe"] is None else {"accuracy": e["frozen_probe"], "n": e["frozen_probe_n"]}
            rows.append(
                [
                    BUNDLE_ARMS.get(arm, arm),
                    run,
                    f"{num(e['fid_ratio'])} (n {e['fid_n']})",
                    num(e["c2st"], 3),
                    accuracy(probe),
                    pct(e["colour_probe"]),
                    pct(e["resnet_fidelity"]),
                    num(e["nuclei_ratio"]),
                ]
            )
    real = next(iter(d["arms"].values()))["real"]
    return [
        "## The bundled generators at the tissue's scale (`benchmarks/bundle_at_scale.py` → bundle_at_scale.json)",
        "",
        f"The bundle's three GAN runs ({', '.join(f'{r} {s:,} steps' for r, s in d['bundle_steps'].items())}) draw "
        f"{d['per_profile']} tiles from each of the {d['held_out_profiles']} held-out profiles' μ; `rnagan evaluate` "
        f"measures them against the {real['n_test']} real test tiles (FID ratio: over the FID of as many real training "
        f"tiles, of {real['n_train']}) as drawn, with the real tiles taken down to 64 px, and lifted by the shipped "
        "image stage and resized to the real tiles' 224 px, the lung demo's output. Probes: a logistic regression on "
        "frozen Inception features of real training tiles (chance 33 %), the same on colour alone, and the "
        "ResNet's conditioning fidelity; nuclei ratio as above (bar 3).",
        f"Machine: {machine(d)}.",
        "",
        *table(
            ["tiles", "run", "FID ratio", "C2ST", "frozen-feature probe", "colour probe", "ResNet", "nuclei ratio"],
            rows,
        ),
    ]


def gene_spaces() -> list[str]:
    d = read("gene_spaces.json")
    rows = [
        [
            name,
            f"{v['genes']:,}",
            f"{v['markers_kept']} of {d['panel_size']}",
            num(v["vae_rmse_over_mean_baseline"], 3),
            num(v["silhouette_mu_test"], 3),
        ]
        for name, v in d["variants"].items()
    ]
    return [
        "## Spatial gene spaces (`benchmarks/gene_spaces.py` → gene_spaces.json)",
        "",
        f"The bundled her2st cohort; {d['hvg_genes']:,} variable genes chosen on the training sections by each "
        f"ranking, alone and with the {d['panel_size']}-gene compartment marker panel kept (the her2st demo's "
        "choice; its immunoglobulins have no protein-coding Ensembl ID, so no gene space holds them). The `small` "
        "β-VAE on each: held-out RMSE over the RMSE of predicting the training mean (lower is better) and the "
        "silhouette of μ by annotated class on the test section.",
        f"Machine: {machine(d)}.",
        "",
        *table(["gene space", "genes", "markers held", "β-VAE RMSE / mean baseline", "μ silhouette"], rows),
    ]


NUCLEI_STANDINS = {
    "real": "real tiles (other source images)",
    "upsampled_64px": "the 64 px copies, bicubic back to full size",
    "blur_2px": "Gaussian blur, σ = 2 px",
    "stain_noise": "stain noise: each tile's pixels shuffled (its colours exactly)",
    "paler_haematoxylin": "restained: paler haematoxylin",
    "darker_haematoxylin": "restained: darker haematoxylin",
}


def nuclei() -> list[str]:
    d = read("nuclei.json")
    spread = sorted(d["real_ratio_other_splits"])
    rows = [
        [NUCLEI_STANDINS.get(name, name), num(entry["nuclei"]["ratio"]), num(entry["colour_ratio"])]
        for name, entry in d["conditions"].items()
    ]
    return [
        "## Nuclei statistics (`benchmarks/nuclei.py` → nuclei.json)",
        "",
        f"Distance between the nuclei statistics of {d['n_reference']} real LC25000 tiles ({d['tile_px']} px, taken "
        f"as {d['mpp']} µm/px) and stand-ins for generated tiles made from {d['n_generated']} others, over the "
        "distance between two disjoint halves of the real tiles at the same n "
        f"({d['conditions']['real']['nuclei']['n_per_side']} a side, {d['conditions']['real']['nuclei']['repeats']} "
        "draws): 1 is real tissue; the bar for generated tiles is 3. The colour ratio is the same on the RGB mean "
        f"and sd. The real-vs-real ratio over {len(spread)} other splits: median {num(statistics.median(spread))}, "
        f"{num(spread[0])}–{num(spread[-1])}. {d['seconds_per_tile']} s per tile.",
        f"Machine: {machine(d)}.",
        "",
        *table(["stand-in for generated tiles", "nuclei ratio", "colour ratio"], rows),
    ]


def demo_time() -> list[str]:
    d = read("demo_time.json")
    stages = []
    for name, t in d["stages"].items():
        jobs = t.get("jobs", {})
        label = f"{name} ({len(jobs)} jobs, {t['side_by_side']} at a time)" if jobs else name
        stages.append([label, num(t["seconds"], 0), num(t["cpu_seconds"], 0)])
        stages += [[f"{name}: {job}", num(j["seconds"], 0), num(j["cpu_seconds"], 0)] for job, j in jobs.items()]
    runs = [
        [
            name,
            f"{r['image_size']} px",
            f"{pct(r['conditioning_accuracy'])} (n {r['conditioning_n']})",
            f"{pct(r['frozen_probe_accuracy'])} (n {r['frozen_probe_n']})",
            f"{num(r['fid_ratio'])} (n {r['fid_n']})",
            num(r["c2st"], 3),
            num(r["nuclei_ratio"]),
        ]
        for name, r in d["runs"].items()
    ]
    return [
        "## A fresh `make demo` (`benchmarks/demo_time.py` → demo_time.json)",
        "",
        f"`{d['command']}` on a fresh workspace: {num(d['total_seconds'], 0)} s in all "
        f"({num(d['total_cpu_seconds'], 0)} CPU seconds), on {d['machine']['cpus']} × {d['machine']['cpu']} "
        f"(load average {d['machine']['load_average_1min']} at its end, the demo's own load included). "
        "The bar is 600 s. Stage times as the demo records them, then its page's headline figures: "
        "conditioning fidelity (the ResNet on real tiles), the frozen-feature probe, the FID ratio (over "
        "real-vs-real at the same n), the C2ST balanced accuracy and the nuclei ratio.",
        *_gan_stage_baseline(d.get("gan_stage_baseline")),
        "",
        *table(["stage", "seconds", "CPU seconds"], stages),
        "",
        *table(["run", "tiles", "fidelity", "frozen probe", "FID ratio", "C2ST", "nuclei ratio"], runs),
    ]


def _gan_stage_baseline(b: dict | None) -> list[str]:
    """The demo's GAN stage rerun in the same session, one run after another and side by side."""
    if b is None:
        return []
    return [
        "",
        f"Baseline in the same run: the GAN stage again at {b['steps']} steps per compared run (baseline "
        f"{b['baseline_steps']}), one after another with every thread {num(b['one_after_another_seconds'], 0)} s, "
        f"{b['side_by_side']} side by side {num(b['side_by_side_seconds'], 0)} s: {num(b['speedup'])}×.",
    ]


def gene_edits() -> list[str]:
    d = read("gene_edits.json")
    rows = []
    for tissue, block in d["classes"].items():
        for edit in ("encoder", "decoder"):
            e, c = block[edit], block[edit]["class_probability_change"]
            rows.append(
                [
                    tissue,
                    edit,
                    num(e["latent_move_spreads"]),
                    num(e["mean_pixel_change"], 1),
                    f"{c['slope']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]",
                    str(block["profiles"]),
                ]
            )
    fit = d["decoder_fit"]
    return [
        "## Gene edits through the encoder and the decoder (`benchmarks/gene_edits.py` → gene_edits.json)",
        "",
        f"{d['cohort']}: ×8 on each class's {len(next(iter(d['classes'].values()))['genes'])} genes most raised in "
        f"its training samples, in held-out profiles of the other classes, {d['tiles_per_profile']} tiles per "
        "profile, the same noise for a profile and its twin. μ move: mean ‖μ_twin − μ‖ over the norm of the "
        "training μ's per-axis sd. Pixel change: mean |twin − tile| in grey levels. Probe: "
        f"{d['probe']}; its probability of the edited class, twin − unedited per profile, mean with its 95 % t "
        f"interval. Decoder fit: {fit['edit_steps']} Adam steps at {fit['edit_lr']}, keep weight "
        f"{fit['edit_keep_weight']}.",
        f"Machine: {machine(d)}.",
        "",
        *table(["class", "edit", "μ move (spreads)", "pixel change", "P(class) change [95 %]", "profiles"], rows),
    ]


def perturbation(name: str) -> list[str]:
    """The dose-response of latent directions, one table per probe feature set."""
    d = read(name)
    step = f" at GAN step {d['gan_step']}" if d.get("gan_step") else ""
    lines = [
        f"## Dose-response of latent directions (`benchmarks/perturbation.py` → {name})",
        "",
        f"{d['cohort']}{step}: {d['profiles']} held-out profiles, {d['tiles_per_profile']} tiles per profile and "
        "dose, doses "
        f"{', '.join(f'{x:+g}' for x in d['doses'])} spreads of the training μ along each direction, the same noise at "
        f"every dose. Readout: {d['readout']}, from probes fitted on real tiles only. Slope: per-profile least squares "
        "of the readout on the dose, mean over profiles with its 95 % t interval. Off-target: the other readouts "
        "under the same direction; the column shows the highest of their slopes (negative: every other readout "
        "falls); target / off-target and control / target are – when the target or every off-target readout falls. "
        "Control: a seeded random direction in μ, "
        "dosed in its own spread. Pixel change: mean |tile(+2) − tile(0)| in grey levels (random direction: "
        f"{num(d['mean_pixel_change_at_plus2']['random'], 1)}). A probe's score is not biology: a slope says the "
        "tiles changed the way the probe's features respond to.",
        f"Machine: {machine(d)}; load average {num(d['machine']['load_average_1min_before'], 1)} before, "
        f"{num(d['machine']['load_average_1min_after'], 1)} after (shared cores: no time is claimed).",
    ]
    for features, block in d["features"].items():
        rows = []
        for direction, r in block["directions"].items():
            s = r["target_slope"]
            off = r["off_target_slopes"]
            rising = max(off, key=off.get) if off else None
            rows.append(
                [
                    f"{direction} → {r['target']}",
                    f"{s['slope']:+.3f} [{s['low']:+.3f}, {s['high']:+.3f}]",
                    "yes" if r["rises"] else "no",
                    f"{rising} {off[rising]:+.3f}" if rising else "–",
                    "–" if r["target_over_largest_off_target"] is None else num(r["target_over_largest_off_target"]),
                    f"{r['control_slope']:+.4f}",
                    "–" if r["control_over_target"] is None else num(r["control_over_target"], 3),
                    num(d["mean_pixel_change_at_plus2"][direction], 1),
                ]
            )
        if "real_test_accuracy" in block:
            accuracy_note = (
                f" (probe accuracy: real held-out tiles {pct(block['real_test_accuracy'])}, generated dose-0 tiles "
                f"{pct(block['generated_dose0_accuracy'])})"
            )
        elif "probe_marker_r" in d:
            r = d["probe_marker_r"]
            accuracy_note = " (probe r with the measured score, real held-out patches / generated dose-0 tiles: " + (
                ", ".join(
                    f"{m} {num(v)} / {num(r['generated_dose0'].get(m))}" for m, v in r["real_test_patches"].items()
                )
                + ")"
            )
        else:
            accuracy_note = ""
        lines += [
            "",
            f"**{features} features**{accuracy_note}: {block['rising']} of {block['of']} directions raise their "
            "readout (95 % interval above 0).",
            "",
            *table(
                [
                    "direction → readout",
                    "slope per spread [95 %]",
                    "rises",
                    "largest off-target slope",
                    "target / off-target",
                    "control slope",
                    "control / target",
                    "pixel change at +2",
                ],
                rows,
            ),
        ]
    baseline = d.get("fold_change_baseline")
    if baseline and baseline.get("perturbation"):
        changes = ", ".join(
            f"{r} {c['slope']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]" for r, c in baseline["readout_change"].items()
        )
        lines += [
            "",
            f"Baseline in the same run: `--perturb {baseline['perturbation']}` (gene fold changes, re-encoded) on the "
            f"same spots and noise changes tiles by {num(baseline['mean_pixel_change'], 2)} grey levels; probe readout "
            f"change (edited − unedited, mean over spots [95 %]): {changes}.",
        ]
    return lines


def page() -> str:
    lines = [
        "# Results",
        "",
        "<!-- Written by docs/scripts/results_page.py; edit the script or rerun the measurement, not this page. -->",
        "",
        "Every figure rnagan's measurements recorded, read from the files they wrote: the bundled demo run "
        "(`src/rnagan/datasets/data/demo_bundle/`) and one JSON file per benchmark (`benchmarks/results/`). "
        'Each figure has its n, the machine its file records ("not recorded" where it records none) and '
        "the baseline it was measured against. Accuracies carry their Wilson 95 % interval. "
        "`python docs/scripts/results_page.py` rewrites this page; why each setting is what it is: "
        "[decisions.md](decisions.md).",
        "",
        *bundled_demo(),
        "",
        "## Benchmarks",
        "",
        "One script per figure in `benchmarks/`; the baseline ran in the same process or session.",
        "",
        *table(["script → result file", "figure", "rnagan", "baseline", "n", "machine"], [fn() for fn in BENCHMARKS]),
        "",
        *ssl_experiment(),
        "",
        *nuclei(),
        "",
        *image_stage(),
        "",
        *bundle_at_scale(),
        "",
        *gene_spaces(),
        "",
        *gene_edits(),
        "",
        *demo_time(),
        "",
        *generator_families(),
        *(line for path in sorted(RESULTS.glob("perturbation*.json")) for line in ["", *perturbation(path.name)]),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/results.md is not the script's output")
    args = parser.parse_args(argv)
    text = page()
    if args.check:
        if not PAGE.is_file() or PAGE.read_text() != text:
            print(f"{PAGE} is out of date: run python docs/scripts/results_page.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
