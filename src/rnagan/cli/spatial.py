"""``rnagan spatial import|prepare|evaluate``: spatial transcriptomics sections as paired training data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnagan.cli._common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    PresetOpt,
    SetOpt,
    WorkspaceOpt,
    open_workspace,
    resolve_config,
)
from rnagan.errors import InputFileError
from rnagan.spatial.patches import PatchGeometry
from rnagan.spatial.readers import read_anndata_section, read_table_section, read_visium_section
from rnagan.spatial.section import Section
from rnagan.workspace_config import remember

app = typer.Typer(help="Spatial transcriptomics: sections (H&E + spot expression) → tiles + one sample per spot.")

MppOpt = Annotated[
    float | None,
    typer.Option(
        "--mpp",
        min=0.0,
        help="µm per pixel of the image. Required for JPEG/PNG (their DPI is not trusted; her2st: 0.69); "
        "for AnnData/Visium it is otherwise derived from the spot diameter.",
    ),
]


def _splits(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    pairs = [v.split("=", 1) for v in values]
    if any(len(p) != 2 for p in pairs):
        raise InputFileError(f"--split takes SECTION=train|val|test (e.g. C2=train), got {values}")
    return {k.strip(): v.strip() for k, v in pairs}


def import_(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    image: Annotated[
        list[Path] | None, typer.Option("--image", help="H&E image of a section (repeat per section).")
    ] = None,
    spots: Annotated[
        list[Path] | None, typer.Option("--spots", help="Spot table: id (or array x, y), pixel_x, pixel_y.")
    ] = None,
    counts: Annotated[
        list[Path] | None, typer.Option("--counts", help="Counts table: spots × genes, raw counts.")
    ] = None,
    clusters: Annotated[list[Path] | None, typer.Option(help="her2st cluster table per section (optional).")] = None,
    annotation: Annotated[Path | None, typer.Option(help="her2st cluster_annotation.csv (optional).")] = None,
    h5ad: Annotated[
        list[Path] | None, typer.Option("--h5ad", help="AnnData with obsm['spatial'] and uns['spatial'].")
    ] = None,
    visium: Annotated[
        list[Path] | None,
        typer.Option("--visium", help="10x Visium folder (filtered_feature_bc_matrix.h5 + spatial/)."),
    ] = None,
    bundled: Annotated[
        bool, typer.Option("--bundled", help="The bundled her2st cohort (5 sections, its own splits).")
    ] = False,
    section: Annotated[
        list[str] | None, typer.Option("--section", help="Section id per input (default: file name).")
    ] = None,
    donor: Annotated[
        list[str] | None, typer.Option("--donor", help="Patient per input (default: the section).")
    ] = None,
    split: Annotated[
        list[str] | None, typer.Option("--split", help="SECTION=train|val|test, per section (repeatable).")
    ] = None,
    mpp: MppOpt = None,
    spot_um: Annotated[
        float,
        typer.Option("--spot-um", help="Spot diameter in µm (AnnData/Visium resolution): Visium 55, legacy ST 100."),
    ] = 55.0,
    fov_um: Annotated[
        float | None, typer.Option("--fov-um", help="Side of a patch in µm (default spatial.fov_um = 100).")
    ] = None,
    patch_mpp: Annotated[
        float | None,
        typer.Option("--patch-mpp", help="µm per pixel of the stored patches (default spatial.mpp = 1.0)."),
    ] = None,
    patches_per_spot: Annotated[
        int | None, typer.Option("--patches-per-spot", min=1, help="Patches per spot: 1 centred + jittered copies.")
    ] = None,
    jitter_um: Annotated[
        float | None, typer.Option("--jitter-um", min=0.0, help="Largest shift of the extra patches, in µm.")
    ] = None,
    tissue: Annotated[str, typer.Option(help="Tissue name for spots without an annotated cluster.")] = "tissue",
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Import sections: patches per spot into the tile store, counts into spatial/expression.h5ad."""
    from rnagan.spatial.importer import import_sections

    geometry = {"fov_um": fov_um, "mpp": patch_mpp, "patches_per_spot": patches_per_spot, "jitter_um": jitter_um}
    flags = [f"spatial.{field}={value}" for field, value in geometry.items() if value is not None]
    cfg = resolve_config(preset, config, [*(set_ or []), *flags], workspace=workspace, reads=("tiles",))
    names, donors = list(section or []), list(donor or [])
    if bundled:
        from rnagan.datasets.her2st import SPLITS
        from rnagan.spatial.readers import read_bundled

        sections, splits = read_bundled(), SPLITS
    else:
        tables = _table_sections(image, spots, counts, clusters, annotation, mpp=mpp, names=names, donors=donors)
        sections = tables + _anndata_sections(
            h5ad, visium, mpp=mpp, spot_um=spot_um, names=names[len(tables) :], donors=donors[len(tables) :]
        )
        splits = _splits(split)
    if not sections:
        raise InputFileError("nothing to import: give --image/--spots/--counts, --h5ad, --visium or --bundled")
    ws = open_workspace(workspace)
    index = import_sections(
        sections,
        ws,
        PatchGeometry.from_config(cfg.spatial),
        splits=splits,
        tissue=tissue,
        image_format=cfg.spatial.image_format,
    )
    remember(ws, cfg, writes="tiles")
    typer.echo(f"{len(sections)} section(s), {index['sample_id'].nunique()} spots, {len(index)} patches → {workspace}")


