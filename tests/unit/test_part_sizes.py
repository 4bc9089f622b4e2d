"""How the S3 writer sizes its parts: from the database's size, within S3's 10,000 parts."""

from __future__ import annotations

import pytest

from pgback.bench.simulate import DiscardingS3Client
from pgback.storage.s3 import S3Options, S3Storage
from pgback.storage.s3_multipart import (
    MAX_PART_SIZE,
    MAX_PARTS,
    MIB,
    PLANNED_PARTS,
    MultipartWriter,
    in_flight_for,
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


@pytest.mark.parametrize(("part_size", "in_flight"), [(8 * MIB, 2), (11 * MIB, 1), (159 * MIB, 1)])
def test_fewer_parts_fly_as_parts_grow(part_size: int, in_flight: int) -> None:
    assert in_flight_for(2, 8 * MIB, part_size) == in_flight


def _write(storage: S3Storage, total: int, hint: int | None) -> None:
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
