"""A local directory as the object store (a mounted volume, NFS, a NAS): keys are relative paths.

`repository = file:///DIRECTORY`. Each object is written to a hidden temporary file in its
folder and renamed into place on commit, so a set's objects appear whole or not at all (on NFS
too: rename within a directory is atomic there). The directory must exist: pgback never creates
the mount point, so a volume that failed to mount is an error, not an empty repository.
"""

from __future__ import annotations

import builtins
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from pgback.config import Settings
from pgback.errors import NotFoundError, StorageError
from pgback.location import parse_location
from pgback.storage.base import ObjectInfo, ObjectWriter, SizeHint


class _LocalWriter:
    """Writes to a hidden temporary file, renamed into place on commit."""

    def __init__(self, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=final.parent)
        self._file = os.fdopen(fd, "wb")
        self._tmp = Path(tmp)
        self._final = final

    def write(self, data: bytes) -> int:
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def commit(self) -> None:
        self._file.close()
        os.replace(self._tmp, self._final)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def open_local(settings: Settings) -> LocalStorage:
    assert settings.repository is not None  # only file:// locations come here
    return LocalStorage(parse_location(settings.repository).path or "/")


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StorageError(f"key {key!r} escapes the storage directory")
        return path

    def describe(self) -> str:
        return f"file://{self.root}"

    def open_writer(self, key: str, size_hint: SizeHint | None = None) -> ObjectWriter:
        return _LocalWriter(self._path(key))

    def open_reader(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"object {key} does not exist in {self.root}") from None

    def put_bytes(self, key: str, data: bytes) -> None:
        writer = self.open_writer(key)
        writer.write(data)
        writer.commit()

    def get_bytes(self, key: str) -> bytes:
        with self.open_reader(key) as stream:
            return stream.read()

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            return
        found: builtins.list[ObjectInfo] = []
        for path in self.root.rglob("*"):
            if not path.is_file() or path.name.startswith(".partial-"):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                stat = path.stat()
                found.append(
                    ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))
                )
        yield from sorted(found, key=lambda info: info.key)

    def delete(self, keys: builtins.list[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            # drop the set folder once empty, as an object store would
            parent = path.parent
            while parent != self.root.resolve() and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

    def check(self) -> None:
        if not self.root.is_dir():
            raise StorageError(f"storage directory {self.root} does not exist: create it first")

    def now(self) -> datetime:
        """The file system's clock (that of the mtimes `list` reports), from an unnamed file."""
        self.check()  # never creates the directory: a volume that failed to mount is an error
        with tempfile.TemporaryFile(dir=self.root) as probe:
            return datetime.fromtimestamp(os.fstat(probe.fileno()).st_mtime, UTC)
