"""jobs = 1 runs one pg_dump at a time, but the next one does not wait for the previous
database's upload to end (its last PUT): a run of many small databases pays no S3 round trip
between them. A database waiting for its turn is stopped with the run."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

import pytest

from .conftest import EnvFor, unique
from .harness import Bucket, Canaries, FaultyS3, WatchedRun, assert_failed_cleanly

pytestmark = pytest.mark.integration


def test_jobs_1_next_pg_dump_starts_while_previous_upload_is_held_never_two_at_once(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    scratch_db: Callable[[str], str],
) -> None:
    first = scratch_db(unique("overlap_a"))
    second = scratch_db(unique("overlap_b"))  # sorts after `first`: dumped second
    held = threading.Event()  # the first database's object stays unstored until set
    proxy.add("PUT", first, "delay", seconds=60, gate=held)
    env = env_for(store, endpoint=proxy.endpoint_url, include_dbs=f"{first},{second}", jobs=1)
    run = WatchedRun(env, "backup")
    try:
        dump_first = run.wait_for_child("pg_dump", argv_has=f"dbname={first}")
        run.wait_until(lambda: proxy.count("PUT", first) == 1, "the first database's PUT")
        dump_second = run.wait_for_child("pg_dump", argv_has=f"dbname={second}")
        # one pg_dump at a time: the first had exited (and was reaped) before the second began
        assert not os.path.exists(f"/proc/{dump_first.pid}")
        assert not held.is_set()
    finally:
        held.set()
    outcome = run.finish()

    assert outcome.returncode == 0, outcome.describe()
    assert dump_second.pid != dump_first.pid
    (set_id,) = store.set_ids_with_manifest()
    manifest = store.manifest_text(set_id)
    assert first in manifest and second in manifest


def test_jobs_1_stop_signal_while_a_database_waits_for_its_turn_it_never_starts_no_set(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    canaries: Canaries,
    scratch_db: Callable[[str], str],
) -> None:
    waiting = scratch_db(unique("zz_waiting"))  # sorts after `big`: its turn comes second
    held = threading.Event()  # big's parts wait: its pg_dump keeps the one slot
    proxy.add("PUT", r"partNumber=", "delay", seconds=60, gate=held)
    env = env_for(
        store,
        endpoint=proxy.endpoint_url,
        include_dbs=f"big,{waiting}",
        jobs=1,
        compress="none",
        s3_part_size_mib=5,
    )
    run = WatchedRun(env, "backup")
    try:
        run.wait_for_child("pg_dump", argv_has="dbname=big")
        run.wait_until(lambda: bool(store.uploads()), "big's multipart upload in flight")
        run.send_signal(signal.SIGTERM)
    finally:
        held.set()
    outcome = run.finish(timeout=30)

    assert_failed_cleanly(outcome, 143, "interrupted", canaries=canaries)
    # every program pgback starts is logged at debug level (a sweep of /proc could miss one
    # killed at once)
    started = [line for line in outcome.stderr.splitlines() if "starting " in line]
    assert any("dbname=big" in line for line in started), outcome.describe()
    assert not any(f"dbname={waiting}" in line for line in started), outcome.describe()
    assert store.uploads() == []
    assert store.set_ids() == set()
