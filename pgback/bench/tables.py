"""The benchmark's Markdown: the setting, one table per major and size, the restore phases, the
summary with a column per major, and the many-databases round."""

from __future__ import annotations

from typing import Any

from pgback.bench.timeline import PHASES

MANY_LIMIT = 1.1  # pgback backup with jobs=1 / the pg_dump loop


def size_text(value: int | None) -> str:
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


def _limit(step: dict[str, Any]) -> str:
    limit = step.get("cpu_bound_limit")
    if not limit:
        return ""
    return f"{limit['all']:.2f} s / {limit['own']:.2f} s"


def _files(check: dict[str, Any]) -> str:
    if not check["checked"]:
        return f"files not checked ({check['why']})"
    names = ", ".join(
        f"{path.rsplit('/', 1)[-1]} {size} B" for path, size in sorted(check["files"].items())
    )
    return f"files written: {names or 'none'}"


def run_table(run: dict[str, Any]) -> str:
    """One major and size: the measurements, the ratios and the targets."""
    a, b, c = run["a_floor"], run["b_pg_back_style"], run["c_pgback_backup"]
    d, e = run["d_pg_restore"], run["e_pgback_restore"]
    ds = run["dataset"]
    rounds = run.get("repeat", 1)
    best = f"fastest of {rounds}" if rounds > 1 else "wall time"
    lines = [
        f"Database: {size_text(ds['database_bytes'])} ({ds['rows']:,} rows, 3 indexes), "
        f"generated in {ds['seconds']:.0f} s.",
        "",
        f"| step | {best} | CPU-bound limit: all / own | peak RSS of pgback "
        "| local disk writes | output | CPU s: command / PostgreSQL / S3 / others |",
        "|---|---:|---:|---:|---|---:|---|",
        f"| (a) `pg_dump -Fc -Z0` into a pipe that discards (floor) | {a['seconds']:.2f} s "
        f"| {_limit(a)} | | | {size_text(a['output_bytes'])} | {_cpu(a)} |",
        f"| (b) pg_back-style: `pg_dump -Fc` to a file ({b['dump_seconds']:.1f} s), "
        f"age the file ({b['encrypt_seconds']:.1f} s), upload it ({b['upload_seconds']:.1f} s) "
        f"| {b['seconds']:.2f} s | {_limit(b)} | "
        f"| {size_text(b['dump_bytes'] + b['encrypted_bytes'])} staged "
        f"| {size_text(b['encrypted_bytes'])} | {_cpu(b)} |",
        f"| (c) `pgback backup`: zstd-1 + age, streamed to S3 | {c['seconds']:.2f} s "
        f"| {_limit(c)} | {c['peak_rss_mib']} MiB | {_files(run['files_written'])}; kernel "
        f"count {c['disk_write_bytes']} B | {size_text(c['database_object_bytes'])} "
        f"| {_cpu(c)} |",
    ]
    if "c0_baseline_backup" in run:
        c0 = run["c0_baseline_backup"]
        lines.append(
            f"| (c0) `pgback backup`, the baseline engine | {c0['seconds']:.2f} s | {_limit(c0)} "
            f"| {c0['peak_rss_mib']} MiB | | {size_text(c0['database_object_bytes'])} "
            f"| {_cpu(c0)} |"
        )
    lines += [
        f"| (d) `pg_restore` of (b)'s local file into a fresh database | {d['seconds']:.2f} s "
        f"| {_limit(d)} | | | | {_cpu(d)} |",
        f"| (e) `pgback restore latest`: S3 -> sha256 -> age -> zstd -> `pg_restore` "
        f"| {e['seconds']:.2f} s | {_limit(e)} | {e['peak_rss_mib']} MiB | | | {_cpu(e)} |",
    ]
    if "e0_baseline_restore" in run:
        e0 = run["e0_baseline_restore"]
        lines.append(
            f"| (e0) `pgback restore latest`, the baseline engine | {e0['seconds']:.2f} s "
            f"| {_limit(e0)} | {e0['peak_rss_mib']} MiB | | | {_cpu(e0)} |"
        )
    lines += ["", "| target | measured | limit | |", "|---|---:|---:|---|"]
    for name, target in run["targets"].items():
        mark = "met" if target["met"] else "**missed**"
        lines.append(
            f"| {name}: {target['what']} | {target['measured']} | {target['limit']} | {mark} |"
        )
    return "\n".join(lines) + "\n"


