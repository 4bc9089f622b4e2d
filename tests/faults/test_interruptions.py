"""Case 7 and 8: SIGTERM/SIGINT to `pgback backup` and SIGTERM to `pgback serve` in the middle
of a run; two backups at the same time.

(tests/sidecar/test_serve_process.py owns the serve loop's signal handling: grace period,
second signal, status file. The serve case here adds what this suite checks everywhere: the
canary secrets, the children, the bucket.)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import EnvFor
from .harness import (
    Bucket,
    Canaries,
    FaultyS3,
    WatchedRun,
    assert_failed_cleanly,
    assert_no_secrets,
    assert_only_good_sets,
    run_pgback,
)

pytestmark = pytest.mark.integration


def slow_big_backup(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    delay: float = 1.0,
    gate: threading.Event | None = None,
) -> dict[str, str]:
    """`big` uncompressed in 5 MiB parts, each part held `delay` seconds (or until `gate` is
    set) by the proxy: a run of seconds with a multipart upload in flight most of the time."""
    proxy.add("PUT", r"partNumber=", "delay", seconds=delay, gate=gate)
    return env_for(
        store,
        endpoint=proxy.endpoint_url,
        include_dbs="big",
        compress="none",
        s3_part_size_mib=5,
        keep_last=1,
    )


@pytest.mark.parametrize(
    ("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["TERM", "INT"]
)
def test_backup_signal_mid_upload_aborts_uploads_leaves_no_set_exits_128_plus_signal(
    signum: signal.Signals,
    exit_code: int,
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    canaries: Canaries,
    good_set: Callable[..., str],
) -> None:
    good = good_set()
    before = {good: store.snapshot(good)}
    run = WatchedRun(slow_big_backup(env_for, store, proxy), "backup")
    run.wait_for_child("pg_dump", argv_has="dbname=big")
    run.wait_until(lambda: bool(store.uploads()), "a multipart upload in flight")

    run.send_signal(signum)
    outcome = run.finish(timeout=30)

    assert_failed_cleanly(outcome, exit_code, "interrupted", canaries=canaries)
    assert outcome.seconds < 15, outcome.describe()
    assert store.uploads() == []
    assert_only_good_sets(store, before)
    assert store.set_ids() == {good}  # the partial objects were removed too


def test_backup_while_another_runs_refused_exit_8_and_first_completes(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    canaries: Canaries,
    good_set: Callable[..., str],
) -> None:
    good = good_set()
    held = threading.Event()  # the first run's parts wait until the second run is over
    env = slow_big_backup(env_for, store, proxy, delay=60, gate=held)
    first = WatchedRun(env, "backup")
    first.wait_for_child("pg_dump", argv_has="dbname=big")

    second = run_pgback(env, "backup")
    held.set()

    message = assert_failed_cleanly(
        second, 8, "another backup is running", f"pid {first.pid}", canaries=canaries
    )
    assert "wait for it" in message
    done = first.finish()
    assert done.returncode == 0, done.describe()
    new_set = done.stdout.split()[0]
    # keep_last=1: the first run's purge removed the older good set, never its own
    assert store.set_ids_with_manifest() == {new_set}, (good, store.objects())
    assert store.uploads() == []


def test_serve_sigterm_mid_backup_past_grace_exits_143_aborts_uploads_no_set(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    canaries: Canaries,
    good_set: Callable[..., str],
    tmp_path: Path,
) -> None:
    good = good_set()
    before = {good: store.snapshot(good)}
    env = {
        **slow_big_backup(env_for, store, proxy),
        "PGBACK_BACKUP_CRON": "0 0 1 1 *",  # months away: only run_on_start runs
        "PGBACK_RUN_ON_START": "true",
        "PGBACK_STOP_GRACE_PERIOD": "1s",
    }
    run = WatchedRun(env, "serve")
    run.wait_for_child("pg_dump", argv_has="dbname=big")
    run.wait_until(lambda: bool(store.uploads()), "a multipart upload in flight")

    run.send_signal(signal.SIGTERM)
    outcome = run.finish(timeout=60)

    assert outcome.returncode == 143, outcome.describe()
    assert "Traceback" not in outcome.stderr, outcome.describe()
    assert_no_secrets(outcome, canaries)
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert_no_secrets(outcome, canaries, path.read_text(errors="replace"))
    assert store.uploads() == []
    assert_only_good_sets(store, before)
    assert store.set_ids() == {good}
