"""Files given to standard tools: the downloads of a scenario (the seed's manual import), and
a team's own SQL and dumps, named relative to the scenario file."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from pgback.adapters.postgres import ConnParams
from pgback.scenario.context import Context
from pgback.scenario.registry import StepFailed, step
from pgback.secret import Secret


@step("psql_file", allowed="server file dbname", required="server file")
def psql_file(ctx: Context, args: dict[str, Any]) -> None:
    """Feed a downloaded SQL file to psql on a server (the seed's manual import)."""
    _client(ctx, "psql", args, ctx.downloads / str(args["file"]), ["-X", "-q", "-f"])


@step("sql_file", allowed="server file dbname", required="file", scalar="file", paths="file")
def sql_file(ctx: Context, args: dict[str, Any]) -> None:
    """Run a .sql file (your schema and fixtures) with psql, stopping at its first error."""
    flags = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"]
    _client(ctx, "psql", {"server": "postgres1", **args}, args["file"], flags, strict=True)


@step("pg_restore_file", allowed="server file path dbname", required="server", paths="path")
def pg_restore_file(ctx: Context, args: dict[str, Any]) -> None:
    """pg_restore a dump into a server: `file` from the downloads (the seed's manual import),
    or `path`, a dump of yours relative to the scenario file."""
    if ("file" in args) == ("path" in args):
        raise StepFailed("pg_restore_file takes `file` (a download) or `path` (your dump)")
    dump = args["path"] if "path" in args else ctx.downloads / str(args["file"])
    _client(ctx, "pg_restore", args, dump, ["--no-owner", "--exit-on-error"])


def _client(
    ctx: Context,
    program: str,
    args: dict[str, Any],
    path: Path,
    flags: list[str],
    *,
    strict: bool = False,
) -> None:
    pg = ctx.services.pg(args["server"])
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
    if not strict:
        # the dump's roles already exist on a server started with the same superuser
        errors = [e for e in errors if "already exists" not in e]
    if done.returncode != 0 or errors:
        raise StepFailed(f"{program} {path.name} failed: {(errors or [done.stderr.strip()])[-1]}")
