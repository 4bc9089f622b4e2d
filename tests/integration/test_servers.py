"""Several servers in one configuration: `[[servers]]` tables against real PostgreSQL servers
and a real S3 bucket; each server's sets under `<upload_prefix>/<name>/`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import run_cli

from pgback.testbed import PostgresServer, S3Server, postgres_server
from pgback.testbed.ports import free_port

pytestmark = pytest.mark.integration

BILLING_DB = "per%cent.dots.."  # a small database of the shared source server


@pytest.fixture(scope="module")
def auth_server(pg: PostgresServer) -> Iterator[PostgresServer]:
    """A second server with its own database, reached with its own password."""
    with postgres_server(bindir=pg.bindir, password="auth-only-secret") as server:
        server.execute("CREATE DATABASE accounts")
        server.execute(
            "CREATE TABLE login (id int PRIMARY KEY, who text);"
            "INSERT INTO login SELECT g, 'user ' || g FROM generate_series(1, 250) g",
            dbname="accounts",
        )
        yield server


def write_config(tmp_path: Path, auth: PostgresServer, *, auth_port: int | None = None) -> Path:
    """billing: the shared source server (the environment's connection); auth: its own host,
    port and password (from a file), its own databases."""
    secret = tmp_path / "auth-password"
    secret.write_text(auth.password + "\n")
    config = tmp_path / "pgback.toml"
    config.write_text(
        f"""
[[servers]]
name = "billing"
include_dbs = ["{BILLING_DB}"]

[[servers]]
name = "auth"
host = "{auth.host}"
port = {auth_port or auth.port}
password_file = "{secret}"
include_dbs = ["accounts"]
"""
    )
    return config


def manifests(s3: S3Server, bucket: str) -> list[str]:
    return sorted(k for k in s3.list_keys(bucket, "backups/") if k.endswith("/manifest.json"))


def test_backup_with_two_servers_makes_one_set_under_each_and_restore_takes_the_named_one(
    s3: S3Server,
    bucket: str,
    pgback_env: Callable[..., dict[str, str]],
    auth_server: PostgresServer,
    pg_target: PostgresServer,
    tmp_path: Path,
) -> None:
    env = pgback_env(bucket, config=write_config(tmp_path, auth_server))

    done = run_cli(env, "backup")

    assert done.returncode == 0, done.stderr
    (auth_line, billing_line) = sorted(done.stdout.splitlines())
    auth_set, billing_set = auth_line.split()[1], billing_line.split()[1]
    assert auth_line.startswith("auth ") and billing_line.startswith("billing ")
    assert manifests(s3, bucket) == [
        f"backups/auth/{auth_set}/manifest.json",
        f"backups/billing/{billing_set}/manifest.json",
    ]
    assert auth_server.password not in done.stderr

    restore_env = {**env, "PGBACK_TARGET": pg_target.dsn(), "PGBACK_TARGET_PASSWORD": ""}
    restored = run_cli(restore_env, "restore", "latest", "--server", "auth")

    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip() == f"restored set {auth_set}: accounts"
    rows = pg_target.query("SELECT count(*), max(who) FROM login", dbname="accounts")
    assert rows == [(250, "user 99")]


def test_commands_needing_one_server_name_the_servers_when_none_is_chosen(
    bucket: str,
    pgback_env: Callable[..., dict[str, str]],
    auth_server: PostgresServer,
    tmp_path: Path,
) -> None:
    env = pgback_env(bucket, config=write_config(tmp_path, auth_server))

    for command in (["restore", "latest"], ["show", "latest"], ["verify", "latest"]):
        done = run_cli(env, *command)

        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (
            f"pgback: error: {command[0]}: 2 servers are listed (billing, auth): "
            "choose one with --server NAME"
        )
    unknown = run_cli(env, "show", "latest", "--server", "payroll")
    assert unknown.returncode == 2
    assert "no such server; the servers are billing, auth" in unknown.stderr


def test_backup_one_server_unreachable_still_backs_up_the_other_and_fails_naming_it(
    s3: S3Server,
    bucket: str,
    pgback_env: Callable[..., dict[str, str]],
    auth_server: PostgresServer,
    tmp_path: Path,
) -> None:
    env = pgback_env(bucket, config=write_config(tmp_path, auth_server, auth_port=free_port()))

    done = run_cli(env, "backup")

    assert done.returncode == 5, done.stderr  # PostgreSQL unreachable, for the one that failed
    assert "backup failed for 1 of 2 servers (auth); auth:" in done.stderr
    (billing,) = manifests(s3, bucket)
    assert billing.startswith("backups/billing/")


def test_list_json_and_purge_with_servers_cover_every_server(
    bucket: str,
    pgback_env: Callable[..., dict[str, str]],
    auth_server: PostgresServer,
    tmp_path: Path,
) -> None:
    env = pgback_env(bucket, config=write_config(tmp_path, auth_server))
    assert run_cli(env, "backup", "--server", "auth").returncode == 0

    listed = run_cli(env, "list", "--json")
    planned = run_cli({**env, "PGBACK_KEEP_DAILY": "1"}, "purge", "--dry-run", "--json")

    assert listed.returncode == 0, listed.stderr
    (only,) = json.loads(listed.stdout)
    assert only["server"] == "auth" and only["databases"] == ["accounts"]
    assert planned.returncode == 0, planned.stderr
    assert [(p["server"], p["action"]) for p in json.loads(planned.stdout)] == [("auth", "keep")]
