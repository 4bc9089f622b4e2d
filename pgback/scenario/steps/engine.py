"""Steps that drive the engine in this process, under the virtual clock: backup, purge,
download, restore, verify; and the manual import a user does with standard tools."""

from __future__ import annotations

import io
from typing import Any

import pyrage
import zstandard
from pyrage import x25519

from pgback import naming
from pgback.actions.backup import run_backup
from pgback.actions.catalog import resolve_manifest
from pgback.actions.download import run_download
from pgback.actions.purge import run_purge
from pgback.actions.restore import RestoreOptions, run_restore
from pgback.actions.verify import run_verify
from pgback.adapters.pgclients import major_of
from pgback.adapters.postgres import ConnParams
from pgback.durations import format_duration, parse_duration
from pgback.errors import PgbackError
from pgback.scenario.context import Context
from pgback.scenario.registry import StepFailed, step
from pgback.secret import Secret
from pgback.storage import open_storage


@step("backup", allowed="config", writes_storage=True)
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


@step("purge", allowed="config dry_run expect_removed", writes_storage=True)
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


@step("restore", allowed="config set target databases clean jobs globals newest_within")
def restore(ctx: Context, args: dict[str, Any]) -> None:
    """`pgback restore SET --target SERVER`. Into `scratch` (a restore drill), the server is
    started first, of the major the set was dumped on; `newest_within: 26h` fails when the
    newest complete set is older than that."""
    settings = ctx.settings(args.get("config"))
    ref = str(args.get("set", "latest"))
    manifest = resolve_manifest(open_storage(settings), settings.upload_prefix, ref)
    if "newest_within" in args:
        _check_fresh(ctx, manifest.set_id, args["newest_within"])
    target = str(args.get("target", "postgres2"))
    if target == "scratch":
        pg = ctx.scratch(_scratch_major(ctx, manifest.server_version))
        ctx.note(
            f"scratch server: PostgreSQL {pg.version} for a set dumped on {manifest.server_version}"
        )
    else:
        pg = ctx.services.pg(target)
    options = RestoreOptions(
        target=ConnParams(host=pg.host, port=pg.port, user=pg.user, password=Secret(pg.password)),
        databases=tuple(args.get("databases", ())),
        clean=bool(args.get("clean")),
        jobs=int(args.get("jobs", 1)),
        globals=bool(args.get("globals", True)),
    )
    result = run_restore(settings, manifest.set_id, options)
    ctx.values["restored_set"] = result.set_id
    ctx.note(f"restored set {result.set_id}: {', '.join(result.databases)}")


def _check_fresh(ctx: Context, set_id: str, within: Any) -> None:
    started = naming.parse_set_id(set_id)
    limit = parse_duration(str(within))
    assert started is not None  # resolve_manifest returns our sets only
    age = ctx.clock.now() - started
    ctx.note(f"newest complete set {set_id}: {format_duration(age)} old")
    if age > limit:
        raise StepFailed(
            f"the newest complete set {set_id} is {format_duration(age)} old, older than "
            f"newest_within {format_duration(limit)}: have the last backups failed or stopped?"
        )


def _scratch_major(ctx: Context, server_version: str) -> int:
    """The scratch server's major: the scenario's pin, else the set's server major, else the
    oldest newer one installed (never older: it could not restore the dump)."""
    from pgback.testbed.majors import how_to_get, server_installs

    pin = ctx.scenario.versions.get("scratch")
    installs = sorted(server_installs())
    if isinstance(pin, int):
        return pin
    if pin in ("oldest", "newest") and installs:
        return installs[0] if pin == "oldest" else installs[-1]
    wanted = major_of(server_version)
    newer = [m for m in installs if m >= wanted]
    if not newer:
        have = ", ".join(map(str, installs)) or "none"
        raise StepFailed(
            f"the set was dumped on PostgreSQL {server_version}: no server of {wanted} or newer "
            f"to restore it into (installed: {have}): {how_to_get(wanted)}"
        )
    return newer[0]


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
