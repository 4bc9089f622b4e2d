"""Steps that drive the engine in this process, under the virtual clock: backup, purge,
download, restore, verify; and the manual import a user does with standard tools."""

from __future__ import annotations

import io
from typing import Any

import pyrage
import zstandard
from pyrage import x25519

from pgback.actions.backup import run_backup
from pgback.actions.download import run_download
from pgback.actions.purge import run_purge
from pgback.actions.restore import RestoreOptions, run_restore
from pgback.actions.verify import run_verify
from pgback.adapters.postgres import ConnParams
from pgback.errors import PgbackError
from pgback.scenario.context import Context
from pgback.scenario.registry import StepFailed, step
from pgback.secret import Secret


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
