"""The steps a scenario can take. Each drives the real engine or a real server.

A step gets the shared Context and its validated arguments; it raises StepFailed when what it
expects does not hold (the runner adds file:line), and lets engine errors through.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyrage
import zstandard
from pyrage import x25519

from pgback import naming
from pgback.actions.backup import run_backup
from pgback.actions.catalog import scan_sets
from pgback.actions.download import run_download
from pgback.actions.purge import run_purge
from pgback.actions.restore import RestoreOptions, run_restore
from pgback.actions.verify import run_verify
from pgback.adapters.postgres import ConnParams
from pgback.durations import format_duration, parse_duration
from pgback.errors import PgbackError
from pgback.render import render_set_list
from pgback.scenario.context import Context
from pgback.secret import Secret
from pgback.storage import UploadJanitor, open_storage


class StepFailed(AssertionError):
    """An expectation of the scenario did not hold."""


@dataclass(frozen=True)
class StepSpec:
    run: Callable[[Context, dict[str, Any]], None]
    allowed: frozenset[str]
    required: frozenset[str] = frozenset()
    scalar: str | None = None  # `- step: VALUE` means `{scalar: VALUE}`
    help: str = ""


STEPS: dict[str, StepSpec] = {}


def step(
    name: str, *, allowed: str = "", required: str = "", scalar: str | None = None
) -> Callable[
    [Callable[[Context, dict[str, Any]], None]], Callable[[Context, dict[str, Any]], None]
]:
    def register(
        fn: Callable[[Context, dict[str, Any]], None],
    ) -> Callable[[Context, dict[str, Any]], None]:
        STEPS[name] = StepSpec(
            fn,
            frozenset(allowed.split()),
            frozenset(required.split()),
            scalar,
            (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "",
        )
        return fn

    return register


def validate_step_args(kind: str, value: Any) -> dict[str, Any]:
    """Normalise a step's arguments to a dict; ValueError naming the problem."""
    from pgback.scenario.schema import strip_lines

    spec = STEPS[kind]
    value = strip_lines(value)
    if value is None:
        args: dict[str, Any] = {}
    elif isinstance(value, dict):
        args = dict(value)
    elif spec.scalar is not None:
        args = {spec.scalar: value}
    else:
        raise ValueError(
            f"takes a mapping of options ({', '.join(sorted(spec.allowed)) or 'none'})"
        )
    if kind == "expect_error":
        return _validate_expect_error(args)
    unknown = set(args) - spec.allowed
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(spec.allowed)) or 'none'})"
        )
    missing = spec.required - set(args)
    if missing:
        raise ValueError(f"missing option(s) {', '.join(sorted(missing))}")
    if kind == "advance_clock":
        parse_duration(str(args["by"]))
    return args


def _validate_expect_error(args: dict[str, Any]) -> dict[str, Any]:
    inner = [k for k in args if k not in ("message", "exit_code")]
    if "message" not in args:
        raise ValueError("needs `message:` (text the error must contain)")
    if len(inner) != 1 or inner[0] not in STEPS or inner[0] == "expect_error":
        raise ValueError("needs exactly one step to run besides `message`, e.g. `restore: {...}`")
    kind = inner[0]
    return {
        "message": str(args["message"]),
        "exit_code": args.get("exit_code"),
        "step": kind,
        "args": validate_step_args(kind, args[kind]),
    }


def _size(text: Any) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]i?B?)?\s*", str(text), re.I)
    if not match:
        raise StepFailed(f"not a size: {text!r} (use 6MiB, 512KiB...)")
    unit = (match.group(2) or "").upper()[:1]
    return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit]


# --- servers and data -----------------------------------------------------------------------

SEED_SQL = [
    "DROP TABLE IF EXISTS dummy",
    "DROP FUNCTION IF EXISTS public.insert_dummy_records(integer)",
    """CREATE TABLE dummy (
        id serial PRIMARY KEY,
        name text NOT NULL,
        value integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE FUNCTION public.insert_dummy_records(n integer) RETURNS void
       LANGUAGE sql AS $$
         INSERT INTO dummy (name, value)
         SELECT md5(random()::text), (random() * 1000000)::int FROM generate_series(1, n)
       $$""",
]