def _phase_cells(step: dict[str, Any], groups: tuple[str, ...]) -> dict[str, str]:
    timeline = step.get("timeline") or {}
    cells = {}
    for name, phase in timeline.get("phases", {}).items():
        cpu = phase["cpu"]
        cells[name] = (
            f"{phase['seconds']:.2f} s ({' / '.join(f'{cpu.get(g, 0.0):.1f}' for g in groups)})"
        )
    return cells


def phases_table(run: dict[str, Any]) -> str:
    """Where each restore's time went (its fastest round), with the CPU seconds of each part."""
    steps = [
        ("(d) pg_restore", run["d_pg_restore"]),
        ("(e) pgback restore", run["e_pgback_restore"]),
    ]
    if "e0_baseline_restore" in run:
        steps.append(("(e0) baseline", run["e0_baseline_restore"]))
    if not any(step.get("timeline") for _, step in steps):
        return ""
    groups = ("command", "clients", "server", "s3", "others")
    cells = {label: _phase_cells(step, groups) for label, step in steps}
    lines = [
        "| phase | " + " | ".join(label for label, _ in steps) + " |",
        "|---|" + "---:|" * len(steps),
    ]
    for phase in PHASES:
        if not any(phase in cells[label] for label, _ in steps):
            continue
        row = [cells[label].get(phase, "") for label, _ in steps]
        lines.append(f"| {phase} | " + " | ".join(row) + " |")
    lines.append(
        "\nEach cell: seconds (CPU s of the command itself / its client programs (pg_restore, "
        "psql) / the target server / the S3 endpoint / everything else on the machine)."
    )
    return "\n".join(lines) + "\n"


def summary_table(result: dict[str, Any]) -> str:
    """Every size, a column per major: times with their CPU-bound limits, and the ratios."""
    majors = result["majors"]
    by_size: dict[float, dict[int, dict[str, Any]]] = {}
    for entry in majors:
        for run in entry["runs"]:
            by_size.setdefault(run["size_gb"], {})[entry["major"]] = run
    header = [f"PostgreSQL {entry['major']}" for entry in majors]
    lines = [
        "| database | measure | " + " | ".join(header) + " |",
        "|---|---|" + "---:|" * len(header),
    ]
    rows: tuple[tuple[str, str], ...] = (
        ("a_floor", "(a) floor"),
        ("c_pgback_backup", "(c) pgback backup"),
        ("c/a", "c/a"),
        ("d_pg_restore", "(d) pg_restore from a file"),
        ("e_pgback_restore", "(e) pgback restore"),
        ("e/d", "**e/d**"),
        ("rss", "peak RSS backup / restore"),
    )
    for size, runs in sorted(by_size.items()):
        first = True
        for key, label in rows:
            cells = []
            for entry in majors:
                run = runs.get(entry["major"])
                cells.append(_summary_cell(run, key) if run else "")
            name = f"{size} GB" if first else ""
            first = False
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    lines.append(
        "\nTimes: the fastest round, then in brackets the CPU-bound limit of that round (every "
        "CPU second spent on the machine meanwhile, divided by the cores)."
    )
    return "\n".join(lines) + "\n"


def _summary_cell(run: dict[str, Any], key: str) -> str:
    if key in run.get("ratios", {}):
        return str(run["ratios"][key])
    if key == "rss":
        rss = run["peak_rss_mib_max"]
        return f"{rss['c_pgback_backup']} / {rss['e_pgback_restore']} MiB"
    step = run[key]
    limit = step.get("cpu_bound_limit", {})
    return f"{step['seconds']:.2f} s ({limit.get('all', 0):.2f})"


