"""One benchmark run: the S3 endpoint up once, then for each PostgreSQL major its two clusters,
every size in turn (and the many-databases round), then everything removed."""

from __future__ import annotations

import compileall
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pgback
from pgback.adapters.crypto import new_identity
from pgback.bench import many, measure
from pgback.bench.dataset import create_dataset, drop_database
from pgback.bench.probes import run_child
from pgback.bench.report import cpu_bound, evaluate, machine, package_versions, usable_cores
from pgback.bench.servers import Servers, postgres_pair, s3_endpoint
from pgback.testbed.common import tmp_root

GB = 1000**3

Echo = Callable[[str], None]
Step = Callable[[measure.Context], dict[str, Any]]


@dataclass(frozen=True)
class Plan:
    """What one run measures."""

    sizes_gb: Sequence[float]
    majors: Sequence[int | None] = (None,)  # None: the test bed's default major
    endpoint: str = "auto"
    repeat: int = 1
    databases: int = 0  # the many-databases round: how many small databases (0: none)
    database_mb: float = 3.0
    phases: bool = True
    baseline: Path | None = None


def run_benchmark(
    sizes_gb: Sequence[float],
    *,
    endpoint: str = "auto",
    repeat: int = 1,
    echo: Echo = print,
    plan: Plan | None = None,
) -> dict[str, Any]:
    """Measure every size on every major; the result as a JSON-ready dict."""
    plan = plan or Plan(sizes_gb, endpoint=endpoint, repeat=repeat)
    started = time.perf_counter()
    # byte-compile pgback now: a first `python -m pgback` would otherwise write its .pyc files
    # during the measurement, and they would count as local disk writes
    compileall.compile_dir(Path(pgback.__file__).parent, quiet=1)
    if plan.baseline is not None:
        compileall.compile_dir(plan.baseline / "pgback", quiet=1)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    workdir = Path(tempfile.mkdtemp(prefix="pgback-bench-", dir=tmp_root()))
    majors: list[dict[str, Any]] = []
    try:
        with s3_endpoint(plan.endpoint) as s3:
            echo(f"S3: {s3.description} at {s3.url}")
            for major in plan.majors:
                with postgres_pair(major, s3, workdir) as servers:
                    majors.append(_run_major(servers, plan, echo))
            endpoint_info = {"kind": s3.kind, "url": s3.url, "description": s3.description}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "started_at": started_at,
        "total_seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
        # the first major's, as before there was a matrix; every major's is in "majors"
        "postgresql": majors[0]["postgresql"],
        "endpoint": endpoint_info,
        "versions": package_versions(),
        "plan": {
            "sizes_gb": list(plan.sizes_gb),
            "repeat": plan.repeat,
            "databases": plan.databases,
            "baseline": str(plan.baseline) if plan.baseline else None,
        },
        "majors": majors,
        "runs": [run for entry in majors for run in entry["runs"]],
    }


def _run_major(servers: Servers, plan: Plan, echo: Echo) -> dict[str, Any]:
    major = servers.major
    server_version = servers.source.query("SELECT version()")[0][0]
    echo(
        f"PostgreSQL {major}: ports {servers.source.port} (source) and {servers.target.port} "
        f"(target); client tools {servers.clients.install.describe()}"
    )
    pg_dump = run_child(
        [servers.clients.program("pg_dump"), "--version"], env=measure.clean_env()
    ).stdout_text.strip()
    runs = [_run_size(servers, plan, size, echo) for size in plan.sizes_gb]
    entry: dict[str, Any] = {
        "major": major,
        "postgresql": {
            "server": server_version,
            "pg_dump": pg_dump,
            "client_tools": servers.clients.install.describe(),
        },
        "runs": runs,
    }
    if plan.databases:
        entry["many"] = many.run_many(servers, plan, echo)
    return entry


def steps(baseline: bool) -> tuple[tuple[str, Step], ...]:
    chosen: list[tuple[str, Step]] = [
        ("a_floor", measure.floor_dump),
        ("b_pg_back_style", measure.pg_back_style),
        ("c_pgback_backup", measure.pgback_backup),
    ]
    if baseline:
        chosen.append(("c0_baseline_backup", partial(measure.pgback_backup, baseline=True)))
    chosen += [
        ("d_pg_restore", measure.pg_restore_file),
        ("e_pgback_restore", measure.pgback_restore),
    ]
    if baseline:
        chosen.append(("e0_baseline_restore", partial(measure.pgback_restore, baseline=True)))
    return tuple(chosen)


def _run_size(servers: Servers, plan: Plan, size_gb: float, echo: Echo) -> dict[str, Any]:
    label = f"[PG {servers.major}, {size_gb} GB]"
    echo(f"{label} generating the database")
    dataset = create_dataset(servers.source, int(size_gb * GB))
    echo(
        f"{label} {dataset.rows:,} rows, {dataset.database_bytes / GB:.2f} GB "
        f"in {dataset.seconds:.1f} s"
    )
    identity, recipient = new_identity()
    ctx = measure.Context(
        servers=servers,
        dataset=dataset,
        workdir=servers.workdir,
        prefix=f"bench-{servers.major}-{size_gb}",
        recipient=recipient,
        identity=identity,
        phases=plan.phases,
        baseline=plan.baseline,
    )
    # pgback's state directory exists, as a sidecar's does after its first run: creating it
    # would count a directory block as a local disk write of the first round
    (servers.workdir / "state").mkdir(exist_ok=True)
    run: dict[str, Any] = {
        "major": servers.major,
        "size_gb": size_gb,
        "dataset": vars(dataset),
        "repeat": plan.repeat,
    }
    # an untimed pass first: every later measurement starts with the same warm caches
    run["warmup"] = measure.floor_dump(ctx)
    chosen = steps(plan.baseline is not None)
    attempts: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in chosen}
    for round_number in range(1, plan.repeat + 1):
        for name, step in chosen:
            attempts[name].append(step(ctx))
            echo(
                f"{label} {name} ({round_number}/{plan.repeat}): "
                f"{attempts[name][-1]['seconds']:.2f} s"
            )
    for name, _ in chosen:
        # the fastest round: other work on the machine only ever adds time
        best = min(attempts[name], key=lambda attempt: float(attempt["seconds"]))
        run[name] = {
            **best,
            "all_seconds": [attempt["seconds"] for attempt in attempts[name]],
            "cpu_bound_limit": cpu_bound(best, usable_cores()),
        }
        if best.get("timeline"):
            run[name]["all_phase_seconds"] = [
                {phase: part["seconds"] for phase, part in attempt["timeline"]["phases"].items()}
                for attempt in attempts[name]
            ]
    a, b, c = run["a_floor"], run["b_pg_back_style"], run["c_pgback_backup"]
    d, e = run["d_pg_restore"], run["e_pgback_restore"]
    run["ratios"] = {
        "c/a": round(c["seconds"] / a["seconds"], 2),
        "c/b": round(c["seconds"] / b["seconds"], 2),
        "e/d": round(e["seconds"] / d["seconds"], 2),
        "size c/b": round(c["database_object_bytes"] / b["dump_bytes"], 3),
    }
    if plan.baseline is not None:
        run["ratios"]["c/c0"] = round(c["seconds"] / run["c0_baseline_backup"]["seconds"], 2)
        run["ratios"]["e/e0"] = round(e["seconds"] / run["e0_baseline_restore"]["seconds"], 2)
        run["ratios"]["e0/d"] = round(run["e0_baseline_restore"]["seconds"] / d["seconds"], 2)
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
