"""GTEx helpers: sample and donor IDs, slide ↔ expression matching, and the public-file downloader.

GTEx IDs nest: donor ``GTEX-111CU``, tissue sample ``GTEX-111CU-0326`` (the slide is
``GTEX-111CU-0326.svs``), RNA aliquot ``GTEX-111CU-0326-SM-5GZXO`` (a column of the expression GCT).

Downloads resume (HTTP ``Range``) from ``<name>.part``, verify the size the server announced and a
checksum (given by the caller, or the MD5 that Google Cloud Storage sends in ``x-goog-hash``), then
rename into place::

    download(["gene_tpm", "sample_attributes", "GTEX-1117F-0126"], "data/gtex")

Base URLs can be overridden (``base_url=`` / ``RNAGAN_GTEX_BASE_URL``, ``slide_base_url=`` /
``RNAGAN_GTEX_SLIDE_URL``), e.g. for a mirror or a local test server.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import requests
from tqdm.auto import tqdm

from rnagan.errors import DownloadError

log = logging.getLogger(__name__)

_GTEX = re.compile(r"^(GTEX-[0-9A-Z]+)(?:-([0-9A-Z]+))?(?:-(SM-[0-9A-Z]+))?", re.IGNORECASE)

BASE_URL = "https://storage.googleapis.com/adult-gtex"
SLIDE_BASE_URL = "https://brd.nci.nih.gov/brd/imagedownload"
BASE_URL_ENV = "RNAGAN_GTEX_BASE_URL"
SLIDE_URL_ENV = "RNAGAN_GTEX_SLIDE_URL"

# Short name → path under BASE_URL (GTEx v8 open-access files).
GTEX_FILES: dict[str, str] = {
    "gene_tpm": "bulk-gex/v8/rna-seq/GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_tpm.gct.gz",
    "gene_reads": "bulk-gex/v8/rna-seq/GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_reads.gct.gz",
    "sample_attributes": "annotations/v8/metadata-files/GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt",
    "subject_phenotypes": "annotations/v8/metadata-files/GTEx_Analysis_v8_Annotations_SubjectPhenotypesDS.txt",
    "gencode_v26_genes": "references/v8/reference-tables/gencode.v26.GRCh38.genes.gtf",
}
_CHUNK = 1 << 20  # bytes read at a time when hashing
_STREAM_CHUNK = 1 << 16  # bytes per network read: an interruption loses at most this much


# IDs ---------------------------------------------------------------------------------------------


def is_gtex_id(name: str) -> bool:
    return _GTEX.match(Path(str(name)).name) is not None


def _parts(name: str) -> re.Match[str]:
    match = _GTEX.match(Path(str(name)).name)
    if match is None:
        raise ValueError(f"{name!r} is not a GTEx ID (expected GTEX-<donor>[-<tissue sample>[-SM-<aliquot>]])")
    return match


def donor_id(sample_id: str) -> str:
    """``GTEX-111CU-0326-SM-5GZXO`` → ``GTEX-111CU`` (the first two dash-separated parts)."""
    return _parts(sample_id).group(1).upper()


def tissue_sample_id(name: str) -> str:
    """The tissue sample (first three parts) of an aliquot ID or slide file name: ``GTEX-111CU-0326``."""
    match = _parts(name)
    if match.group(2) is None:
        raise ValueError(f"{name!r} names a donor, not a tissue sample")
    return f"{match.group(1)}-{match.group(2)}".upper()


def match_slides(slides: Iterable[str], sample_ids: Iterable[str]) -> pd.Series:
    """Map slide files (``GTEX-111CU-0326.svs``) to expression sample IDs of the same tissue sample.

    Returns a Series indexed by slide name; slides without a matching sample are absent. A tissue
    sample with several RNA aliquots raises, as picking one silently would hide a choice.
    """
    by_tissue: dict[str, list[str]] = {}
    for sample in sample_ids:
        if is_gtex_id(sample) and _parts(sample).group(2):
            by_tissue.setdefault(tissue_sample_id(sample), []).append(sample)
    matched: dict[str, str] = {}
    for slide in slides:
        candidates = by_tissue.get(tissue_sample_id(slide), [])
        if len(candidates) > 1:
            raise ValueError(f"slide {slide} matches several expression samples: {', '.join(candidates)}")
        if candidates:
            matched[slide] = candidates[0]
    return pd.Series(matched, name="sample_id", dtype=str).rename_axis("slide")


def pair_by_donor(slides: Iterable[str], samples: pd.DataFrame) -> pd.DataFrame:
    """Pair GTEx slide IDs with expression samples: columns sample_id and rule, indexed by slide.

    ``samples`` is the prepared cohort (index sample_id, column donor_id). A slide pairs with the RNA
    aliquot of its own tissue sample (rule ``tissue sample``: ``GTEX-111CU-0326`` ↔
    ``GTEX-111CU-0326-SM-5GZXO``), else with its donor's only sample in the cohort (rule ``donor``:
    a cohort prepared for one tissue holds one sample of that tissue per donor). Slides whose
    donor has none, or several and none of the same tissue sample, are left out.
    """
    gtex = [s for s in samples.index if is_gtex_id(s) and _parts(s).group(2)]
    by_tissue_sample: dict[str, list[str]] = {}
    for sample in gtex:
        by_tissue_sample.setdefault(tissue_sample_id(sample), []).append(sample)
    by_donor = pd.Series(gtex, dtype=str).groupby([donor_id(s) for s in gtex]).agg(list).to_dict() if gtex else {}
    rows = {}
    for slide in slides:
        if not is_gtex_id(slide) or not _parts(slide).group(2):
            continue
        same_tissue = by_tissue_sample.get(tissue_sample_id(slide), [])
        same_donor = by_donor.get(donor_id(slide), [])
        if len(same_tissue) == 1:
            rows[slide] = (same_tissue[0], "tissue sample")
        elif not same_tissue and len(same_donor) == 1:
            rows[slide] = (same_donor[0], "donor")
    return pd.DataFrame.from_dict(rows, orient="index", columns=["sample_id", "rule"]).rename_axis("slide_id")


# Downloads ---------------------------------------------------------------------------------------


def resolve_url(name: str, *, base_url: str | None = None, slide_base_url: str | None = None) -> tuple[str, str]:
    """(URL, local file name) for a catalogue name, a GTEx tissue-sample ID (a slide) or a URL."""
    if urlparse(name).scheme in ("http", "https"):
        return name, Path(urlparse(name).path).name or "download"
    if name in GTEX_FILES:
        base = (base_url or os.environ.get(BASE_URL_ENV) or BASE_URL).rstrip("/")
        return f"{base}/{GTEX_FILES[name]}", Path(GTEX_FILES[name]).name
    if is_gtex_id(name):
        slide = tissue_sample_id(name)
        base = (slide_base_url or os.environ.get(SLIDE_URL_ENV) or SLIDE_BASE_URL).rstrip("/")
        return f"{base}/{slide}", f"{slide}.svs"
    raise DownloadError(f"{name!r} is not a GTEx file ({', '.join(GTEX_FILES)}), a GTEx slide ID or a URL")


def download(
    names_or_urls: Iterable[str],
    dest: str | Path,
    *,
    base_url: str | None = None,
    slide_base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> list[Path]:
    """Download each item into ``dest``, resuming partial files; return the final paths.

    ``checksums`` maps an item (as given) to ``"sha256:<hex>"`` or ``"md5:<hex>"``. A file already
    complete in ``dest`` is kept when it matches the given checksum (or when none is given).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    checksums = dict(checksums or {})
    paths = []
    with requests.Session() as session:
        for name in names_or_urls:
            url, file_name = resolve_url(name, base_url=base_url, slide_base_url=slide_base_url)
            paths.append(
                _fetch(session, url, dest / file_name, expected=checksums.get(name), timeout=timeout, progress=progress)
            )
    return paths