@step("seed", allowed="server dbname", scalar="server")
def seed(ctx: Context, args: dict[str, Any]) -> None:
    """The walkthrough's `dummy` table and its insert_dummy_records(n) function."""
    pg = ctx.services.pg(args.get("server", "postgres1"))
    for statement in SEED_SQL:
        pg.execute(statement, dbname=args.get("dbname", "postgres"))


@step("insert_rows", allowed="server count dbname", required="count")
def insert_rows(ctx: Context, args: dict[str, Any]) -> None:
    """SELECT insert_dummy_records(count)."""
    pg = ctx.services.pg(args.get("server", "postgres1"))
    pg.execute(
        "SELECT insert_dummy_records(%s)",
        (int(args["count"]),),
        dbname=args.get("dbname", "postgres"),
    )


@step("sql", allowed="server dbname statements expect", required="statements")
def sql(ctx: Context, args: dict[str, Any]) -> None:
    """Run statements on a server (each in its own transaction); `expect` the last result."""
    pg = ctx.services.pg(args.get("server", "postgres1"))
    statements = args["statements"]
    if isinstance(statements, str):
        statements = [statements]
    dbname = args.get("dbname", "postgres")
    try:
        for statement in statements[:-1]:
            pg.execute(statement, dbname=dbname)
        rows = pg.query(statements[-1], dbname=dbname) if "expect" in args else None
        if rows is None:
            pg.execute(statements[-1], dbname=dbname)
            return
    except psycopg.Error as exc:
        raise StepFailed(f"SQL failed: {str(exc).splitlines()[0]}") from None
    got = [list(row) for row in rows]
    want = args["expect"]
    if not isinstance(want, list):
        got_value: Any = got[0][0] if got and got[0] else None
        if got_value != want:
            raise StepFailed(f"expected {want!r}, got {got_value!r}")
    elif got != want:
        raise StepFailed(f"expected rows {want!r}, got {got!r}")


@step("expect_rows", allowed="server table dbname count same_as")
def expect_rows(ctx: Context, args: dict[str, Any]) -> None:
    """Row count of a table on a server: a number, or the same as on another server."""
    table = args.get("table", "dummy")
    dbname = args.get("dbname", "postgres")
    server = args.get("server", "postgres2")
    got = _count(ctx, server, table, dbname)
    if "same_as" in args:
        want = _count(ctx, args["same_as"], table, dbname)
    elif "count" in args:
        want = int(args["count"])
    else:
        raise StepFailed("expect_rows needs `count` or `same_as`")
    ctx.note(f"{server} {dbname}.{table}: {got} rows")
    if got != want:
        raise StepFailed(f"{server}: {dbname}.{table} has {got} rows, expected {want}")


def _count(ctx: Context, server: str, table: str, dbname: str) -> int:
    from psycopg import sql as psql

    statement = psql.SQL("SELECT count(*) FROM {}").format(psql.Identifier(*table.split(".")))
    rows = ctx.services.pg(server).query(statement.as_string(), dbname=dbname)
    return int(rows[0][0])


@step("recreate_server", allowed="server", required="server", scalar="server")
def recreate_server(ctx: Context, args: dict[str, Any]) -> None:
    """Destroy a server's data and start it again empty (`compose down -v` + `up`)."""
    ctx.services.pg(args["server"]).recreate()


# --- storage --------------------------------------------------------------------------------


@step("create_bucket", allowed="name", scalar="name")
def create_bucket(ctx: Context, args: dict[str, Any]) -> None:
    """Create the bucket (defaults to the scenario's s3_bucket)."""
    name = args.get("name") or ctx.scenario.config.get("s3_bucket")
    if not name or ctx.services.s3 is None:
        raise StepFailed("create_bucket needs the s3 service and a bucket name")
    ctx.services.s3.create_bucket(str(name))


