"""GTEx IDs, slide matching, and downloads from a local HTTP server (never the internet)."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from rnagan.errors import DownloadError
from rnagan.expression import gtex


def test_ids() -> None:
    assert gtex.donor_id("GTEX-111CU-0326-SM-5GZXO") == "GTEX-111CU"
    assert gtex.tissue_sample_id("GTEX-111CU-0326-SM-5GZXO") == "GTEX-111CU-0326"
    assert gtex.tissue_sample_id("slides/GTEX-111CU-0326.svs") == "GTEX-111CU-0326"
    assert gtex.is_gtex_id("GTEX-111CU") and not gtex.is_gtex_id("TCGA-05-4244")
    with pytest.raises(ValueError, match="not a GTEx ID"):
        gtex.donor_id("TCGA-05-4244")


def test_match_slides() -> None:
    samples = ["GTEX-111CU-0326-SM-5GZXO", "GTEX-111FC-1126-SM-5GZWU", "GTEX-111FC-0226-SM-1", "GTEX-111FC-0226-SM-2"]
    matched = gtex.match_slides(["GTEX-111CU-0326.svs", "GTEX-111FC-1126.svs", "GTEX-9999-0001.svs"], samples)
    assert matched.to_dict() == {
        "GTEX-111CU-0326.svs": "GTEX-111CU-0326-SM-5GZXO",
        "GTEX-111FC-1126.svs": "GTEX-111FC-1126-SM-5GZWU",
    }
    with pytest.raises(ValueError, match="matches several expression samples"):
        gtex.match_slides(["GTEX-111FC-0226.svs"], samples)


def test_urls_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    url, name = gtex.resolve_url("gene_tpm")
    assert url == f"{gtex.BASE_URL}/{gtex.GTEX_FILES['gene_tpm']}" and name.endswith("_gene_tpm.gct.gz")
    assert gtex.resolve_url("GTEX-1117F-0126") == (f"{gtex.SLIDE_BASE_URL}/GTEX-1117F-0126", "GTEX-1117F-0126.svs")
    monkeypatch.setenv(gtex.SLIDE_URL_ENV, "http://mirror/slides/")
    assert gtex.resolve_url("GTEX-1117F-0126.svs")[0] == "http://mirror/slides/GTEX-1117F-0126"
    assert gtex.resolve_url("sample_attributes", base_url="http://x")[0].startswith("http://x/annotations/")
    with pytest.raises(DownloadError, match="is not a GTEx file"):
        gtex.resolve_url("nonsense")


class _Server:
    """Serves ``files`` with Range support; can cut the first reply short or send a wrong MD5."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.requests = files, []
        self.truncate_once: set[str] = set()
        self.goog_md5: dict[str, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404)
                    return
                data, start = server.files[name], 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                md5 = server.goog_md5.get(name, hashlib.md5(data).digest())
                self.send_header("x-goog-hash", f"crc32c=AAAA==,md5={base64.b64encode(md5).decode()}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if name in server.truncate_once:
                    server.truncate_once.discard(name)
                    body = body[: len(body) // 2]  # then the connection closes: an interrupted download
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server() -> Iterator[_Server]:
    payload = bytes(range(256)) * 4000  # ~1 MB: several chunks
    srv = _Server({"GTEX-1117F-0126": payload, "GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt": b"SAMPID\n"})
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_download_resumes_after_interruption(server: _Server, tmp_path: Path) -> None:
    server.truncate_once.add("GTEX-1117F-0126")
    with pytest.raises(DownloadError, match=r"interrupted at .* run again to resume"):
        gtex.download(["GTEX-1117F-0126"], tmp_path, slide_base_url=server.url, progress=False)
    partial = tmp_path / "GTEX-1117F-0126.svs.part"
    done = partial.stat().st_size
    assert 0 < done < len(server.files["GTEX-1117F-0126"])
    assert not (tmp_path / "GTEX-1117F-0126.svs").exists()
    [path] = gtex.download(["GTEX-1117F-0126"], tmp_path, slide_base_url=server.url, progress=False)
    assert path.read_bytes() == server.files["GTEX-1117F-0126"] and not partial.exists()
    assert server.requests[-1] == ("GTEX-1117F-0126", f"bytes={done}-")  # only the rest was fetched


def test_download_named_file_with_checksum_and_skip_when_done(server: _Server, tmp_path: Path) -> None:
    data = server.files["GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt"]
    checksum = {"sample_attributes": "sha256:" + hashlib.sha256(data).hexdigest()}
    [path] = gtex.download(["sample_attributes"], tmp_path, base_url=server.url, checksums=checksum, progress=False)
    assert path.read_bytes() == data
    gtex.download(["sample_attributes"], tmp_path, base_url=server.url, checksums=checksum, progress=False)
    assert len(server.requests) == 1  # already complete and verified: no second request


def test_checksum_mismatch_is_refused(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"sha256 checksum mismatch .* file removed"):
        gtex.download(
            ["GTEX-1117F-0126"],
            tmp_path,
            slide_base_url=server.url,
            progress=False,
            checksums={"GTEX-1117F-0126": "sha256:" + "0" * 64},
        )
    assert list(tmp_path.iterdir()) == []
    server.goog_md5["GTEX-1117F-0126"] = b"\0" * 16  # the server's own MD5 disagrees with the bytes
    with pytest.raises(DownloadError, match="md5 checksum mismatch"):
        gtex.download(["GTEX-1117F-0126"], tmp_path, slide_base_url=server.url, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_http_error(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        gtex.download([f"{server.url}/absent.txt"], tmp_path, progress=False)


def test_pair_by_donor_pairs_slides_with_their_tissue_sample_else_the_donors_only_sample() -> None:
    """Issue #14 item 1: slide files are tissue samples, GCT columns are RNA aliquots."""
    samples = pd.DataFrame(
        index=[
            "GTEX-1117F-0226-SM-5GZZ7",
            "GTEX-111CU-0326-SM-5GZXO",
            "GTEX-22222-0426-SM-AAAAA",
            "GTEX-22222-1126-SM-BBBBB",
        ]
    )
    slides = ["GTEX-1117F-0126", "GTEX-111CU-0326", "GTEX-22222-0626", "GTEX-99999-0126", "TCGA-AA-0001"]
    pairing = gtex.pair_by_donor(slides, samples)
    assert pairing.to_dict("index") == {
        "GTEX-1117F-0126": {"sample_id": "GTEX-1117F-0226-SM-5GZZ7", "rule": "donor"},  # the donor's only sample
        "GTEX-111CU-0326": {"sample_id": "GTEX-111CU-0326-SM-5GZXO", "rule": "tissue sample"},
    }  # GTEX-22222 has two tissues and neither is the slide's: left out, as are unknown donors and non-GTEx IDs
