"""pg_back's object names and how its files group into runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pgback.legacy import naming as n
from pgback.legacy.sets import group_runs, manifest_of
from pgback.storage.base import ObjectInfo


@pytest.mark.parametrize(
    ("key", "stem", "timestamp", "kind", "role", "algorithm"),
    [
        (
            "p/pg_globals_2025-04-13T21:34:08Z.sql.age",
            "pg_globals",
            "2025-04-13T21:34:08Z",
            "globals",
            n.MAIN_ENCRYPTED,
            None,
        ),
        (
            "p/pg_settings_2025-04-13_21-34-08.out",
            "pg_settings",
            "2025-04-13_21-34-08",
            "settings",
            n.MAIN,
            None,
        ),
        (
            "p/my_db_2025-04-13T23:34:08+02:00.dump",
            "my_db",
            "2025-04-13T23:34:08+02:00",
            "database",
            n.MAIN,
            None,
        ),
        (
            "p/shop_2025-04-13T21:34:08Z.dump.sha512",
            "shop",
            "2025-04-13T21:34:08Z",
            "database",
            n.SUM_PLAIN,
            "sha512",
        ),
        (
            "p/shop_2025-04-13T21:34:08Z.dump.sha256.age",
            "shop",
            "2025-04-13T21:34:08Z",
            "database",
            n.SUM_PLAIN_ENCRYPTED,
            "sha256",
        ),
        (
            "p/shop_2025-04-13T21:34:08Z.dump.age.sha1",
            "shop",
            "2025-04-13T21:34:08Z",
            "database",
            n.SUM_STORED,
            "sha1",
        ),
        (
            "p/shop_2025-04-13T21:34:08Z.createdb.sql",
            "shop",
            "2025-04-13T21:34:08Z",
            "createdb",
            n.MAIN,
            None,
        ),
        (
            "p/shop/shop_2025-04-13T21:34:08Z.tar",
            "shop",
            "2025-04-13T21:34:08Z",
            "database",
            n.MAIN,
            None,
        ),
        (
            "p/hba_file_2025-04-13T21:34:08Z.out.age",
            "hba_file",
            "2025-04-13T21:34:08Z",
            "hba",
            n.MAIN_ENCRYPTED,
            None,
        ),
    ],
)
def test_parse_key_pg_back_names(
    key: str, stem: str, timestamp: str, kind: str, role: str, algorithm: str | None
) -> None:
    name = n.parse_key("p/", key)

    assert name is not None
    assert (name.stem, name.timestamp, name.kind, name.role, name.algorithm) == (
        stem,
        timestamp,
        kind,
        role,
        algorithm,
    )


@pytest.mark.parametrize(
    "key",
    [
        "p/20250413T213408Z/pg_globals.sql.zst.age",  # pgback's own
        "p/README.txt",
        "p/shop_2025-04-13T21:34:08Z.dump.age.age",
        "p/shop_2025-13-13T21:34:08Z.dump",  # no such month
        "p/other/shop_2025-04-13T21:34:08Z.dump",  # a folder not named like the file
        "q/shop_2025-04-13T21:34:08Z.dump",  # outside the prefix
    ],
)
def test_parse_key_anything_else_is_not_pg_backs(key: str) -> None:
    assert n.parse_key("p/", key) is None


def test_parse_timestamp_both_formats_and_offsets() -> None:
    assert n.parse_timestamp("2025-04-13T21:34:08Z") == datetime(2025, 4, 13, 21, 34, 8, tzinfo=UTC)
    assert n.parse_timestamp("2025-04-13T23:34:08+02:00") == datetime(
        2025, 4, 13, 23, 34, 8, tzinfo=timezone(timedelta(hours=2))
    )
    assert n.parse_timestamp("2025-04-13_21-34-08") == datetime(2025, 4, 13, 21, 34, 8, tzinfo=UTC)


def _objects(*keys: str) -> list[ObjectInfo]:
    return [ObjectInfo(key, 10) for key in keys]


def test_group_runs_files_stamped_apart_within_a_run_form_one_set() -> None:
    runs = group_runs(
        "p/",
        _objects(
            "p/pg_globals_2025-04-13T21:34:08Z.sql",
            "p/pg_settings_2025-04-13T21:34:08Z.out",
            "p/app_2025-04-13T21:34:09Z.dump",
            "p/big_2025-04-13T22:50:00Z.dump",  # dumped after app, an hour later
            "p/pg_globals_2025-04-14T21:34:08Z.sql",  # the next night's run
            "p/app_2025-04-14T21:34:09Z.dump",
        ),
    )

    assert [r.set_id for r in runs] == ["2025-04-13T21:34:08Z", "2025-04-14T21:34:08Z"]
    assert manifest_of(runs[0]).databases == ["app", "big"]
    assert manifest_of(runs[1]).databases == ["app"]


def test_group_runs_without_globals_a_repeated_database_starts_a_new_run() -> None:
    runs = group_runs(
        "p/",
        _objects(
            "p/app_2025-04-13_21-00-00.dump",
            "p/big_2025-04-13_21-00-05.dump",
            "p/app_2025-04-13_22-00-00.dump",
        ),
    )

    assert [r.set_id for r in runs] == ["2025-04-13_21-00-00", "2025-04-13_22-00-00"]
