"""PostgreSQL: connection parameters, SQL queries, and the argv of pg_dump/pg_restore/psql.

Passwords never go into argv: children get them through PGPASSWORD in their environment.
psycopg is imported by what connects: a restore whose target answers through psql
(target_probe) and whose `--target` is plain (conninfo) never loads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgback.adapters.conninfo import dbname_arg, split_plain
from pgback.errors import DatabaseError, UsageError
from pgback.process import child_env
from pgback.secret import Secret

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class ConnParams:
    """Where a server is; unset fields fall back to libpq's PG* environment variables."""

    host: str | None = None
    port: int | None = None
    user: str | None = None
    dbname: str | None = None
    password: Secret | None = None
    extra: dict[str, str] = field(default_factory=dict)  # sslmode, ... (not secrets)
    # the settings a user changes to point elsewhere, named by the connection error's hint
    settings_hint: str = field(default="PGBACK_HOST, PGBACK_PORT", compare=False)

    @classmethod
    def from_conninfo(cls, conninfo: str, password: Secret | None = None) -> ConnParams:
        """Parse a `key=value` or URL conninfo; a password in it moves to a Secret."""
        plain = split_plain(conninfo)
        parts: dict[str, Any] = plain if plain is not None else _parsed_by_libpq(conninfo)
        secret = parts.pop("password", None)
        port = str(parts.pop("port", None) or "")
        if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise UsageError(
                f"--target: port {port!r} is not a TCP port (1-65535; one server per restore)"
            )
        return cls(
            host=_str_or_none(parts.pop("host", None)),
            port=int(port) if port else None,
            user=_str_or_none(parts.pop("user", None)),
            dbname=_str_or_none(parts.pop("dbname", None)),
            password=Secret(str(secret)) if secret else password,
            extra={k: str(v) for k, v in parts.items()},
            settings_hint="--target or PGBACK_TARGET",
        )

    @property
    def secrets(self) -> list[str]:
        return [self.password.reveal()] if self.password else []

    def env(self, dbname: str | None = None) -> dict[str, str]:
        """Environment for a libpq child program (ours minus our secrets, plus PG*)."""
        extra: dict[str, str] = {}
        if self.host:
            extra["PGHOST"] = self.host
        if self.port:
            extra["PGPORT"] = str(self.port)
        if self.user:
            extra["PGUSER"] = self.user
        if self.password:
            extra["PGPASSWORD"] = self.password.reveal()
        if dbname or self.dbname:
            extra["PGDATABASE"] = dbname or self.dbname or ""
        for key, value in self.extra.items():
            env_name = _LIBPQ_ENV.get(key)
            if env_name:
                extra[env_name] = value
        return child_env(extra)

    def describe(self, attempt: Any = None) -> str:
        """Where libpq connects (or, given the failed `attempt`'s pgconn, connected): our
        settings first, then libpq's PGHOST/PGPORT/PGUSER and its defaults, saying which of
        libpq's variables were used. Service files (PGSERVICE) are not resolved here."""
        tried = _attempted(attempt)
        # libpq's defaults only for what is unset (asking libpq loads psycopg)
        unset = (
            not (tried.get("host") or self.host)
            or not (tried.get("port") or self.port)
            or (not self.user and "PGUSER" in os.environ)
        )
        libpq = _libpq_defaults() if unset else {}
        # what libpq tried is exact (with several hosts, the last one); else ours, else its own
        host = tried.get("host") or self.host or libpq.get("host")
        port = tried.get("port") or (str(self.port) if self.port else libpq.get("port", "5432"))
        user = self.user or (libpq.get("user") if "PGUSER" in os.environ else None)
        if not host or host.startswith("/"):
            where = (
                f"the local socket {host.rstrip('/')}/.s.PGSQL.{port}"
                if host
                else f"the local socket (port {port})"
            )
        else:
            where = f"{host}:{port}"
        from_env = [
            f"{what} from {name}"
            for what, ours, name in (
                ("host", self.host, "PGHOST"),
                ("port", self.port, "PGPORT"),
                ("user", self.user, "PGUSER"),
            )
            if not ours and os.environ.get(name)
        ]
        return (
            where
            + (f" as {user}" if user else "")
            + (f" ({', '.join(from_env)})" if from_env else "")
        )

    def connect_error(self, reason: str, attempt: Any = None) -> DatabaseError:
        """A failed connection in one line: where, libpq's reason, what to check."""
        hint = _connect_hint(reason, self.settings_hint)
        return DatabaseError(
            f"cannot connect to PostgreSQL at {self.describe(attempt)}: {reason}{hint}"
        )

    @contextmanager
    def connect(
        self, dbname: str | None = None
    ) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        kwargs: dict[str, object] = {
            k: v
            for k, v in {
                "host": self.host,
                "port": self.port,
                "user": self.user,
                "dbname": dbname or self.dbname or "postgres",
                "password": self.password.reveal() if self.password else None,
            }.items()
            if v is not None
        }
        # a conninfo's own connect_timeout (--target "... connect_timeout=3") wins
        kwargs = {"connect_timeout": 10, **kwargs, **self.extra}
        import psycopg

        try:
            conn = psycopg.connect(autocommit=True, **kwargs)  # type: ignore[arg-type]
        except psycopg.OperationalError as exc:
            reason = _first_line(exc, self.secrets)
            if reason.startswith("failed to resolve host") and "[Errno" in reason:
                # psycopg's own wording names the host it was given (None when from PGHOST)
                reason = "cannot resolve the host name: " + reason[reason.index("[Errno") :]
            raise self.connect_error(reason, getattr(exc, "pgconn", None)) from None
        except UnicodeError:  # the resolver's IDNA step: an empty or too long label
            raise DatabaseError(
                f"cannot connect to PostgreSQL at {self.describe()}: not a valid host name: "
                f"check the host ({self.settings_hint}, or libpq's PGHOST)"
            ) from None
        try:
            yield conn
        finally:
            conn.close()


