"""How the S3 writer sizes its parts: from the database's size and how well the stream
compresses, within S3's 10,000 parts, and how many it holds in memory at once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from pgback.actions.upload import UploadPlan, upload
from pgback.bench.simulate import DiscardingS3Client, DumpLikeSource
from pgback.manifest import Encryption
from pgback.progress import Progress
from pgback.storage import s3_multipart
from pgback.storage.base import SizeHint
from pgback.storage.s3 import S3Options, S3Storage
from pgback.storage.s3_multipart import (
    MAX_PART_SIZE,
    MAX_PARTS,
    MIB,
    PLANNED_PARTS,
    MultipartWriter,
    expected_object_size,
    next_part_size,
    part_size_for,
)

GB = 1000**3


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (None, 8 * MIB),  # globals, config files: the configured size
        (10 * GB, 8 * MIB),  # fits in 9,000 parts of 8 MiB
        (75 * GB, 8 * MIB),
        (100 * GB, 11 * MIB),  # 100 GB / 9,000 = 10.6 MiB, rounded up to whole MiB
        (1500 * GB, 159 * MIB),
        (100_000 * GB, MAX_PART_SIZE),  # never more than S3's 5 GiB
    ],
)
def test_part_size_holds_the_hinted_size_in_planned_parts(hint: int | None, expected: int) -> None:
    size = part_size_for(8 * MIB, hint)
    assert size == expected
    if hint and size < MAX_PART_SIZE:
        assert size * PLANNED_PARTS >= hint


def test_the_expected_object_is_the_rest_of_the_input_at_the_ratio_seen_so_far() -> None:
    read = 0
    hint = SizeHint(1000, lambda: read)
    assert expected_object_size(hint, 0) == 1000  # nothing read: as big as its input
    read = 100
    assert expected_object_size(hint, 25) == 250  # 4x so far: 25 + 900 / 4
    read = 1200
    assert expected_object_size(hint, 300) == 300  # past its hint: what is there
    assert expected_object_size(SizeHint(1000), 25) == 1000  # no reading of the input


def test_parts_spread_the_rest_over_the_plan_and_never_shrink() -> None:
    assert next_part_size(8 * MIB, 0, 0, 75 * GB) == 8 * MIB
    # 1,000 GB of dump data compressing 4x, hinted as a 1,500 GB database: 380 GB expected
    assert next_part_size(8 * MIB, 0, 0, 380 * GB) == 41 * MIB
    assert next_part_size(41 * MIB, 5000, 200 * GB, 250 * GB) == 41 * MIB  # not smaller
    assert next_part_size(8 * MIB, 8000, 380 * GB, 400 * GB) == 20 * MIB  # catching up
    assert next_part_size(8 * MIB, PLANNED_PARTS, 380 * GB, 400 * GB) == 8 * MIB  # growth's turn
    assert next_part_size(8 * MIB, 0, 0, 10**15) == MAX_PART_SIZE


class _Compressing:
    """The stream as the writer sees it in a backup: `ratio` of what was read gets stored."""

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio
        self.read = 0

    def feed(self, writer: MultipartWriter, stored: int, piece: bytes) -> None:
        for _ in range(stored // len(piece)):
            self.read += int(len(piece) / self.ratio)
            writer.write(piece)


@pytest.fixture
def small_plan(monkeypatch: pytest.MonkeyPatch) -> int:
    """A plan of 20 parts (growth every 2 past it) stands in for 9,000 (every 100)."""
    monkeypatch.setattr(s3_multipart, "PLANNED_PARTS", 20)
    monkeypatch.setattr(s3_multipart, "GROWTH_EVERY", 2)
    return 20


def test_a_compressible_dump_gets_parts_sized_for_what_it_stores(small_plan: int) -> None:
    client = DiscardingS3Client()
    storage = S3Storage(S3Options(bucket="b"), client=client)  # type: ignore[arg-type]
    stream = _Compressing(ratio=0.25)
    # a 1 GiB database whose dump compresses 4x: 256 MiB stored, 12.8 MiB a part over 20
    writer = MultipartWriter(
        storage, "set/db.dump.zst.age", SizeHint(1024 * MIB, lambda: stream.read)
    )
    stream.feed(writer, 256 * MIB, b"x" * MIB)
    writer.commit()
    check = client.check
    assert check.bytes == 256 * MIB and not check.problems
    assert check.parts <= small_plan
    # the first part is 8 MiB, the 248 MiB left over 19 parts: 14 MiB; sized from the
    # database alone (as if nothing compressed) each part would be 52 MiB
    assert check.largest <= 14 * MIB
    assert part_size_for(8 * MIB, 1024 * MIB) == 52 * MIB


def test_a_dump_that_stops_compressing_still_fits_in_10000_parts(
    monkeypatch: pytest.MonkeyPatch, small_plan: int
) -> None:
    monkeypatch.setattr(s3_multipart, "MAX_PARTS", 30)
    client = DiscardingS3Client()
    storage = S3Storage(S3Options(bucket="b"), client=client)  # type: ignore[arg-type]
    stream = _Compressing(ratio=0.05)
    writer = MultipartWriter(
        storage, "set/db.dump.zst.age", SizeHint(1024 * MIB, lambda: stream.read)
    )
    stream.feed(writer, 24 * MIB, b"x" * MIB)  # the first half of the input: 20x
    stream.ratio = 1.0
    stream.feed(writer, 512 * MIB, b"x" * MIB)  # the other half does not compress
    writer.commit()
    check = client.check
    assert check.bytes == 536 * MIB and not check.problems
    assert small_plan < check.parts <= 30


class _SlowClient(DiscardingS3Client):
    """Parts take a while to upload; the most bytes uploading at once are recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.flying = 0
        self.most_flying = 0
        self._count = threading.Lock()

    def upload_part(self, *, Body: bytes, **kwargs: Any) -> dict[str, str]:
        with self._count:
            self.flying += len(Body)
            self.most_flying = max(self.most_flying, self.flying)
        time.sleep(0.02)
        with self._count:
            self.flying -= len(Body)
        return super().upload_part(Body=Body, **kwargs)


