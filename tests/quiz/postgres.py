"""A real PostgreSQL server for the tests: the one ``$RNAGAN_TEST_POSTGRES`` names, or a throwaway one.

The throwaway server is what a user would start by hand: ``initdb`` into a temporary folder and ``pg_ctl start``
on a free port, run as the ``postgres`` user when the tests run as root (the server refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

URL_VARIABLE = "RNAGAN_TEST_POSTGRES"  # an admin URL: the tests create and drop databases through it


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: Debian's newest /usr/lib/postgresql/N/bin, else the PATH."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for folder in [*debian, *(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p)]:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def throwaway_server(binaries: Path) -> Iterator[str]:
    """Start a fresh cluster (trust authentication, 127.0.0.1 only, no fsync); yield its admin URL; stop it."""
    root = Path(tempfile.mkdtemp(prefix="rnagan-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    run = {"check": True, "capture_output": True, "text": True}
    subprocess.run([*as_owner, str(binaries / "initdb"), "-D", str(data), "-U", "rnagan", "--auth=trust"], **run)
    ctl = [*as_owner, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log")]
    subprocess.run([*ctl, "-o", options, "-w", "-t", "60", "start"], **run)
    try:
        yield f"postgresql://rnagan@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def admin_url() -> Iterator[str | None]:
    """``$RNAGAN_TEST_POSTGRES`` if set, else a throwaway server's URL, else None (no server binaries here)."""
    if os.environ.get(URL_VARIABLE):
        yield os.environ[URL_VARIABLE]
        return
    binaries = server_binaries()
    if binaries is None:
        yield None
        return
    with throwaway_server(binaries) as url:
        yield url


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    return url.rsplit("/", 1)[0] + f"/{name}"