_LIBPQ_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
}


# the connection settings ConnParams.env() hands a child program
CHILD_SETTINGS = frozenset(_LIBPQ_ENV)


def _parsed_by_libpq(conninfo: str) -> dict[str, Any]:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        return dict(conninfo_to_dict(conninfo))
    except (psycopg.ProgrammingError, UnicodeError):  # not key=value nor a URL; not UTF-8
        raise UsageError(
            "--target is not a valid connection string: use 'host=H port=P user=U' or a "
            "postgresql:// URL"
        ) from None


def _str_or_none(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _first_line(exc: Exception, secrets: list[str]) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _libpq_defaults() -> dict[str, str]:
    """libpq's own values for unset parameters: its PG* variables, else compiled defaults."""
    from psycopg import pq

    found: dict[str, str] = {}
    for option in pq.Conninfo.get_defaults():
        if option.val:
            found[option.keyword.decode()] = option.val.decode("utf-8", "replace")
    return found


def _attempted(pgconn: Any) -> dict[str, str]:
    """host and port of a failed connection attempt (psycopg attaches its pgconn)."""
    found: dict[str, str] = {}
    for name in ("host", "port"):
        value = getattr(pgconn, name, None)
        if isinstance(value, bytes) and value:
            found[name] = value.decode("utf-8", "replace")
    return found


def _connect_hint(reason: str, settings: str = "PGBACK_HOST, PGBACK_PORT") -> str:
    """What to do about a failed connection, from libpq's reason."""
    text = reason.lower()
    if "password authentication failed" in text or "no password supplied" in text:
        return ": check the password (PGBACK_PASSWORD, its _FILE, PGPASSWORD or ~/.pgpass)"
    if "does not exist" in text:
        return ": check the user and database names"
    if any(
        marker in text
        for marker in (
            "connection refused",
            "could not translate",
            "resolve",
            "timeout",
            "timed out",
            "no such file",
        )
    ):
        return f": is the server running, and are host and port ({settings}) right?"
    return ""


def pg_dump_argv(pg_dump: str, dbname: str, extra: list[str]) -> list[str]:
    """A database's dump: the custom format, uncompressed (zstd compresses in the stream), to
    standard output. pgback's own options come after the validated `extra` ones."""
    return [pg_dump, *extra, "-Fc", "-Z0", "-d", dbname_arg(dbname)]


# --- queries -------------------------------------------------------------------------------


def server_version(params: ConnParams) -> str:
    with params.connect() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def database_sizes(params: ConnParams) -> dict[str, int]:
    """pg_database_size of each database this role may connect to (the others' would fail).
    A database dropped meanwhile has no size (NULL) and is left out: its dump says so."""
    with params.connect() as conn:
        rows = conn.execute(
            "SELECT datname, pg_database_size(oid) FROM pg_database "
            "WHERE datallowconn AND has_database_privilege(datname, 'CONNECT')"
        ).fetchall()
    return {str(row[0]): int(str(row[1])) for row in rows if row[1] is not None}


@dataclass(frozen=True)
class RoleRights:
    """What the connected role may do that a managed service's owner role usually may not."""

    superuser: bool
    create_role: bool
    read_authid: bool  # pg_authid holds the role passwords: superuser only by default


@dataclass(frozen=True)
class SourceFacts:
    """What a backup needs to know of its server before it starts, asked on one connection."""

    version: str  # server_version, e.g. "18.6"
    databases: list[str]  # that allow connections, by name; templates only on request
    rights: RoleRights
    refused: frozenset[str]  # databases that allow connections, but not this role's


def source_facts(params: ConnParams, *, with_templates: bool) -> SourceFacts:
    """template0 never (it refuses connections)."""
    with params.connect() as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), r.rolsuper, r.rolcreaterole, "
            "has_table_privilege('pg_catalog.pg_authid', 'SELECT') "
            "FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = current_user"
        ).fetchone()
        rows = conn.execute(
            "SELECT datname, datistemplate, has_database_privilege(datname, 'CONNECT') "
            "FROM pg_database WHERE datallowconn ORDER BY datname"
        ).fetchall()
    if row is None:  # pragma: no cover - the query always returns one row
        raise DatabaseError(f"PostgreSQL at {params.describe()} answered nothing")
    # a role dropped while we were connected may do nothing
    rights = RoleRights(bool(row[1]), bool(row[2]), bool(row[3]))
    databases = [str(name) for name, template, _ in rows if with_templates or not template]
    refused = frozenset(str(name) for name, _, allowed in rows if not allowed)
    return SourceFacts(str(row[0]), databases, rights, refused)