def _table_sections(
    image: list[Path] | None,
    spots: list[Path] | None,
    counts: list[Path] | None,
    clusters: list[Path] | None,
    annotation: Path | None,
    *,
    mpp: float | None,
    names: list[str],
    donors: list[str],
) -> list[Section]:
    if not (image or spots or counts):
        return []
    if not (image and spots and counts) or not len(image) == len(spots) == len(counts):
        raise InputFileError("the table layout needs --image, --spots and --counts once per section, in the same order")
    return [
        read_table_section(
            img,
            spt,
            cnt,
            mpp=mpp,
            section_id=_nth(names, i),
            donor_id=_nth(donors, i),
            clusters=clusters[i] if clusters else None,
            annotation=annotation,
        )
        for i, (img, spt, cnt) in enumerate(zip(image, spots, counts, strict=True))
    ]


def _anndata_sections(
    h5ad: list[Path] | None,
    visium: list[Path] | None,
    *,
    mpp: float | None,
    spot_um: float,
    names: list[str],
    donors: list[str],
) -> list[Section]:
    sections = [
        read_anndata_section(path, mpp=mpp, spot_um=spot_um, section_id=_nth(names, i), donor_id=_nth(donors, i))
        for i, path in enumerate(h5ad or [])
    ]
    for path in visium or []:
        i = len(sections)
        sections.append(
            read_visium_section(path, mpp=mpp, spot_um=spot_um, section_id=_nth(names, i), donor_id=_nth(donors, i))
        )
    return sections


def _gene_list(value: str) -> list[str]:
    """Genes named by ``value``: a file with one per line (``#`` comments), else a comma-separated list."""
    path = Path(value)
    text = path.read_text() if path.is_file() else value.replace(",", "\n")
    genes = [line.split("#")[0].strip() for line in text.splitlines()]
    return [g for g in genes if g]


def _nth(values: list[str], i: int) -> str | None:
    return values[i] if i < len(values) else None


def prepare(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    genes: Annotated[
        str | None, typer.Option(help="hvg (the training sections' top variable genes) or space (the 19,198 genes).")
    ] = None,
    hvg: Annotated[
        int | None, typer.Option("--hvg", min=10, help="How many variable genes (default spatial.hvg_genes).")
    ] = None,
    flavor: Annotated[
        str | None,
        typer.Option(
            help="How variable genes are ranked: seurat (dispersion) or seurat_v3 (raw-count variance, which also "
            "ranks highly expressed genes such as keratins and collagens). Default spatial.hvg_flavor."
        ),
    ] = None,
    include_genes: Annotated[
        str | None,
        typer.Option(
            "--include-genes",
            help="Genes kept whatever their rank: comma-separated symbols or IDs, or a file with one per line "
            "(default spatial.include_genes).",
        ),
    ] = None,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Prepare the imported spots' expression (CPM, gene set, splits by section) for the β-VAE."""
    from rnagan.spatial.prepare import prepare_spatial

    overrides = [
        *(set_ or []),
        *([f"spatial.genes={genes}"] if genes is not None else []),
        *([f"spatial.hvg_genes={hvg}"] if hvg is not None else []),
        *([f"spatial.hvg_flavor={flavor}"] if flavor is not None else []),
    ]
    cfg = resolve_config(preset, config, overrides, workspace=workspace)
    if include_genes is not None:
        cfg.spatial.include_genes = _gene_list(include_genes)
    ws = open_workspace(workspace)
    prepared = prepare_spatial(ws, cfg)
    remember(ws, cfg, writes="expression")
    typer.echo(f"{len(prepared.matrix)} spots × {prepared.matrix.shape[1]} genes → {workspace}/expression")


def evaluate(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    run: Annotated[
        list[str] | None,
        typer.Option(
            "--run",
            help="samples/<run> folders to score (default: rnagan, shuffled, reference, baseline where present).",
        ),
    ] = None,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Paired evaluation: a probe trained on real patches, scored on real and generated tiles of held-out spots."""
    from rnagan.evaluate.paired_run import evaluate_paired
    from rnagan.samples import has_manifest
    from rnagan.workspace import Workspace

    ws = Workspace(workspace)
    names = run or [r for r in ("rnagan", "shuffled", "reference", "baseline") if has_manifest(ws.samples_run(r))]
    cfg = resolve_config(preset, config, set_, workspace=workspace)
    metrics = evaluate_paired(ws, cfg, runs={r: ws.samples_run(r) for r in names})
    for name, scores in metrics["sets"].items():
        r, gene_r = scores["marker_r_mean"], scores["gene_r_mean"]
        typer.echo(f"{name}: marker r {r}, gene r {gene_r}, accuracy {scores['accuracy']:.3f}")


app.command("import")(import_)
app.command("prepare")(prepare)
app.command("evaluate")(evaluate)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="spatial")
