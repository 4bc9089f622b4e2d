"""Stream plumbing shared by backup, restore, download and verify: hashing, counting, copying."""

from __future__ import annotations

import hashlib
from typing import Any

from pgback.errors import IntegrityError
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
