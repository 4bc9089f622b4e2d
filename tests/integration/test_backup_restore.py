"""Backup -> list -> restore through the public actions, against real servers."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pyrage import x25519
from support import (
    SOURCE_DATABASES,
    SOURCE_ROLES,
    all_source_databases,
    assert_databases_identical,
    restore_to,
    user_databases,
)

from pgback import naming
from pgback.actions.backup import run_backup
from pgback.actions.catalog import scan_sets
from pgback.actions.restore import run_restore
from pgback.actions.verify import run_verify
from pgback.config import Settings
from pgback.storage import open_storage
from pgback.testbed import PostgresServer, S3Server

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]


def role_facts(server: PostgresServer) -> dict[str, tuple[bool, bool, bool]]:
    rows = server.query(
        "SELECT rolname, rolcanlogin, rolcreatedb, rolsuper FROM pg_roles WHERE rolname = ANY(%s)",
        (list(SOURCE_ROLES),),
    )
    return {str(name): (login, createdb, superuser) for name, login, createdb, superuser in rows}


def can_log_in(server: PostgresServer, user: str, password: str) -> bool:
    conninfo = make_conninfo(
        host=server.host, port=str(server.port), user=user, password=password, dbname="postgres"
    )
    try:
        with psycopg.connect(conninfo, connect_timeout=5):
            return True
    except psycopg.OperationalError:
        return False


def test_backup_then_restore_fresh_server_has_identical_databases(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, jobs=3)

    backup = run_backup(settings)
    restored = run_restore(settings, "latest", restore_to(pg_target))

    assert restored.set_id == backup.set_id
    assert sorted(restored.databases) == sorted(all_source_databases())
    assert user_databases(pg_target) == user_databases(pg)
    assert_databases_identical(pg, pg_target, all_source_databases())


def test_backup_then_restore_roles_exist_and_log_in_on_the_target(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs="my db")
    run_backup(settings)

    result = run_restore(settings, "latest", restore_to(pg_target))

    assert result.globals_restored
    assert role_facts(pg_target) == role_facts(pg)
    members = pg_target.query(
        "SELECT r.rolname, m.rolname FROM pg_auth_members a "
        "JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member "
        "WHERE r.rolname = 'alice'"
    )
    assert members == [("alice", "bob")]
    for role, password in SOURCE_ROLES.items():
        if password is not None:
            assert can_log_in(pg_target, role, password), role
    # the target's own superuser keeps its password: the source's was not replayed over it
    assert can_log_in(pg_target, "postgres", pg_target.password)
    assert not can_log_in(pg_target, "postgres", pg.password)


def test_backup_set_layout_one_folder_with_every_file(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, prefix="team/nightly")

    result = run_backup(settings)

    prefix = f"team/nightly/{result.set_id}/"
    keys = s3.list_keys(bucket)
    assert all(key.startswith(prefix) for key in keys)
    expected = {
        "manifest.json",
        "pg_globals.sql.zst",
        "pg_settings.out.zst",
        "hba_file.out.zst",
        "ident_file.out.zst",
        *(naming.database_file(db) + ".zst" for db in all_source_databases()),
    }
    assert {key.removeprefix(prefix) for key in keys} == expected


def test_backup_manifest_records_every_stored_object_exactly(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, compress_level=3)

    manifest = run_backup(settings).manifest

    client = s3.client()
    for entry in manifest.files:
        stored = client.get_object(Bucket=bucket, Key=entry.key)["Body"].read()
        assert entry.size == len(stored), entry.name
        assert entry.sha256 == hashlib.sha256(stored).hexdigest(), entry.name
        assert entry.compression == "zstd" and not entry.encrypted
    assert sorted(manifest.databases) == sorted(all_source_databases())
    assert manifest.server_version.split(".")[0] == str(pg.version)
    assert manifest.pg_dump_version.split(".")[0] == str(pg.version)
    assert (manifest.compression, manifest.compression_level) == ("zstd", 3)
    assert manifest.encryption.mode == "none"
    assert manifest.options["compress_level"] == 3
    assert manifest.started_at <= manifest.finished_at


def test_scan_sets_after_backup_lists_one_complete_set_with_real_names(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket)
    result = run_backup(settings)
    s3.client().put_object(Bucket=bucket, Key="backups/README.txt", Body=b"not ours")
    s3.client().put_object(Bucket=bucket, Key="elsewhere/20240101T000000Z/x", Body=b"no")

    sets = scan_sets(open_storage(settings), settings.upload_prefix)

    assert [s.set_id for s in sets] == [result.set_id]
    assert sets[0].complete and not sets[0].encrypted
    assert sorted(sets[0].databases) == sorted(all_source_databases())
    assert sets[0].size == sum(o.size for o in sets[0].objects) > 0


def test_backup_include_and_exclude_lists_choose_databases(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    odd = ["my db", "ünïcødé ✓ データ"]

    included = run_backup(settings_for(bucket, prefix="inc", include_dbs=odd)).manifest
    excluded = run_backup(
        settings_for(bucket, prefix="exc", exclude_dbs=["postgres", *odd])
    ).manifest

    assert included.databases == sorted(odd)
    assert sorted(excluded.databases) == sorted(set(SOURCE_DATABASES) - set(odd))


def test_backup_include_unknown_database_is_a_recorded_warning(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    manifest = run_backup(settings_for(bucket, include_dbs=["app", "no such db"])).manifest

    assert manifest.databases == ["app"]
    assert any("no such db" in warning for warning in manifest.warnings)


def test_restore_chosen_databases_only_those_are_created(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket)
    run_backup(settings)
    chosen = ('it\'s "quoted"', "slash/and\\back")

    result = run_restore(settings, "latest", restore_to(pg_target, databases=chosen))

    assert sorted(result.databases) == sorted(chosen)
    assert user_databases(pg_target) == {"postgres", *chosen}
    assert_databases_identical(pg, pg_target, chosen)


def test_restore_with_jobs_stages_a_temp_file_and_removes_it(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    settings_for: SettingsFor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_for(bucket, include_dbs="app")
    run_backup(settings)
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))

    run_restore(settings, "latest", restore_to(pg_target, jobs=2))

    assert_databases_identical(pg, pg_target, ["app"])
    assert list(staging.iterdir()) == []


@pytest.fixture
def big_database(pg: PostgresServer) -> Iterator[str]:
    """A database whose dump is larger than one 5 MiB part even compressed and encrypted
    (random hex compresses only 2:1); dropped afterwards, the source stays as it was."""
    name = "big one"
    pg.execute(f'CREATE DATABASE "{name}"')
    try:
        pg.execute(
            "CREATE TABLE blobs AS SELECT g AS id, "
            "(SELECT string_agg(md5(random()::text || g || s), '') FROM generate_series(1, 40) s)"
            " AS payload FROM generate_series(1, 12000) g",
            dbname=name,
        )
        yield name
    finally:
        pg.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_backup_dump_larger_than_a_part_round_trips_through_multipart(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    settings_for: SettingsFor,
    big_database: str,
) -> None:
    identity = x25519.Identity.generate()
    settings = settings_for(
        bucket,
        include_dbs=big_database,
        s3_part_size_mib=5,
        encrypt=True,
        cipher_public_key=str(identity.to_public()),
        cipher_private_key=str(identity),
    )

    manifest = run_backup(settings).manifest
    _, checks = run_verify(settings, "latest")
    run_restore(settings, "latest", restore_to(pg_target))

    entry = manifest.file("database", big_database)
    assert entry is not None and entry.size > 5 * 1024 * 1024  # two parts at least
    etag = s3.client().head_object(Bucket=bucket, Key=entry.key)["ETag"].strip('"')
    assert etag.rsplit("-", 1)[1] == str(-(-entry.size // (5 * 1024 * 1024)))  # parts
    assert all(check.ok for check in checks), [c.detail for c in checks]
    assert_databases_identical(pg, pg_target, [big_database])


def test_backup_empty_prefix_sets_live_at_the_bucket_root(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, prefix="", include_dbs="my db")
    s3.client().put_object(Bucket=bucket, Key="README.txt", Body=b"not ours")

    result = run_backup(settings)
    sets = scan_sets(open_storage(settings), "")

    assert [s.set_id for s in sets] == [result.set_id]
    assert all(
        key == "README.txt" or key.startswith(result.set_id + "/") for key in s3.list_keys(bucket)
    )