@step(
    "s3_fault",
    allowed="cut cut_after heal",
)
def s3_fault(ctx: Context, args: dict[str, Any]) -> None:
    """Make the S3 endpoint stop answering now, after N bytes, or answer again (`heal`)."""
    if ctx.services.s3 is None:
        raise StepFailed("s3_fault needs the s3 service")
    if args.get("heal"):
        ctx.services.s3.heal()
    elif "cut_after" in args:
        ctx.services.s3.cut_after(_size(args["cut_after"]))
    elif args.get("cut"):
        ctx.services.s3.cut()


@step("list", allowed="config")
def list_sets(ctx: Context, args: dict[str, Any]) -> None:
    """Print `pgback list` as the user would see it."""
    settings = ctx.settings(args.get("config"))
    sets = scan_sets(open_storage(settings), settings.upload_prefix)
    for line in render_set_list(sets, ctx.clock.now()).splitlines():
        ctx.note(line)


@step("expect_sets", allowed="config count complete incomplete files databases")
def expect_sets(ctx: Context, args: dict[str, Any]) -> None:
    """What `pgback list` finds: counts, and the files each complete set holds."""
    settings = ctx.settings(args.get("config"))
    sets = scan_sets(open_storage(settings), settings.upload_prefix)
    complete = [s for s in sets if s.complete]
    counts = {
        "count": len(sets),
        "complete": len(complete),
        "incomplete": len(sets) - len(complete),
    }
    for key, got in counts.items():
        if key in args and int(args[key]) != got:
            raise StepFailed(
                f"expected {key}={args[key]} sets, found {got}: "
                + ", ".join(
                    f"{s.set_id}({'complete' if s.complete else 'incomplete'})" for s in sets
                )
            )
    for summary in complete:
        assert summary.manifest is not None
        kinds = sorted({f.kind for f in summary.manifest.files} | {"manifest"})
        if "files" in args and not set(args["files"]) <= set(kinds):
            raise StepFailed(
                f"set {summary.set_id} holds {kinds}, expected at least {args['files']}"
            )
        if "databases" in args and sorted(summary.databases) != sorted(args["databases"]):
            raise StepFailed(
                f"set {summary.set_id} has databases {summary.databases}, "
                f"expected {args['databases']}"
            )
    ctx.values["sets"] = [s.set_id for s in sets]
    ctx.note(f"{len(sets)} set(s): " + ", ".join(s.set_id for s in sets))


@step("expect_objects", allowed="config count one_folder_per_set")
def expect_objects(ctx: Context, args: dict[str, Any]) -> None:
    """The raw bucket listing: object count; every object inside one set folder."""
    settings = ctx.settings(args.get("config"))
    assert ctx.services.s3 is not None and settings.s3_bucket
    keys = ctx.services.s3.list_keys(settings.s3_bucket)
    for key in keys:
        ctx.note(key)
    if "count" in args and len(keys) != int(args["count"]):
        raise StepFailed(f"expected {args['count']} objects, found {len(keys)}")
    if args.get("one_folder_per_set"):
        loose = [k for k in keys if naming.split_key(settings.upload_prefix, k) is None]
        if loose:
            raise StepFailed(f"objects outside a set folder: {loose}")
        folders = {naming.split_key(settings.upload_prefix, k)[0] for k in keys}  # type: ignore[index]
        ctx.note(f"{len(folders)} folder(s), one per run")


@step("expect_uploads", allowed="config count", required="count")
def expect_uploads(ctx: Context, args: dict[str, Any]) -> None:
    """Unfinished multipart uploads in the bucket (0: nothing half-uploaded lingers)."""
    settings = ctx.settings(args.get("config"))
    storage = open_storage(settings)
    uploads = storage.list_uploads("") if isinstance(storage, UploadJanitor) else []
    for key, _ in uploads:
        ctx.note(f"unfinished upload: {key}")
    if len(uploads) != int(args["count"]):
        raise StepFailed(
            f"expected {args['count']} unfinished multipart upload(s), found "
            f"{len(uploads)}: {[k for k, _ in uploads]}"
        )


