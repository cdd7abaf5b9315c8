"""The README's Python example and its Quickstart, command for command, on GTEx-shaped fixtures.

The code is read from README.md's blocks, so a README edit changes these tests.
Fixtures are named as GTEx names its files: slides ``GTEX-<donor>-0126.svs`` (copies of the bundled
real slide), a GCT whose columns are RNA aliquots ``GTEX-<donor>-0226-SM-…`` (another tissue-sample
number, so only the donor rule pairs them), a sample-attributes file (SAMPID, SMTSD) and another
cohort's CSV. Every command gets ``--preset tiny`` and a small config where it takes them, and runs
in this process, so a failing step shows the user's own error line.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import shlex
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import rnagan
from rnagan.cli import app
from rnagan.expression.genes import GeneSpace
from rnagan.workspace import Workspace

README = Path(__file__).parents[1] / "README.md"
DONORS = ("1117F", "111CU", "111FC", "111VG", "111YS")  # split 3/1/1 by donor
QUICK = """\
vae: {epochs: 1}
gan: {steps: 2, checkpoint_every: 2, sample_every: 2, log_every: 1}
generate: {tiles_per_profile: 2}
evaluate: {fid_max_images: 8, kid_subsets: 2, kid_subset_size: 4, classifier_epochs: 1, classifier_max_tiles: 16,
           fidelity_max_tiles: 16, report_tiles: 4, report_pairs: 2}
"""


def quickstart_commands(readme: Path = README) -> tuple[dict[str, str], list[list[str]]]:
    """Shell variables and ``rnagan`` command lines of the README's Quickstart block."""
    section = readme.read_text().split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    variables, commands = {}, []
    for line in block.splitlines():
        line = line.split(" #", 1)[0].strip()
        if match := re.fullmatch(r"(\w+)=(\S+)", line):
            variables[match.group(1)] = match.group(2)
        elif line.startswith("rnagan "):
            words = shlex.split(re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], line))[1:]
            commands.append([p for w in words for p in (sorted(glob.glob(w)) if "*" in w else [w])])
    return variables, commands


def python_example(readme: Path = README) -> str:
    """The code of the README's Python section."""
    section = readme.read_text().split("## Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def write_fixtures(root: Path, real_slide: Path) -> None:
    """The files the Quickstart names, GTEx-shaped and tiny."""
    rng = np.random.default_rng(0)
    (root / "slides").mkdir()
    for donor in DONORS:
        os.symlink(real_slide, root / "slides" / f"GTEX-{donor}-0126.svs")
    genes = list(GeneSpace.default().ids)
    aliquots = [f"GTEX-{donor}-0226-SM-{k:05d}" for k, donor in enumerate(DONORS)]
    aliquots[0] = "GTEX-1117F-0226-SM-5GZZ7"  # the sample the README generates from
    tpm = rng.lognormal(1.0, 1.0, (len(genes), len(aliquots))).round(3)
    with gzip.open(root / "GTEx_gene_tpm.gct.gz", "wt") as handle:
        handle.write(f"#1.2\n{len(genes)}\t{len(aliquots)}\nName\tDescription\t" + "\t".join(aliquots) + "\n")
        for gene, row in zip(genes, tpm, strict=True):
            handle.write(f"{gene}.1\t{gene}\t" + "\t".join(map(str, row)) + "\n")
    pd.DataFrame({"SAMPID": aliquots, "SMTS": "Lung", "SMTSD": "Lung"}).to_csv(
        root / "GTEx_SampleAttributesDS.txt", sep="\t", index=False
    )
    other = pd.DataFrame(rng.lognormal(1.0, 1.0, (2, len(genes))).round(3), columns=genes, index=["ext-1", "ext-2"])
    other.rename_axis("sample_id").to_csv(root / "other_cohort.csv")
    (root / "quick.yaml").write_text(QUICK)


def with_small_settings(command: list[str]) -> list[str]:
    """``--preset tiny --config quick.yaml`` where the command takes them (``vae encode`` does not)."""
    group = typer.main.get_command(app)
    words = list(command)
    while hasattr(group, "commands") and words and words[0] in group.commands:
        group = group.commands[words.pop(0)]
    options = {opt for param in group.params for opt in getattr(param, "opts", [])}
    return [*command, "--preset", "tiny", "--config", "quick.yaml"] if "--preset" in options else command


@pytest.mark.integration  # every Quickstart command in turn, training and evaluation included
@pytest.mark.timeout(900)  # ~5 min on 2 busy cores, past the 300 s every other test gets
def test_readme_quickstart_runs_from_tile_to_evaluate(tmp_path: Path, real_slide: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_fixtures(tmp_path, real_slide)
    variables, commands = quickstart_commands()
    assert [c[0] for c in commands][:1] == ["tile"] and commands[-1][0] == "evaluate"
    runner, output = CliRunner(), {}
    for command in commands:
        started = time.monotonic()
        result = runner.invoke(app, with_small_settings(command), env={"COLUMNS": "300"})
        assert result.exit_code == 0, f"rnagan {shlex.join(command)}:\n{result.output}\n{result.exception!r}"
        output[" ".join(command[:2])] = " ".join(result.output.split())  # rich wraps log lines
        print(f"{time.monotonic() - started:6.1f} s  rnagan {shlex.join(command)}")

    ws = Workspace(tmp_path / variables["W"])
    assert "pairing: 5 slides renamed to expression samples (5 by donor)" in output["gan train"]  # item 1
    pairing = pd.read_csv(ws.tile_pairing).set_index("slide_id")["sample_id"]
    assert pairing["GTEX-1117F-0126"] == "GTEX-1117F-0226-SM-5GZZ7"
    metrics = json.loads((ws.reports / "metrics.json").read_text())
    assert {name: run["status"] for name, run in metrics["runs"].items()} == dict.fromkeys(
        ("rnagan", "reference", "baseline"), "ok"
    )
    assert metrics["runs"]["rnagan"]["n_profiles"] == 1  # the one test donor, paired through the donor rule
    assert ws.evaluation_html.is_file()


def test_the_quickstart_is_found_in_the_readme() -> None:
    """A README whose Quickstart lost its code block would make the test above pass vacuously."""
    _, commands = quickstart_commands()
    assert len(commands) >= 8
    assert {c[0] for c in commands} >= {"tile", "expr", "vae", "gan", "generate", "evaluate"}


def test_readme_python_example_runs(tmp_path: Path, real_slide: Path, monkeypatch) -> None:
    """The README's Python block as written, on the ``tiny`` preset and the small settings above."""
    monkeypatch.chdir(tmp_path)
    write_fixtures(tmp_path, real_slide)
    load_config = rnagan.load_config
    monkeypatch.setattr(rnagan, "load_config", lambda *a, **k: load_config("tiny", path="quick.yaml"))
    code = python_example()
    assert "import rnagan" in code and "rnagan.evaluate(" in code
    namespace: dict = {}
    exec(compile(code, "README.md (Python)", "exec"), namespace)

    ws = namespace["ws"]
    manifest = namespace["manifest"]
    assert len(manifest) > 0 and (ws.samples_run("rnagan") / manifest["path"].iloc[0]).is_file()
    metrics = json.loads(ws.metrics.read_text())
    assert metrics["runs"]["rnagan"]["status"] == "ok"
    assert ws.evaluation_html.is_file()
