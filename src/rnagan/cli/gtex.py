"""``rnagan gtex``: download GTEx's public expression files, sample attributes and histology slides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnagan.errors import DownloadError
from rnagan.expression.gtex import BASE_URL, BASE_URL_ENV, GTEX_FILES, SLIDE_BASE_URL, SLIDE_URL_ENV, download

app = typer.Typer(
    help="GTEx v8 open-access files: expression GCTs, sample attributes, histology slides.", no_args_is_help=True
)


@app.command("download")
def download_cli(
    items: Annotated[
        list[str],
        typer.Argument(
            help=f"File names ({', '.join(GTEX_FILES)}), GTEx tissue-sample IDs for slides "
            "(GTEX-1117F-0126, saved as GTEX-1117F-0126.svs), or URLs."
        ),
    ],
    dest: Annotated[Path, typer.Option("--dest", "-d", help="Folder to download into.")] = Path("gtex"),
    base_url: Annotated[
        str | None, typer.Option(envvar=BASE_URL_ENV, help=f"Mirror for the named files. (default: {BASE_URL})")
    ] = None,
    slide_base_url: Annotated[
        str | None, typer.Option(envvar=SLIDE_URL_ENV, help=f"Mirror for slides. (default: {SLIDE_BASE_URL})")
    ] = None,
    checksum: Annotated[
        list[str] | None,
        typer.Option(help="Expected checksum of one item, ITEM=sha256:HEX or ITEM=md5:HEX (repeatable)."),
    ] = None,
) -> None:
    """Download ITEMS into DEST. Interrupted downloads resume from DEST/<file>.part when run again;
    the size announced by the server and any checksum (given, or the MD5 Google Cloud sends) are
    verified before the file takes its final name.
    """
    checksums = {}
    for spec in checksum or []:
        item, sep, value = spec.rpartition("=")
        if not sep:
            raise DownloadError(f"--checksum {spec!r} must look like ITEM=sha256:HEX")
        checksums[item] = value
    for path in download(items, dest, base_url=base_url, slide_base_url=slide_base_url, checksums=checksums):
        typer.echo(path)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="gtex")
