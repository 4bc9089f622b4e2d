"""`python -m pgback.bench [--size GB | --sizes 0.5,1,2] [--postgres 15,18] [--databases N]`,
or `--simulate 10,100,1000` (no server: generated dump data through the upload pipeline)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pgback.bench.probes import BenchError
from pgback.bench.report import default_json_path, write_json
from pgback.bench.run import Plan, run_benchmark
from pgback.bench.tables import render
from pgback.testbed.s3kinds import S3_KINDS


def _sizes(text: str) -> list[float]:
    try:
        sizes = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes in GB: {text!r}") from None
    if not sizes or any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text!r}")
    return sizes


def _majors(text: str) -> list[int]:
    try:
        majors = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of PostgreSQL majors: {text!r}") from None
    if not majors or any(major < 10 for major in majors):
        raise argparse.ArgumentTypeError(f"PostgreSQL majors are 10 or more: {text!r}")
    return majors


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pgback.bench",
        description="Time pgback backup/restore against pg_dump's floor and a pg_back-style "
        "pipeline on throwaway local servers; print a table and write JSON.",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--size", type=float, default=2.0, help="database size in GB (default 2)")
    group.add_argument("--sizes", type=_sizes, help="several sizes in GB, e.g. 0.5,1,2")
    p.add_argument(
        "--postgres",
        type=_majors,
        help="PostgreSQL majors to run on, e.g. 15,18 (default: the test bed's default, 18)",
    )
    p.add_argument(
        "--endpoint",
        choices=("auto", *S3_KINDS),
        default="auto",
        help="S3 endpoint: rclone serve s3 (disk-backed, default when installed), moto, seaweedfs",
    )
    p.add_argument(
        "--databases",
        type=int,
        default=0,
        help="also back up this many small databases: pgback with jobs 1 and 4 against a "
        "pg_dump loop (0: not measured)",
    )
    p.add_argument(
        "--database-mb", type=float, default=3.0, help="size of each of those databases in MB"
    )
    p.add_argument("--no-phases", action="store_true", help="do not watch restores phase by phase")
    p.add_argument(
        "--baseline",
        type=Path,
        help="another pgback checkout (its root directory): its backup and restore run too, "
        "interleaved, for an A/B comparison of engines",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the five measurements per size; the fastest of each is reported",
    )
    p.add_argument(
        "--simulate",
        type=_sizes,
        help="instead: stream this many GB of generated dump-like data each (e.g. 10,100,1000) "
        "through the real upload pipeline into a discarding S3 that checks parts; no server",
    )
    p.add_argument(
        "--no-hint",
        action="store_true",
        help="with --simulate: give the upload no size hint (a database whose size is unknown)",
    )
    p.add_argument(
        "--stored-ratio",
        type=float,
        help="with --simulate: leave zstd and age out and stream input x RATIO bytes (what they "
        "store, e.g. 0.26) through the hashing writer: the part plan at sizes too slow to run",
    )
    p.add_argument(
        "--data-section",
        action="store_true",
        help="instead: the target server's CPU for pg_restore --section=data from a local file "
        "and from pgback's read pipeline, the scheduler free and the server pinned apart "
        "(--size and --repeat: the database and the rounds; the first of --postgres)",
    )
    p.add_argument("--json", type=Path, help="where to write the JSON (default bench-results/)")
    p.add_argument("--print-json", action="store_true", help="also print the JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _progress(quiet: bool) -> Callable[[str], None]:
    """Where progress lines go: stderr, unless --quiet."""

    def echo(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return echo


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.databases < 0 or args.database_mb <= 0:
        p.error("--databases must be 0 or more and --database-mb positive")
    if args.baseline is not None and not (args.baseline / "pgback" / "__init__.py").is_file():
        p.error(f"--baseline {args.baseline}: not a pgback checkout (no pgback/__init__.py)")
    if args.simulate:
        return _simulate(args)
    if args.data_section:
        return _data_section(args)
    plan = Plan(
        sizes_gb=args.sizes or [args.size],
        majors=args.postgres or [None],
        endpoint=args.endpoint,
        repeat=args.repeat,
        databases=args.databases,
        database_mb=args.database_mb,
        phases=not args.no_phases,
        baseline=args.baseline.resolve() if args.baseline else None,
    )

    echo = _progress(args.quiet)
    try:
        result = run_benchmark(plan.sizes_gb, echo=echo, plan=plan)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    path = args.json or default_json_path()
    write_json(result, path)
    print(render(result))
    if args.print_json:
        print(json.dumps(result, indent=2))
    print(f"JSON: {path}")
    missed = [
        f"PG {run['major']} {run['size_gb']} GB {name}"
        for run in result["runs"]
        for name, target in run["targets"].items()
        if not target["met"]
    ]
    if missed:
        print("targets missed: " + ", ".join(missed))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from pgback.bench.simulate import render_simulation, run_simulation

    echo = _progress(args.quiet)
    results = run_simulation(
        args.simulate, echo, hinted=not args.no_hint, stored_ratio=args.stored_ratio
    )
    path = args.json or default_json_path()
    write_json({"simulation": [asdict(r) for r in results]}, path)
    print(render_simulation(results), end="")
    print(f"JSON: {path}")
    broken = [r for r in results if r.problems]
    return 1 if broken else 0


def _data_section(args: argparse.Namespace) -> int:
    from pgback.bench.data_section import render_data_section, run_data_section

    if args.sizes and len(args.sizes) > 1:
        print("--data-section measures one size: give --size", file=sys.stderr)
        return 2
    try:
        result = run_data_section(
            (args.sizes or [args.size])[0],
            args.repeat,
            _progress(args.quiet),
            endpoint=args.endpoint,
            major=(args.postgres or [None])[0],
        )
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    path = args.json or default_json_path()
    write_json({"data_section": result}, path)
    print(render_data_section(result), end="")
    print(f"JSON: {path}")
    return 0
