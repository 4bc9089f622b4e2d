"""Cases 2 and 3: pg_dump killed mid-stream; a database dropped while the backup runs;
PostgreSQL unreachable; a wrong password."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

import pytest
from psycopg import sql

from pgback.testbed import PostgresServer
from pgback.testbed.ports import free_port

from .conftest import EnvFor, unique
from .harness import (
    Bucket,
    Canaries,
    FaultyS3,
    WatchedRun,
    assert_failed_cleanly,
    assert_only_good_sets,
    run_pgback,
)

pytestmark = pytest.mark.integration


def test_backup_pg_dump_killed_mid_stream_exit_5_names_database_no_set_no_upload(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    canaries: Canaries,
    good_set: Callable[..., str],
) -> None:
    good = good_set()
    before = {good: store.snapshot(good)}
    held = threading.Event()  # parts wait: pgback's buffers fill, pg_dump waits on its pipe
    proxy.add("PUT", r"partNumber=", "delay", seconds=60, gate=held)
    env = env_for(
        store,
        endpoint=proxy.endpoint_url,
        include_dbs="big",
        compress="none",
        s3_part_size_mib=5,
        keep_last=1,
    )
    run = WatchedRun(env, "backup")
    pg_dump = run.wait_for_child("pg_dump", argv_has="dbname=big")
    run.wait_until(lambda: bool(store.uploads()), "a multipart upload started")

    os.kill(pg_dump.pid, signal.SIGKILL)
    held.set()
    outcome = run.finish()

    assert_failed_cleanly(
        outcome,
        5,
        "dumping database 'big'",
        "pg_dump",
        "killed by SIGKILL",
        "run the backup again",
        canaries=canaries,
    )
    assert store.uploads() == []
    assert_only_good_sets(store, before)
    assert store.set_ids() == {good}


def test_backup_database_dropped_during_run_exit_5_names_it_no_set(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    fault_pg: PostgresServer,
    canaries: Canaries,
    scratch_db: Callable[[str], str],
    good_set: Callable[..., str],
) -> None:
    good = good_set()
    before = {good: store.snapshot(good)}
    victim = scratch_db(unique("zz_dropped"))  # sorts after `big`: dumped later (jobs=1)
    held = threading.Event()  # `big` cannot finish before the drop
    proxy.add("PUT", r"partNumber=", "delay", seconds=60, gate=held)
    env = env_for(
        store,
        endpoint=proxy.endpoint_url,
        include_dbs=f"big,{victim}",
        jobs=1,
        compress="none",
        s3_part_size_mib=5,
        keep_last=1,
    )
    run = WatchedRun(env, "backup")
    run.wait_for_child("pg_dump", argv_has="dbname=big")

    fault_pg.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(victim)))
    held.set()
    outcome = run.finish()

    assert_failed_cleanly(
        outcome,
        5,
        f"dumping database '{victim}'",
        "no longer exists",
        "run the backup again",
        canaries=canaries,
    )
    assert store.uploads() == []
    assert_only_good_sets(store, before)
    assert store.set_ids() == {good}


def test_backup_postgres_unreachable_exit_5_names_host_and_port(
    env_for: EnvFor, store: Bucket, canaries: Canaries, good_set: Callable[..., str]
) -> None:
    good = good_set()
    before = {good: store.snapshot(good)}
    port = free_port()  # nothing listens there

    outcome = run_pgback(env_for(store, port=port, keep_last=1), "backup")

    assert_failed_cleanly(
        outcome,
        5,
        "cannot connect to PostgreSQL",
        f"127.0.0.1:{port}",
        "is the server running",
        canaries=canaries,
    )
    assert_only_good_sets(store, before)
    assert store.set_ids() == {good}


def test_backup_wrong_password_exit_5_says_authentication_failed(
    env_for: EnvFor, store: Bucket, canaries: Canaries, good_set: Callable[..., str]
) -> None:
    good = good_set()
    before = {good: store.snapshot(good)}
    env = env_for(store, password=canaries.target_password, keep_last=1)  # a canary, wrong here

    outcome = run_pgback(env, "backup")

    assert_failed_cleanly(
        outcome,
        5,
        "cannot connect to PostgreSQL",
        "password authentication failed",
        "check the password",
        canaries=canaries,
    )
    assert_only_good_sets(store, before)
    assert store.set_ids() == {good}
