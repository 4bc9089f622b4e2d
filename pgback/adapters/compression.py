"""zstd in the stream (pg_dump builds may lack zstd, so pgback compresses itself)."""

from __future__ import annotations

from typing import Any, BinaryIO

import zstandard

from pgback.errors import IntegrityError

READ_SIZE = 1024 * 1024


def compressing_reader(source: BinaryIO, level: int) -> Any:
    """A readable stream of the zstd-compressed bytes of `source` (frame checksum on)."""
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
    return compressor.stream_reader(source, read_size=READ_SIZE)


class DecompressingWriter:
    """Write compressed bytes; decompressed bytes go to `target`."""

    def __init__(self, target: Any, what: str) -> None:
        self._what = what
        self._target = target
        self._inner = zstandard.ZstdDecompressor().stream_writer(
            target, write_size=READ_SIZE, closefd=False
        )

    def write(self, data: bytes) -> int:
        try:
            self._inner.write(data)
        except zstandard.ZstdError as exc:
            raise IntegrityError(
                f"{self._what}: zstd data is corrupted ({exc}){IntegrityError.hint}"
            ) from None
        return len(data)

    def flush(self) -> None:
        self._inner.flush()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._inner.flush()  # type: ignore[no-untyped-call]
