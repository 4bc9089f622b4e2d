"""Stream plumbing shared by backup, restore, download and verify: hashing, counting, copying,
reading a program's pipe in big pieces, stopping a stream when a run is cancelled."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from typing import IO, Any, Protocol

from pgback.errors import IntegrityError, Interrupted
from pgback.progress import Progress

CHUNK = 1024 * 1024


class HashingWriter:
    """Counts and hashes what passes through to `inner` (the bytes actually stored)."""

    def __init__(self, inner: Any, progress: Progress | None = None) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()
        self.size = 0
        self._progress = progress

    def write(self, data: bytes) -> int:
        self._inner.write(data)
        self._hash.update(data)
        self.size += len(data)
        if self._progress is not None:
            self._progress.add(len(data))
        return len(data)

    def flush(self) -> None:
        self._inner.flush()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class VerifyingReader:
    """Reads `inner`, and at its end checks size and sha256 against the manifest's record."""

    def __init__(
        self,
        inner: Any,
        *,
        expected_size: int,
        expected_sha256: str,
        what: str,
        progress: Progress | None = None,
    ) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()
        self._expected_size = expected_size
        self._expected_sha = expected_sha256
        self._what = what
        self._progress = progress
        self.size = 0
        self.verified = False

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._inner.read(size if size and size > 0 else CHUNK)
        if data:
            self._hash.update(data)
            self.size += len(data)
            if self._progress is not None:
                self._progress.add(len(data))
            if self.size > self._expected_size:
                raise IntegrityError(
                    f"{self._what}: larger than the manifest's {self._expected_size} bytes"
                    + IntegrityError.hint
                )
        else:
            self._check()
        return data

    def _check(self) -> None:
        if self.verified:
            return
        if self.size != self._expected_size:
            raise IntegrityError(
                f"{self._what}: truncated or altered: {self.size} bytes read, "
                f"manifest says {self._expected_size}{IntegrityError.hint}"
            )
        # no sha256 recorded (a pg_back file without a sha256 checksum file): the size only
        if self._expected_sha and self._hash.hexdigest() != self._expected_sha:
            raise IntegrityError(
                f"{self._what}: sha256 differs from the manifest: corrupted{IntegrityError.hint}"
            )
        self.verified = True

    def finish(self) -> None:
        """Drain what the consumer left unread, then check."""
        while self.read(CHUNK):
            pass
        self._check()


def copy_stream(reader: Any, writer: Any) -> None:
    while True:
        chunk = reader.read(CHUNK)
        if not chunk:
            return
        writer.write(chunk)


# pg_dump writes its archive in small pieces; a 1 MiB pipe (Linux's default is 64 KiB, and
# 1 MiB is the default pipe-max-size for unprivileged processes) lets each read take more at a
# time, and reading the pipe's file descriptor directly takes what is there instead of looping
# until a full read: fewer wake-ups and system calls on both sides of the pipe.
PIPE_SIZE = 1024 * 1024


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


class CancellableReader:
    """Stops the stream as soon as the run is cancelled (SIGTERM, a sibling failed), and
    counts what was read (how far into its input the upload is)."""

    def __init__(self, inner: Readable, cancel: threading.Event) -> None:
        self._inner = inner
        self._cancel = cancel
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        if self._cancel.is_set():
            raise Interrupted("backup cancelled")
        data = self._inner.read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        if self._cancel.is_set():
            raise Interrupted("backup cancelled")
        count = self._inner.readinto(buffer)
        self.bytes_read += count
        return count
