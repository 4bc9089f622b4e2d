"""The way in from pg_back: a bucket filled the way pg_back fills it (real pg_dump, pg_dumpall
and age CLI, pg_back's names) is listed, shown, verified, downloaded, restored and purged by
pgback, beside pgback's own sets."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyrage import x25519
from support import run_cli, table_contents

from pgback.actions.backup import run_backup
from pgback.testbed import PostgresServer, S3Server
from pgback.testbed.pg_back_files import LEGACY, make_pg_back_run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("age") is None, reason="the age CLI is not installed"),
]

PREFIX = "foobar"
DATABASES = ["postgres", "app"]
KEY_RUN = datetime(2025, 4, 13, 21, 34, 8, tzinfo=UTC)
LEGACY_RUN = datetime(2025, 4, 12, 21, 34, 8, tzinfo=UTC)
PASSPHRASE = "pg_back's passphrase"


@pytest.fixture
def identity() -> x25519.Identity:
    return x25519.Identity.generate()


@pytest.fixture
def pg_back_bucket(pg: PostgresServer, s3: S3Server, bucket: str, identity: x25519.Identity) -> str:
    """Two pg_back runs: one age-encrypted to a key with sha256 checksum files (RFC 3339
    timestamps), one older, plain, with legacy timestamps, each database stamped 3 s after
    the globals; and an object that is nobody's."""
    client = s3.client()

    def upload(key: str, path: Path) -> None:
        client.upload_file(str(path), bucket, key)

    make_pg_back_run(
        pg,
        pg.bindir,
        upload,
        PREFIX,
        DATABASES,
        when=KEY_RUN,
        recipient=str(identity.to_public()),
        checksum="sha256",
    )
    make_pg_back_run(
        pg,
        pg.bindir,
        upload,
        PREFIX,
        ["app"],
        when=LEGACY_RUN,
        timestamp_format=LEGACY,
        database_delay=timedelta(seconds=3),
    )
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/README.txt", Body=b"not a backup")
    return bucket


def env_for(
    pgback_env: Callable[..., dict[str, str]], bucket: str, **keys: object
) -> dict[str, str]:
    return pgback_env(bucket, prefix=PREFIX, **keys)


def test_list_json_shows_pg_back_runs_beside_pgback_sets(
    pg_back_bucket: str,
    pgback_env: Callable[..., dict[str, str]],
    settings_for: Callable[..., object],
) -> None:
    run_backup(settings_for(pg_back_bucket, prefix=PREFIX, include_dbs="my db"))  # type: ignore[arg-type]

    done = run_cli(env_for(pgback_env, pg_back_bucket), "list", "--json")

    assert done.returncode == 0, done.stderr
    sets = json.loads(done.stdout)
    assert [s["layout"] for s in sets] == ["pgback", "pg_back", "pg_back"]
    key_run, legacy_run = sets[1], sets[2]
    assert key_run["id"] == "2025-04-13T21:34:08Z" and key_run["encryption"] == "x25519"
    assert legacy_run["id"] == "2025-04-12_21-34-08" and legacy_run["encryption"] == "none"
    assert key_run["databases"] == sorted(DATABASES) and legacy_run["databases"] == ["app"]
    kinds = [(f["kind"], f["name"]) for f in key_run["files"] if f["kind"] != "checksum"]
    assert kinds == [
        ("globals", "pg_globals_2025-04-13T21:34:08Z.sql"),
        ("settings", "pg_settings_2025-04-13T21:34:08Z.out"),
        ("hba", "hba_file_2025-04-13T21:34:08Z.out"),
        ("ident", "ident_file_2025-04-13T21:34:08Z.out"),
        ("database", "app"),
        ("database", "postgres"),
    ]
    app = next(f for f in key_run["files"] if f["name"] == "app")
    assert app["format"] == "custom" and app["encrypted"] is True
    assert app["key"] == f"{PREFIX}/app_2025-04-13T21:34:08Z.dump.age"
    # pg_back's checksum files: of the plain file (encrypted), of the encrypted file, and of
    # the encrypted checksum file
    assert sorted(app["checksums"]) == [
        "app_2025-04-13T21:34:08Z.dump.age.sha256",
        "app_2025-04-13T21:34:08Z.dump.sha256.age",
        "app_2025-04-13T21:34:08Z.dump.sha256.age.sha256",
    ]
    # the legacy run's database was stamped 3 s after its globals: still one run
    assert legacy_run["objects"] == 5
    assert all("README" not in f["key"] for s in sets[1:] for f in s["files"])
    table = run_cli(env_for(pgback_env, pg_back_bucket), "list").stdout
    assert "2025-04-13T21:34:08Z" in table and "age (key)" in table and "pg_back" in table


