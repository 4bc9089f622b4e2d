"""zstd in the stream (pg_dump builds may lack zstd, so pgback compresses itself)."""

from __future__ import annotations

from typing import Any

import zstandard

from pgback.errors import IntegrityError

READ_SIZE = 1024 * 1024
# Input bytes per zstd frame at the fast levels (1, 2, negative). Whole buffers in one call
# avoid the streaming API's ring buffer, whose blocks take zstd's slower "external dictionary"
# path (docs/benchmark.md has the measurements); a small window loses next to nothing at frame
# boundaries. Concatenated frames are one valid zstd stream: every decoder reads them in a row.
FRAME_INPUT = 4 * 1024 * 1024


def compressing_reader(source: Any, level: int) -> Any:
    """A readable stream of the zstd-compressed bytes of `source` (frame checksums on)."""
    window = 1 << zstandard.ZstdCompressionParameters.from_level(level).window_log
    if window * 4 <= FRAME_INPUT:  # the fast levels: frames lose next to nothing
        return FramingCompressor(source, level)
    # higher levels look further back (2 MiB at level 3, 8 MiB at 19): one streamed frame
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
    return compressor.stream_reader(source, read_size=READ_SIZE)


class FramingCompressor:
    """Reads `source` FRAME_INPUT bytes at a time and hands out each piece as one zstd frame.

    Memory stays bounded: one input buffer and one compressed frame at a time.
    """

    def __init__(self, source: Any, level: int) -> None:
        self._source = source  # read with readinto(memoryview) -> int, as io's readers are
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        self._input = bytearray(FRAME_INPUT)
        self._frame = memoryview(b"")
        self._offset = 0
        self._started = False  # a frame was handed out
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        while self._offset >= len(self._frame):
            if self._eof:
                return b""
            self._next_frame()
        end = len(self._frame) if size < 0 else min(len(self._frame), self._offset + size)
        piece = bytes(self._frame[self._offset : end])
        self._offset = end
        return piece

    def _next_frame(self) -> None:
        view = memoryview(self._input)
        filled = 0
        while filled < FRAME_INPUT:
            count = self._source.readinto(view[filled : min(filled + READ_SIZE, FRAME_INPUT)])
            if not count:
                self._eof = True
                break
            filled += count
        if filled or not self._started:  # empty input is still one (empty) frame
            self._frame = memoryview(self._compressor.compress(view[:filled]))
            self._offset = 0
            self._started = True


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
