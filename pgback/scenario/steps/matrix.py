"""Steps for scenarios that span PostgreSQL majors: an extension both servers ship, and the
schema comparison of two servers (`pg_dump --schema-only`).

Registered with `@step` (pgback/scenario/registry.py) like every step kind.
"""

from __future__ import annotations

import difflib
import re
import subprocess
from collections.abc import Callable
from typing import Any

from psycopg import sql as psql

from pgback.adapters import pgclients
from pgback.adapters.conninfo import dbname_arg
from pgback.adapters.postgres import ConnParams
from pgback.scenario.context import Context
from pgback.scenario.registry import StepFailed, step
from pgback.secret import Secret

# pg_dump 15.14, 16.10, 17.6, 18.0 and later wrap plain dumps in \restrict KEY / \unrestrict KEY
# with a random key per run
_RESTRICT = re.compile(r"^\\(un)?restrict \S+$")
# the header names the server's version, which differs between any two servers
_DUMPED_FROM = re.compile(r"^-- Dumped from database version .*$")


def _strip_volatile(line: str) -> str | None:
    return None if _RESTRICT.match(line) or _DUMPED_FROM.match(line) else line


_VIEW = re.compile(r"^CREATE (?:MATERIALIZED )?VIEW .*? AS\n.*?;$", re.M | re.S)
_FROM = re.compile(r"\bFROM (?:\w+\.)?(\w+)")


def _unqualify_single_table_views(text: str) -> str:
    """PostgreSQL 16 and later deparse a view that reads one table without qualifying its
    columns (`SELECT dummy_id`), 15 and earlier with it (`SELECT orders.dummy_id`)."""

    def strip(match: re.Match[str]) -> str:
        body = match.group(0)
        tables = _FROM.findall(body)
        if len(tables) != 1 or " JOIN " in body:
            return body
        return re.sub(rf"\b{re.escape(tables[0])}\.(?=\w)", "", body)

    return _VIEW.sub(strip, text)


_ATTVER = re.compile(r"^ALTER TABLE ONLY .+ ALTER COLUMN .+ SET \(pg_attver=\d+\);(?:\n|\Z)", re.M)


def _drop_debian_attver(text: str) -> str:
    """Debian's 15.20 stores an internal option `pg_attver=N` on every column. Its own pg_dump
    leaves it out (so a backup of it restores into 18), but a newer pg_dump reading that
    server, as this comparison does, prints it: not part of the schema that was backed up."""
    return _ATTVER.sub("", text)


# What legitimately differs between the schema dumps of two majors when one pg_dump reads both
# (the servers' own deparsers write view bodies): (what, normaliser applied to both dumps).
# Listed in docs/compatibility.md.
_MAJOR_NORMALISERS: list[tuple[str, Callable[[str], str]]] = [
    (
        "column references in single-table view definitions without the table name "
        "(PostgreSQL 16+ deparses them so)",
        _unqualify_single_table_views,
    ),
    (
        "Debian 15.20's internal column option pg_attver, which its own pg_dump leaves out",
        _drop_debian_attver,
    ),
]


@step("create_extension", allowed="server dbname candidates available_on", required="candidates")
def create_extension(ctx: Context, args: dict[str, Any]) -> None:
    """CREATE EXTENSION: the first of `candidates` that every server of `available_on` ships
    too (the wheels ship different contrib sets); remembered as `extension`."""
    server = args.get("server", "postgres1")
    others = args.get("available_on") or []
    dbname = args.get("dbname", "postgres")
    query = "SELECT name FROM pg_available_extensions"
    shipped = [{r[0] for r in ctx.services.pg(s).query(query)} for s in [server, *others]]
    candidates = [str(c) for c in args["candidates"]]
    common = [c for c in candidates if all(c in names for names in shipped)]
    if not common:
        raise StepFailed(
            f"none of {candidates} is shipped by every one of {[server, *others]}: "
            f"add a candidate they share"
        )
    name = common[0]
    statement = psql.SQL("CREATE EXTENSION {}").format(psql.Identifier(name))
    ctx.services.pg(server).execute(statement.as_string(), dbname=dbname)
    ctx.values["extension"] = name
    ctx.note(f"{server} {dbname}: CREATE EXTENSION {name} (shipped by {[server, *others]})")


@step("expect_extension", allowed="server dbname", required="server")
def expect_extension(ctx: Context, args: dict[str, Any]) -> None:
    """The extension `create_extension` made exists on a server."""
    name = ctx.values.get("extension")
    if name is None:
        raise StepFailed("expect_extension needs a create_extension step before it")
    rows = ctx.services.pg(args["server"]).query(
        "SELECT extversion FROM pg_extension WHERE extname = %s",
        (name,),
        dbname=args.get("dbname", "postgres"),
    )
    if not rows:
        raise StepFailed(f"{args['server']}: extension {name} is missing")
    ctx.note(f"{args['server']}: extension {name} {rows[0][0]}")


@step("expect_schema_equal", allowed="servers dbname", required="servers")
def expect_schema_equal(ctx: Context, args: dict[str, Any]) -> None:
    """`pg_dump --schema-only` of a database on two servers is the same, apart from what
    legitimately differs (the header's server version; between majors, the normalisations
    listed in docs/compatibility.md). One pg_dump, of the newer server's major, reads both."""
    servers = [str(s) for s in args["servers"]]
    if len(servers) != 2:
        raise StepFailed("expect_schema_equal compares two servers: servers: [a, b]")
    dbname = str(args.get("dbname", "postgres"))
    pgs = [ctx.services.pg(s) for s in servers]
    majors = [pg.version for pg in pgs]
    tools = pgclients.for_server(None, str(max(majors)), ("pg_dump",))
    ctx.note(f"pg_dump {tools.install.describe()} reads PostgreSQL {majors[0]} and {majors[1]}")
    dumps = []
    for name, pg in zip(servers, pgs, strict=True):
        conn = ConnParams(host=pg.host, port=pg.port, user=pg.user, password=Secret(pg.password))
        done = subprocess.run(
            [tools.program("pg_dump"), "--schema-only", "-d", dbname_arg(dbname)],
            env=conn.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise StepFailed(f"pg_dump --schema-only of {name} failed: {done.stderr.strip()}")
        lines = [_strip_volatile(line) for line in done.stdout.splitlines()]
        dumps.append("\n".join(line for line in lines if line is not None))
    if majors[0] != majors[1]:
        for what, normalise in _MAJOR_NORMALISERS:
            before = list(dumps)
            dumps = [normalise(text) for text in dumps]
            if dumps != before:
                ctx.note(f"normalised between majors: {what}")
    if dumps[0] != dumps[1]:
        diff = difflib.unified_diff(
            dumps[0].splitlines(), dumps[1].splitlines(), servers[0], servers[1], lineterm=""
        )
        shown = list(diff)[:60]
        for line in shown:
            ctx.note(line)
        raise StepFailed(
            f"the schemas of {dbname} differ between {servers[0]} (PostgreSQL {majors[0]}) and "
            f"{servers[1]} (PostgreSQL {majors[1]}): see the diff above"
        )
    statements = sum(1 for line in dumps[0].splitlines() if line.rstrip().endswith(";"))
    ctx.note(f"schemas equal: {statements} statements")
