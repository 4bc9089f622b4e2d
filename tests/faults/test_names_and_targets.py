"""Cases 11 and 12: database names with spaces, quotes, slashes, unicode, conninfo syntax and
PostgreSQL's 63-byte maximum round-trip through `pgback backup` and `pgback restore`; a restore
into a server where the database already exists is refused unless --clean."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from pgback.testbed import PostgresServer

from .conftest import EnvFor
from .harness import Bucket, Canaries, assert_failed_cleanly, assert_no_secrets, run_pgback

pytestmark = pytest.mark.integration

LONG_NAME = "é" * 31 + "x"  # 63 bytes: PostgreSQL's maximum
ODD_NAMES = [
    "my db",
    'it\'s "quoted"',
    "slash/and\\back",
    "ünïcødé ✓ データ",
    LONG_NAME,
    "comma,name ",  # a comma and a trailing space: no include_dbs list can name it
    "-h host=evil dbname=postgres",  # an option and conninfo, if anything pasted it raw
    "per%41cent",  # must not collide with the next one once percent-encoded
    "perAcent",
    "line\nbreak\ttab",
]


def rows(server: PostgresServer, dbname: str) -> list[tuple[Any, ...]]:
    return server.query("SELECT id, note FROM t ORDER BY id", dbname=dbname)


def target_args(target: PostgresServer) -> list[str]:
    return ["--target", f"host={target.host} port={target.port} user={target.user}"]


def test_odd_database_names_round_trip_through_backup_and_restore(
    env_for: EnvFor,
    store: Bucket,
    canaries: Canaries,
    fault_pg: PostgresServer,
    target: PostgresServer,
    scratch_db: Callable[[str], str],
) -> None:
    assert len(LONG_NAME.encode()) == 63
    for name in ODD_NAMES:
        scratch_db(name)
    env = env_for(store, include_dbs=None, exclude_dbs="big,small")

    backup = run_pgback(env, "backup")
    listed = run_pgback(env, "list", "--json")
    restore = run_pgback(
        {
            **env,
            "PGBACK_CIPHER_PRIVATE_KEY": canaries.age_identity,
            "PGBACK_TARGET_PASSWORD": target.password,
        },
        "restore",
        "latest",
        *target_args(target),
    )

    for outcome in (backup, listed, restore):
        assert outcome.returncode == 0, outcome.describe()
        assert_no_secrets(outcome, canaries)
    (summary,) = json.loads(listed.stdout)
    assert sorted(summary["databases"]) == sorted([*ODD_NAMES, "postgres"])
    files = [key.rsplit("/", 1)[1] for key in store.snapshot(summary["id"])]
    dumps = [name for name in files if ".dump" in name]
    assert len(dumps) == len(ODD_NAMES) + 1
    assert all(re.fullmatch(r"[A-Za-z0-9_%-]+\.dump\.zst\.age", name) for name in dumps), dumps
    restored = {row[0] for row in target.query("SELECT datname FROM pg_database")}
    assert set(ODD_NAMES) <= restored
    for name in ODD_NAMES:
        assert rows(target, name) == rows(fault_pg, name), name


def test_restore_over_existing_database_refused_without_clean_then_replaced_with_clean(
    env_for: EnvFor,
    store: Bucket,
    canaries: Canaries,
    fault_pg: PostgresServer,
    target: PostgresServer,
    good_set: Callable[..., str],
) -> None:
    set_id = good_set()  # holds `small`
    target.execute("CREATE DATABASE small")
    target.execute(
        "CREATE TABLE items (id int PRIMARY KEY, label text);"
        "INSERT INTO items VALUES (1, 'precious, not in the backup');"
        "CREATE TABLE mine (x int)",
        dbname="small",
    )
    env = {
        **env_for(store, cipher_private_key=canaries.age_identity),
        "PGBACK_TARGET_PASSWORD": target.password,
    }

    refused = run_pgback(env, "restore", set_id, *target_args(target))

    assert_failed_cleanly(refused, 2, "'small'", "already exist", "--clean", canaries=canaries)
    assert "pg_restore" not in refused.programs()
    assert target.query("SELECT id, label FROM items", dbname="small") == [
        (1, "precious, not in the backup")
    ]

    replaced = run_pgback(env, "restore", set_id, *target_args(target), "--clean")

    assert replaced.returncode == 0, replaced.describe()
    assert_no_secrets(replaced, canaries)
    query = "SELECT id, label FROM items ORDER BY id"
    assert target.query(query, dbname="small") == fault_pg.query(query, dbname="small")
    # --clean replaces the whole database: the target's own other tables are gone too
    tables = target.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", dbname="small"
    )
    assert tables == [("items",)]
