"""One benchmark run: servers up once, then every size in turn, then everything removed."""

from __future__ import annotations

import compileall
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pgback
from pgback.adapters.crypto import new_identity
from pgback.bench import measure
from pgback.bench.dataset import create_dataset, drop_database
from pgback.bench.probes import run_child
from pgback.bench.report import evaluate, machine, package_versions
from pgback.bench.servers import Servers, bench_servers
from pgback.testbed.common import tmp_root

GB = 1000**3

Echo = Callable[[str], None]


def run_benchmark(
    sizes_gb: Sequence[float], *, endpoint: str = "auto", repeat: int = 1, echo: Echo = print
) -> dict[str, Any]:
    """Measure every size on the same servers; the result as a JSON-ready dict."""
    started = time.perf_counter()
    # byte-compile pgback now: a first `python -m pgback` would otherwise write its .pyc files
    # during the measurement, and they would count as local disk writes
    compileall.compile_dir(Path(pgback.__file__).parent, quiet=1)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    workdir = Path(tempfile.mkdtemp(prefix="pgback-bench-", dir=tmp_root()))
    try:
        with bench_servers(endpoint, workdir) as servers:
            echo(
                f"servers up: PostgreSQL on ports {servers.source.port} (source) and "
                f"{servers.target.port} (target), S3: {servers.endpoint.description}"
            )
            runs = [_run_size(servers, size, repeat, echo) for size in sizes_gb]
            server_version = servers.source.query("SELECT version()")[0][0]
            pg_dump = run_child(
                [str(servers.source.bindir / "pg_dump"), "--version"], env=measure.clean_env()
            ).stdout_text.strip()
            endpoint_info = {
                "kind": servers.endpoint.kind,
                "url": servers.endpoint.url,
                "description": servers.endpoint.description,
            }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "started_at": started_at,
        "total_seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "postgresql": {"server": server_version, "pg_dump": pg_dump},
        "endpoint": endpoint_info,
        "versions": package_versions(),
        "runs": runs,
    }


STEPS: tuple[tuple[str, Callable[[measure.Context], dict[str, Any]]], ...] = (
    ("a_floor", measure.floor_dump),
    ("b_pg_back_style", measure.pg_back_style),
    ("c_pgback_backup", measure.pgback_backup),
    ("d_pg_restore", measure.pg_restore_file),
    ("e_pgback_restore", measure.pgback_restore),
)


def _run_size(servers: Servers, size_gb: float, repeat: int, echo: Echo) -> dict[str, Any]:
    echo(f"[{size_gb} GB] generating the database")
    dataset = create_dataset(servers.source, int(size_gb * GB))
    echo(
        f"[{size_gb} GB] {dataset.rows:,} rows, {dataset.database_bytes / GB:.2f} GB "
        f"in {dataset.seconds:.1f} s"
    )
    identity, recipient = new_identity()
    ctx = measure.Context(
        servers=servers,
        dataset=dataset,
        workdir=servers.workdir,
        prefix=f"bench-{size_gb}",
        recipient=recipient,
        identity=identity,
    )
    # pgback's state directory exists, as a sidecar's does after its first run: creating it
    # would count a directory block as a local disk write of the first round
    (servers.workdir / "state").mkdir(exist_ok=True)
    run: dict[str, Any] = {"size_gb": size_gb, "dataset": vars(dataset), "repeat": repeat}
    # an untimed pass first: every later measurement starts with the same warm caches
    run["warmup"] = measure.floor_dump(ctx)
    attempts: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in STEPS}
    for round_number in range(1, repeat + 1):
        for name, step in STEPS:
            attempts[name].append(step(ctx))
            echo(
                f"[{size_gb} GB] {name} ({round_number}/{repeat}): "
                f"{attempts[name][-1]['seconds']:.2f} s"
            )
    for name, _ in STEPS:
        # the fastest round: other work on the machine only ever adds time
        run[name] = {
            **min(attempts[name], key=lambda attempt: float(attempt["seconds"])),
            "all_seconds": [attempt["seconds"] for attempt in attempts[name]],
        }
    a, b, c = run["a_floor"], run["b_pg_back_style"], run["c_pgback_backup"]
    d, e = run["d_pg_restore"], run["e_pgback_restore"]
    run["ratios"] = {
        "c/a": round(c["seconds"] / a["seconds"], 2),
        "c/b": round(c["seconds"] / b["seconds"], 2),
        "e/d": round(e["seconds"] / d["seconds"], 2),
        "size c/b": round(c["database_object_bytes"] / b["dump_bytes"], 3),
    }
    run["peak_rss_mib_max"] = {
        step: max(attempt["peak_rss_mib"] or 0 for attempt in attempts[step])
        for step in ("c_pgback_backup", "e_pgback_restore")
    }
    run["files_written"] = measure.files_written(ctx)
    run["staged_bytes_max"] = max(
        attempt["staged_bytes"] for attempt in attempts["c_pgback_backup"]
    )
    run["targets"] = evaluate(run)
    drop_database(servers.source, dataset.dbname)
    return run
