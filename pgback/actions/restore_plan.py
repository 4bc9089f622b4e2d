"""What a restore does to each database: the pg_restore arguments, and the database it needs.

A whole database restored under its own name uses pg_restore's `--create`, so the database's
own settings, comment and grants come back with it. A database restored under another name
(`--as`), or in part (`--schema`, `--table`, `--data-only`, `--schema-only`), cannot: the
archive's CREATE DATABASE names the original. pgback then creates the database itself (from
template0, with the target's defaults) and restores into it.

The guards stay: a target database holding objects is refused unless `--clean`. With `--clean`,
a whole restore replaces the database (drop and create); a partial one drops and recreates
only the selected objects (pg_restore's own `--clean --if-exists`). `--data-only` is the
exception that needs no `--clean`: it only adds rows, into tables that must already exist, and
a row that is already there fails the restore (a unique key), so nothing is replaced silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pgback.adapters.conninfo import dbname_arg
from pgback.adapters.postgres import ConnParams, database_state
from pgback.errors import UsageError


class Selection(Protocol):
    """The part of RestoreOptions this module reads."""

    @property
    def target(self) -> ConnParams: ...
    @property
    def clean(self) -> bool: ...
    @property
    def schemas(self) -> tuple[str, ...]: ...
    @property
    def tables(self) -> tuple[str, ...]: ...
    @property
    def data_only(self) -> bool: ...
    @property
    def schema_only(self) -> bool: ...
    @property
    def rename(self) -> str | None: ...
    @property
    def no_owner(self) -> bool: ...
    @property
    def no_privileges(self) -> bool: ...


def partial(options: Selection) -> bool:
    return bool(options.schemas or options.tables or options.data_only or options.schema_only)


def target_name(options: Selection, name: str) -> str:
    return options.rename or name


def check_selection(options: Selection, names: Sequence[str], set_id: str) -> None:
    """Refuse combinations pg_restore would refuse, or that name no single database."""
    if options.data_only and options.schema_only:
        raise UsageError("--data-only and --schema-only exclude each other: choose one")
    if options.data_only and options.clean:
        raise UsageError(
            "--data-only cannot be combined with --clean (pg_restore drops objects, not rows): "
            "restore into tables that are empty, or use --as NEWNAME"
        )
    if options.rename is not None:
        if not options.rename.strip():
            raise UsageError("--as needs a database name")
        if len(names) != 1:
            raise UsageError(
                f"--as names one database, and set {set_id} would restore {len(names)}: "
                "choose it with --databases NAME"
            )


def preflight(
    options: Selection, names: Sequence[str], existing: frozenset[str] | None = None
) -> dict[str, str]:
    """The state of each target database ('missing', 'empty', 'used'), by the set's name;
    refuse before touching anything when one holds objects and --clean is not given.
    `existing`: the target's databases, when already known."""
    modes = {
        name: database_state(
            options.target,
            target_name(options, name),
            None if existing is None else target_name(options, name) in existing,
        )
        for name in names
    }
    if options.data_only:
        missing = [target_name(options, n) for n, mode in modes.items() if mode == "missing"]
        if missing:
            raise UsageError(
                f"--data-only loads rows into existing tables, and database(s) "
                f"{', '.join(map(repr, missing))} do not exist on the target: restore the "
                "schema first (--schema-only), or leave out --data-only"
            )
        return modes
    used = [target_name(options, n) for n, mode in modes.items() if mode == "used"]
    if used and not options.clean:
        what = "replace the selected objects" if partial(options) else "replace them"
        raise UsageError(
            f"database(s) {', '.join(map(repr, used))} already exist on the target with "
            f"objects in them: pass --clean to {what}, or restore into a fresh server"
        )
    return modes


def database_args(options: Selection, name: str, mode: str) -> list[str]:
    """pg_restore's arguments for one database (after the program and --exit-on-error);
    creates or replaces the target database first when pg_restore cannot."""
    args = _selection_args(options)
    maintenance = options.target.dbname or "postgres"
    target = target_name(options, name)
    if not partial(options) and options.rename is None:
        if mode == "missing":
            return [*args, "--create", "-d", dbname_arg(maintenance)]
        if mode == "used":
            # --clean replaces the whole database (drop + create from the archive): tables that
            # are not in the backup must not survive, and foreign keys cannot block the drop.
            # The drop is issued from another database than the one being replaced.
            if maintenance == name:
                maintenance = "template1" if name != "template1" else "postgres"
            return [*args, "--clean", "--if-exists", "--create", "-d", dbname_arg(maintenance)]
        return [*args, "-d", dbname_arg(name)]
    if mode == "missing":
        _create_database(options.target, target, replace=False)
    elif mode == "used" and options.clean and not partial(options):
        _create_database(options.target, target, replace=True)
    elif mode == "used" and options.clean:
        args += ["--clean", "--if-exists"]
    return [*args, "-d", dbname_arg(target)]


def post_data_args(options: Selection, name: str) -> list[str]:
    """pg_restore's arguments for the post-data run of a whole database restored in sections
    (restore_stream): into the database the first run created or filled."""
    return [*_selection_args(options), "-d", dbname_arg(target_name(options, name))]


def _selection_args(options: Selection) -> list[str]:
    args: list[str] = []
    for schema in options.schemas:
        args += ["-n", schema]
    for table in options.tables:
        args += ["-t", table]
    if options.data_only:
        args.append("--data-only")
    if options.schema_only:
        args.append("--schema-only")
    if options.no_owner:
        args.append("--no-owner")
    if options.no_privileges:
        args.append("--no-privileges")
    return args


def _create_database(target: ConnParams, name: str, *, replace: bool) -> None:
    from psycopg import sql

    with target.connect() as conn:
        ident = sql.Identifier(name)
        if replace:
            force = " WITH (FORCE)" if conn.info.server_version >= 130000 else ""
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}" + force).format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident))