def _parse_checksum(spec: str) -> tuple[str, str]:
    algo, sep, digest = spec.partition(":")
    if not sep or algo.lower() not in ("sha256", "md5"):
        raise DownloadError(f"checksum {spec!r} must look like sha256:<hex> or md5:<hex>")
    return algo.lower(), digest.lower()


def _file_digest(path: Path, algo: str) -> str:
    digest = hashlib.new(algo)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _server_md5(response: requests.Response) -> str | None:
    """The MD5 that Google Cloud Storage announces (``x-goog-hash: crc32c=…,md5=<base64>``)."""
    for part in response.headers.get("x-goog-hash", "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "md5" and value:
            return base64.b64decode(value + "=" * (-len(value) % 4)).hex()
    return None


def _fetch(
    session: requests.Session, url: str, target: Path, *, expected: str | None, timeout: float, progress: bool
) -> Path:
    check = _parse_checksum(expected) if expected else None
    if target.exists():
        if check is None or _file_digest(target, check[0]) == check[1]:
            log.info("%s already downloaded", target)
            return target
        target.unlink()  # a stale or corrupt copy: fetch again
    partial = target.with_name(target.name + ".part")
    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = session.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as err:
        raise DownloadError(f"{url}: {err}") from None
    with response:
        if response.status_code == 416 and offset:  # the partial file is already whole
            total = offset
        elif response.status_code not in (200, 206):
            raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason}")
        else:
            if response.status_code == 200 and offset:
                log.info("%s: server ignored the Range request; starting over", url)
                offset = 0
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            _stream(response, partial, offset=offset, total=total, url=url, progress=progress)
        server_md5 = _server_md5(response)  # GCS hashes the whole object, also on 206 replies
    size = partial.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"{url}: interrupted at {size:,} of {total:,} bytes; run again to resume")
    for algo, digest in filter(None, (check, ("md5", server_md5) if server_md5 else None)):
        actual = _file_digest(partial, algo)
        if actual != digest:
            partial.unlink()
            raise DownloadError(f"{url}: {algo} checksum mismatch (expected {digest}, got {actual}); file removed")
    os.replace(partial, target)
    return target


def _stream(
    response: requests.Response, partial: Path, *, offset: int, total: int | None, url: str, progress: bool
) -> None:
    bar = tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        desc=partial.name.removesuffix(".part"),
        disable=not progress or None,
    )
    try:
        with open(partial, "ab" if offset else "wb") as handle, bar:
            for chunk in response.iter_content(_STREAM_CHUNK):
                handle.write(chunk)
                bar.update(len(chunk))
    except (requests.RequestException, OSError) as err:
        done = partial.stat().st_size if partial.exists() else 0
        raise DownloadError(f"{url}: interrupted at {done:,} bytes ({err}); run again to resume") from None
