"""zstd in the stream: concatenated frames that any zstd decoder reads as one stream."""

from __future__ import annotations

import io
import random
import subprocess
from pathlib import Path

import pytest
import zstandard

from pgback.adapters.compression import FRAME_INPUT, DecompressingWriter, compressing_reader
from pgback.errors import IntegrityError


def _dump_like(size: int) -> bytes:
    """Text rows, compressible like pg_dump's COPY data, with some randomness."""
    rng = random.Random(size)
    rows = (
        f"{i}\t{rng.randrange(10**9)}\tname-{rng.randrange(1000)}\n" for i in range(size // 16 + 1)
    )
    return "".join(rows).encode()[:size]


def _compress(data: bytes, read_size: int = 8192) -> bytes:
    reader = compressing_reader(io.BytesIO(data), 1)  # the default level
    out = bytearray()
    while piece := reader.read(read_size):
        assert len(piece) <= read_size
        out += piece
    return bytes(out)


def _frames(compressed: bytes) -> int:
    count, offset = 0, 0
    while offset < len(compressed):
        size = _frame_size(compressed[offset:])
        offset += size
        count += 1
    return count


def _frame_size(data: bytes) -> int:
    # decompress one frame and ask how much input it used
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    decompressor.decompress(data)
    return len(data) - len(decompressor.unused_data)


@pytest.mark.parametrize("size", [0, 1, FRAME_INPUT, FRAME_INPUT + 1, 2 * FRAME_INPUT + 12345])
def test_compressed_stream_round_trips_whatever_the_size(size: int) -> None:
    data = _dump_like(size)
    compressed = _compress(data)

    sink = io.BytesIO()
    writer = DecompressingWriter(sink, "test.dump")
    writer.write(compressed)
    writer.close()
    assert sink.getvalue() == data
    # one frame per FRAME_INPUT bytes of input, and a single empty frame for empty input
    assert _frames(compressed) == max(1, -(-size // FRAME_INPUT))


@pytest.mark.parametrize("level", [-3, 3, 12])
def test_other_levels_round_trip_too(level: int) -> None:
    data = _dump_like(FRAME_INPUT + 4321)
    reader = compressing_reader(io.BytesIO(data), level)
    compressed = b"".join(iter(lambda: reader.read(65536), b""))

    assert zstandard.ZstdDecompressor().stream_reader(compressed).read() == data
    # the fast levels are cut in frames; from level 3 the window is too long for 4 MiB frames
    assert (_frames(compressed) > 1) == (level < 3)


def test_the_zstd_command_line_tool_reads_all_frames(tmp_path: Path) -> None:
    data = _dump_like(2 * FRAME_INPUT + 777)
    (tmp_path / "db.dump.zst").write_bytes(_compress(data, read_size=65536))

    subprocess.run(["zstd", "-q", "-d", str(tmp_path / "db.dump.zst")], check=True)

    assert (tmp_path / "db.dump").read_bytes() == data


def test_a_damaged_frame_is_reported_as_corruption() -> None:
    compressed = bytearray(_compress(_dump_like(FRAME_INPUT + 100)))
    compressed[len(compressed) // 3] ^= 0xFF

    writer = DecompressingWriter(io.BytesIO(), "db.dump.zst")
    with pytest.raises(IntegrityError, match=r"db\.dump\.zst: zstd data is corrupted"):
        writer.write(bytes(compressed))
        writer.close()