@pytest.mark.parametrize(("hinted_mib", "most_flying_mib"), [(None, 16), (1024, 52)])
def test_parts_in_flight_stay_within_the_configured_memory(
    small_plan: int, hinted_mib: int | None, most_flying_mib: int
) -> None:
    # 2 x 8 MiB may upload at once; a part bigger than that uploads alone
    client = _SlowClient()
    storage = S3Storage(S3Options(bucket="b"), client=client)  # type: ignore[arg-type]
    hint = SizeHint(hinted_mib * MIB) if hinted_mib else None  # no reading: sized from the hint
    writer = MultipartWriter(storage, "set/db.dump", hint)
    for _ in range(200):
        writer.write(b"y" * MIB)
    writer.commit()
    assert client.check.bytes == 200 * MIB and not client.check.problems
    assert client.most_flying == most_flying_mib * MIB


def _write(storage: S3Storage, total: int, hint: SizeHint | None) -> None:
    writer = MultipartWriter(storage, "set/db.dump.zst.age", hint)
    piece = b"x" * 4096
    for _ in range(total // len(piece)):
        writer.write(piece)
    writer.commit()


def test_a_stream_bigger_than_any_hint_still_fits_in_10000_parts() -> None:
    # tiny parts (1 KiB) stand in for 8 MiB ones: 9,000 of them are the plan, then they grow
    client = DiscardingS3Client()
    storage = S3Storage(S3Options(bucket="b", part_size=1024), client=client)  # type: ignore[arg-type]
    _write(storage, 40 * 1024 * 1024, hint=None)  # 40,960 parts' worth at the first size
    check = client.check
    assert check.bytes == 40 * 1024 * 1024
    assert PLANNED_PARTS < check.parts <= MAX_PARTS
    assert check.sizes_by_thousand[:9] == [1024] * 9  # no growth while within the plan
    assert check.largest > 1024
    assert not [p for p in check.problems if "under 5 MiB" not in p]  # the tiny parts aside


def test_a_backup_upload_sizes_parts_from_its_compressed_stream(small_plan: int) -> None:
    # the real upload (zstd level 1) of dump-like data that compresses about 4x, with the
    # hint backup gives (the database's size, 1.5 times its dump's data)
    client = DiscardingS3Client()
    storage = S3Storage(S3Options(bucket="b", part_size=5 * MIB), client=client)  # type: ignore[arg-type]
    plan = UploadPlan(
        storage=storage,
        set_prefix="set/",
        compress=True,
        level=1,
        recipients=[],
        encryption=Encryption("none", ()),
        cancel=threading.Event(),
        progress=Progress("test", enabled=False),
    )
    source = DumpLikeSource(320 * MIB)
    entry = upload(plan, "database", "db", "db", source, size_hint=480 * MIB)
    check = client.check
    assert check.bytes == entry.size and not check.problems
    assert check.parts <= small_plan
    # what it stores (about 81 MiB) over 20 parts, not the 480 MiB database over 20 (24 MiB)
    assert 5 * MIB < check.largest <= -(-entry.size * 2 // small_plan)
    assert part_size_for(5 * MIB, 480 * MIB) == 24 * MIB