def test_restore_pg_back_run_by_its_timestamp_brings_back_globals_and_rows(
    pg: PostgresServer,
    pg_target: PostgresServer,
    pg_back_bucket: str,
    identity: x25519.Identity,
    pgback_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    key = tmp_path / "key.txt"
    key.write_text(str(identity) + "\n")
    env = {
        **env_for(pgback_env, pg_back_bucket),
        "PGBACK_CIPHER_PRIVATE_KEY_FILE": str(key),
        "PGBACK_TARGET": pg_target.dsn(),
    }

    verified = run_cli(env, "verify", "2025-04-13T21:34:08Z")
    restored = run_cli(env, "restore", "2025-04-13T21:34:08Z")

    assert verified.returncode == 0, verified.stderr
    assert "sha256 of the stored file, sha256 of the plain file match" in verified.stdout
    assert "pg_restore --list:" in verified.stdout
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith("restored set 2025-04-13T21:34:08Z: app, postgres")
    for db in DATABASES:
        assert table_contents(pg_target, db) == table_contents(pg, db), db
    roles = pg_target.query("SELECT rolname FROM pg_roles WHERE rolname IN ('alice', 'bob')")
    assert sorted(r[0] for r in roles) == ["alice", "bob"]


def test_download_decrypt_and_show_of_a_pg_back_run_give_pg_backs_file_names(
    pg_back_bucket: str,
    identity: x25519.Identity,
    pgback_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    env = {**env_for(pgback_env, pg_back_bucket), "PGBACK_CIPHER_PRIVATE_KEY": str(identity)}

    shown = run_cli(env, "show", "2025-04-13T21:34:08Z")
    done = run_cli(
        env, "download", "2025-04-13T21:34:08Z", "--dest", str(tmp_path / "dl"), "--decrypt"
    )

    assert shown.returncode == 0 and "pg_back" in shown.stdout and "x25519" in shown.stdout
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "dl").iterdir())
    assert (
        "app_2025-04-13T21:34:08Z.dump" in names and "pg_globals_2025-04-13T21:34:08Z.sql" in names
    )
    assert (
        "CREATE ROLE alice" in (tmp_path / "dl" / "pg_globals_2025-04-13T21:34:08Z.sql").read_text()
    )
    assert (tmp_path / "dl" / "app_2025-04-13T21:34:08Z.dump").read_bytes()[:5] == b"PGDMP"


def test_verify_pg_back_run_whose_file_differs_from_its_checksum_fails_with_exit_7(
    s3: S3Server,
    pg_back_bucket: str,
    identity: x25519.Identity,
    pgback_env: Callable[..., dict[str, str]],
) -> None:
    client = s3.client()
    key = f"{PREFIX}/app_2025-04-13T21:34:08Z.dump.age.sha256"
    text = client.get_object(Bucket=pg_back_bucket, Key=key)["Body"].read().decode()
    client.put_object(Bucket=pg_back_bucket, Key=key, Body=("0" * 64 + text[64:]).encode())
    env = {**env_for(pgback_env, pg_back_bucket), "PGBACK_CIPHER_PRIVATE_KEY": str(identity)}

    done = run_cli(env, "verify", "2025-04-13T21:34:08Z")

    assert done.returncode == 7
    assert "app_2025-04-13T21:34:08Z.dump.age: sha256 differs" in done.stdout


def test_restore_pg_back_run_encrypted_with_a_passphrase(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    pgback_env: Callable[..., dict[str, str]],
) -> None:
    client = s3.client()
    make_pg_back_run(
        pg,
        pg.bindir,
        lambda key, path: client.upload_file(str(path), bucket, key),
        PREFIX,
        ["my db"],
        when=KEY_RUN,
        passphrase=PASSPHRASE,
    )
    env = {**env_for(pgback_env, bucket), "PGBACK_TARGET": pg_target.dsn()}

    listed = json.loads(run_cli(env, "list", "--json").stdout)
    missing = run_cli(env, "restore", "latest")
    restored = run_cli({**env, "PGBACK_CIPHER_PASS": PASSPHRASE}, "restore", "latest")

    assert listed[0]["id"] == "2025-04-13T21:34:08Z" and listed[0]["encryption"] == "scrypt"
    assert missing.returncode == 6 and "set cipher_pass" in missing.stderr
    assert restored.returncode == 0, restored.stderr
    assert table_contents(pg_target, "my db") == table_contents(pg, "my db")
    assert PASSPHRASE not in restored.stdout + restored.stderr


def test_purge_leaves_pg_back_runs_alone_unless_told_then_treats_them_as_sets(
    s3: S3Server,
    pg_back_bucket: str,
    pgback_env: Callable[..., dict[str, str]],
    settings_for: Callable[..., object],
) -> None:
    run_backup(settings_for(pg_back_bucket, prefix=PREFIX, include_dbs="my db"))  # type: ignore[arg-type]
    env = env_for(pgback_env, pg_back_bucket, purge_older_than="1d")

    untouched = run_cli(env, "purge")
    before = sorted(s3.list_keys(pg_back_bucket))
    told = run_cli({**env, "PGBACK_PURGE_PG_BACK_FILES": "true"}, "purge")
    after = sorted(s3.list_keys(pg_back_bucket))

    assert untouched.returncode == 0 and "2025-04-1" not in untouched.stdout
    assert sum("2025-04-1" in k for k in before) == 6 * 4 + 5  # both runs' files
    assert told.returncode == 0, told.stderr
    assert "2025-04-13T21:34:08Z  removed" in told.stdout
    assert not any("2025-04-1" in k for k in after)  # both runs, every file of each
    assert f"{PREFIX}/README.txt" in after  # nobody's: never touched


@pytest.mark.parametrize("dump_format", ["tar", "plain"])
def test_restore_pg_back_run_in_its_other_dump_formats(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    pgback_env: Callable[..., dict[str, str]],
    dump_format: str,
) -> None:
    client = s3.client()
    make_pg_back_run(
        pg,
        pg.bindir,
        lambda key, path: client.upload_file(str(path), bucket, key),
        PREFIX,
        ["app"],
        when=KEY_RUN,
        dump_format=dump_format,
    )
    env = {**env_for(pgback_env, bucket), "PGBACK_TARGET": pg_target.dsn()}

    listed = json.loads(run_cli(env, "list", "--json").stdout)
    verified = run_cli(env, "verify", "latest")
    restored = run_cli(env, "restore", "latest")

    app = next(f for f in listed[0]["files"] if f["name"] == "app")
    assert app["format"] == dump_format
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert restored.returncode == 0, restored.stderr
    assert table_contents(pg_target, "app") == table_contents(pg, "app")
