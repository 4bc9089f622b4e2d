"""Restore refuses what would lose or mix data, and says why; --clean replaces on request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from support import assert_databases_identical, restore_to, table_contents, user_databases

from pgback.actions.backup import run_backup
from pgback.actions.catalog import scan_sets
from pgback.actions.restore import run_restore
from pgback.config import Settings
from pgback.errors import IncompleteSetError, NotFoundError, ProcessError, UsageError
from pgback.naming import make_set_id
from pgback.storage import open_storage
from pgback.testbed import PostgresServer, S3Server

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]
DATABASES = ["app", "my db"]


def test_restore_incomplete_set_is_refused_and_target_untouched(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    settings_for: SettingsFor,
) -> None:
    settings = settings_for(bucket, include_dbs=DATABASES)
    set_id = run_backup(settings).set_id
    s3.client().delete_object(Bucket=bucket, Key=f"backups/{set_id}/manifest.json")

    with pytest.raises(IncompleteSetError, match=f"set {set_id} is incomplete"):
        run_restore(settings, set_id, restore_to(pg_target))
    with pytest.raises(NotFoundError, match="no complete backup set"):
        run_restore(settings, "latest", restore_to(pg_target))

    assert user_databases(pg_target) == {"postgres"}


def test_restore_latest_skips_a_newer_incomplete_set(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    settings_for: SettingsFor,
) -> None:
    settings = settings_for(bucket, include_dbs=DATABASES)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    complete = run_backup(settings, clock=lambda: yesterday).set_id
    newer = make_set_id(datetime.now(UTC))
    s3.client().put_object(Bucket=bucket, Key=f"backups/{newer}/app.dump.zst", Body=b"partial")

    result = run_restore(settings, "latest", restore_to(pg_target))

    assert result.set_id == complete
    assert_databases_identical(pg, pg_target, DATABASES)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("20200101T000000Z", "no set 20200101T000000Z"),
        ("yesterday", "is not a set id"),
    ],
)
def test_restore_unknown_set_is_not_found_with_a_hint(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    settings_for: SettingsFor,
    ref: str,
    message: str,
) -> None:
    settings = settings_for(bucket, include_dbs="my db")
    run_backup(settings)

    with pytest.raises(NotFoundError, match=message):
        run_restore(settings, ref, restore_to(pg_target))


def test_restore_database_not_in_the_set_lists_what_the_set_holds(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=DATABASES)
    run_backup(settings)

    with pytest.raises(UsageError) as caught:
        run_restore(settings, "latest", restore_to(pg_target, databases=("nope",)))

    assert "'nope'" in str(caught.value) and "'app', 'my db'" in str(caught.value)


def test_restore_over_a_used_database_without_clean_is_refused_before_any_change(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=DATABASES)
    run_backup(settings)
    run_restore(settings, "latest", restore_to(pg_target, databases=("my db",)))
    pg_target.execute(
        "INSERT INTO items (label) VALUES ('written after the restore')", dbname="my db"
    )
    before = table_contents(pg_target, "my db")

    with pytest.raises(UsageError) as caught:
        run_restore(settings, "latest", restore_to(pg_target))

    assert "'my db'" in str(caught.value) and "--clean" in str(caught.value)
    assert "app" not in user_databases(pg_target)  # nothing was restored
    assert table_contents(pg_target, "my db") == before


def test_restore_clean_over_used_databases_brings_back_the_backed_up_data(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=DATABASES)
    run_backup(settings)
    run_restore(settings, "latest", restore_to(pg_target))
    pg_target.execute("DELETE FROM extra.notes; DELETE FROM items WHERE id > 5", dbname="app")
    pg_target.execute("INSERT INTO items (label) VALUES ('stray row')", dbname="my db")
    pg_target.execute("DROP VIEW happy_items", dbname="my db")

    result = run_restore(settings, "latest", restore_to(pg_target, clean=True))

    assert sorted(result.databases) == DATABASES
    assert_databases_identical(pg, pg_target, DATABASES)
    # the roles were there already: reported, not fatal
    assert any('role "alice" already exists' in w for w in result.warnings)


def test_restore_clean_replaces_the_database_so_objects_not_in_the_backup_are_gone(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=DATABASES)
    run_backup(settings)
    run_restore(settings, "latest", restore_to(pg_target))
    # a table the backup does not know, referencing a backed-up one: it must not survive
    pg_target.execute(
        "CREATE TABLE stray (item_id int REFERENCES items (id)); INSERT INTO stray VALUES (1)",
        dbname="app",
    )

    run_restore(settings, "latest", restore_to(pg_target, clean=True))

    assert pg_target.query("SELECT to_regclass('public.stray')", dbname="app") == [(None,)]
    assert_databases_identical(pg, pg_target, DATABASES)


def test_restore_without_globals_into_a_server_lacking_the_roles_names_the_missing_role(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs="my db")
    run_backup(settings)

    with pytest.raises(ProcessError) as caught:
        run_restore(settings, "latest", restore_to(pg_target, globals=False))

    message = str(caught.value)
    assert "restoring database 'my db'" in message
    assert 'role "alice" does not exist' in message
    assert pg_target.password not in message


def test_restore_set_with_an_unreadable_manifest_is_refused_and_listed_as_incomplete(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    settings_for: SettingsFor,
) -> None:
    settings = settings_for(bucket, include_dbs="my db")
    set_id = run_backup(settings).set_id
    s3.client().put_object(
        Bucket=bucket, Key=f"backups/{set_id}/manifest.json", Body=b'{"tool": "pgb'
    )

    (summary,) = scan_sets(open_storage(settings), "backups")
    with pytest.raises(IncompleteSetError) as caught:
        run_restore(settings, set_id, restore_to(pg_target))

    assert not summary.complete and "unreadable manifest" in (summary.problem or "")
    assert "unreadable manifest" in str(caught.value)
    assert user_databases(pg_target) == {"postgres"}
