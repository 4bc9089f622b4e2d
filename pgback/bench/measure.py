"""The five measurements, each on the same servers and the same database.

(a) floor: `pg_dump -Fc -Z0` into a pipe the benchmark reads and discards (`-f /dev/null`
    fails at the end: pg_dump fsyncs its output file);
(b) pg_back-style: `pg_dump -Fc` (default compression) to a file, then age-encrypt the file,
    then upload the file (boto3 `upload_file`), one after the other, as pg_back does;
(c) `pgback backup` (the real command line, a subprocess) with age encryption to the endpoint;
(d) `pg_restore` from (b)'s local dump file into a fresh database on the target server;
(e) `pgback restore latest` into the target server, where that database no longer exists.
Each restore is checked (row count) and its database dropped afterwards. With a baseline (another
checkout of pgback), (c) and (e) also run with its engine, interleaved, for A/B comparisons.
Restores are watched phase by phase (bench/timeline.py) unless told not to.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
from psycopg.conninfo import make_conninfo

from pgback.bench.dataset import Dataset, drop_database, row_count
from pgback.bench.probes import BenchError, ChildRun, CpuMeter, discard, run_child
from pgback.bench.servers import BUCKET, Servers
from pgback.bench.timeline import Timeline

MIB = 1024 * 1024
_PRIVATE_PREFIXES = ("PG", "AWS_", "S3_", "AGE_", "CIPHER_")


@dataclass
class Context:
    servers: Servers
    dataset: Dataset
    workdir: Path
    prefix: str  # upload prefix of this size's sets
    recipient: str
    identity: str
    pg_dump_file: Path | None = None  # (b)'s output, restored by (d)
    phases: bool = True  # watch restores phase by phase
    baseline: Path | None = None  # another pgback checkout to compare with (A/B)

    @property
    def bindir(self) -> Path:
        return self.servers.clients.install.bindir

    def tool(self, name: str) -> str:
        return str(self.bindir / name)

    def pgback_argv(self, *args: str) -> list[str]:
        # -P: `-m` would put the working directory first on the path, and a benchmark started
        # from a checkout would run that checkout's engine for the baseline's steps too
        return [sys.executable, "-P", "-m", "pgback", *args]

    def engine_env(self, baseline: bool) -> dict[str, str]:
        """PYTHONPATH for the baseline's engine (its checkout first on the path)."""
        if not baseline:
            return {}
        if self.baseline is None:
            raise BenchError("no baseline checkout was given")
        return {"PYTHONPATH": str(self.baseline)}


def restore_observer(ctx: Context) -> Any:
    """run_child's observer for a restore: the phase timeline (None when not asked for)."""
    if not ctx.phases:
        return None
    servers = ctx.servers

    def start(pid: int) -> Any:
        timeline = Timeline(
            pid,
            servers.target.dsn(),
            {"server": servers.target.pid, "s3": servers.endpoint.pid},
        )
        timeline.start()
        return timeline.stop

    return start


def cpu_meter(ctx: Context) -> CpuMeter:
    servers = ctx.servers
    return CpuMeter(
        {
            "postgres_source": servers.source.pid,
            "postgres_target": servers.target.pid,
            "s3_endpoint": servers.endpoint.pid,
        }
    )


