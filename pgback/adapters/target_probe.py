"""A restore's first questions to its target (postgres.TargetFacts), asked through psql.

psql is a C program: started from the thread that asks while the restore sets up its S3
client, it answers on another core, and the restore need not import psycopg at all, the
largest part of its start-up's own CPU after botocore (docs/benchmark.md). What psql cannot
answer plainly is asked again through psycopg (postgres.target_facts), whose errors are the
ones pgback reports: a failed connection or query, a connection setting that only psycopg
passes on (`hostaddr`, `target_session_attrs`...), an answer that is not UTF-8. A connection
that timed out is reported at once rather than waited for a second time.
"""

from __future__ import annotations

from pgback.adapters import pgclients
from pgback.adapters.postgres import (
    CHILD_SETTINGS,
    ConnParams,
    RoleRights,
    TargetFacts,
    target_facts,
)
from pgback.errors import ProcessError
from pgback.process import run

# postgres.target_facts's two queries; psql ends every field and every row with a NUL byte,
# which no name holds
_QUERIES = (
    "SELECT current_setting('server_version'), current_user, r.rolsuper, r.rolcreaterole, "
    "has_table_privilege('pg_catalog.pg_authid', 'SELECT') "
    "FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = current_user",
    "SELECT datname FROM pg_database",
)
_FACT_FIELDS = 5


def ask_target(params: ConnParams, pg_bin_dir: str | None) -> TargetFacts:
    """The target's version, role, rights and databases (DatabaseError when unreachable)."""
    psql = _psql(pg_bin_dir) if set(params.extra) <= CHILD_SETTINGS else None
    if psql is not None:
        facts = _through_psql(params, psql)
        if facts is not None:
            return facts
    return target_facts(params)


def _psql(pg_bin_dir: str | None) -> str | None:
    # any major reads these catalogs; the restore's own choice needs the version asked here
    for install in pgclients.discover(pg_bin_dir):
        if install.has(("psql",)):
            return install.program("psql")
    return None


def _through_psql(params: ConnParams, psql: str) -> TargetFacts | None:
    env = params.env()
    # what psycopg would connect with (ConnParams.connect), names decoded as UTF-8; the name
    # keeps this session apart from the restore's own psql in pg_stat_activity
    env["PGDATABASE"] = params.dbname or "postgres"
    env["PGCONNECT_TIMEOUT"] = params.extra.get("connect_timeout", "10")
    env["PGCLIENTENCODING"] = "UTF8"
    env.setdefault("PGAPPNAME", "pgback")
    argv = [psql, "-X", "-q", "-A", "-t", "-z", "-0", "-v", "ON_ERROR_STOP=1"]
    for query in _QUERIES:
        argv += ["-c", query]
    try:
        done = run(argv, env=env, what="asking the target", secrets=params.secrets)
    except ProcessError as exc:
        if "timeout expired" in exc.stderr_tail:
            raise params.connect_error("connection timeout expired") from None
        return None  # psycopg asks again, and says what is wrong
    try:
        fields = done.stdout.decode("utf-8").split("\0")
    except UnicodeDecodeError:
        return None
    if len(fields) < _FACT_FIELDS + 2 or fields[-1] != "":
        return None
    version, user, superuser, createrole, authid = fields[:_FACT_FIELDS]
    rights = RoleRights(superuser == "t", createrole == "t", authid == "t")
    return TargetFacts(version, user, rights, frozenset(fields[_FACT_FIELDS:-1]))
