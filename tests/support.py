"""Helpers for the integration tests: running the CLI, comparing two servers' contents.

Importable from any test module (`from support import ...`): tests/ is on sys.path because
tests/conftest.py lives there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgback.actions.restore import RestoreOptions, target_from
from pgback.testbed import PostgresServer, S3Server
from pgback.testbed.env import pgback_env

# A 63-byte name (PostgreSQL's maximum): 31 two-byte characters and one ASCII letter.
LONG_NAME = "é" * 31 + "x"
assert len(LONG_NAME.encode()) == 63

# database name -> rows in its table `items` (the `postgres` database gets a bigger table)
SOURCE_DATABASES: dict[str, int] = {
    "app": 1500,
    "my db": 10,
    'it\'s "quoted"': 7,
    "slash/and\\back": 3,
    "ünïcødé ✓ データ": 5,
    "per%cent.dots..": 2,
    LONG_NAME: 1,
}
POSTGRES_ROWS = 20000

# role name -> password (None: NOLOGIN)
SOURCE_ROLES: dict[str, str | None] = {
    "alice": "alice-pw",
    "bob": None,
    'carol "the" admin': "carol pw with spaces",
}

_DB_SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SCHEMA extra AUTHORIZATION alice;
CREATE TABLE items (
    id bigserial PRIMARY KEY,
    label text NOT NULL,
    feeling mood NOT NULL DEFAULT 'ok',
    created timestamptz NOT NULL DEFAULT '2025-01-01T00:00:00Z'
);
CREATE INDEX items_label ON items (label);
CREATE TABLE extra.notes (id int PRIMARY KEY, item bigint REFERENCES public.items (id), body text);
ALTER TABLE extra.notes OWNER TO alice;
CREATE VIEW happy_items AS SELECT id, label FROM items WHERE feeling = 'happy';
CREATE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM items';
GRANT SELECT ON items TO bob;
"""


def populate_source(server: PostgresServer) -> None:
    for role, password in SOURCE_ROLES.items():
        ident = sql.Identifier(role)
        if password is None:
            server.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident))
        else:
            server.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    ident, sql.Literal(password)
                )
            )
    server.execute("GRANT alice TO bob")
    # alice can dump every table but not read the server's files: an unprivileged backup role
    server.execute("GRANT pg_read_all_data TO alice")
    for dbname, rows in {"postgres": POSTGRES_ROWS, **SOURCE_DATABASES}.items():
        if dbname != "postgres":
            server.execute(sql.SQL("CREATE DATABASE {} OWNER alice").format(sql.Identifier(dbname)))
        server.execute(_DB_SCHEMA, dbname=dbname)
        server.execute(
            "INSERT INTO items (label, feeling) SELECT 'item ' || g || ' ' || md5(g::text),"
            " (ARRAY['sad','ok','happy']::mood[])[1 + g %% 3] FROM generate_series(1, %s) g",
            (rows,),
            dbname=dbname,
        )
        server.execute(
            "INSERT INTO extra.notes SELECT g, g, repeat('note ', g %% 7) "
            "FROM generate_series(1, least(%s, 50)) g",
            (rows,),
            dbname=dbname,
        )


def make_pgback_env(
    pg: PostgresServer,
    s3: S3Server,
    default_state_dir: Path,
    bucket: str,
    *,
    server: PostgresServer | None = None,
    prefix: str = "backups",
    **keys: Any,
) -> dict[str, str]:
    """PGBACK_* variables pointing at the test bed (the source server `pg` unless `server`);
    keyword arguments are setting names (`jobs=2`, `encrypt=True`, ...)."""
    source = server or pg
    base: dict[str, Any] = {
        "pg_bin_dir": source.bindir,
        "s3_bucket": bucket,
        "upload_prefix": prefix,
        "state_dir": default_state_dir,
    }
    return pgback_env(postgres=source, s3=s3, **{**base, **keys})


def clean_base_env() -> dict[str, str]:
    """The environment minus anything that would point a child at other servers or settings."""
    return {
        name: value for name, value in os.environ.items() if not name.startswith(("PG", "AWS_"))
    }


def run_cli(
    env: Mapping[str, str],
    *args: str,
    cwd: Path | None = None,
    timeout: float = 120,
    wrapper: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`python -m pgback ARGS` with exactly this pgback environment (`wrapper`: e.g. strace)."""
    return subprocess.run(
        [*wrapper, sys.executable, "-m", "pgback", *args],
        env={**clean_base_env(), **env},
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def _pg_program_env(server: PostgresServer) -> dict[str, str]:
    return {**clean_base_env(), "PGPASSWORD": server.password}


def schema_dump(server: PostgresServer, dbname: str) -> str:
    """`pg_dump --schema-only` of a database, without the \\restrict lines (random keys)."""
    conninfo = make_conninfo(
        host=server.host, port=str(server.port), user=server.user, dbname=dbname
    )
    done = subprocess.run(
        [str(server.bindir / "pg_dump"), "--schema-only", "-d", conninfo],
        env=_pg_program_env(server),
        capture_output=True,
        text=True,
        check=True,
    )
    return "".join(
        line
        for line in done.stdout.splitlines(keepends=True)
        if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def table_contents(server: PostgresServer, dbname: str) -> dict[str, tuple[int, str]]:
    """(row count, md5 of the sorted rows) per user table, by qualified name."""
    tables = server.query(
        "SELECT schemaname, tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
        dbname=dbname,
    )
    contents: dict[str, tuple[int, str]] = {}
    for schema, table in tables:
        rows = server.query(
            sql.SQL(
                "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                "FROM {}.{} t"
            ).format(sql.Identifier(schema), sql.Identifier(table)),
            dbname=dbname,
        )
        contents[f"{schema}.{table}"] = (int(rows[0][0]), str(rows[0][1]))
    return contents


def user_databases(server: PostgresServer) -> set[str]:
    rows = server.query("SELECT datname FROM pg_database WHERE NOT datistemplate")
    return {str(row[0]) for row in rows}


def assert_databases_identical(
    source: PostgresServer, target: PostgresServer, names: Iterable[str]
) -> None:
    """Same tables with the same rows, and the same `pg_dump --schema-only`, in each database."""
    for name in names:
        assert table_contents(target, name) == table_contents(source, name), name
        assert schema_dump(target, name) == schema_dump(source, name), name


def all_source_databases() -> list[str]:
    return ["postgres", *SOURCE_DATABASES]


def pending_uploads(s3: S3Server, bucket: str) -> list[str]:
    found = s3.client().list_multipart_uploads(Bucket=bucket)
    return [u["Key"] for u in found.get("Uploads", [])]


def restore_to(
    target: PostgresServer,
    *,
    databases: tuple[str, ...] = (),
    clean: bool = False,
    jobs: int = 1,
    globals: bool = True,
) -> RestoreOptions:
    """RestoreOptions for a restore into this server (its password moves into a Secret)."""
    return RestoreOptions(
        target=target_from(target.dsn()),
        databases=databases,
        clean=clean,
        jobs=jobs,
        globals=globals,
    )
