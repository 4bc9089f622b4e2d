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


class DumpSlots:
    """At most `count` dump programs at once. A slot is taken before the program starts and
    given back as soon as its output has ended and it has exited, so the rest of its upload
    (the last zstd frame, age, the PUT or the multipart completion) runs while the next dump
    starts: with `jobs` = 1 there is still one pg_dump at a time, but no wait between them."""

    def __init__(self, count: int, cancel: threading.Event) -> None:
        self._free = threading.Semaphore(count)
        self._cancel = cancel

    def take(self) -> _Slot:
        while not self._free.acquire(timeout=0.1):
            if self._cancel.is_set():
                raise Interrupted("backup cancelled")
        slot = _Slot(self._free)
        if self._cancel.is_set():
            slot.release()
            raise Interrupted("backup cancelled")
        return slot


class _Slot:
    def __init__(self, free: threading.Semaphore) -> None:
        self._free: threading.Semaphore | None = free

    def release(self) -> None:
        """Once; later calls do nothing (the end of the output, then the upload's end)."""
        free, self._free = self._free, None
        if free is not None:
            free.release()


class _OutputUntilExit:
    """A program's output; at its end, waits for the program to exit and gives its slot back."""

    def __init__(self, pipe: PipeReader, child: Child, slot: _Slot) -> None:
        self._pipe = pipe
        self._child = child
        self._slot = slot

    def read(self, size: int = -1, /) -> bytes:
        data = self._pipe.read(size)
        if not data:
            self._ended()
        return data

    def readinto(self, buffer: memoryview, /) -> int:
        count = self._pipe.readinto(buffer)
        if not count:
            self._ended()
        return count

    def _ended(self) -> None:
        self._child.wait()
        self._slot.release()


def upload_child(
    plan: UploadPlan,
    kind: str,
    name: str,
    base: str,
    argv: list[str],
    params: ConnParams,
    what: str,
    size_hint: Callable[[], int | None] | int | None = None,
    slots: DumpSlots | None = None,
) -> FileEntry:
    """`size_hint`, when a function, is called once the program has started (a query that
    need not delay it). `slots`: the program waits for one (see DumpSlots)."""
    slot = slots.take() if slots is not None else None
    try:
        child = Child(argv, env=params.env(), secrets=params.secrets)
        pipe = PipeReader(child.stdout)
        source: Readable = pipe if slot is None else _OutputUntilExit(pipe, child, slot)
        try:
            entry = upload(
                plan,
                kind,
                name,
                base,
                source,
                lambda: child.check(what),
                size_hint=size_hint() if callable(size_hint) else size_hint,
            )
        except BaseException as exc:
            exited_on_its_own = child.proc.poll()
            child.kill()
            if isinstance(exc, Interrupted):
                raise
            if exited_on_its_own not in (None, 0):
                raise _dump_error(child, what) from None  # the dump's own error is the cause
            raise
    finally:
        if slot is not None:
            slot.release()
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
