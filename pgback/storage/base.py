"""The storage protocol every backend implements (and the conformance suite checks)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime | None = None


@dataclass(frozen=True)
class SizeHint:
    """What a writer is told about the stream it will store: about how many bytes of input it
    comes from (`total`: a database's size) and, when known, how many of them have been read
    so far (`read()`). The stored bytes are that input compressed and encrypted, so a writer
    can tell from the two how big the object is heading to be."""

    total: int
    read: Callable[[], int] | None = None


class ObjectWriter(Protocol):
    """A streaming upload: nothing is visible under `key` until `commit()` succeeds."""

    def write(self, data: bytes) -> int: ...

    def flush(self) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class Storage(Protocol):
    def describe(self) -> str:
        """Where the objects live, for messages (`s3://bucket`, a path...); no secrets."""
        ...

    def open_writer(self, key: str, size_hint: SizeHint | None = None) -> ObjectWriter:
        """A writer whose object appears only on commit. `size_hint`, when known, is about
        how big the object's input is and how much of it was read: S3 sizes its parts from it."""
        ...

    def open_reader(self, key: str) -> BinaryIO:
        """A stream of the object's bytes; NotFoundError when it does not exist."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in key order."""
        ...

    def delete(self, keys: builtins.list[str]) -> None:
        """Delete these keys, in the order given (missing keys are not an error)."""
        ...

    def check(self) -> None:
        """Fail early with a clear StorageError when the destination is unusable."""
        ...

    def now(self) -> datetime:
        """The store's own current time, on the clock it stamps `last_modified` with: comparing
        the two is immune to clock skew between hosts and to a virtual clock."""
        ...


@runtime_checkable
class UploadJanitor(Protocol):
    """Backends whose streaming uploads can outlive a killed writer (S3 multipart uploads):
    purge finds and aborts those of dead runs. Backends that write atomically lack it."""

    def list_uploads(self, prefix: str) -> builtins.list[tuple[str, str]]:
        """Unfinished uploads under `prefix`: (key, upload id)."""
        ...

    def abort_upload(self, key: str, upload_id: str) -> None: ...
