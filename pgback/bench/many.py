"""Many small databases: `pgback backup` with jobs 1 and 4 against a sequential loop of
`pg_dump -Fc -Z0` (into a pipe that discards, as the floor) over the same databases.

The databases are copies of one template database (the benchmark's table, a few MB), made with
CREATE DATABASE ... TEMPLATE (a file copy), so 100 of them take seconds. What is measured is the
fixed cost per database: pg_dump's start and connection in both, and pgback's upload of each
file (one PUT per small object), its hashing and encryption, and its bookkeeping. With
--baseline, the baseline engine's jobs 1 and 4 run too, interleaved with the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgback.adapters.crypto import new_identity
from pgback.bench import measure
from pgback.bench.dataset import Dataset, create_dataset
from pgback.bench.probes import discard, run_child
from pgback.bench.report import cpu_bound, usable_cores

if TYPE_CHECKING:
    from pgback.bench.run import Plan
    from pgback.bench.servers import Servers

TEMPLATE = "bench_many_template"
JOBS = (1, 4)


def names(count: int) -> list[str]:
    return [f"bench_many_{i:04d}" for i in range(count)]


def create_databases(servers: Servers, count: int, size_mb: float) -> dict[str, Any]:
    started = time.perf_counter()
    source = servers.source
    dataset = create_dataset(source, int(size_mb * 1000**2), dbname=TEMPLATE)
    strategy = " STRATEGY FILE_COPY" if source.version >= 15 else ""
    for name in names(count):
        source.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        source.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}" + strategy).format(
                sql.Identifier(name), sql.Identifier(TEMPLATE)
            )
        )
    source.execute("CHECKPOINT")
    return {
        "count": count,
        "rows_each": dataset.rows,
        "database_bytes_each": dataset.database_bytes,
        "seconds": round(time.perf_counter() - started, 1),
    }


def dump_loop(ctx: measure.Context, databases: list[str]) -> dict[str, Any]:
    """The reference: `pg_dump -Fc -Z0 -d NAME` for each database in turn, output discarded."""
    env = {**measure.clean_env(), **ctx.servers.source.env()}
    meter = measure.cpu_meter(ctx)
    before = time.process_time()
    started = time.perf_counter()
    tree_cpu = 0.0
    output = 0
    for name in databases:
        argv = [ctx.tool("pg_dump"), "-Fc", "-Z0", "-d", name]
        run = run_child(argv, env=env, stdout_sink=discard).check(f"pg_dump {name}")
        tree_cpu += run.tree_cpu
        output += run.stdout_bytes
    seconds = time.perf_counter() - started
    cpu = meter.stop(tree_cpu + time.process_time() - before)
    return {"seconds": round(seconds, 2), "output_bytes": output, "cpu_seconds": cpu}


def pgback_backup_jobs(
    ctx: measure.Context, databases: list[str], jobs: int, baseline: bool = False
) -> dict[str, Any]:
    env = {
        **measure.pgback_env(ctx),
        **ctx.engine_env(baseline),
        "PGBACK_INCLUDE_DBS": ",".join(databases),
        "PGBACK_JOBS": str(jobs),
    }
    meter = measure.cpu_meter(ctx)
    engine = " (baseline)" if baseline else ""
    run = run_child(ctx.pgback_argv("backup"), env=env).check(
        f"pgback backup{engine} (jobs={jobs})"
    )
    cpu = meter.stop(run.tree_cpu)
    series = run.rss_series
    return {
        "seconds": round(run.seconds, 2),
        "jobs": jobs,
        "peak_rss_mib": measure.mib(run.peak_rss),
        # the RSS a quarter, half, three quarters of the way through, and at the end: flat
        # when nothing is kept per database
        "rss_mib_quartiles": [
            measure.mib(series[min(len(series) - 1, len(series) * q // 4)][1]) if series else None
            for q in (1, 2, 3, 4)
        ],
        "cpu_seconds": cpu,
    }


def run_many(servers: Servers, plan: Plan, echo: Callable[[str], None]) -> dict[str, Any]:
    label = f"[PG {servers.major}, {plan.databases} databases]"
    echo(f"{label} creating them ({plan.database_mb} MB each)")
    made = create_databases(servers, plan.databases, plan.database_mb)
    databases = names(plan.databases)
    identity, recipient = new_identity()
    # the template stands for the databases; each step names them all in PGBACK_INCLUDE_DBS
    template = Dataset(TEMPLATE, made["rows_each"], 0.0, 0, made["database_bytes_each"], 0.0)
    ctx = measure.Context(
        servers=servers,
        dataset=template,
        workdir=servers.workdir,
        prefix=f"bench-{servers.major}-many",
        recipient=recipient,
        identity=identity,
        baseline=plan.baseline,
    )
    (servers.workdir / "state").mkdir(exist_ok=True)
    chosen: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("loop", partial(dump_loop, ctx, databases)),
    ]
    for jobs in JOBS:
        chosen.append((f"jobs{jobs}", partial(pgback_backup_jobs, ctx, databases, jobs)))
        if plan.baseline is not None:  # the baseline engine, interleaved: an A/B in one run
            ab = partial(pgback_backup_jobs, ctx, databases, jobs, baseline=True)
            chosen.append((f"jobs{jobs}_baseline", ab))
    attempts: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in chosen}
    for round_number in range(1, plan.repeat + 1):
        for name, step in chosen:
            attempts[name].append(step())
            seconds = attempts[name][-1]["seconds"]
            echo(f"{label} {name} ({round_number}/{plan.repeat}): {seconds} s")
    result: dict[str, Any] = {"databases": made}
    for name, _ in chosen:
        best = min(attempts[name], key=lambda attempt: float(attempt["seconds"]))
        result[name] = {
            **best,
            "all_seconds": [attempt["seconds"] for attempt in attempts[name]],
            "cpu_bound_limit": cpu_bound(best, usable_cores()),
        }
    loop = result["loop"]["seconds"]
    result["ratios"] = {
        f"{name}/loop": round(result[name]["seconds"] / loop, 2)
        for name, _ in chosen
        if name != "loop"
    }
    for name in [*databases, TEMPLATE]:
        servers.source.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    servers.source.execute("CHECKPOINT")
    return result
