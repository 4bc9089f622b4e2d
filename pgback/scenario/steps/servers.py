"""Steps on the PostgreSQL servers: seed data, run SQL, count rows, recreate a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from pgback.scenario.context import Context
from pgback.scenario.registry import StepFailed, step

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


def _one_count_rule(args: dict[str, Any], base: Path | None) -> dict[str, Any]:
    given = [k for k in ("count", "same_as", "at_least") if k in args]
    if len(given) != 1:
        raise ValueError("needs exactly one of `count`, `at_least` or `same_as`")
    return args


@step(
    "expect_rows",
    allowed="server table dbname count same_as at_least",
    check=_one_count_rule,
)
def expect_rows(ctx: Context, args: dict[str, Any]) -> None:
    """Row count of a table on a server: a number, at least a number, or the same as on another
    server."""
    table = args.get("table", "dummy")
    dbname = args.get("dbname", "postgres")
    server = args.get("server", "postgres2")
    got = _count(ctx, server, table, dbname)
    ctx.note(f"{server} {dbname}.{table}: {got} rows")
    if "at_least" in args:
        if got < int(args["at_least"]):
            raise StepFailed(
                f"{server}: {dbname}.{table} has {got} rows, expected at least {args['at_least']}"
            )
        return
    want = _count(ctx, args["same_as"], table, dbname) if "same_as" in args else int(args["count"])
    if got != want:
        raise StepFailed(f"{server}: {dbname}.{table} has {got} rows, expected {want}")


def _query_and_answer(args: dict[str, Any], base: Path | None) -> dict[str, Any]:
    if ("rows" in args) == ("value" in args):
        raise ValueError("needs `rows` (a list of rows, each a list) or `value` (one value)")
    if "rows" in args and not (
        isinstance(args["rows"], list) and all(isinstance(r, list) for r in args["rows"])
    ):
        raise ValueError("`rows` is a list of rows, each a list of values: [[1, 'a'], [2, 'b']]")
    return args


@step(
    "expect_query",
    allowed="server dbname query rows value",
    required="query",
    check=_query_and_answer,
)
def expect_query(ctx: Context, args: dict[str, Any]) -> None:
    """A query and the answer it must give: `rows` (every row, in order) or one `value`."""
    server = args.get("server", "postgres2")
    try:
        rows = ctx.services.pg(server).query(
            str(args["query"]), dbname=args.get("dbname", "postgres")
        )
    except psycopg.Error as exc:
        raise StepFailed(f"{server}: query failed: {str(exc).splitlines()[0]}") from None
    got = [[_plain(v) for v in row] for row in rows]
    ctx.note(f"{server}: {got[:5]}{' ...' if len(got) > 5 else ''}")
    if "value" in args:
        value = got[0][0] if got and got[0] else None
        if value != args["value"]:
            raise StepFailed(
                f"{server}: {args['query']!r} gave {value!r}, expected {args['value']!r}"
            )
    elif got != args["rows"]:
        raise StepFailed(f"{server}: {args['query']!r} gave {got!r}, expected {args['rows']!r}")


def _plain(value: Any) -> Any:
    """A value as YAML writes it: numbers stay numbers, the rest (dates, decimals) as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _count(ctx: Context, server: str, table: str, dbname: str) -> int:
    from psycopg import sql as psql

    statement = psql.SQL("SELECT count(*) FROM {}").format(psql.Identifier(*table.split(".")))
    rows = ctx.services.pg(server).query(statement.as_string(), dbname=dbname)
    return int(rows[0][0])


@step("recreate_server", allowed="server", required="server", scalar="server")
def recreate_server(ctx: Context, args: dict[str, Any]) -> None:
    """Destroy a server's data and start it again empty (`compose down -v` + `up`)."""
    ctx.services.pg(args["server"]).recreate()