@dataclass(frozen=True)
class TargetFacts:
    """What a restore needs to know of its target before it starts, asked on one connection."""

    version: str  # server_version, e.g. "18.6"
    user: str  # the role connected as
    rights: RoleRights
    databases: frozenset[str]  # every database on the server


def target_facts(params: ConnParams) -> TargetFacts:
    with params.connect() as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), current_user, r.rolsuper, "
            "r.rolcreaterole, has_table_privilege('pg_catalog.pg_authid', 'SELECT') "
            "FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = current_user"
        ).fetchone()
        names = frozenset(str(r[0]) for r in conn.execute("SELECT datname FROM pg_database"))
    if row is None:  # pragma: no cover - the query always returns one row
        raise DatabaseError(f"PostgreSQL at {params.describe()} answered nothing")
    # a role dropped while we were connected may do nothing
    rights = RoleRights(bool(row[2]), bool(row[3]), bool(row[4]))
    return TargetFacts(str(row[0]), str(row[1]), rights, names)


def select_databases(
    available: list[str], include: tuple[str, ...], exclude: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """(chosen databases, warnings for included names that do not exist)."""
    warnings = [
        f"include_dbs names {name!r}, which does not exist or refuses connections"
        for name in include
        if name not in available
    ]
    chosen = [db for db in available if (not include or db in include) and db not in exclude]
    return chosen, warnings


@dataclass(frozen=True)
class InstanceConfig:
    settings: str | None
    hba: str | None
    ident: str | None
    warning: str | None


def read_instance_config(params: ConnParams) -> InstanceConfig:
    """The applied settings and the hba/ident files, read over SQL.

    Reading files needs superuser or pg_read_server_files; without it they are skipped with one
    warning rather than failing the backup.
    """
    import psycopg

    with params.connect() as conn:
        rows = conn.execute(
            "SELECT name, setting, source FROM pg_settings "
            "WHERE source NOT IN ('default', 'override', 'client', 'session') ORDER BY name"
        ).fetchall()
        settings_text = "".join(
            f"{name} = '{str(value).replace(chr(39), chr(39) * 2)}'\t# {source}\n"
            for name, value, source in rows
        )
        try:
            hba = _read_setting_file(conn, "hba_file")
            ident = _read_setting_file(conn, "ident_file")
        except psycopg.errors.InsufficientPrivilege:
            return InstanceConfig(
                settings_text,
                None,
                None,
                "cannot read the hba and ident files (needs superuser or pg_read_server_files): "
                "skipped",
            )
    return InstanceConfig(settings_text, hba, ident, None)


def _read_setting_file(conn: psycopg.Connection[tuple[object, ...]], setting: str) -> str:
    row = conn.execute(f"SELECT pg_read_file(current_setting('{setting}'))").fetchone()
    return str(row[0]) if row else ""


def database_state(params: ConnParams, dbname: str, exists: bool | None = None) -> str:
    """'missing', 'empty' (no user objects, e.g. a fresh `postgres`), or 'used'; `exists` when
    already known (TargetFacts.databases) spares a connection."""
    if exists is None:
        with params.connect() as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            exists = found.fetchone() is not None
    if not exists:
        return "missing"
    with params.connect(dbname) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
            "AND n.nspname NOT LIKE 'pg_temp_%%' AND n.nspname NOT LIKE 'pg_toast_temp_%%'"
        ).fetchone()
    return "used" if row and int(str(row[0])) > 0 else "empty"
