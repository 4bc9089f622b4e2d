"""Purge across several real sets, with the clock controlled through the set ids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from support import pending_uploads, restore_to

from pgback.actions.backup import run_backup
from pgback.actions.catalog import scan_sets
from pgback.actions.purge import run_purge
from pgback.actions.restore import run_restore
from pgback.config import Settings
from pgback.errors import IncompleteSetError, StorageError
from pgback.naming import make_set_id, parse_set_id
from pgback.storage import open_storage
from pgback.storage.base import Storage
from pgback.testbed import PostgresServer, S3Server

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]
NOW = datetime(2025, 6, 15, 3, 0, 0, tzinfo=UTC)
SMALL_DB = "per%cent.dots.."  # the smallest database: these tests are about sets, not data
FOREIGN = [
    "backups/README.txt",
    "backups/manual-copy/manifest.json",
    "backups/20200101T000000Z.bak/x.dump",
    "elsewhere/20200101T000000Z/manifest.json",
]


def at(days_ago: float) -> Callable[[], datetime]:
    moment = NOW - timedelta(days=days_ago)
    return lambda: moment


def make_sets(settings: Settings, *days_ago: float) -> list[str]:
    return [run_backup(settings, clock=at(days)).set_id for days in days_ago]


def set_ids(s3: S3Server, bucket: str) -> list[str]:
    """The set folders left in the bucket (anything with a set id for a name)."""
    folders = {key.split("/")[1] for key in s3.list_keys(bucket, "backups/") if key.count("/") == 2}
    return sorted(f for f in folders if parse_set_id(f) is not None)


def make_incomplete(s3: S3Server, bucket: str, set_id: str) -> None:
    """What a backup that died before its manifest leaves behind: some files, no manifest."""
    client = s3.client()
    for name in ("pg_globals.sql.zst", "app.dump.zst"):
        client.put_object(Bucket=bucket, Key=f"backups/{set_id}/{name}", Body=b"partial")


def put_foreign(s3: S3Server, bucket: str) -> None:
    for key in FOREIGN:
        s3.client().put_object(Bucket=bucket, Key=key, Body=b"not pgback's")


def test_purge_older_than_removes_old_sets_whole_and_keeps_the_rest(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=SMALL_DB, purge_older_than="15d")
    old1, old2, recent, newest = make_sets(
        settings_for(bucket, include_dbs=SMALL_DB), 40, 20, 10, 1
    )
    put_foreign(s3, bucket)

    outcomes = run_purge(settings, now=NOW)

    assert [(o.decision.set_id, o.removed) for o in outcomes] == [
        (newest, False),
        (recent, False),
        (old2, True),
        (old1, True),
    ]
    assert outcomes[2].decision.reason == "age 20d > purge_older_than 15d"
    assert set_ids(s3, bucket) == [recent, newest]
    assert not any(old1 in key or old2 in key for key in s3.list_keys(bucket))
    assert sorted(set(s3.list_keys(bucket)) & set(FOREIGN)) == sorted(FOREIGN)


def test_purge_dry_run_reports_the_plan_and_deletes_nothing(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=SMALL_DB, purge_older_than="1d")
    make_sets(settings_for(bucket, include_dbs=SMALL_DB), 30, 3, 2)
    put_foreign(s3, bucket)
    before = s3.list_keys(bucket)

    outcomes = run_purge(settings, now=NOW, dry_run=True)

    assert s3.list_keys(bucket) == before
    assert [o.decision.keep for o in outcomes] == [True, False, False]
    assert not any(o.removed for o in outcomes)


def test_purge_min_keep_never_fewer_complete_sets_than_asked(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    plain = settings_for(bucket, include_dbs=SMALL_DB)
    ids = make_sets(plain, 50, 40, 30, 20)
    make_incomplete(s3, bucket, make_set_id(NOW - timedelta(days=25)))

    run_purge(settings_for(bucket, purge_older_than="1d", purge_min_keep=3), now=NOW)

    assert set_ids(s3, bucket) == ids[1:]


def test_purge_min_keep_all_keeps_every_complete_set(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    ids = make_sets(settings_for(bucket, include_dbs=SMALL_DB), 300, 200, 100)

    run_purge(settings_for(bucket, purge_older_than="1d", purge_min_keep="all"), now=NOW)

    assert set_ids(s3, bucket) == sorted(ids)


def test_purge_everything_too_old_still_keeps_the_newest_complete_set(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    ids = make_sets(settings_for(bucket, include_dbs=SMALL_DB), 90, 60)
    newer_incomplete = make_set_id(NOW - timedelta(days=59))
    make_incomplete(s3, bucket, newer_incomplete)

    run_purge(settings_for(bucket, purge_older_than="1d", keep_last=1), now=NOW)

    # the newest complete set survives; the newer incomplete one may be a backup in progress
    assert set_ids(s3, bucket) == [ids[1], newer_incomplete]


def test_purge_incomplete_sets_older_than_the_newest_complete_are_removed(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=SMALL_DB)
    dead = make_set_id(NOW - timedelta(days=3))
    make_incomplete(s3, bucket, dead)
    (complete,) = make_sets(settings, 2)
    in_progress = make_set_id(NOW - timedelta(minutes=1))
    make_incomplete(s3, bucket, in_progress)

    outcomes = run_purge(settings_for(bucket, purge_older_than="30d"), now=NOW)

    assert set_ids(s3, bucket) == [complete, in_progress]
    reasons = {o.decision.set_id: o.decision.reason for o in outcomes}
    assert "incomplete" in reasons[dead] and "in progress" in reasons[in_progress]


def test_backup_with_a_policy_purges_after_the_new_set_is_complete(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    old, recent = make_sets(settings_for(bucket, include_dbs=SMALL_DB), 10, 2)

    result = run_backup(
        settings_for(bucket, include_dbs=SMALL_DB, purge_older_than="7d"), clock=at(0)
    )

    assert [(o.decision.set_id, o.removed) for o in result.purge] == [
        (result.set_id, False),
        (recent, False),
        (old, True),
    ]
    assert set_ids(s3, bucket) == [recent, result.set_id]


def test_backup_without_a_policy_removes_nothing(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=SMALL_DB)
    make_sets(settings, 1000, 500)

    result = run_backup(settings, clock=at(0))

    assert result.purge == []
    assert len(set_ids(s3, bucket)) == 3


class _FailingAfter:
    """Real S3 storage whose connection drops after `allowed` deletions (an outage mid-purge)."""

    def __init__(self, inner: Storage, allowed: int) -> None:
        self._inner = inner
        self.allowed = allowed

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            if self.allowed == 0:
                raise StorageError(f"deleting {key}: the S3 endpoint stopped answering")
            self._inner.delete([key])
            self.allowed -= 1


def test_purge_interrupted_mid_set_leaves_it_incomplete_never_complete_but_broken(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    settings_for: SettingsFor,
) -> None:
    settings = settings_for(bucket, include_dbs=SMALL_DB, purge_older_than="7d")
    old, _ = make_sets(settings_for(bucket, include_dbs=SMALL_DB), 10, 1)
    outage = _FailingAfter(open_storage(settings), allowed=1)

    with pytest.raises(StorageError):
        run_purge(settings, storage=outage, now=NOW)  # type: ignore[arg-type]

    summary = {s.set_id: s for s in scan_sets(open_storage(settings), "backups")}[old]
    assert not summary.complete
    assert len(summary.objects) > 0  # only the manifest went
    with pytest.raises(IncompleteSetError):
        run_restore(settings, old, restore_to(pg_target))
    run_purge(settings, now=NOW)  # the next purge finishes the job
    assert old not in set_ids(s3, bucket)


def test_purge_aborts_unfinished_uploads_of_dead_sets(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=SMALL_DB, purge_older_than="30d")
    dead = make_set_id(NOW - timedelta(days=2))
    client = s3.client()
    client.create_multipart_upload(Bucket=bucket, Key=f"backups/{dead}/app.dump.zst")
    make_sets(settings_for(bucket, include_dbs=SMALL_DB), 1)
    current = make_set_id(NOW - timedelta(minutes=1))
    client.create_multipart_upload(Bucket=bucket, Key=f"backups/{current}/app.dump.zst")

    run_purge(settings, now=NOW)

    assert pending_uploads(s3, bucket) == [f"backups/{current}/app.dump.zst"]
