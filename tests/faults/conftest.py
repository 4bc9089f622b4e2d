"""Fixtures for the fault-injection suite: servers with canary secrets, environments, good sets.

The source server here (`fault_pg`) is this suite's own (per xdist worker), not the shared `pg`:
these tests drop databases and kill pg_dump on it. It holds `small` (fast to back up) and `big`
(a 22 MB dump: slow enough to interrupt once its upload is throttled by a FaultyS3 proxy).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import clean_base_env

from pgback.actions.backup import run_backup
from pgback.config import load_settings
from pgback.testbed import PostgresServer, S3Server, postgres_server
from pgback.testbed.env import pgback_env

from .harness import Bucket, Canaries, FaultyS3, faulty_s3

pytestmark = pytest.mark.integration

BIG_ROWS = 300_000  # md5 text: a 22 MB dump, 5 parts of 5 MiB uncompressed

EnvFor = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
def canaries() -> Canaries:
    return Canaries.make()


@pytest.fixture(scope="session")
def fault_pg(canaries: Canaries) -> Iterator[PostgresServer]:
    with postgres_server(password=canaries.pg_password) as server:
        server.execute("CREATE DATABASE small")
        server.execute(
            "CREATE TABLE items (id int PRIMARY KEY, label text);"
            "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g",
            dbname="small",
        )
        server.execute("CREATE DATABASE big")
        server.execute(
            "CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b "
            f"FROM generate_series(1, {BIG_ROWS}) g",
            dbname="big",
        )
        yield server


@pytest.fixture(scope="session")
def _fault_target(fault_pg: PostgresServer, canaries: Canaries) -> Iterator[dict[str, Any]]:
    with postgres_server(bindir=fault_pg.bindir, password=canaries.target_password) as server:
        yield {"server": server, "used": False}


@pytest.fixture
def target(_fault_target: dict[str, Any]) -> PostgresServer:
    """An empty cluster to restore into, with the canary target password: what earlier tests
    restored is dropped (cheaper than a fresh initdb; the source has no roles of its own)."""
    server: PostgresServer = _fault_target["server"]
    if _fault_target["used"]:
        _empty(server)
    _fault_target["used"] = True
    return server


def _empty(server: PostgresServer) -> None:
    from psycopg import sql

    for (name,) in server.query(
        "SELECT datname FROM pg_database WHERE datname <> 'postgres' AND NOT datistemplate"
    ):
        server.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    server.execute(
        "DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION pg_database_owner;"
        "GRANT USAGE ON SCHEMA public TO PUBLIC"
    )
    roles = server.query(
        "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> 'postgres'"
    )
    for (role,) in roles:
        server.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def store(s3: S3Server, bucket: str) -> Bucket:
    return Bucket(s3, bucket)


@pytest.fixture
def env_for(fault_pg: PostgresServer, s3: S3Server, canaries: Canaries, tmp_path: Path) -> EnvFor:
    """`env_for(store, endpoint=None, **keys)`: a clean environment for `python -m pgback`
    against the fault test bed, every secret a canary. Defaults: only `small`, encrypted to the
    canary recipient, debug logging (the most output to search for secrets). A key set to None
    is removed."""

    def make(store: Bucket, *, endpoint: str | None = None, **keys: Any) -> dict[str, str]:
        settings: dict[str, Any] = {
            "host": fault_pg.host,
            "port": fault_pg.port,
            "user": fault_pg.user,
            "password": canaries.pg_password,
            "pg_bin_dir": fault_pg.bindir,
            "s3_bucket": store.name,
            "s3_endpoint": endpoint or s3.endpoint_url,
            "s3_region": s3.region,
            "s3_key_id": canaries.s3_key_id,  # moto accepts any credentials by default
            "s3_secret": canaries.s3_secret,
            "s3_force_path": "true",
            "s3_max_attempts": 2,
            "upload_prefix": store.prefix,
            "state_dir": tmp_path / "state",
            "progress": "never",
            "log_level": "debug",
            "include_dbs": "small",
            "encrypt": "true",
            "cipher_public_key": canaries.age_recipient,
        }
        settings.update(keys)
        return {**clean_base_env(), **pgback_env(**settings)}

    return make


@pytest.fixture
def good_set(env_for: EnvFor, store: Bucket) -> Callable[..., str]:
    """`good_set(hours_ago=1, **keys)`: a complete set made in-process with a clock in the
    past (so the run under test never shares its second); returns its id."""

    def make(hours_ago: float = 1, **keys: Any) -> str:
        settings = load_settings(env=env_for(store, **keys))
        when = datetime.now(UTC) - timedelta(hours=hours_ago)
        return run_backup(settings, clock=lambda: when).set_id

    return make


@pytest.fixture
def proxy(s3: S3Server) -> Iterator[FaultyS3]:
    with faulty_s3(s3) as running:
        yield running


@pytest.fixture
def scratch_db(fault_pg: PostgresServer) -> Iterator[Callable[[str], str]]:
    """`scratch_db(name)`: a small database on fault_pg, dropped after the test."""
    made: list[str] = []

    def make(name: str) -> str:
        from psycopg import sql

        fault_pg.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        fault_pg.execute(
            "CREATE TABLE t (id int PRIMARY KEY, note text);"
            "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 100) g",
            dbname=name,
        )
        return name

    yield make
    from psycopg import sql

    for name in made:
        fault_pg.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
