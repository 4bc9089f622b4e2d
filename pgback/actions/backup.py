"""`pgback backup`: one run = one set `<prefix>/<set id>/`, the manifest written last.

Every file streams: producer (pg_dump stdout, or bytes read over SQL) -> zstd -> age ->
multipart upload. Nothing touches local disk. Any failure aborts the uploads in flight, removes
what this run stored, and never writes the manifest.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from pgback import __version__, naming
from pgback.actions import purge as purge_action
from pgback.actions.access import check_access, recorded_options
from pgback.actions.context import Soon, conn_params, log, utc_now
from pgback.actions.locking import backup_lock
from pgback.actions.runmark import RunMark, check_whole, mark_key
from pgback.actions.upload import DumpSlots, UploadPlan, upload, upload_child
from pgback.adapters import crypto, pgclients
from pgback.adapters.postgres import (
    ConnParams,
    SourceFacts,
    database_sizes,
    pg_dump_argv,
    read_instance_config,
    select_databases,
    source_facts,
)
from pgback.config import Settings
from pgback.errors import Interrupted, PgbackError, StorageError
from pgback.manifest import (
    KIND_DATABASE,
    KIND_GLOBALS,
    KIND_HBA,
    KIND_IDENT,
    KIND_IDENTITY,
    KIND_SETTINGS,
    Encryption,
    FileEntry,
    Manifest,
)
from pgback.progress import Progress, human_size
from pgback.storage import open_storage
from pgback.storage.base import Storage

# how long a run waits for the next second when its set id is taken
SAME_SECOND_WAIT = 2.0


@dataclass
class BackupResult:
    set_id: str
    manifest: Manifest
    purge: list[purge_action.PurgeOutcome] = field(default_factory=list)


def run_backup(
    settings: Settings,
    *,
    storage: Storage | None = None,
    clock: Callable[[], datetime] = utc_now,
    cancel: threading.Event | None = None,
) -> BackupResult:
    """Make one complete set or raise; afterwards purge when a policy is set."""
    params = conn_params(settings)
    # the server's version, databases and the role's rights, asked while the storage client
    # is set up; the client tools are tried only once the storage is known usable: a run
    # refused for its bucket starts no dump program at all
    server = Soon(lambda: source_facts(params, with_templates=settings.with_templates))
    storage = storage or open_storage(settings)
    cancel = cancel or threading.Event()
    with backup_lock(settings):
        storage.check()
        set_id, started = _claim_set_id(settings, storage, clock)
        facts = server.result()
        clients = pgclients.for_server(settings.pg_bin_dir, facts.version)
        result = _backup_set(settings, storage, set_id, started, clock, cancel, facts, clients)
    if settings.purge_policy_set:
        result.purge = purge_action.run_purge(settings, storage=storage, now=clock())
    return result


def _claim_set_id(
    settings: Settings, storage: Storage, clock: Callable[[], datetime]
) -> tuple[str, datetime]:
    """The run's set id, from its start second. A set id names one run: when that second's
    folder is taken (a run a moment ago, another host), wait for the next second."""
    deadline = time.monotonic() + SAME_SECOND_WAIT
    while True:
        started = clock()
        set_id = naming.make_set_id(started)
        taken = any(True for _ in storage.list(naming.set_prefix(settings.upload_prefix, set_id)))
        if not taken:
            return set_id, started
        if time.monotonic() >= deadline:
            raise StorageError(
                f"set {set_id} already exists in {storage.describe()} and the clock does not "
                "move on: check the system clock, then run again"
            )
        time.sleep(0.1)


def _backup_set(
    settings: Settings,
    storage: Storage,
    set_id: str,
    started: datetime,
    clock: Callable[[], datetime],
    cancel: threading.Event,
    facts: SourceFacts,
    clients: pgclients.Choice,
) -> BackupResult:
    prefix = naming.set_prefix(settings.upload_prefix, set_id)
    params = conn_params(settings)
    log_choice = log.warning if "older than the server" in clients.reason else log.info
    log_choice("client tools %s: %s", clients.install.describe(), clients.reason)
    databases, warnings = select_databases(
        facts.databases, settings.include_dbs, settings.exclude_dbs
    )
    access = check_access(settings, facts, databases)
    databases, warnings = access.databases, warnings + access.warnings
    settings = replace(settings, no_role_passwords=access.no_role_passwords)
    for warning in warnings:
        log.warning(warning)

    # other hosts' purges leave the set alone while this mark is fresh (see runmark)
    mark = RunMark(storage, mark_key(settings.upload_prefix, set_id), started, settings)
    mark.start()
    plan: UploadPlan | None = None
    try:
        plan, identity_entry = _encryption_plan(settings, storage, prefix, cancel)
        log.info(
            "backup set %s started: %d database(s) to %s under %s",
            set_id,
            len(databases),
            storage.describe(),
            prefix,
        )
        files: list[FileEntry] = [identity_entry] if identity_entry else []
        files += _dump_everything(settings, params, plan, databases, warnings, clients)
        manifest = Manifest(
            set_id=set_id,
            started_at=started.isoformat(),
            finished_at=clock().isoformat(),
            tool_version=__version__,
            server_version=facts.version,
            pg_dump_version=clients.install.version,
            encryption=plan.encryption,
            files=tuple(files),
            compression="zstd" if plan.compress else "none",
            compression_level=plan.level if plan.compress else None,
            options=recorded_options(settings),
            warnings=tuple(warnings),
        )
        if cancel.is_set():
            raise Interrupted("backup cancelled before the manifest was written")
        check_whole(storage, prefix, set_id, manifest.files)
        storage.put_bytes(
            naming.manifest_key(settings.upload_prefix, set_id), manifest.to_json().encode()
        )
    except BaseException:
        mark.stop()  # before the removal: a refresh must not put the mark back
        _remove_partial_set(storage, prefix, set_id)
        raise
    finally:
        if plan is not None:
            plan.progress.done()
    mark.remove()
    log.info(
        "backup set %s complete: %d files, %s",
        set_id,
        len(manifest.files),
        human_size(manifest.size),
    )
    return BackupResult(set_id, manifest)


def _encryption_plan(
    settings: Settings, storage: Storage, prefix: str, cancel: threading.Event
) -> tuple[UploadPlan, FileEntry | None]:
    recipients: list[Any] = []
    encryption = Encryption()
    identity_entry: FileEntry | None = None
    if settings.encrypt and settings.cipher_public_key:
        recipients = crypto.parse_recipients(settings.cipher_public_key)
        encryption = Encryption("x25519", tuple(settings.cipher_public_key))
    elif settings.encrypt and settings.cipher_pass:
        identity, recipient = crypto.new_identity()
        recipients = crypto.parse_recipients([recipient])
        wrapped = crypto.wrap_identity(identity, settings.cipher_pass.reveal())
        key = prefix + naming.IDENTITY_NAME
        storage.put_bytes(key, wrapped)
        digest = hashlib.sha256(wrapped).hexdigest()
        identity_entry = FileEntry(
            KIND_IDENTITY, naming.IDENTITY_NAME, key, len(wrapped), digest, "none", True
        )
        # the recipient is public; recording it lets `show` say which key a set used
        encryption = Encryption("passphrase", (recipient,))
    plan = UploadPlan(
        storage=storage,
        set_prefix=prefix,
        compress=settings.compress == "zstd",
        level=settings.compress_level,
        recipients=recipients,
        encryption=encryption,
        cancel=cancel,
        progress=Progress.for_mode("uploading", settings.progress),
    )
    return plan, identity_entry


def _dump_everything(
    settings: Settings,
    params: ConnParams,
    plan: UploadPlan,
    databases: list[str],
    warnings: list[str],
    clients: pgclients.Choice,
) -> list[FileEntry]:
    """Globals, configuration, then the databases, in the manifest's order. The databases
    start first, `jobs` pg_dumps at a time, as they are the long part: the small files are
    dumped by this thread meanwhile, instead of delaying the first pg_dump. One more worker
    than `jobs` finishes an upload whose pg_dump has ended while the next pg_dump runs
    (DumpSlots), and first asks for the databases' sizes while the first pg_dump starts."""
    pg_dump = clients.program("pg_dump")
    slots = DumpSlots(settings.jobs, plan.cancel)
    with ThreadPoolExecutor(max_workers=settings.jobs + 1, thread_name_prefix="dump") as pool:
        # each upload's parts are sized from its database's size
        sizes = pool.submit(database_sizes, params)
        futures: dict[Future[FileEntry], str] = {
            pool.submit(
                upload_child,
                plan,
                KIND_DATABASE,
                db,
                naming.database_file(db),
                pg_dump_argv(
                    pg_dump, db, settings.database(db).dump_args(settings.pg_dump_options)
                ),
                params,
                f"dumping database {db!r}",
                partial(_size_of, sizes, db),
                slots,
            ): db
            for db in databases
        }
        try:
            small = _dump_globals_and_config(settings, params, plan, warnings, clients)
        except BaseException:
            _stop_all(plan, futures)
            raise
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            _stop_all(plan, futures)
            raise _first_error(failed)
        results = {db: future.result() for future, db in futures.items()}
        sizes.result()  # its failure, when no dump asked for it (no database to dump)
    return small + [results[db] for db in databases]


