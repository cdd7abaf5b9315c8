"""Load test of ``rnagan quiz serve``: N simulated players on 127.0.0.1 against the real server, per database.

The server runs as a subprocess (``python -m rnagan quiz serve``) on a free port with bundled LC25000 tiles as
the real set and blurred copies as a stand-in generator, storing into SQLite or PostgreSQL (``--postgres URL``, an
admin URL; without one, the throwaway server of the test suite is started: Debian's ``postgresql`` package).
Each player opens the quiz, starts a session and answers every round (one POST per answer, then the next page
and its tile), thinking ``--think`` seconds (uniform ±50 %) between answers. Measured: accepted answers per
second, p50/p99 latency of the answer POST, answers lost (accepted by the server's reply but absent from its
database), errors. Baseline, same run: the same players on the same schedule hitting ``/healthz`` (the
server's trivial endpoint). Everything is bounded: player count, rounds, and ``--max-seconds`` of wall time.
Writes ``benchmarks/results/quiz_load.json``, which ``docs/scripts/quiz_figures.py`` turns into the tables of
``docs/quiz.md``.

    python benchmarks/quiz_load.py --players 1000 --databases sqlite postgresql --note "what else ran"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from importlib import resources
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageFilter

RESULTS = Path(__file__).parent / "results" / "quiz_load.json"
TOKEN = "bench-admin"
# One TLS context for all clients: httpx would build one per client (slow), though only http is used.
SSL = ssl.create_default_context()
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


def make_tiles(folder: Path, per_tissue: int) -> tuple[Path, Path]:
    """Real: LC25000 tiles by tissue; synthetic stand-in: other LC25000 tiles, blurred, saved as PNG."""
    lc = Path(str(resources.files("rnagan.datasets") / "data" / "lc25000"))
    for tissue in ("lung_aca", "lung_n", "lung_scc"):
        files = sorted((lc / tissue).glob("*.jpg"))
        for i, path in enumerate(files[: 2 * per_tissue]):
            kind = "real" if i < per_tissue else "synthetic"
            out = folder / kind / tissue / f"{path.stem}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            image = Image.open(path).convert("RGB")
            (image if kind == "real" else image.filter(ImageFilter.GaussianBlur(1))).save(out)
    return folder / "real", folder / "synthetic"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(folder: Path, rounds: int, db: str) -> tuple[subprocess.Popen, str]:
    real, synthetic = make_tiles(folder, per_tissue=60)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "rnagan",
        "quiz",
        "serve",
        "--real",
        str(real),
        "--synthetic",
        f"rnagan={synthetic}",
        "--db",
        db,
        "--port",
        str(port),
        "--admin-token",
        TOKEN,
        "--rounds",
        str(rounds),
        "--mode",
        "quiz",
        "--starts-per-address",
        "1000000",  # every simulated player comes from 127.0.0.1
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"server did not start: {server.stdout.read() if server.stdout else ''}")


async def player(base: str, rounds: int, think: float, deadline: float, rng: random.Random, out: dict) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30, verify=SSL) as client:
        await asyncio.sleep(rng.uniform(0, think))  # players arrive spread over one think time
        try:
            page = await client.get("/quiz")
            fields = dict(HIDDEN.findall(page.text))
            page = await client.post("/quiz/start", data={"csrf": fields["csrf"]}, follow_redirects=True)
            for _ in range(rounds):
                if time.monotonic() > deadline:
                    return
                fields = dict(HIDDEN.findall(page.text))
                await client.get(f"/tile/{fields['tile']}")
                await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
                start = time.perf_counter()
                reply = await client.post("/quiz/answer", data={**fields, "answer": rng.choice(["real", "synthetic"])})
                out["latency"].append(time.perf_counter() - start)
                if reply.status_code != 303:
                    out["errors"] += 1
                    return
                out["accepted"] += 1
                page = await client.get(reply.headers["location"])
        except (httpx.HTTPError, KeyError) as err:
            out["errors"] += 1
            out["error_kinds"][type(err).__name__] = out["error_kinds"].get(type(err).__name__, 0) + 1


async def pinger(base: str, rounds: int, think: float, deadline: float, rng: random.Random, out: dict) -> None:
    """The baseline: the same arrival and pacing, a trivial endpoint instead of an answer."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30, verify=SSL) as client:
        await asyncio.sleep(rng.uniform(0, think))
        for _ in range(rounds):
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
            start = time.perf_counter()
            try:
                reply = await client.get("/healthz")
                out["latency"].append(time.perf_counter() - start)
                out["accepted" if reply.status_code == 200 else "errors"] += 1
            except httpx.HTTPError:
                out["errors"] += 1


async def _phase_part(kind: str, base: str, players: int, rounds: int, think: float, deadline: float, seed: int):
    out = {"latency": [], "accepted": 0, "errors": 0, "error_kinds": {}}
    rng = random.Random(seed)
    simulate = player if kind == "quiz" else pinger
    runs = [simulate(base, rounds, think, deadline, random.Random(rng.random()), out) for _ in range(players)]
    await asyncio.gather(*runs)
    return out


def _run_part(args: tuple) -> dict:
    return asyncio.run(_phase_part(*args))


