"""`python -m pgback.bench [--size GB | --sizes 0.5,1,2] [--endpoint rclone|moto|auto]`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pgback.bench.probes import BenchError
from pgback.bench.report import default_json_path, render, write_json
from pgback.bench.run import run_benchmark


def _sizes(text: str) -> list[float]:
    try:
        sizes = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes in GB: {text!r}") from None
    if not sizes or any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text!r}")
    return sizes


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
        "--endpoint",
        choices=("auto", "rclone", "moto"),
        default="auto",
        help="S3 endpoint: rclone serve s3 (disk-backed, default when installed) or moto",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the five measurements per size; the fastest of each is reported",
    )
    p.add_argument("--json", type=Path, help="where to write the JSON (default bench-results/)")
    p.add_argument("--print-json", action="store_true", help="also print the JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    sizes = args.sizes or [args.size]

    def echo(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        result = run_benchmark(sizes, endpoint=args.endpoint, repeat=args.repeat, echo=echo)
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
        f"{run['size_gb']} GB {name}"
        for run in result["runs"]
        for name, target in run["targets"].items()
        if not target["met"]
    ]
    if missed:
        print("targets missed: " + ", ".join(missed))
    return 0