@step("expect_no_local_files", allowed="")
def expect_no_local_files(ctx: Context, args: dict[str, Any]) -> None:
    """Nothing left on the backup side's disk but its lock and status file."""
    allowed = {"backup.lock", "status.json"}
    # engine steps run in this process: their side is `backup_side`
    leftovers = [
        str(p.relative_to(ctx.backup_side))
        for p in ctx.backup_side.rglob("*")
        if p.is_file() and p.name not in allowed
    ]
    if ctx.services.sidecar is not None:
        # `pgback` steps ran in the sidecar: its home holds only the user's skeleton files
        skeleton = {".bashrc", ".bash_logout", ".profile"}
        inside = ctx.services.sidecar.list_files(["/tmp", "/var/backups", "/var/lib/pgback"])
        leftovers += [f"sidecar:{f}" for f in inside if Path(f).name not in allowed | skeleton]
    if leftovers:
        raise StepFailed(f"files left on the backup side: {leftovers}")
    ctx.note("no archive left on the backup side")


# --- the engine -----------------------------------------------------------------------------


@step("backup", allowed="config")
def backup(ctx: Context, args: dict[str, Any]) -> None:
    """`pgback backup`, in this process, under the virtual clock."""
    settings = ctx.settings(args.get("config"))
    with ctx.backup_process():
        result = run_backup(settings, clock=ctx.clock.now)
    ctx.values["last_set"] = result.set_id
    ctx.note(
        f"set {result.set_id}: {len(result.manifest.files)} files, {result.manifest.size} bytes"
    )
    for outcome in result.purge:
        if not outcome.decision.keep:
            ctx.note(f"purged {outcome.decision.set_id}: {outcome.decision.reason}")


@step("purge", allowed="config dry_run expect_removed")
def purge(ctx: Context, args: dict[str, Any]) -> None:
    """`pgback purge` under the virtual clock."""
    settings = ctx.settings(args.get("config"))
    outcomes = run_purge(settings, now=ctx.clock.now(), dry_run=bool(args.get("dry_run")))
    removed = [o.decision.set_id for o in outcomes if not o.decision.keep]
    for outcome in outcomes:
        ctx.note(
            f"{outcome.decision.set_id}: {'keep' if outcome.decision.keep else 'remove'} "
            f"({outcome.decision.reason})"
        )
    if "expect_removed" in args and len(removed) != int(args["expect_removed"]):
        raise StepFailed(f"expected {args['expect_removed']} set(s) removed, got {removed}")


@step("download", allowed="config set dest decrypt")
def download(ctx: Context, args: dict[str, Any]) -> None:
    """`pgback download SET --dest DIR [--decrypt]` (DIR under the scenario's downloads)."""
    settings = ctx.settings(args.get("config"))
    dest = ctx.downloads / str(args.get("dest", "latest"))
    files = run_download(
        settings, str(args.get("set", "latest")), dest, decrypt=bool(args.get("decrypt"))
    )
    for item in files:
        ctx.note(f"{item.path.name} ({item.path.stat().st_size} bytes)")


@step("decrypt", allowed="dir", scalar="dir")
def decrypt(ctx: Context, args: dict[str, Any]) -> None:
    """Decrypt downloaded `.age` files with the scenario's identity, then un-zstd them (what
    a user does by hand with `age -d` and `zstd -d`)."""
    if ctx.identity is None:
        raise StepFailed("decrypt needs `age_identity: generate` in the scenario")
    identity = x25519.Identity.from_str(ctx.identity[0])
    folder = ctx.downloads / str(args.get("dir", "latest"))
    for path in sorted(folder.glob("*.age")):
        plain = pyrage.decrypt(path.read_bytes(), [identity])
        name = path.name.removesuffix(".age")
        if name.endswith(".zst"):
            plain = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(plain)).read()
            name = name.removesuffix(".zst")
        (folder / name).write_bytes(plain)
        ctx.note(f"{path.name} -> {name}")


