"""Streaming one file into a set: producer (a program's stdout, or bytes) -> zstd -> age ->
the storage's writer, hashed on the way. The object exists only if everything succeeded."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

from pgback import naming
from pgback.actions.context import log
from pgback.adapters import compression, crypto
from pgback.adapters.postgres import ConnParams
from pgback.errors import Interrupted, PgbackError, ProcessError
from pgback.manifest import Encryption, FileEntry
from pgback.process import Child
from pgback.progress import Progress, human_size
from pgback.storage.base import Storage
from pgback.streams import HashingWriter, copy_stream

# pg_dump writes its archive in small pieces; a 1 MiB pipe (Linux's default is 64 KiB, and
# 1 MiB is the default pipe-max-size for unprivileged processes) lets each read take more at a
# time, and reading the pipe's file descriptor directly takes what is there instead of looping
# until a full read: fewer wake-ups and system calls on both sides of the pipe.
PIPE_SIZE = 1024 * 1024


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


def upload_child(
    plan: UploadPlan,
    kind: str,
    name: str,
    base: str,
    argv: list[str],
    params: ConnParams,
    what: str,
) -> FileEntry:
    child = Child(argv, env=params.env(), secrets=params.secrets)
    try:
        entry = upload(plan, kind, name, base, PipeReader(child.stdout), lambda: child.check(what))
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
