"""`pgback backup`: one run = one set `<prefix>/<set id>/`, the manifest written last.

Every file streams: producer (pg_dump stdout, or bytes read over SQL) -> zstd -> age ->
multipart upload. Nothing touches local disk. Any failure aborts the uploads in flight, removes
what this run stored, and never writes the manifest.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import IO, Any, Protocol

from pgback import __version__, naming
from pgback.actions import purge as purge_action
from pgback.actions.access import check_access, recorded_options
from pgback.actions.context import conn_params, log, program, utc_now
from pgback.actions.locking import backup_lock
from pgback.adapters import compression, crypto
from pgback.adapters.postgres import (
    ConnParams,
    list_databases,
    major,
    pg_dump_argv,
    program_version,
    read_instance_config,
    select_databases,
    server_version,
)
from pgback.config import Settings
from pgback.errors import Interrupted, PgbackError, ProcessError, StorageError
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
from pgback.process import Child
from pgback.progress import Progress, human_size
from pgback.storage import open_storage
from pgback.storage.base import Storage
from pgback.streams import HashingWriter, copy_stream

# pg_dump writes its archive in small pieces; a 1 MiB pipe (Linux's default is 64 KiB, and
# 1 MiB is the default pipe-max-size for unprivileged processes) lets each read take more at a
# time, and reading the pipe's file descriptor directly takes what is there instead of looping
# until a full read: fewer wake-ups and system calls on both sides of the pipe.
PIPE_SIZE = 1024 * 1024
# how long a run waits for the next second when its set id is taken
SAME_SECOND_WAIT = 2.0


@dataclass
class BackupResult:
    set_id: str
    manifest: Manifest
    purge: list[purge_action.PurgeOutcome] = field(default_factory=list)


@dataclass
class _Plan:
    """Everything a file upload needs to know, decided once per run."""

    storage: Storage
    set_prefix: str
    compress: bool
    level: int
    recipients: list[Any]
    encryption: Encryption
    cancel: threading.Event
    progress: Progress


class Readable(Protocol):
    """A dump's output: pg_dump's pipe, or the bytes of a small file (io.BytesIO)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readinto(self, buffer: memoryview, /) -> int: ...


class PipeReader:
    """A program's output pipe read in big pieces (see PIPE_SIZE): whatever is there, at most
    `size`; b"" at the end."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._fd = pipe.fileno()
        set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only; best effort
        if set_size is not None:
            with contextlib.suppress(OSError):
                fcntl.fcntl(self._fd, set_size, PIPE_SIZE)

    def read(self, size: int = -1, /) -> bytes:
        return os.read(self._fd, size if size > 0 else PIPE_SIZE)

    def readinto(self, buffer: memoryview, /) -> int:
        """Straight into the caller's buffer: no bytes object, no copy."""
        return os.readv(self._fd, [buffer])


class _CancellableReader:
    """Stops the stream as soon as the run is cancelled (SIGTERM, a sibling failed)."""

    def __init__(self, inner: Readable, cancel: threading.Event) -> None:
        self._inner = inner
        self._cancel = cancel

    def read(self, size: int = -1) -> bytes:
        if self._cancel.is_set():
            raise Interrupted("backup cancelled")
        return self._inner.read(size)

    def readinto(self, buffer: memoryview) -> int:
        if self._cancel.is_set():
            raise Interrupted("backup cancelled")
        return self._inner.readinto(buffer)


def run_backup(
    settings: Settings,
    *,
    storage: Storage | None = None,
    clock: Callable[[], datetime] = utc_now,
    cancel: threading.Event | None = None,
) -> BackupResult:
    """Make one complete set or raise; afterwards purge when a policy is set."""
    storage = storage or open_storage(settings)
    cancel = cancel or threading.Event()
    with backup_lock(settings):
        storage.check()
        set_id, started = _claim_set_id(settings, storage, clock)
        result = _backup_set(settings, storage, set_id, started, clock, cancel)
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
) -> BackupResult:
    prefix = naming.set_prefix(settings.upload_prefix, set_id)
    params = conn_params(settings)
    version = server_version(params)
    pg_dump = program("pg_dump", settings)
    dump_version = program_version(pg_dump)
    if major(dump_version) < major(version):
        raise ProcessError(
            f"pg_dump {dump_version} cannot dump a PostgreSQL {version} server: install client "
            f"tools of version {major(version)} or newer, or point pg_bin_dir at them"
        )
    available = list_databases(params, with_templates=settings.with_templates)
    databases, warnings = select_databases(available, settings.include_dbs, settings.exclude_dbs)
    access = check_access(settings, params, databases)
    databases, warnings = access.databases, warnings + access.warnings
    settings = replace(settings, no_role_passwords=access.no_role_passwords)
    for warning in warnings:
        log.warning(warning)

    plan, identity_entry = _encryption_plan(settings, storage, prefix, cancel)
    log.info(
        "backup set %s started: %d database(s) to %s under %s",
        set_id,
        len(databases),
        storage.describe(),
        prefix,
    )
    files: list[FileEntry] = [identity_entry] if identity_entry else []
    try:
        files += _dump_everything(settings, params, plan, databases, warnings)
        manifest = Manifest(
            set_id=set_id,
            started_at=started.isoformat(),
            finished_at=clock().isoformat(),
            tool_version=__version__,
            server_version=version,
            pg_dump_version=dump_version,
            encryption=plan.encryption,
            files=tuple(files),
            compression="zstd" if plan.compress else "none",
            compression_level=plan.level if plan.compress else None,
            options=recorded_options(settings),
            warnings=tuple(warnings),
        )
        if cancel.is_set():
            raise Interrupted("backup cancelled before the manifest was written")
        storage.put_bytes(
            naming.manifest_key(settings.upload_prefix, set_id), manifest.to_json().encode()
        )
    except BaseException:
        _remove_partial_set(storage, prefix, set_id)
        raise
    finally:
        plan.progress.done()
    log.info(
        "backup set %s complete: %d files, %s",
        set_id,
        len(manifest.files),
        human_size(manifest.size),
    )
    return BackupResult(set_id, manifest)


