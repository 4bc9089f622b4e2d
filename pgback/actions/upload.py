"""Streaming one file into a set: producer (a program's stdout, or bytes) -> zstd -> age ->
the storage's writer, hashed on the way. The object exists only if everything succeeded."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pgback import naming
from pgback.actions.context import log
from pgback.adapters import compression, crypto
from pgback.adapters.postgres import ConnParams
from pgback.errors import Interrupted, PgbackError, ProcessError
from pgback.manifest import Encryption, FileEntry
from pgback.process import Child
from pgback.progress import Progress, human_size
from pgback.storage.base import SizeHint, Storage
from pgback.streams import CancellableReader, HashingWriter, PipeReader, Readable, copy_stream


@dataclass
class UploadPlan:
    """Everything a file upload needs to know, decided once per run."""

    storage: Storage
    set_prefix: str
    compress: bool
    level: int
    recipients: list[Any]
    encryption: Encryption
    cancel: threading.Event
    progress: Progress


def upload_child(
    plan: UploadPlan,
    kind: str,
    name: str,
    base: str,
    argv: list[str],
    params: ConnParams,
    what: str,
    size_hint: int | None = None,
) -> FileEntry:
    child = Child(argv, env=params.env(), secrets=params.secrets)
    try:
        entry = upload(
            plan,
            kind,
            name,
            base,
            PipeReader(child.stdout),
            lambda: child.check(what),
            size_hint=size_hint,
        )
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


def upload(
    plan: UploadPlan,
    kind: str,
    name: str,
    base: str,
    source: Readable,
    before_commit: Callable[[], None] | None = None,
    size_hint: int | None = None,
) -> FileEntry:
    """Stream one file into the set; the object exists only if everything succeeded.
    `size_hint`: about how big the stream may get (the database's size), for the storage."""
    encrypted = bool(plan.recipients)
    key = plan.set_prefix + naming.stored_name(base, compressed=plan.compress, encrypted=encrypted)
    counted_input = CancellableReader(source, plan.cancel)
    reader: Any = counted_input
    if plan.compress:
        reader = compression.compressing_reader(reader, plan.level)
    hint = None if size_hint is None else SizeHint(size_hint, lambda: counted_input.bytes_read)
    writer = plan.storage.open_writer(key, hint)
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
