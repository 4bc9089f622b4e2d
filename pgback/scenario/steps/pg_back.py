"""Scenario steps for the way in from pg_back: a bucket filled the way pg_back fills it, and
what pgback lists there."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from pgback.actions.catalog import describe_pg_back_runs, scan_sets
from pgback.adapters import pgclients
from pgback.legacy.naming import parse_timestamp
from pgback.scenario.context import Context
from pgback.scenario.registry import StepFailed, step
from pgback.storage import open_storage
from pgback.testbed.pg_back_files import LEGACY, RFC3339, make_pg_back_run


def _no_literal_passphrase(args: dict[str, Any], base: Path | None) -> dict[str, Any]:
    value = args.get("passphrase")
    if value is not None and not (isinstance(value, str) and value.startswith("generate")):
        raise ValueError(
            "passphrase: a scenario file holds no secret; use `generate:NAME` and the same "
            "stand-in as cipher_pass where the files are read back"
        )
    return args


@step(
    "pg_back_run",
    allowed="server at timestamp_format databases dump_format encrypt passphrase checksum "
    "database_delay config",
    required="at",
    check=_no_literal_passphrase,
)
def pg_back_run(ctx: Context, args: dict[str, Any]) -> None:
    """Files made as one pg_back run makes them (pg_dumpall, pg_dump, the age CLI), uploaded
    under the prefix with pg_back's names. `encrypt`: key (the scenario's age identity),
    passphrase, or none."""
    when = parse_timestamp(str(args["at"]))
    if when is None:
        raise StepFailed(f"at: {args['at']!r} is not a timestamp like 2025-04-13T21:34:08Z")
    encrypt = str(args.get("encrypt", "none"))
    if encrypt == "key" and ctx.identity is None:
        raise StepFailed("encrypt: key needs `age_identity: generate` in the scenario")
    if encrypt == "passphrase" and not args.get("passphrase"):
        raise StepFailed("encrypt: passphrase needs `passphrase:`")
    settings = ctx.settings(args.get("config"))
    storage = open_storage(settings)
    server = ctx.services.pg(str(args.get("server", "postgres1")))
    keys = make_pg_back_run(
        server,
        # pg_back's own way: the pg_dump of the server's major, as pgback would pick it
        pgclients.for_server(None, f"{server.version}").install.bindir,
        lambda key, path: storage.put_bytes(key, Path(path).read_bytes()),
        settings.upload_prefix,
        [str(db) for db in args.get("databases", ["postgres"])],
        when=when,
        timestamp_format=LEGACY if args.get("timestamp_format") == "legacy" else RFC3339,
        dump_format=str(args.get("dump_format", "custom")),
        recipient=ctx.identity[1] if encrypt == "key" and ctx.identity else None,
        passphrase=ctx.secret("cipher_pass", args["passphrase"])
        if encrypt == "passphrase"
        else None,
        checksum=str(args["checksum"]) if args.get("checksum") else None,
        database_delay=timedelta(seconds=int(args.get("database_delay", 0))),
    )
    for key in keys:
        ctx.note(key)


@step("expect_layouts", allowed="config pgback pg_back")
def expect_layouts(ctx: Context, args: dict[str, Any]) -> None:
    """How many of pgback's sets and of pg_back's runs `pgback list` shows."""
    settings = ctx.settings(args.get("config"))
    storage = open_storage(settings)
    sets = scan_sets(storage, settings.upload_prefix)
    describe_pg_back_runs(storage, sets)
    for summary in sets:
        mode = summary.manifest.encryption.mode if summary.manifest else "?"
        ctx.note(f"{summary.layout:8} {summary.set_id}  {', '.join(summary.databases)}  {mode}")
    for layout in ("pgback", "pg_back"):
        if layout in args:
            got = sum(1 for s in sets if s.layout == layout)
            if got != int(args[layout]):
                raise StepFailed(f"{got} {layout} set(s), expected {args[layout]}")