def _encryption_plan(
    settings: Settings, storage: Storage, prefix: str, cancel: threading.Event
) -> tuple[_Plan, FileEntry | None]:
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
    plan = _Plan(
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
    plan: _Plan,
    databases: list[str],
    warnings: list[str],
) -> list[FileEntry]:
    """Globals, configuration, then the databases, in the manifest's order. The databases
    start first, `jobs` at a time, as they are the long part: the small files are dumped by
    this thread meanwhile, instead of delaying the first pg_dump."""
    pg_dump = program("pg_dump", settings)
    with ThreadPoolExecutor(max_workers=settings.jobs, thread_name_prefix="dump") as pool:
        futures: dict[Future[FileEntry], str] = {
            pool.submit(
                _upload_child,
                plan,
                KIND_DATABASE,
                db,
                naming.database_file(db),
                pg_dump_argv(
                    pg_dump, db, settings.database(db).dump_args(settings.pg_dump_options)
                ),
                params,
                f"dumping database {db!r}",
            ): db
            for db in databases
        }
        try:
            small = _dump_globals_and_config(settings, params, plan, warnings)
        except BaseException:
            _stop_all(plan, futures)
            raise
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            _stop_all(plan, futures)
            raise _first_error(failed)
        results = {db: future.result() for future, db in futures.items()}
    return small + [results[db] for db in databases]


def _stop_all(plan: _Plan, futures: dict[Future[FileEntry], str]) -> None:
    plan.cancel.set()  # running dumps stop at their next read; their uploads abort
    for future in futures:
        future.cancel()
    wait(futures)


def _dump_globals_and_config(
    settings: Settings, params: ConnParams, plan: _Plan, warnings: list[str]
) -> list[FileEntry]:
    files = [_dump_globals(settings, params, plan)]
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
            files.append(_upload(plan, kind, base, base, io.BytesIO(text.encode())))
    return files


def _dump_globals(settings: Settings, params: ConnParams, plan: _Plan) -> FileEntry:
    argv = [program("pg_dumpall", settings), "--globals-only"]
    if settings.no_role_passwords:
        argv.append("--no-role-passwords")
    if params.dbname:
        argv += ["-l", params.dbname]
    log.info("dumping globals")
    return _upload_child(
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


def _upload_child(
    plan: _Plan,
    kind: str,
    name: str,
    base: str,
    argv: list[str],
    params: ConnParams,
    what: str,
) -> FileEntry:
    child = Child(argv, env=params.env(), secrets=params.secrets)
    try:
        entry = _upload(plan, kind, name, base, PipeReader(child.stdout), lambda: child.check(what))
    except BaseException as exc:
        exited_on_its_own = child.proc.poll()
        child.kill()
        if isinstance(exc, Interrupted):
            raise
        if exited_on_its_own not in (None, 0):
            raise _dump_error(child, what) from None  # the dump's own error is the cause
        raise
    log.info("%s done: %s", what, human_size(entry.size))
    return entry


_DATABASE_GONE = re.compile(r'database ".*" does not exist')


def _dump_error(child: Child, what: str) -> ProcessError:
    """The dump program's failure, with what to do for the two a rerun fixes."""
    error = child.error(what)
    code = error.returncode
    if _DATABASE_GONE.search(error.stderr_tail):
        message = (
            f"{what}: it no longer exists (dropped while the backup ran?): run the backup again"
        )
    elif code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        message = (
            f"{what}: {child.name} was killed by {name} (out of memory, or stopped by an "
            "administrator?): run the backup again"
        )
    else:
        return error
    return ProcessError(message, returncode=code, stderr_tail=error.stderr_tail)


def _upload(
    plan: _Plan,
    kind: str,
    name: str,
    base: str,
    source: Readable,
    before_commit: Callable[[], None] | None = None,
) -> FileEntry:
    """Stream one file into the set; the object exists only if everything succeeded."""
    encrypted = bool(plan.recipients)
    key = plan.set_prefix + naming.stored_name(base, compressed=plan.compress, encrypted=encrypted)
    reader: Any = _CancellableReader(source, plan.cancel)
    if plan.compress:
        reader = compression.compressing_reader(reader, plan.level)
    writer = plan.storage.open_writer(key)
    counted = HashingWriter(writer, plan.progress)
    try:
        if encrypted:
            crypto.encrypt_stream(reader, counted, plan.recipients)
        else:
            copy_stream(reader, counted)
        if plan.cancel.is_set():
            raise Interrupted("backup cancelled")
        if before_commit is not None:
            before_commit()
        writer.commit()
    except BaseException as exc:
        writer.abort()
        if plan.cancel.is_set() and not isinstance(exc, PgbackError):
            raise Interrupted("backup cancelled") from None
        raise
    return FileEntry(
        kind=kind,
        name=name,
        key=key,
        size=counted.size,
        sha256=counted.sha256,
        compression="zstd" if plan.compress else "none",
        encrypted=encrypted,
    )


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
