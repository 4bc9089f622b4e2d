"""Several runners, one bucket: two `pgback` processes with separate state directories (so no
shared lock file, as on two hosts) against one real S3 bucket.

Host A's backup runs in a pid namespace of its own (`unshare --pid --fork`: B cannot see its
processes, as from another machine or container) and through the fault proxy, which holds its
part uploads until the test lets them go; host B talks to S3 directly. A running backup's mark
(`running.json` in its set) is what keeps B's purge away from A's set; a SIGKILLed host's mark
expires after `mark_stale_after` and its set is then purged like any dead run's. In one pid
namespace a dead writer is known at once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import EnvFor
from .harness import Bucket, Canaries, FaultyS3, WatchedRun, assert_no_secrets, run_pgback

pytestmark = pytest.mark.integration

STALE_AFTER = 4  # seconds: mark_stale_after for both hosts; A refreshes every 2/3 s
# the dead host's test: B's own backup (its purge judges A's mark) must end well within it
DEAD_STALE_AFTER = 15


def host_a(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    gate: threading.Event,
    state: Path,
    stale_after: int = STALE_AFTER,
) -> dict[str, str]:
    """`big` uncompressed in 5 MiB parts, each held by the proxy until `gate` is set; no
    retention policy of its own."""
    proxy.add("PUT", r"partNumber=", "delay", seconds=120, gate=gate)
    return env_for(
        store,
        endpoint=proxy.endpoint_url,
        include_dbs="big",
        compress="none",
        s3_part_size_mib=5,
        state_dir=state,
        mark_stale_after=f"{stale_after}s",
    )


def host_b(
    env_for: EnvFor, store: Bucket, state: Path, stale_after: int = STALE_AFTER, **keys: str
) -> dict[str, str]:
    return env_for(
        store, state_dir=state, keep_last="1", mark_stale_after=f"{stale_after}s", **keys
    )


ANOTHER_HOST = ("unshare", "--pid", "--fork")  # root: CI and this machine run as root


def mark_of(store: Bucket, key: str) -> dict[str, object]:
    body = store.s3.client().get_object(Bucket=store.name, Key=key)["Body"].read()
    found: dict[str, object] = json.loads(body)
    return found


def pgback_pid(run: WatchedRun) -> int:
    """The pgback process under `unshare --fork` (its child), as this host numbers it."""
    children = Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().split()
    return int(children[0])


def marks(store: Bucket) -> list[str]:
    return [key for key in store.objects() if key.endswith("/running.json")]


def test_backup_running_on_one_host_survives_another_hosts_purge_and_completes(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    canaries: Canaries,
    good_set: Callable[..., str],
    tmp_path: Path,
) -> None:
    old = good_set(hours_ago=2)
    held = threading.Event()
    a_env = host_a(env_for, store, proxy, held, tmp_path / "a")
    a = WatchedRun(a_env, "backup", wrapper=ANOTHER_HOST)
    a.wait_until(lambda: bool(store.uploads()), "host A's multipart upload in flight")
    (a_set,) = store.set_ids() - {old}
    (mark,) = marks(store)
    written = mark_of(store, mark)
    # longer than mark_stale_after: only A's refreshes can keep its mark fresh
    time.sleep(STALE_AFTER + 1.5)

    b = run_pgback(host_b(env_for, store, tmp_path / "b"), "backup")

    assert b.returncode == 0, b.describe()
    b_set = b.stdout.split()[0]
    assert a_set < b_set  # A's set is older than the newest complete set: today's trap
    assert re.search(rf"{old}\s+removed\s+beyond keep_last=1", b.stdout), b.stdout
    assert re.search(
        rf"{a_set}\s+keep\s+in progress on {written['host']} \(pid {written['pid']}\), "
        r"mark refreshed \d+s ago",
        b.stdout,
    ), b.stdout
    assert store.uploads(), "B's purge aborted the upload of A's running backup"
    assert mark in store.objects()

    held.set()
    done = a.finish()

    assert done.returncode == 0, done.describe()
    assert done.stdout.split()[0] == a_set
    assert store.set_ids_with_manifest() == {a_set, b_set}
    assert store.uploads() == [] and marks(store) == []
    verified = run_pgback(env_for(store, cipher_private_key=canaries.age_identity), "verify", a_set)
    assert verified.returncode == 0, verified.describe()
    assert_no_secrets(done, canaries)


def test_dead_hosts_mark_expires_then_its_set_and_upload_are_purged(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    canaries: Canaries,
    good_set: Callable[..., str],
    tmp_path: Path,
) -> None:
    old = good_set(hours_ago=2)
    held = threading.Event()  # never set while A lives: A dies mid-upload
    a_env = host_a(env_for, store, proxy, held, tmp_path / "a", DEAD_STALE_AFTER)
    a = WatchedRun(a_env, "backup", wrapper=ANOTHER_HOST)
    a.wait_until(lambda: bool(store.uploads()), "host A's multipart upload in flight")
    (a_set,) = store.set_ids() - {old}
    (mark,) = marks(store)
    body = store.s3.client().get_object(Bucket=store.name, Key=mark)["Body"].read().decode()
    os.kill(pgback_pid(a), signal.SIGKILL)  # no cleanup of any kind
    killed = a.finish()
    # unshare reports its child's death its own way; the point is that pgback cleaned nothing
    assert killed.returncode != 0 and "partial object" not in killed.stderr, killed.describe()
    b_env = host_b(env_for, store, tmp_path / "b", DEAD_STALE_AFTER, include_dbs="small")

    fresh = run_pgback(b_env, "backup")

    assert fresh.returncode == 0, fresh.describe()
    assert a_set in store.set_ids() and store.uploads(), "a fresh mark did not protect A's set"
    assert re.search(rf"{a_set}\s+keep\s+in progress on", fresh.stdout), fresh.stdout

    time.sleep(DEAD_STALE_AFTER + 1.5)  # nobody refreshes the mark now
    expired = run_pgback(b_env, "purge")

    assert expired.returncode == 0, expired.describe()
    assert re.search(
        rf"{a_set}\s+removed\s+incomplete \(no manifest\) and older than the newest complete",
        expired.stdout,
    ), expired.stdout
    assert a_set not in store.set_ids()
    assert store.uploads() == []
    assert marks(store) == []
    # what the mark told every host: who and where, never a secret
    assert '"host"' in body and '"pid": 1,' in body  # pid 1 of its own namespace
    assert_no_secrets(fresh, canaries, body)


def test_dead_writer_in_this_pid_namespace_is_known_at_once_and_purged(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    good_set: Callable[..., str],
    tmp_path: Path,
) -> None:
    """On one host (the sidecar's container, a laptop) a mark whose process is gone needs no
    waiting: the next purge removes the dead run's set and aborts its upload."""
    old = good_set(hours_ago=2)
    held = threading.Event()
    a = WatchedRun(host_a(env_for, store, proxy, held, tmp_path / "a", 900), "backup")
    a.wait_until(lambda: bool(store.uploads()), "A's multipart upload in flight")
    (a_set,) = store.set_ids() - {old}
    a.proc.kill()
    assert a.finish().returncode == -9

    b = run_pgback(host_b(env_for, store, tmp_path / "b", 900, include_dbs="small"), "backup")

    assert b.returncode == 0, b.describe()
    assert re.search(rf"{a_set}\s+removed\s+incomplete", b.stdout), b.stdout
    assert a_set not in store.set_ids() and store.uploads() == [] and marks(store) == []
