"""A local directory (a mounted volume, NFS) as the repository: `repository = file:///DIR`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support import assert_databases_identical, restore_to, run_cli

from pgback.actions.backup import run_backup
from pgback.actions.restore import run_restore
from pgback.actions.verify import run_verify
from pgback.config import Settings
from pgback.testbed import PostgresServer

pytestmark = pytest.mark.integration

SMALL_DB = "my db"


def test_file_repository_backup_verify_restore_round_trip(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    settings_for: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    store = tmp_path / "volume"
    store.mkdir()
    settings = settings_for(bucket, repository=f"file://{store}", include_dbs=SMALL_DB)

    result = run_backup(settings)
    _, checks = run_verify(settings, "latest")
    run_restore(settings, "latest", restore_to(pg_target, databases=(SMALL_DB,)))

    set_dir = store / "backups" / result.set_id
    assert (set_dir / "manifest.json").is_file()
    assert sorted(p.name for p in set_dir.iterdir()) == sorted(
        [*(f.key.rsplit("/", 1)[1] for f in result.manifest.files), "manifest.json"]
    )
    assert not list(store.rglob(".partial-*"))  # nothing half-written is left
    assert all(check.ok for check in checks)
    assert_databases_identical(pg, pg_target, [SMALL_DB])


def test_file_repository_missing_directory_is_a_storage_error(
    pgback_env: Callable[..., dict[str, str]], bucket: str, tmp_path: Path
) -> None:
    missing = tmp_path / "not-mounted"
    env = pgback_env(bucket, repository=f"file://{missing}", include_dbs=SMALL_DB)

    done = run_cli(env, "backup")

    assert done.returncode == 4
    assert done.stderr.strip() == (
        f"pgback: error: storage directory {missing} does not exist: create it first"
    )
    assert not missing.exists()  # a volume that failed to mount is not silently created


@pytest.mark.parametrize(
    ("repository", "fragment"),
    [
        ("ftp://host/x", "unknown scheme 'ftp'"),
        ("file://relative/path", "file locations are local"),
        ("s3://", "no bucket name"),
    ],
)
def test_file_repository_bad_location_exits_2_naming_it(
    pgback_env: Callable[..., dict[str, str]], bucket: str, repository: str, fragment: str
) -> None:
    done = run_cli(pgback_env(bucket, repository=repository), "list")

    assert done.returncode == 2
    assert "repository (env PGBACK_REPOSITORY)" in done.stderr and fragment in done.stderr
