"""Shared fixtures: real PostgreSQL servers, a real S3 endpoint (moto's server), settings.

Every pytest-xdist worker is its own process, so session-scoped servers are per worker: each
worker has its own source server, target server and S3 endpoint on its own ports. Tests get a
fresh bucket each (`bucket`) and a fresh target cluster each (`pg_target`).

The source server (`pg`) holds a fixed data set (support.SOURCE_DATABASES and SOURCE_ROLES)
that tests must treat as read-only: a test that needs to change it cleans up after itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import make_pgback_env, populate_source

from pgback.config import Settings, load_settings
from pgback.testbed import PostgresServer, S3Server, postgres_server, s3_server

SERVER_FIXTURES = frozenset({"pg", "pg_target", "s3", "bucket", "settings_for", "pgback_env"})

# --- servers ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    """The source server with the fixed data set; read-only for tests."""
    with postgres_server() as server:
        populate_source(server)
        yield server


@pytest.fixture(scope="session")
def _target_server(pg: PostgresServer) -> Iterator[dict[str, Any]]:
    with postgres_server(bindir=pg.bindir) as server:
        yield {"server": server, "used": False}


@pytest.fixture
def pg_target(_target_server: dict[str, Any]) -> PostgresServer:
    """An empty PostgreSQL cluster (fresh initdb) for a restore; same password each time."""
    server: PostgresServer = _target_server["server"]
    if _target_server["used"]:
        server.recreate()
    _target_server["used"] = True
    return server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    """A fresh, empty bucket for this test."""
    name = f"pgback-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(name)
    return name


# --- settings --------------------------------------------------------------------------------


@pytest.fixture
def pgback_env(pg: PostgresServer, s3: S3Server, tmp_path: Path) -> Callable[..., dict[str, str]]:
    """`pgback_env(bucket, server=pg, prefix="backups", **keys)`: PGBACK_* variables pointing
    at the test bed; keyword arguments are setting names (`jobs=2`, `encrypt=True`, ...)."""

    def make(bucket: str, **kwargs: Any) -> dict[str, str]:
        return make_pgback_env(pg, s3, tmp_path / "state", bucket, **kwargs)

    return make


@pytest.fixture
def settings_for(pgback_env: Callable[..., dict[str, str]]) -> Callable[..., Settings]:
    """`settings_for(bucket, server=pg, prefix="backups", **keys)`: Settings built through
    load_settings(env=...), exactly as the CLI would from those PGBACK_* variables."""

    def make(bucket: str, **kwargs: Any) -> Settings:
        return load_settings(env=pgback_env(bucket, **kwargs))

    return make


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--badinput",
        choices=("ci", "long"),
        default="ci",
        help="the bad-input suite (tests/badinput): ci, fixed examples and seeds; long, 20 "
        "times as many with a random seed (docs/promises.md)",
    )


def pytest_configure(config: pytest.Config) -> None:
    from badinput import budget  # tests/ is on sys.path (this file's folder)

    budget.choose(str(config.getoption("badinput")))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use a server fixture are integration tests (`-m "not integration"` skips)."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