def run_phase(
    kind: str, base: str, players: int, rounds: int, think: float, max_seconds: float, seed: int, processes: int
) -> dict:
    """The players split over ``processes`` client processes, so the load generator is not one busy core."""
    start = time.monotonic()
    deadline = start + max_seconds
    shares = [players // processes + (i < players % processes) for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        jobs = [(kind, base, n, rounds, think, deadline, seed + i) for i, n in enumerate(shares)]
        parts = list(pool.map(_run_part, jobs))
    elapsed = time.monotonic() - start
    latency = np.concatenate([np.asarray(p["latency"]) for p in parts]) * 1000
    accepted, errors = sum(p["accepted"] for p in parts), sum(p["errors"] for p in parts)
    kinds: dict[str, int] = {}
    for part in parts:
        for name, n in part["error_kinds"].items():
            kinds[name] = kinds.get(name, 0) + n
    return {
        "players": players,
        "seconds": round(elapsed, 2),
        "accepted": accepted,
        "errors": errors,
        "error_kinds": kinds,
        "per_second": round(accepted / elapsed, 1),
        "p50_ms": round(float(np.percentile(latency, 50)), 2) if len(latency) else None,
        "p99_ms": round(float(np.percentile(latency, 99)), 2) if len(latency) else None,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): the server's cost, whatever else loads the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored_answers(base: str) -> int:
    summary = httpx.get(f"{base}/admin/summary.json", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    return int(summary.json()["answers"])


@contextlib.contextmanager
def database(kind: str, folder: Path, postgres: str | None) -> Iterator[str]:
    """A fresh, empty database of ``kind`` for one measurement."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'study.sqlite'}"
        return
    from sqlalchemy import create_engine, text

    with contextlib.ExitStack() as stack:
        if postgres is None:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "quiz"))
            from postgres import admin_url  # the test suite's throwaway server

            postgres = stack.enter_context(admin_url())
            if postgres is None:
                raise SystemExit("no PostgreSQL server binaries: apt-get install postgresql, or pass --postgres URL")
        admin = create_engine(
            postgres.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.execute(text("DROP DATABASE IF EXISTS quiz_load WITH (FORCE)"))
            connection.execute(text("CREATE DATABASE quiz_load"))
        try:
            yield postgres.rsplit("/", 1)[0] + "/quiz_load"
        finally:
            with admin.connect() as connection:
                connection.execute(text("DROP DATABASE IF EXISTS quiz_load WITH (FORCE)"))
            admin.dispose()


def measure(
    kind: str,
    postgres: str | None,
    players: int,
    rounds: int,
    think: float,
    max_seconds: float,
    seed: int,
    processes: int,
) -> dict:
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp), postgres) as db:
        server, base = start_server(Path(tmp), rounds, db)
        try:
            cpu = cpu_seconds(server.pid)
            baseline = run_phase("healthz", base, players, rounds, think, max_seconds, seed, processes)
            baseline["server_cpu_ms_per_request"] = round(
                1000 * (cpu_seconds(server.pid) - cpu) / baseline["accepted"], 2
            )
            cpu = cpu_seconds(server.pid)
            quiz = run_phase("quiz", base, players, rounds, think, max_seconds, seed, processes)
            # per answer: the answer POST, the next page and its tile
            quiz["server_cpu_ms_per_answer"] = round(1000 * (cpu_seconds(server.pid) - cpu) / quiz["accepted"], 2)
            quiz["stored"] = stored_answers(base)
            quiz["lost"] = quiz["accepted"] - quiz["stored"]
        finally:
            server.terminate()
            server.wait(timeout=30)
    ratio = quiz["p99_ms"] / baseline["p99_ms"] if quiz["p99_ms"] and baseline["p99_ms"] else None
    return {"quiz_answers": quiz, "baseline_healthz": baseline, "p99_ratio_vs_baseline": ratio and round(ratio, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, nargs="+", default=[1000])
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (default: start a throwaway one)")
    parser.add_argument("--note", default="", help="what else ran on the machine, recorded in the JSON")
    parser.add_argument("--rounds", type=int, default=10, help="answers per player")
    parser.add_argument("--think", type=float, default=2.0, help="mean seconds between a player's answers")
    parser.add_argument("--max-seconds", type=float, default=90.0, help="wall-time bound per phase")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--client-processes", type=int, default=2, help="processes simulating the players")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one connection per simulated player
    load_at_start = os.getloadavg()
    runs: dict[str, dict[str, dict]] = {}
    for kind in args.databases:
        for n in args.players:
            run = measure(
                kind, args.postgres, n, args.rounds, args.think, args.max_seconds, args.seed, args.client_processes
            )
            run["load_average_after"] = os.getloadavg()
            runs.setdefault(kind, {})[str(n)] = run
            print(json.dumps({kind: {n: run}}), flush=True)
    settings = {k: v for k, v in vars(args).items() if k not in ("postgres", "note")}
    result = {
        "benchmark": "quiz_load",
        "settings": settings,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
            "note": args.note,
        },
        "goal": {"players": 1000, "p99_ms_below": 100, "lost": 0},
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
