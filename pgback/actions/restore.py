"""`pgback restore`: globals through psql, then each database through pg_restore, streamed.

A database that does not exist on the target is created from the archive (`--create`); an
existing one with no user objects (the `postgres` database of a fresh server) is restored into;
one holding objects is refused unless `--clean`. The stream feeds pg_restore (restore_stream.py:
a whole database's indexes are built several at a time from its table of contents, kept in
memory). `--jobs N` needs a seekable file, so only then is a dump staged in a temporary file
(removed afterwards).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

from pgback import startup
from pgback.actions.catalog import resolve_manifest
from pgback.actions.context import Soon, decryption_identities, log
from pgback.actions.fetch import stream_plain
from pgback.actions.restore_errors import globals_failures, is_refused_global, judge_restore
from pgback.actions.restore_plain import check_formats, dump_format, restore_plain
from pgback.actions.restore_plan import (
    check_selection,
    database_args,
    partial,
    post_data_args,
    preflight,
    target_name,
)
from pgback.actions.restore_stream import (
    PostData,
    Runner,
    post_data_jobs,
    restore_from_file,
    restore_from_stream,
)
from pgback.adapters import pgclients
from pgback.adapters.conninfo import dbname_arg
from pgback.adapters.postgres import ConnParams
from pgback.adapters.target_probe import ask_target
from pgback.config import Settings
from pgback.errors import PgbackError, ProcessError, UsageError
from pgback.manifest import KIND_DATABASE, KIND_GLOBALS, FileEntry, Manifest
from pgback.process import Child, run
from pgback.progress import Progress
from pgback.secret import Secret
from pgback.storage import open_storage
from pgback.storage.base import Storage

_ROLE_EXISTS = re.compile(r'role ".*" already exists')


@dataclass
class RestoreResult:
    set_id: str
    globals_restored: bool = False
    databases: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # ownership and privilege statements the restoring role was refused (not a superuser)
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RestoreOptions:
    target: ConnParams
    databases: tuple[str, ...] = ()  # empty: every database in the set
    clean: bool = False
    jobs: int = 1  # 1: each database's [databases.NAME] jobs, else 1
    globals: bool = True
    # what to restore of each database (pg_restore -n, -t, --data-only, --schema-only)
    schemas: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    data_only: bool = False
    schema_only: bool = False
    rename: str | None = None  # --as: restore the one chosen database under this name
    no_owner: bool = False
    no_privileges: bool = False


def run_restore(
    settings: Settings,
    ref: str,
    options: RestoreOptions,
    *,
    storage: Storage | None = None,
) -> RestoreResult:
    # the target's version, rights and databases, asked (through psql: target_probe) while
    # the storage client is set up
    facts = Soon(ask_target, options.target, settings.pg_bin_dir)
    storage = storage or open_storage(settings)
    manifest = resolve_manifest(storage, settings.upload_prefix, ref)
    entries = _chosen_databases(manifest, options.databases)
    identities = decryption_identities(settings, storage, manifest)
    names = [entry.name for entry in entries]
    check_selection(options, names, manifest.set_id)
    check_formats(entries, options)
    target = facts.result()
    modes = preflight(options, names, target.databases)
    # a role that is not a superuser (a managed service's owner role) may not create roles nor
    # give objects away: those refusals are reported, not fatal (see restore_errors)
    tolerant = not target.rights.superuser
    clients = pgclients.for_archive(settings.pg_bin_dir, manifest.pg_dump_version, target.version)
    log.info("client tools %s: %s", clients.install.describe(), clients.reason)
    startup.started()  # every check is done: the garbage collector runs again
    result = RestoreResult(manifest.set_id)
    log.info("restoring set %s into %s", manifest.set_id, options.target.describe())
    globals_entry = manifest.file(KIND_GLOBALS)
    if options.globals and globals_entry is not None:
        warnings, refused = _restore_globals(
            clients.program("psql"),
            storage,
            globals_entry,
            identities,
            options,
            tolerant,
            target.user,
        )
        result.warnings += warnings
        result.refused += [f"globals: {line}" for line in refused]
        result.globals_restored = True
    for entry in entries:
        if dump_format(entry) == "plain":  # a pg_back plain SQL dump: through psql
            restore_plain(settings, storage, entry, identities, options, modes[entry.name])
            result.databases.append(entry.name)
            continue
        refused = _restore_database(
            settings, clients, storage, entry, identities, options, modes[entry.name], tolerant
        )
        result.refused += [f"{entry.name}: {line}" for line in refused]
        result.databases.append(entry.name)
    return result


def _chosen_databases(manifest: Manifest, wanted: tuple[str, ...]) -> list[FileEntry]:
    entries = [f for f in manifest.files if f.kind == KIND_DATABASE]
    if not wanted:
        return entries
    names = {e.name for e in entries}
    missing = [name for name in wanted if name not in names]
    if missing:
        raise UsageError(
            f"set {manifest.set_id} has no database {', '.join(map(repr, missing))}: it holds "
            f"{', '.join(map(repr, sorted(names))) or 'none'}"
        )
    return [e for e in entries if e.name in wanted]


def _restore_globals(
    psql: str,
    storage: Storage,
    entry: FileEntry,
    identities: list[Any],
    options: RestoreOptions,
    tolerant: bool,
    me: str,
) -> tuple[list[str], list[str]]:
    """(warnings, refused statements). Roles that already exist do not stop the restore, nor, for a
    role that is not a superuser, the roles and tablespaces it may not create or change.

    The role we connect as is left alone: replaying its ALTER ROLE would replace the target's
    password with the source's and lock this very restore out.
    """
    buffer = io.BytesIO()  # globals are a few KiB: roles and tablespaces only
    stream_plain(storage, entry, identities, buffer)
    script = _without_own_role(buffer.getvalue().decode(), me)
    argv = [
        psql,
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=0",
        "-d",
        dbname_arg(options.target.dbname or "postgres"),
        "-f",
        "-",
    ]
    done = run(
        argv,
        env=options.target.env(),
        what="restoring globals",
        input_data=script.encode(),
        secrets=options.target.secrets,
    )
    warnings: list[str] = []
    not_restored: list[str] = []
    for failure in globals_failures(done.stderr.decode("utf-8", "replace"), script):
        if _ROLE_EXISTS.search(failure.reason):
            warnings.append(failure.reason)
        elif tolerant and is_refused_global(failure):
            not_restored.append(failure.shown())
        else:
            raise ProcessError(f"restoring globals: psql: {failure.line}")
    log.info(
        "globals restored (%d role(s) already existed, %d statement(s) refused)",
        len(warnings),
        len(not_restored),
    )
    return warnings, not_restored


def _without_own_role(script: str, role: str) -> str:
    if not role:
        return script
    names = {role, '"' + role.replace('"', '""') + '"'}  # as pg_dumpall writes it, quoted
    kept = []
    for line in script.splitlines(keepends=True):
        words = line.split(maxsplit=3)
        is_role = len(words) >= 3 and words[0] in ("CREATE", "ALTER") and words[1] == "ROLE"
        if is_role and words[2].rstrip(";") in names:
            continue
        kept.append(line)
    return "".join(kept)


def _restore_database(
    settings: Settings,
    clients: pgclients.Choice,
    storage: Storage,
    entry: FileEntry,
    identities: list[Any],
    options: RestoreOptions,
    mode: str,
    tolerant: bool,
) -> list[str]:
    """Restore one database; the statements the role was refused when `tolerant`."""
    head = [clients.program("pg_restore")]
    if not tolerant:
        head.append("--exit-on-error")  # a superuser meets no refusal: stop at the first error
    target = target_name(options, entry.name)
    what = f"restoring database {entry.name!r}" + (
        f" as {target!r}" if target != entry.name else ""
    )
    argv = head + database_args(options, entry.name, mode)
    if options.data_only and not tolerant:
        argv.append("--disable-triggers")  # rows in any order, foreign keys or not (superuser)
    jobs = options.jobs if options.jobs > 1 else (settings.database(entry.name).jobs or 1)
    progress = Progress.for_mode(what, settings.progress)
    log.info(
        "%s (%s)",
        what,
        {"missing": "created", "empty": "into the empty database", "used": "--clean"}[mode],
    )

    def finish(child: Child) -> list[str]:
        if child.wait() == 0:
            return []
        if not tolerant:
            raise child.error(what)
        refused = judge_restore(child.stderr_lines(), what, child.proc.returncode)
        log.warning("%s: %d ownership or privilege statement(s) refused", what, len(refused))
        return refused

    runner = Runner(options.target.env(), tuple(options.target.secrets), what, finish)
    try:
        if jobs > 1:
            return restore_from_file(storage, entry, identities, runner, argv, progress, jobs)
        post = None
        if not partial(options) and post_data_jobs() > 1:
            # the indexes, constraints and triggers several at a time (restore_stream)
            post = PostData(head + post_data_args(options, entry.name), post_data_jobs())
        return restore_from_stream(storage, entry, identities, runner, argv, progress, post)
    except BaseException:
        if mode == "missing":
            _drop_half_restored(options.target, target)
        raise
    finally:
        progress.done()


def _drop_half_restored(target: ConnParams, name: str) -> None:
    """A database this restore created and could not fill is dropped: half a database (its
    tables there, their rows not) must not pass for a restored one."""
    import psycopg
    from psycopg import sql

    try:
        with target.connect() as conn:
            force = " WITH (FORCE)" if conn.info.server_version >= 130000 else ""
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}" + force).format(sql.Identifier(name)))
    except (PgbackError, psycopg.Error) as exc:
        log.warning(
            "database %r is left half-restored on the target (%s): drop it before retrying",
            name,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        return
    log.warning("removed database %r: this restore created it and could not complete it", name)


def target_from(conninfo: str, password: str | None = None) -> ConnParams:
    """--target's connection; never the source by default, so no restore hits it by accident."""
    if not conninfo:
        raise UsageError("restore needs --target CONNINFO (e.g. 'host=db2 user=postgres')")
    return ConnParams.from_conninfo(conninfo, Secret(password) if password else None)
