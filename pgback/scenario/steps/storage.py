"""Steps on the bucket and the backup side's disk: what `pgback list` and the raw listing show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgback import naming
from pgback.actions.catalog import scan_sets
from pgback.render import render_set_list
from pgback.scenario.context import Context
from pgback.scenario.registry import StepFailed, size_arg, step
from pgback.storage import UploadJanitor, open_storage


@step("create_bucket", allowed="name", scalar="name", writes_storage=True)
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
        ctx.services.s3.cut_after(size_arg(args["cut_after"]))
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
