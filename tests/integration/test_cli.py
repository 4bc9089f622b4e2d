"""The command line as users and scripts run it: `python -m pgback ...`, settings in the env."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyrage import x25519
from support import assert_databases_identical, run_cli

from pgback.actions.backup import run_backup
from pgback.config import load_settings
from pgback.testbed import PostgresServer, S3Server

pytestmark = pytest.mark.integration

EnvFor = Callable[..., dict[str, str]]
ODD = ["my db", 'it\'s "quoted"', "ünïcødé ✓ データ"]
SET_ID = re.compile(r"^\d{8}T\d{6}Z$")


def target_conninfo(server: PostgresServer) -> str:
    """--target without the password: that comes from PGBACK_TARGET_PASSWORD."""
    return f"host={server.host} port={server.port} user={server.user}"


def assert_ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def test_cli_backup_list_show_restore_round_trip_never_prints_secrets(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    pgback_env: EnvFor,
    tmp_path: Path,
) -> None:
    identity = x25519.Identity.generate()
    key_file = tmp_path / "identity.txt"
    key_file.write_text(str(identity) + "\n")
    env = pgback_env(
        bucket,
        include_dbs=ODD,
        encrypt=True,
        cipher_public_key=str(identity.to_public()),
        cipher_private_key_file=key_file,
        log_level="debug",
    )
    env["PGBACK_TARGET_PASSWORD"] = pg_target.password
    secrets = [pg.password, pg_target.password, str(identity)]

    backup = run_cli(env, "backup")
    listing = run_cli(env, "list")
    as_json = run_cli(env, "list", "--json")
    show = run_cli(env, "show", "latest", "--json")
    restore = run_cli(env, "restore", "latest", "--target", target_conninfo(pg_target))

    for done in (backup, listing, as_json, show, restore):
        assert_ok(done)
        for secret in secrets:
            assert secret not in done.stdout + done.stderr
    set_id = backup.stdout.strip()
    assert SET_ID.match(set_id)
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["SET", "AGE", "STATUS", "DATABASES", "SIZE", "ENCRYPTED"]
    assert len(lines) == 2 and lines[1].startswith(set_id) and " complete " in lines[1]
    (entry,) = json.loads(as_json.stdout)
    assert entry["id"] == set_id and entry["complete"] is True and entry["encrypted"] is True
    assert sorted(entry["databases"]) == sorted(ODD)
    assert isinstance(entry["size"], int) and entry["size"] > 0
    assert json.loads(show.stdout)["set_id"] == set_id
    assert restore.stdout.startswith(f"restored set {set_id}: ")
    assert_databases_identical(pg, pg_target, ODD)


def test_cli_backup_writes_nothing_to_local_disk(
    pg: PostgresServer, s3: S3Server, bucket: str, pgback_env: EnvFor, tmp_path: Path
) -> None:
    """Every file the backup's processes (pgback, pg_dumpall, pg_dump) open for writing is
    traced; only the lock file is allowed. The dumps stream from pipes to S3."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed: cannot watch the backup's file writes")
    scratch = {name: tmp_path / name for name in ("tmp", "home", "cwd", "state")}
    for path in scratch.values():
        path.mkdir()
    env = pgback_env(
        bucket,
        jobs=2,
        encrypt=True,
        cipher_public_key=str(x25519.Identity.generate().to_public()),
        state_dir=scratch["state"],
    )
    env.update(TMPDIR=str(scratch["tmp"]), HOME=str(scratch["home"]), PYTHONDONTWRITEBYTECODE="1")
    trace = tmp_path / "strace.log"

    done = run_cli(
        {**env},
        "backup",
        cwd=scratch["cwd"],
        wrapper=[strace, "-f", "-qq", "-e", "trace=open,openat,creat", "-o", str(trace)],
    )

    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()}")
    assert_ok(done)
    written = [
        line
        for line in trace.read_text().splitlines()
        if re.search(r"O_WRONLY|O_RDWR|O_CREAT|creat\(", line) and "= -1" not in line
    ]
    allowed = (str(scratch["state"] / "backup.lock"), "/dev/null", "/dev/tty")
    unexpected = [line for line in written if not any(f'"{path}"' in line for path in allowed)]
    assert unexpected == []
    assert any("backup.lock" in line for line in written)  # the trace did see the writes
    for name in ("tmp", "home", "cwd"):
        assert list(scratch[name].iterdir()) == [], name
    assert [p.name for p in scratch["state"].iterdir()] == ["backup.lock"]
    assert len(s3.list_keys(bucket)) > 5


def test_cli_config_shows_sources_and_redacts_every_secret(
    pg: PostgresServer, bucket: str, pgback_env: EnvFor, tmp_path: Path
) -> None:
    pass_file = tmp_path / "pass"
    pass_file.write_text("my passphrase\n")
    env = pgback_env(bucket, cipher_pass_file=pass_file, s3_secret="s3-secret-value")

    done = run_cli(env, "config", "--jobs", "3")

    assert_ok(done)
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}
    assert rows["password"] == ["***", "env", "PGBACK_PASSWORD"]
    assert rows["s3_secret"] == ["***", "env", "PGBACK_S3_SECRET"]
    assert rows["s3_key_id"][0] == "***"
    assert rows["cipher_pass"] == ["***", "env", "PGBACK_CIPHER_PASS_FILE"]
    assert rows["cipher_private_key"] == ["default"]  # unset: empty value
    assert rows["jobs"] == ["3", "flag"]
    assert rows["s3_bucket"] == [bucket, "env", "PGBACK_S3_BUCKET"]
    for secret in (pg.password, "my passphrase", "s3-secret-value"):
        assert secret not in done.stdout + done.stderr


