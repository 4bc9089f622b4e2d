"""`python -m pgback.bench --data-section --size 0.5`: the target server's COPY behind three feeds.

The data phase of a restore is the target server's COPY, one backend on one core, and in the
benchmark that backend spent more CPU behind `pgback restore` than behind `pg_restore` of a local
file for the same rows. This mode asks why: `pg_restore --section=data` of the benchmark's
database (its pre-data restored first, untimed) from pg_dump's gzip archive in a local file (d),
from the -Z0 archive pgback stores, as a local file, and from pgback's read pipeline (e: S3 GET
-> sha256 -> age -> zstd, `fetch.stream_plain`) into pg_restore's standard input, rounds
interleaved; with the scheduler free, and with the target server pinned to one core and
everything else (this process, pg_restore, the S3 endpoint) to the other.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psycopg import sql
from pyrage import x25519

from pgback.actions.fetch import stream_plain
from pgback.actions.upload import UploadPlan, upload
from pgback.adapters import crypto
from pgback.bench.dataset import create_dataset, drop_database, row_count
from pgback.bench.measure import clean_env
from pgback.bench.probes import SETTLE_SECONDS, BenchError, child_pids, process_cpu
from pgback.bench.servers import Servers, postgres_pair, s3_endpoint
from pgback.manifest import Encryption, FileEntry
from pgback.progress import Progress
from pgback.storage.s3 import S3Storage
from pgback.testbed.common import tmp_root

FEEDS = ("file", "z0file", "stream")
MODES = ("free", "pinned")


def run_data_section(
    size_gb: float,
    rounds: int,
    echo: Callable[[str], None],
    *,
    endpoint: str = "auto",
    major: int | None = None,
) -> dict[str, Any]:
    if len(os.sched_getaffinity(0)) < 2:
        raise BenchError("--data-section pins the server and its feed apart: it needs 2 cores")
    workdir = Path(tempfile.mkdtemp(prefix="pgback-bench-", dir=tmp_root()))
    try:
        with s3_endpoint(endpoint) as s3, postgres_pair(major, s3, workdir) as servers:
            dataset = create_dataset(servers.source, int(size_gb * 1e9))
            echo(f"database: {dataset.database_bytes / 1e6:.1f} MB, {dataset.rows:,} rows")
            files, entry, identity = _archives(servers, dataset.dbname)
            result: dict[str, Any] = {
                "size_gb": size_gb,
                "major": servers.major,
                "rows": dataset.rows,
                "endpoint": s3.description,
                "rounds": {mode: {feed: [] for feed in FEEDS} for mode in MODES},
            }
            storage = S3Storage(s3.options())
            for number in range(rounds):
                for mode in MODES:  # interleaved too: the box's speed drifts
                    with _placement(servers, pinned=mode == "pinned"):
                        for feed in FEEDS:
                            measured = _one_round(servers, files, storage, entry, identity, feed)
                            if measured["rows"] != dataset.rows:
                                raise BenchError(
                                    f"{feed} restored {measured['rows']} rows of {dataset.rows}"
                                )
                            result["rounds"][mode][feed].append(measured)
                            echo(
                                f"[{mode}, {feed}] ({number + 1}/{rounds}): "
                                f"{measured['seconds']} s, server {measured['server_cpu']} CPU s"
                            )
            return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _archives(servers: Servers, dbname: str) -> tuple[dict[str, Path], FileEntry, Any]:
    """The local files by feed (pg_dump's gzip archive; the -Z0 archive pgback stores), and
    that -Z0 archive stored as pgback stores it."""
    env = {**clean_env(), **servers.source.env()}
    dump = servers.clients.program("pg_dump")
    files = {}
    for feed, level in (("file", []), ("z0file", ["-Z0"])):
        files[feed] = servers.workdir / f"data-section-{feed}.dump"
        argv = [dump, "-Fc", *level, "-d", dbname, "-f", str(files[feed])]
        subprocess.run(argv, env=env, check=True)
    raw = files["z0file"]
    identity = x25519.Identity.generate()
    recipient = str(identity.to_public())
    plan = UploadPlan(
        storage=S3Storage(servers.endpoint.options()),
        set_prefix="data-section/",
        compress=True,
        level=1,
        recipients=crypto.parse_recipients([recipient]),
        encryption=Encryption("x25519", (recipient,)),
        cancel=threading.Event(),
        progress=Progress("upload", enabled=False),
    )
    with raw.open("rb", buffering=0) as source:
        entry = upload(plan, "database", dbname, dbname, source, size_hint=raw.stat().st_size)
    return files, entry, identity


def _one_round(
    servers: Servers,
    files: dict[str, Path],
    storage: S3Storage,
    entry: FileEntry,
    identity: Any,
    feed: str,
) -> dict[str, Any]:
    target = servers.target
    dbname = f"data_section_{feed}"
    drop_database(target, dbname)
    target.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    env = {**clean_env(), **target.env(dbname)}
    pg_restore = servers.clients.program("pg_restore")
    subprocess.run(
        [pg_restore, "--section=pre-data", "-d", dbname, str(files["file"])], env=env, check=True
    )
    server_pid = target.pid
    assert server_pid is not None
    server_before, clock, ours = process_cpu(server_pid), time.perf_counter(), _own_cpu()
    if feed in files:
        subprocess.run(
            [pg_restore, "--section=data", "-d", dbname, str(files[feed])], env=env, check=True
        )
    else:
        child = subprocess.Popen(
            [pg_restore, "--section=data", "-d", dbname], stdin=subprocess.PIPE, env=env
        )
        assert child.stdin is not None
        try:
            stream_plain(storage, entry, [identity], child.stdin)
        finally:
            child.stdin.close()
        if child.wait() != 0:
            raise BenchError(f"pg_restore --section=data exited with {child.returncode}")
    seconds, client = time.perf_counter() - clock, _own_cpu() - ours
    time.sleep(SETTLE_SECONDS)  # the backend is reaped, its CPU counted, a moment later
    measured = {
        "seconds": round(seconds, 2),
        "server_cpu": round(process_cpu(server_pid) - server_before, 2),
        "client_cpu": round(client, 2),  # this process and pg_restore (the endpoint apart)
        "rows": row_count(target, dbname),
    }
    drop_database(target, dbname)
    return measured


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@contextmanager
def _placement(servers: Servers, *, pinned: bool) -> Iterator[None]:
    """Pinned: the target server (its postmaster, so every backend it forks, and its running
    processes) on the first core; this process, what it starts and the S3 endpoint on the
    second. Every core for all of them again afterwards."""
    cores = sorted(os.sched_getaffinity(0))
    server_pid = servers.target.pid
    assert server_pid is not None
    feed = [os.getpid()] + ([servers.endpoint.pid] if servers.endpoint.pid else [])
    if pinned:
        for pid in (server_pid, *child_pids(server_pid)):
            _pin(pid, {cores[0]})
        for pid in feed:
            _pin(pid, {cores[1]})
    try:
        yield
    finally:
        if pinned:
            for pid in (server_pid, *child_pids(server_pid), *feed):
                _pin(pid, set(cores))


def _pin(pid: int, cores: set[int]) -> None:
    """Every thread of the process (the S3 endpoint has several)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:  # a backend that has just exited
        return
    for task in tasks:
        try:
            os.sched_setaffinity(int(task), cores)
        except ProcessLookupError:
            continue


def render_data_section(result: dict[str, Any]) -> str:
    lines = [
        f"### The data section alone: PostgreSQL {result['major']}, {result['size_gb']:g} GB, "
        f"{result['rows']:,} rows",
        "",
        "| scheduler | feed | rounds: seconds (server CPU s / client CPU s) | fastest | "
        "server CPU s: least / median |",
        "|---|---|---|---:|---:|",
    ]
    names = {
        "file": "(d) pg_restore of the gzip file",
        "z0file": "pg_restore of the -Z0 file pgback stores",
        "stream": "(e) pgback's read pipeline",
    }
    for mode in MODES:
        for feed in FEEDS:
            rounds = result["rounds"][mode][feed]
            cells = ", ".join(
                f"{r['seconds']} ({r['server_cpu']} / {r['client_cpu']})" for r in rounds
            )
            server = [r["server_cpu"] for r in rounds]
            lines.append(
                f"| {mode} | {names[feed]} | {cells} | {min(r['seconds'] for r in rounds)} s | "
                f"{min(server)} / {round(statistics.median(server), 2)} |"
            )
    lines += [
        "",
        "Client CPU: this process and its pg_restore (the S3 endpoint is not counted). Pinned: "
        "the target server on one core, everything else on the other.",
        "",
    ]
    return "\n".join(lines)