def _size_of(sizes: Future[dict[str, int]], db: str) -> int | None:
    return sizes.result().get(db)


def _stop_all(plan: UploadPlan, futures: dict[Future[FileEntry], str]) -> None:
    plan.cancel.set()  # running dumps stop at their next read; their uploads abort
    for future in futures:
        future.cancel()
    wait(futures)


def _dump_globals_and_config(
    settings: Settings,
    params: ConnParams,
    plan: UploadPlan,
    warnings: list[str],
    clients: pgclients.Choice,
) -> list[FileEntry]:
    files = [_dump_globals(settings, params, plan, clients.program("pg_dumpall"))]
    config = read_instance_config(params)
    if config.warning:
        log.warning(config.warning)
        warnings.append(config.warning)
    for kind, base, text in (
        (KIND_SETTINGS, naming.SETTINGS_FILE, config.settings),
        (KIND_HBA, naming.HBA_FILE, config.hba),
        (KIND_IDENT, naming.IDENT_FILE, config.ident),
    ):
        if text is not None:
            files.append(upload(plan, kind, base, base, io.BytesIO(text.encode())))
    return files


def _dump_globals(
    settings: Settings, params: ConnParams, plan: UploadPlan, pg_dumpall: str
) -> FileEntry:
    argv = [pg_dumpall, "--globals-only"]
    if settings.no_role_passwords:
        argv.append("--no-role-passwords")
    if params.dbname:
        argv += ["-l", params.dbname]
    log.info("dumping globals")
    return upload_child(
        plan,
        KIND_GLOBALS,
        naming.GLOBALS_FILE,
        naming.GLOBALS_FILE,
        argv,
        params,
        "dumping globals",
    )


def _first_error(failed: list[Future[FileEntry]]) -> BaseException:
    errors = [f.exception() for f in failed]
    # prefer the root cause over "cancelled" errors raised by siblings
    for exc in errors:
        if exc is not None and not isinstance(exc, Interrupted):
            return exc
    return errors[0] or PgbackError("backup failed")


def _remove_partial_set(storage: Storage, prefix: str, set_id: str) -> None:
    """Best effort: the set has no manifest, so it already reads as incomplete."""
    try:
        keys = [obj.key for obj in storage.list(prefix)]
        storage.delete(keys)
        log.warning("backup set %s failed: removed its %d partial object(s)", set_id, len(keys))
    except PgbackError as exc:
        log.warning(
            "backup set %s failed and its partial objects could not be removed (%s); it reads "
            "as incomplete and the next purge removes it",
            set_id,
            exc,
        )