def test_cli_purge_dry_run_prints_every_set_with_reason_and_deletes_nothing(
    pg: PostgresServer, s3: S3Server, bucket: str, pgback_env: EnvFor
) -> None:
    env = pgback_env(bucket, include_dbs="my db")
    now = datetime.now(UTC)

    def days_ago(days: int) -> Callable[[], datetime]:
        return lambda: now - timedelta(days=days)

    ids = [run_backup(load_settings(env=env), clock=days_ago(days)).set_id for days in (10, 5)]
    before = s3.list_keys(bucket)

    done = run_cli(env, "purge", "--dry-run", "--purge-older-than", "7d")

    assert_ok(done)
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["SET", "ACTION", "REASON"]
    assert lines[1].startswith(ids[1]) and "keep" in lines[1] and "newest complete" in lines[1]
    assert (
        lines[2].startswith(ids[0])
        and "would remove" in lines[2]
        and "> purge_older_than 7d" in lines[2]
    )
    assert s3.list_keys(bucket) == before


def test_cli_download_decrypt_gives_standard_files(
    pg: PostgresServer, bucket: str, pgback_env: EnvFor, tmp_path: Path
) -> None:
    identity = x25519.Identity.generate()
    env = pgback_env(
        bucket,
        include_dbs="my db",
        encrypt=True,
        cipher_public_key=str(identity.to_public()),
        cipher_private_key=str(identity),
    )
    assert_ok(run_cli(env, "backup"))
    dest = tmp_path / "restore-me"

    done = run_cli(env, "download", "latest", "--dest", str(dest), "--decrypt")

    assert_ok(done)
    names = sorted(p.name for p in dest.iterdir())
    assert names == sorted(
        [
            "hba_file.out",
            "ident_file.out",
            "manifest.json",
            "my%20db.dump",
            "pg_globals.sql",
            "pg_settings.out",
        ]
    )
    assert sorted(Path(line).name for line in done.stdout.split()) == [
        n for n in names if n != "manifest.json"
    ]
    listing = subprocess.run(
        [str(pg.bindir / "pg_restore"), "--list", str(dest / "my%20db.dump")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "TABLE DATA public items" in listing.stdout
    assert "CREATE ROLE alice;" in (dest / "pg_globals.sql").read_text()


# --- exit codes and messages -------------------------------------------------------------------


def test_cli_invalid_settings_exit_2_listing_every_problem(
    pg: PostgresServer, bucket: str, pgback_env: EnvFor
) -> None:
    env = pgback_env(bucket, jobs="0", compress="lz4", purge_older_than="soon")

    done = run_cli(env, "backup")

    assert done.returncode == 2
    assert "3 configuration problems" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_missing_bucket_exit_4_with_a_clear_message(
    pg: PostgresServer, pgback_env: EnvFor
) -> None:
    done = run_cli(pgback_env("no-such-bucket"), "list")

    assert done.returncode == 4
    assert "bucket 'no-such-bucket' does not exist: create it first" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_restore_incomplete_set_exit_3(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    pgback_env: EnvFor,
) -> None:
    env = pgback_env(bucket, include_dbs="my db")
    set_id = run_backup(load_settings(env=env)).set_id
    s3.client().delete_object(Bucket=bucket, Key=f"backups/{set_id}/manifest.json")
    env["PGBACK_TARGET_PASSWORD"] = pg_target.password

    listing = run_cli(env, "list")
    done = run_cli(env, "restore", set_id, "--target", target_conninfo(pg_target))

    assert "INCOMPLETE" in listing.stdout
    assert done.returncode == 3
    assert f"set {set_id} is incomplete" in done.stderr


def test_cli_restore_without_target_exit_2(
    pg: PostgresServer, bucket: str, pgback_env: EnvFor
) -> None:
    done = run_cli(pgback_env(bucket), "restore", "latest")

    assert done.returncode == 2
    assert "restore needs --target" in done.stderr


def test_cli_verify_damaged_set_exits_7_naming_the_file(
    pg: PostgresServer, s3: S3Server, bucket: str, pgback_env: EnvFor
) -> None:
    env = pgback_env(bucket, include_dbs=["app", "my db"])
    manifest = run_backup(load_settings(env=env)).manifest
    app = manifest.file("database", "app")
    assert app is not None
    s3.client().put_object(Bucket=bucket, Key=app.key, Body=b"garbage")

    done = run_cli(env, "verify", "latest")

    assert done.returncode == 7  # IntegrityError: the stored object is damaged
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "database  app" in failed[0]
    assert "1 of 6 file(s)" in done.stderr and app.key in done.stderr


def test_cli_backup_with_only_libpq_and_aws_variables_works(
    pg: PostgresServer, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    env = {
        **pg.env(),  # PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
        **s3.env(),  # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, endpoint
        "PGBACK_PG_BIN_DIR": str(pg.bindir),
        "PGBACK_S3_BUCKET": bucket,
        "PGBACK_S3_FORCE_PATH": "true",
        "PGBACK_INCLUDE_DBS": "my db",
        "PGBACK_STATE_DIR": str(tmp_path / "state"),
    }

    backup = run_cli(env, "backup")
    listing = run_cli(env, "list", "--json")

    assert_ok(backup)
    assert_ok(listing)
    (entry,) = json.loads(listing.stdout)
    assert entry["id"] == backup.stdout.strip() and entry["databases"] == ["my db"]
    assert all(key.startswith(entry["id"] + "/") for key in s3.list_keys(bucket))