def many_table(result: dict[str, Any]) -> str:
    majors = [entry for entry in result["majors"] if "many" in entry]
    if not majors:
        return ""
    first = majors[0]["many"]["databases"]
    lines = [
        f"{first['count']} databases of {size_text(first['database_bytes_each'])} each "
        f"({first['rows_each']:,} rows).",
        "",
        "| step | " + " | ".join(f"PostgreSQL {entry['major']}" for entry in majors) + " |",
        "|---|" + "---:|" * len(majors),
    ]
    steps = [
        ("loop", "sequential `pg_dump -Fc -Z0` loop, output discarded"),
        ("jobs1", "`pgback backup`, jobs = 1"),
        ("jobs1_baseline", "`pgback backup`, jobs = 1, the baseline engine"),
        ("jobs4", "`pgback backup`, jobs = 4"),
        ("jobs4_baseline", "`pgback backup`, jobs = 4, the baseline engine"),
    ]
    count = first["count"]
    for key, label in steps:
        if not any(key in entry["many"] for entry in majors):
            continue
        cells = []
        for entry in majors:
            many = entry["many"]
            step = many.get(key)
            if step is None:
                cells.append("")
                continue
            limit = step["cpu_bound_limit"]
            cell = f"{step['seconds']:.2f} s (limit {limit['all']:.2f})"
            ratio = many["ratios"].get(f"{key}/loop")
            if ratio is not None:
                mark = "" if key != "jobs1" or ratio <= MANY_LIMIT else " **missed**"
                cell += f" = {ratio}x{mark}; RSS {step['peak_rss_mib']} MiB"
                quartiles = " / ".join(str(q) for q in step["rss_mib_quartiles"])
                cell += f" (at 1/4, 1/2, 3/4, end: {quartiles})"
            cell += "; " + _many_cpu(step["cpu_seconds"], count)
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "CPU ms per database: the command with its pg_dumps / PostgreSQL / the S3 endpoint / "
        "everything else on the machine.",
    ]
    return "\n".join(lines) + "\n"


def _many_cpu(cpu: dict[str, float], count: int) -> str:
    parts = (cpu["command_tree"], cpu["postgres_source"], cpu["s3_endpoint"], cpu["other"])
    return "CPU ms " + " / ".join(f"{1000 * value / count:.0f}" for value in parts)


def setting_text(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu_model']}, {m['cores']} cores ({m['usable_cores']} usable), "
        f"{m['ram_gib']} GiB RAM, Linux {m['kernel']}, Python {m['python']}; load average at "
        f"the start {m.get('load_average', '?')}.",
    ]
    for entry in result.get("majors", []):
        pg = entry["postgresql"]
        lines.append(
            f"PostgreSQL {entry['major']}: {pg['server']}; client tools {pg['pg_dump']} "
            f"({pg.get('client_tools', '')})."
        )
    lines += [
        f"S3 endpoint: {result['endpoint']['description']} at {result['endpoint']['url']}.",
        f"pgback {result['versions'].get('pgback', '?')} "
        f"({result['versions'].get('pgback_commit', '?')}), run {result['started_at']}, "
        f"whole benchmark {result['total_seconds']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def render(result: dict[str, Any]) -> str:
    parts = [setting_text(result), ""]
    for entry in result["majors"]:
        for run in entry["runs"]:
            parts += [f"### PostgreSQL {entry['major']}, {run['size_gb']} GB", "", run_table(run)]
            phases = phases_table(run)
            if phases:
                parts += ["Restore phases:", "", phases]
    if len(result["runs"]) > 1:
        parts += ["### Summary", "", summary_table(result)]
    many = many_table(result)
    if many:
        parts += ["### Many databases", "", many]
    return "\n".join(parts)
