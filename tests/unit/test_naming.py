"""Set ids and object names: the remote layout users and scripts rely on."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pgback import naming

ODD_NAMES = [
    "my db",
    'it\'s "quoted"',
    "slash/and\\back",
    "per%cent",
    "dots..and.more",
    "..",
    "ünïcødé ✓ データ",
    "emoji 🐘",
    "tab\tand\nnewline",
    "%2F",  # looks like an escape already
    "UPPER lower 123 _-",
    "é" * 31 + "x",  # 63 bytes: PostgreSQL's longest name
    "🐘" * 15 + "abc",  # 63 bytes of four-byte characters
]


def test_make_set_id_aware_time_is_utc_sortable_and_colon_free() -> None:
    started = datetime(2025, 4, 13, 23, 34, 8, 999_000, tzinfo=timezone(timedelta(hours=2)))

    set_id = naming.make_set_id(started)

    assert set_id == "20250413T213408Z"
    assert ":" not in set_id and "/" not in set_id


def test_set_id_round_trip_returns_start_second_in_utc() -> None:
    started = datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC)

    assert naming.parse_set_id(naming.make_set_id(started)) == started


def test_set_id_order_string_order_matches_time_order() -> None:
    rng = random.Random(7)
    base = datetime(2020, 1, 1, tzinfo=UTC)
    times = [base + timedelta(seconds=rng.randrange(10**9)) for _ in range(200)]

    ids = [naming.make_set_id(t) for t in times]

    assert sorted(ids) == [naming.make_set_id(t) for t in sorted(times)]


def test_make_set_id_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        naming.make_set_id(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    "name",
    [
        "",
        "latest",
        "20250413T213408",
        "20250413T213408Z.bak",
        "2025-04-13T21:34:08Z",
        "20251332T000000Z",
    ],
)
def test_parse_set_id_foreign_name_is_none(name: str) -> None:
    assert naming.parse_set_id(name) is None


@pytest.mark.parametrize("name", ODD_NAMES)
def test_encode_name_odd_database_name_round_trips(name: str) -> None:
    encoded = naming.encode_name(name)

    assert naming.decode_name(encoded) == name


@pytest.mark.parametrize("name", ODD_NAMES)
def test_encode_name_odd_database_name_is_one_safe_path_segment(name: str) -> None:
    encoded = naming.encode_name(name)

    assert "/" not in encoded and "\\" not in encoded
    assert encoded not in (".", "..")
    assert all(c.isascii() and (c.isalnum() or c in "%_-") for c in encoded)


def test_encode_name_longest_name_fits_an_s3_key() -> None:
    longest = "🐘" * 15 + "abc"
    assert len(longest.encode()) == 63

    key = naming.set_prefix("some/prefix", "20250413T213408Z") + naming.stored_name(
        naming.database_file(longest), compressed=True, encrypted=True
    )

    assert len(key.encode()) <= 1024  # S3's key limit


def test_encode_name_distinct_names_give_distinct_objects() -> None:
    names = [*ODD_NAMES, "my%20db", "my_db", "my-db", "My db", "a.b", "a%2Eb"]

    encoded = [naming.encode_name(n) for n in names]

    assert len(set(encoded)) == len(names)


@pytest.mark.parametrize("bad", ["%", "%2", "%zz", "%2f", "a b", "a/b", "é", "a.b"])
def test_decode_name_text_encode_never_produces_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        naming.decode_name(bad)


def test_stored_name_suffixes_say_how_to_undo_them() -> None:
    assert naming.stored_name("x.dump", compressed=True, encrypted=True) == "x.dump.zst.age"
    assert naming.stored_name("x.dump", compressed=False, encrypted=True) == "x.dump.age"
    assert naming.stored_name("x.dump", compressed=True, encrypted=False) == "x.dump.zst"
    assert naming.stored_name("x.dump", compressed=False, encrypted=False) == "x.dump"


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", "20250413T213408Z/"),
        ("backups", "backups/20250413T213408Z/"),
        ("/a/b/", "a/b/20250413T213408Z/"),
    ],
)
def test_set_prefix_any_upload_prefix_gives_one_folder_per_set(prefix: str, expected: str) -> None:
    assert naming.set_prefix(prefix, "20250413T213408Z") == expected


@pytest.mark.parametrize("prefix", ["", "backups", "a/b"])
def test_split_key_key_inside_a_set_gives_set_id_and_file(prefix: str) -> None:
    key = naming.set_prefix(prefix, "20250413T213408Z") + "my%20db.dump.zst.age"

    assert naming.split_key(prefix, key) == ("20250413T213408Z", "my%20db.dump.zst.age")


@pytest.mark.parametrize(
    "key",
    [
        "backups/notes.txt",  # loose file in the prefix
        "backups/20250413T213408Z",  # no file part
        "backups/20250413T213408Z/",  # folder marker
        "backups/20250413T213408Z/sub/file",  # deeper than a set
        "backups/manual-copy/manifest.json",  # not a set id
        "backups/20250413T213408Z.old/manifest.json",
        "other/20250413T213408Z/manifest.json",  # another prefix
        "backupsX/20250413T213408Z/manifest.json",  # prefix is a folder, not a string prefix
        "20250413T213408Z/manifest.json",  # the bucket root, not our prefix
    ],
)
def test_split_key_foreign_object_is_ignored(key: str) -> None:
    assert naming.split_key("backups", key) is None
