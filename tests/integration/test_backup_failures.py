"""A backup that cannot finish leaves nothing that looks complete, and says why."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import pending_uploads

from pgback.actions.backup import BackupResult, run_backup
from pgback.actions.catalog import scan_sets
from pgback.actions.download import run_download
from pgback.actions.locking import backup_lock
from pgback.config import Settings
from pgback.errors import DatabaseError, LockedError, ProcessError, StorageError
from pgback.manifest import KIND_HBA, KIND_IDENT
from pgback.storage import open_storage
from pgback.testbed import PostgresServer, S3Server

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]


@pytest.fixture
def no_entry_database(pg: PostgresServer) -> Iterator[str]:
    """A database the backup role `alice` may not connect to (its CONNECT was revoked)."""
    name = "no entry"
    pg.execute(f'CREATE DATABASE "{name}"')
    pg.execute(
        f'CREATE TABLE t AS SELECT 1 AS x; REVOKE CONNECT ON DATABASE "{name}" FROM PUBLIC',
        dbname=name,
    )
    try:
        yield name
    finally:
        pg.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_backup_one_dump_fails_no_set_and_no_upload_are_left(
    pg: PostgresServer,
    s3: S3Server,
    bucket: str,
    settings_for: SettingsFor,
    no_entry_database: str,
) -> None:
    settings = settings_for(
        bucket,
        user="alice",
        password="alice-pw",
        include_dbs=["app", no_entry_database, "my db"],
        jobs=2,
        no_role_passwords=True,
    )

    with pytest.raises(ProcessError) as caught:
        run_backup(settings)

    message = str(caught.value)
    assert "dumping database 'no entry'" in message and "pg_dump failed" in message
    assert "permission denied for database" in message
    assert "alice-pw" not in message
    assert s3.list_keys(bucket) == []
    assert pending_uploads(s3, bucket) == []
    assert scan_sets(open_storage(settings), "backups") == []


def test_backup_while_another_holds_the_lock_is_refused(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs="my db")
    # the lock is per process and file: take it from another thread's file descriptor
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with backup_lock(settings):
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(10)
    try:
        with pytest.raises(LockedError, match="another backup is running"):
            run_backup(settings)
    finally:
        release.set()
        holder.join()

    assert s3.list_keys(bucket) == []
    run_backup(settings)  # released: the next run works


MOMENT = datetime(2025, 5, 1, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def first_at_moment(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor
) -> tuple[Settings, BackupResult]:
    """A complete set made at MOMENT (its set id: 20250501T020000Z)."""
    settings = settings_for(bucket, include_dbs="my db")
    return settings, run_backup(settings, clock=lambda: MOMENT)


def test_backup_in_the_same_second_waits_for_the_next_second(
    first_at_moment: tuple[Settings, BackupResult],
) -> None:
    settings, first = first_at_moment
    moment = MOMENT
    # the second run reads the clock in the taken second, then in the next one
    readings = iter([moment, moment.replace(microsecond=900_000)])
    second = run_backup(settings, clock=lambda: next(readings, moment + timedelta(seconds=1)))

    assert (first.set_id, second.set_id) == ("20250501T020000Z", "20250501T020001Z")
    summaries = scan_sets(open_storage(settings), "backups")
    assert [(s.set_id, s.complete) for s in summaries] == [
        ("20250501T020001Z", True),
        ("20250501T020000Z", True),
    ]


def test_backup_with_a_stuck_clock_is_refused_and_the_first_set_is_intact(
    first_at_moment: tuple[Settings, BackupResult],
) -> None:
    settings, first = first_at_moment

    with pytest.raises(StorageError, match=r"already exists .* check the system clock"):
        run_backup(settings, clock=lambda: MOMENT)

    (summary,) = scan_sets(open_storage(settings), "backups")
    assert summary.set_id == first.set_id and summary.complete
    assert summary.manifest == first.manifest


def test_backup_missing_bucket_fails_before_dumping_anything(
    pg: PostgresServer, s3: S3Server, settings_for: SettingsFor
) -> None:
    settings = settings_for("no-such-bucket-here", include_dbs="my db")

    with pytest.raises(StorageError, match="'no-such-bucket-here' does not exist: create it"):
        run_backup(settings)


def test_backup_unreachable_server_says_where_without_the_password(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    from pgback.testbed.ports import free_port

    settings = settings_for(bucket, port=free_port())

    with pytest.raises(DatabaseError) as caught:
        run_backup(settings)

    assert f"127.0.0.1:{settings.port}" in str(caught.value)
    assert pg.password not in str(caught.value)


def test_backup_wrong_password_is_refused_without_echoing_it(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, password="definitely-wrong-password")

    with pytest.raises(DatabaseError) as caught:
        run_backup(settings)

    assert "password authentication failed" in str(caught.value)
    assert "definitely-wrong-password" not in str(caught.value)


def test_backup_as_unprivileged_role_skips_config_files_with_one_warning(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor, tmp_path: Path
) -> None:
    settings = settings_for(
        bucket, user="alice", password="alice-pw", include_dbs="my db", no_role_passwords=True
    )

    manifest = run_backup(settings).manifest

    assert manifest.databases == ["my db"]
    assert manifest.file(KIND_HBA) is None and manifest.file(KIND_IDENT) is None
    assert len(manifest.warnings) == 1 and "hba and ident" in manifest.warnings[0]
    files = run_download(settings, "latest", tmp_path / "plain", decrypt=True)
    globals_sql = next(f.path for f in files if f.entry.name == "pg_globals.sql").read_text()
    assert "CREATE ROLE alice;" in globals_sql
    assert "PASSWORD" not in globals_sql and "SCRAM-SHA-256" not in globals_sql


def test_backup_role_passwords_are_kept_by_default(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor, tmp_path: Path
) -> None:
    settings = settings_for(bucket, include_dbs="my db")
    run_backup(settings)

    files = run_download(settings, "latest", tmp_path / "plain", decrypt=True)

    globals_sql = next(f.path for f in files if f.entry.name == "pg_globals.sql").read_text()
    assert "ALTER ROLE alice WITH" in globals_sql and "PASSWORD 'SCRAM-SHA-256$" in globals_sql