def clean_env() -> dict[str, str]:
    """Our environment without libpq, pgback, AWS or age settings that could leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_PREFIXES)}


def pgback_env(ctx: Context) -> dict[str, str]:
    source = ctx.servers.source
    endpoint = ctx.servers.endpoint
    return {
        **clean_env(),
        **source.env(),
        "PGBACK_PG_BIN_DIR": str(ctx.bindir),
        "PGBACK_S3_BUCKET": BUCKET,
        "PGBACK_S3_ENDPOINT": endpoint.url,
        "PGBACK_S3_REGION": endpoint.region,
        "PGBACK_S3_KEY_ID": endpoint.access_key,
        "PGBACK_S3_SECRET": endpoint.secret_key,
        "PGBACK_S3_FORCE_PATH": "true",
        "PGBACK_UPLOAD_PREFIX": ctx.prefix,
        "PGBACK_ENCRYPT": "true",
        "PGBACK_CIPHER_PUBLIC_KEY": ctx.recipient,
        "PGBACK_INCLUDE_DBS": ctx.dataset.dbname,
        "PGBACK_STATE_DIR": str(ctx.workdir / "state"),
        "PGBACK_PROGRESS": "never",
    }


def mib(value: int | None) -> float | None:
    return None if value is None else round(value / MIB, 1)


def _child_summary(run: ChildRun) -> dict[str, Any]:
    return {
        "seconds": round(run.seconds, 2),
        "peak_rss_mib": mib(run.peak_rss),
        "tree_max_rss_mib": mib(run.tree_max_rss),
        "disk_write_bytes": run.write_bytes,
        "own_write_bytes_sampled": run.own_write_bytes,
        "disk_cancelled_write_bytes": run.cancelled_write_bytes,
    }


def floor_dump(ctx: Context) -> dict[str, Any]:
    """(a) pg_dump -Fc -Z0 into a pipe that discards."""
    argv = [ctx.tool("pg_dump"), "-Fc", "-Z0", "-d", ctx.dataset.dbname]
    env = {**clean_env(), **ctx.servers.source.env()}
    meter = cpu_meter(ctx)
    before = time.process_time()  # the benchmark's own reading of the pipe
    run = run_child(argv, env=env, stdout_sink=discard).check("pg_dump -Fc -Z0")
    cpu = meter.stop(run.tree_cpu + time.process_time() - before)
    return {"seconds": round(run.seconds, 2), "output_bytes": run.stdout_bytes, "cpu_seconds": cpu}


def pg_back_style(ctx: Context) -> dict[str, Any]:
    """(b) dump to a file with default compression, encrypt the file, upload the file."""
    dump = ctx.workdir / f"{ctx.dataset.dbname}.dump"
    encrypted = dump.with_name(dump.name + ".age")
    env = {**clean_env(), **ctx.servers.source.env()}
    meter = cpu_meter(ctx)
    before = time.process_time()  # pyrage and boto3 run in the benchmark's process
    dumped = run_child(
        [ctx.tool("pg_dump"), "-Fc", "-d", ctx.dataset.dbname, "-f", str(dump)], env=env
    ).check("pg_dump -Fc")
    started = time.perf_counter()
    age = shutil.which("age")
    if age:
        argv = [age, "-r", ctx.recipient, "-o", str(encrypted), str(dump)]
        encrypt_cpu = run_child(argv, env=clean_env()).check("age -r").tree_cpu
        encrypt_tool = "age CLI " + _age_version(age)
    else:
        recipient = pyrage.x25519.Recipient.from_str(ctx.recipient)
        pyrage.encrypt_file(str(dump), str(encrypted), [recipient])
        encrypt_cpu = 0.0
        encrypt_tool = "pyrage.encrypt_file"
    encrypt_seconds = time.perf_counter() - started
    started = time.perf_counter()
    key = f"{ctx.prefix}-pg_back/{encrypted.name}"
    ctx.servers.endpoint.boto3_client().upload_file(str(encrypted), BUCKET, key)
    upload_seconds = time.perf_counter() - started
    cpu = meter.stop(dumped.tree_cpu + encrypt_cpu + time.process_time() - before)
    sizes = {"dump_bytes": dump.stat().st_size, "encrypted_bytes": encrypted.stat().st_size}
    encrypted.unlink()
    ctx.pg_dump_file = dump
    return {
        "seconds": round(dumped.seconds + encrypt_seconds + upload_seconds, 2),
        "dump_seconds": round(dumped.seconds, 2),
        "encrypt_seconds": round(encrypt_seconds, 2),
        "upload_seconds": round(upload_seconds, 2),
        "encrypt_tool": encrypt_tool,
        "upload": "boto3 upload_file (default TransferConfig)",
        **sizes,
        "cpu_seconds": cpu,
    }


def _age_version(age: str) -> str:
    import subprocess

    done = subprocess.run([age, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def pgback_backup(ctx: Context, baseline: bool = False) -> dict[str, Any]:
    """(c) the real `pgback backup` command line, measured as a child process."""
    argv = ctx.pgback_argv("backup")
    meter = cpu_meter(ctx)
    lock = ctx.workdir / "state" / "backup.lock"
    env = {**pgback_env(ctx), **ctx.engine_env(baseline)}
    run = run_child(argv, env=env).check("pgback backup")
    cpu = meter.stop(run.tree_cpu)
    # The one file pgback writes is its lock (state_dir/backup.lock: its pid, a few bytes), and
    # the kernel counts one 4 KiB page for it; checked with strace (openat/pwrite64), nothing
    # else is opened for writing. Everything beyond that page would be staged data.
    lock_page = 4096 if lock.exists() and lock.stat().st_size <= 4096 else 0
    set_id = run.stdout_text.strip().splitlines()[-1]
    client = ctx.servers.endpoint.client()
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{ctx.prefix}/{set_id}/")
    objects = {item["Key"].rsplit("/", 1)[1]: item["Size"] for item in listed.get("Contents", [])}
    database_object = next(
        (size for name, size in objects.items() if name.startswith(ctx.dataset.dbname + ".")),
        None,
    )
    if database_object is None:
        raise BenchError(f"pgback backup stored no object for {ctx.dataset.dbname}: {objects}")
    return {
        **_child_summary(run),
        "lock_file_page_bytes": lock_page,
        "staged_bytes": max(0, run.write_bytes - lock_page),
        "set_id": set_id,
        "database_object_bytes": database_object,
        "set_bytes": sum(objects.values()),
        "objects": len(objects),
        "cpu_seconds": cpu,
    }


# an open/openat/creat line of strace that succeeded: the path, then the flags
_OPEN = re.compile(
    r'\b(?:open|openat|creat)\((?:[^,"]*, )?"((?:[^"\\]|\\.)*)"(?:, ([A-Z_|]+))?.*\) = \d+'
)
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")
_NOT_FILES = ("/dev/", "/proc/", "/sys/")


def files_written(ctx: Context) -> dict[str, Any]:
    """Every file `pgback backup` and its children open for writing, from an extra (untimed)
    run under strace: the exact answer to "does anything get staged on local disk?".

    The kernel's write_bytes counters (kept as a cross-check) count pages, including the page of
    the lock file and sometimes filesystem metadata, so they cannot say 0 when pgback writes a
    5-byte pid. Here each file opened for writing is listed with its size afterwards; every
    file but the lock file would be staging.
    """
    strace = shutil.which("strace")
    if strace is None:
        return {"checked": False, "why": "strace is not installed"}
    trace = ctx.workdir / "strace.txt"
    # --seccomp-bpf: only the traced calls stop the program, not pg_dump's every write
    argv = [strace, "-f", "-qq", "--seccomp-bpf", "-o", str(trace), "-e", "trace=open,openat,creat"]
    run = run_child([*argv, sys.executable, "-m", "pgback", "backup"], env=pgback_env(ctx))
    run.check("pgback backup under strace")
    opened: set[str] = set()
    for line in trace.read_text(errors="replace").splitlines():
        match = _OPEN.search(line)
        if match is None:
            continue
        writing = "creat(" in line or any(flag in (match.group(2) or "") for flag in _WRITE_FLAGS)
        if not writing:
            continue
        if not match.group(1).startswith(_NOT_FILES):
            opened.add(match.group(1))
    trace.unlink()
    lock = str(ctx.workdir / "state" / "backup.lock")
    files = {path: os.path.getsize(path) if os.path.exists(path) else None for path in opened}
    staged = [path for path in files if path != lock]
    return {
        "checked": True,
        "files": {
            path.replace(str(ctx.workdir), "<workdir>"): size for path, size in files.items()
        },
        "staged_files": len(staged),
        "staged_bytes": sum(files[path] or 0 for path in staged),
    }


def pg_restore_file(ctx: Context) -> dict[str, Any]:
    """(d) pg_restore from the local dump file into a fresh database."""
    if ctx.pg_dump_file is None:
        raise BenchError("pg_restore needs the dump file of the pg_back-style run")
    target = ctx.servers.target
    argv = [ctx.tool("pg_restore"), "--exit-on-error", "--create", "-d", "postgres"]
    meter = cpu_meter(ctx)
    env = {**clean_env(), **target.env()}
    run = run_child([*argv, str(ctx.pg_dump_file)], env=env, observer=restore_observer(ctx))
    run.check("pg_restore")
    cpu = meter.stop(run.tree_cpu)
    _check_restored(ctx, "pg_restore")
    ctx.pg_dump_file.unlink()
    ctx.pg_dump_file = None
    return {"seconds": round(run.seconds, 2), "cpu_seconds": cpu, "timeline": run.observed}


def pgback_restore(ctx: Context, baseline: bool = False) -> dict[str, Any]:
    """(e) `pgback restore latest` into the target server (the database is created)."""
    target = ctx.servers.target
    conninfo = make_conninfo(
        "", host=target.host, port=str(target.port), user=target.user, dbname="postgres"
    )
    env = {
        **pgback_env(ctx),
        **ctx.engine_env(baseline),
        "PGBACK_CIPHER_PRIVATE_KEY": ctx.identity,
        "PGBACK_TARGET_PASSWORD": target.password,
    }
    argv = ctx.pgback_argv("restore", "latest", "--target", conninfo)
    meter = cpu_meter(ctx)
    run = run_child(argv, env=env, observer=restore_observer(ctx)).check("pgback restore")
    cpu = meter.stop(run.tree_cpu)
    _check_restored(ctx, "pgback restore")
    return {**_child_summary(run), "cpu_seconds": cpu, "timeline": run.observed}


def _check_restored(ctx: Context, what: str) -> None:
    target = ctx.servers.target
    restored = row_count(target, ctx.dataset.dbname)
    if restored != ctx.dataset.rows:
        raise BenchError(f"{what} restored {restored} rows, expected {ctx.dataset.rows}")
    drop_database(target, ctx.dataset.dbname)
