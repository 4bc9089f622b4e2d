"""In-memory storage: for unit tests of the actions and the conformance suite."""

from __future__ import annotations

import builtins
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from pgback.errors import NotFoundError
from pgback.storage.base import ObjectInfo, ObjectWriter, SizeHint


class _MemoryWriter:
    def __init__(self, store: MemoryStorage, key: str) -> None:
        self._store = store
        self._key = key
        self._buffer = bytearray()
        self._done = False

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def commit(self) -> None:
        if not self._done:
            self._store.objects[self._key] = (bytes(self._buffer), datetime.now(UTC))
            self._done = True

    def abort(self) -> None:
        self._done = True


class MemoryStorage:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, datetime]] = {}

    def describe(self) -> str:
        return "memory://"

    def open_writer(self, key: str, size_hint: SizeHint | None = None) -> ObjectWriter:
        return _MemoryWriter(self, key)

    def open_reader(self, key: str) -> BinaryIO:
        return io.BytesIO(self.get_bytes(key))

    def put_bytes(self, key: str, data: bytes) -> None:
        self.objects[key] = (bytes(data), datetime.now(UTC))

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.objects[key][0]
        except KeyError:
            raise NotFoundError(f"object {key} does not exist in memory storage") from None

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        for key in sorted(self.objects):
            if key.startswith(prefix):
                data, modified = self.objects[key]
                yield ObjectInfo(key, len(data), modified)

    def delete(self, keys: builtins.list[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)

    def check(self) -> None:
        pass

    def now(self) -> datetime:
        return datetime.now(UTC)  # the clock put_bytes and commit stamp objects with