@step("psql_file", allowed="server file dbname", required="server file")
def psql_file(ctx: Context, args: dict[str, Any]) -> None:
    """Feed a downloaded SQL file to psql on a server (the seed's manual import)."""
    _client(ctx, "psql", args, ["-X", "-q", "-f"])


@step("pg_restore_file", allowed="server file dbname", required="server file")
def pg_restore_file(ctx: Context, args: dict[str, Any]) -> None:
    """pg_restore a downloaded dump into a server (the seed's manual import)."""
    _client(ctx, "pg_restore", args, ["--no-owner", "--exit-on-error"])


def _client(ctx: Context, program: str, args: dict[str, Any], flags: list[str]) -> None:
    pg = ctx.services.pg(args["server"])
    path = ctx.downloads / str(args["file"])
    conn = ConnParams(host=pg.host, port=pg.port, user=pg.user, password=Secret(pg.password))
    argv = [
        str(ctx.services.client_bindir / program),
        "-d",
        args.get("dbname", "postgres"),
        *flags,
        str(path),
    ]
    done = subprocess.run(argv, env=conn.env(), capture_output=True, text=True, timeout=600)
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line or "error:" in line]
    # the dump's roles already exist on a server started with the same superuser
    errors = [e for e in errors if "already exists" not in e]
    if done.returncode != 0 or errors:
        raise StepFailed(f"{program} {path.name} failed: {(errors or [done.stderr.strip()])[-1]}")


@step("restore", allowed="config set target databases clean jobs globals")
def restore(ctx: Context, args: dict[str, Any]) -> None:
    """`pgback restore SET --target SERVER`."""
    settings = ctx.settings(args.get("config"))
    pg = ctx.services.pg(args.get("target", "postgres2"))
    options = RestoreOptions(
        target=ConnParams(host=pg.host, port=pg.port, user=pg.user, password=Secret(pg.password)),
        databases=tuple(args.get("databases", ())),
        clean=bool(args.get("clean")),
        jobs=int(args.get("jobs", 1)),
        globals=bool(args.get("globals", True)),
    )
    result = run_restore(settings, str(args.get("set", "latest")), options)
    ctx.note(f"restored set {result.set_id}: {', '.join(result.databases)}")


@step("verify", allowed="config set")
def verify(ctx: Context, args: dict[str, Any]) -> None:
    """`pgback verify SET`: every file must check out."""
    settings = ctx.settings(args.get("config"))
    set_id, checks = run_verify(settings, str(args.get("set", "latest")))
    for check in checks:
        ctx.note(f"{'OK' if check.ok else 'FAILED'} {check.entry.name}: {check.detail}")
    failed = [c for c in checks if not c.ok]
    if failed:
        raise PgbackError(f"verify {set_id}: {failed[0].entry.key}: {failed[0].detail}")


@step("advance_clock", allowed="by", required="by", scalar="by")
def advance_clock(ctx: Context, args: dict[str, Any]) -> None:
    """Let time pass without sleeping (the engine sees it: set ids, ages, purge)."""
    ctx.clock.advance(parse_duration(str(args["by"])))
    ctx.note(f"virtual time is now {ctx.clock.now().strftime('%Y-%m-%dT%H:%M:%SZ')}")


