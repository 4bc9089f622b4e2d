"""jobs = 1 runs one pg_dump at a time, but the next one does not wait for the previous
database's upload to end (its last PUT): a run of many small databases pays no S3 round trip
between them."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

from .conftest import EnvFor, unique
from .harness import Bucket, FaultyS3, WatchedRun

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