@step("cron", allowed="config schedule_in run_for expect_new_sets")
def cron(ctx: Context, args: dict[str, Any]) -> None:
    """The seed's cron check: schedule a backup N minutes from now (`M H * * *`), run the real
    `serve` loop in virtual time for a while, and count the new sets."""
    from datetime import timedelta

    from pgback.actions.serve import serve_loop

    now = ctx.clock.now()
    fire = (now + parse_duration(str(args.get("schedule_in", "2m")))).replace(
        second=0, microsecond=0
    )
    expr = f"{fire.minute} {fire.hour} * * *"
    deadline = now + parse_duration(str(args.get("run_for", "3m")))
    settings = ctx.settings({**(args.get("config") or {}), "backup_cron": expr})
    storage = open_storage(settings)
    before = {s.set_id for s in scan_sets(storage, settings.upload_prefix)}

    def wait(seconds: float) -> bool:
        # virtual sleep: jump the clock instead, and stop the loop at the deadline
        left = (deadline - ctx.clock.now()).total_seconds()
        if left <= 0:
            return True
        ctx.clock.advance(timedelta(seconds=min(seconds, left)))
        return False

    with ctx.backup_process():
        code = serve_loop(settings, clock=ctx.clock.now, wait=wait)
    after = [s for s in scan_sets(storage, settings.upload_prefix) if s.set_id not in before]
    ctx.note(f"cron {expr!r} (UTC); serve ran until {deadline:%H:%M:%S}, exit {code}")
    for summary in after:
        ctx.note(f"new set {summary.set_id} ({'complete' if summary.complete else 'incomplete'})")
    want = int(args.get("expect_new_sets", 1))
    if len(after) != want:
        raise StepFailed(f"expected {want} new set(s) from cron {expr!r}, found {len(after)}")
    late = [s.set_id for s in after if s.started.replace(second=0) != fire]
    if late:
        raise StepFailed(f"sets {late} did not start at the scheduled minute {fire:%H:%M}")


@step("pgback", allowed="args config expect_exit expect_output")
def pgback_cli(ctx: Context, args: dict[str, Any]) -> None:
    """Run the pgback command line (inside the sidecar container on the docker backend)."""
    argv = [str(a) for a in (args.get("args") or [])]
    env = ctx.engine_env(args.get("config"))
    if ctx.services.sidecar is not None:
        code, output = ctx.services.sidecar.exec(["pgback", *argv], ctx.sidecar_env(env))
    else:
        done = subprocess.run(
            [sys.executable, "-m", "pgback", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ctx.workdir,
        )
        code, output = done.returncode, done.stdout + done.stderr
    for line in output.splitlines():
        ctx.note(line)
    lead = ctx.clock.lead()
    if lead >= timedelta(seconds=1):  # e.g. `list` shows the sets' ages "in future"
        ctx.note(
            f"(this process ran on the real clock, {format_duration(lead)} behind the "
            "scenario's virtual time)"
        )
    want = int(args.get("expect_exit", 0))
    if code != want:
        raise StepFailed(f"pgback {' '.join(argv)} exited {code}, expected {want}")
    expected = args.get("expect_output") or []
    for text in [expected] if isinstance(expected, str) else expected:
        if str(text) not in output:
            raise StepFailed(f"pgback {' '.join(argv)}: output lacks {text!r}")


@step("expect_error", allowed="message exit_code")
def expect_error(ctx: Context, args: dict[str, Any]) -> None:
    """A step that must fail with a message containing `message`."""
    inner = STEPS[args["step"]]
    try:
        inner.run(ctx, args["args"])
    except (PgbackError, StepFailed) as exc:
        if args["message"].lower() not in str(exc).lower():
            raise StepFailed(
                f"failed as expected, but with {str(exc)!r}, which lacks {args['message']!r}"
            ) from None
        if (
            args.get("exit_code") is not None
            and getattr(exc, "exit_code", None) != args["exit_code"]
        ):
            raise StepFailed(
                f"exit code {getattr(exc, 'exit_code', None)}, expected {args['exit_code']}"
            ) from None
        ctx.note(f"failed as expected: {exc}")
        return
    raise StepFailed(
        f"{args['step']} succeeded, but it was expected to fail with {args['message']!r}"
    )


# the way in from pg_back: its steps register themselves with @step
from pgback.scenario import steps_pg_back  # noqa: E402, F401
