"""`s3_create_bucket`: `backup` and `serve` make a missing bucket themselves (no vendor CLI
needed beside the S3 server), and a refusal is a clear storage error."""

from __future__ import annotations

import signal
import uuid

import pytest

from .conftest import EnvFor
from .harness import Bucket, Canaries, FaultyS3, WatchedRun, assert_failed_cleanly, run_pgback

pytestmark = pytest.mark.integration

NEVER = "0 0 1 1 *"  # months away: only run_on_start runs


def missing_bucket(store: Bucket) -> Bucket:
    """A bucket on the same server that nobody created."""
    missing = Bucket(store.s3, f"pgback-new-{uuid.uuid4().hex[:12]}")
    assert missing.name not in [b["Name"] for b in store.s3.client().list_buckets()["Buckets"]]
    return missing


def test_backup_s3_create_bucket_makes_the_missing_bucket_and_a_complete_set(
    env_for: EnvFor, store: Bucket
) -> None:
    fresh = missing_bucket(store)
    env = env_for(fresh, s3_create_bucket="true")

    first = run_pgback(env, "backup")
    second = run_pgback(env, "backup")  # the bucket exists now: nothing to create

    assert first.returncode == 0, first.describe()
    assert second.returncode == 0, second.describe()
    assert "created the missing bucket" in first.stderr
    assert "created the missing bucket" not in second.stderr
    made = {first.stdout.split()[0], second.stdout.split()[0]}
    assert fresh.set_ids_with_manifest() == made


def test_serve_s3_create_bucket_makes_the_missing_bucket_on_its_first_run(
    env_for: EnvFor, store: Bucket
) -> None:
    fresh = missing_bucket(store)
    env = env_for(fresh, s3_create_bucket="true", backup_cron=NEVER, run_on_start="true")

    run = WatchedRun(env, "serve")
    run.wait_for_log("complete:", timeout=60)
    run.send_signal(signal.SIGTERM)
    outcome = run.finish(timeout=30)

    assert outcome.returncode == 0, outcome.describe()
    assert len(fresh.set_ids_with_manifest()) == 1, outcome.describe()


def test_backup_s3_create_bucket_refused_exit_4_names_the_bucket_and_what_to_do(
    env_for: EnvFor, store: Bucket, proxy: FaultyS3, canaries: Canaries
) -> None:
    fresh = missing_bucket(store)
    proxy.add("PUT", rf"^/{fresh.name}/?$", "status", status=403, code="AccessDenied")
    env = env_for(fresh, endpoint=proxy.endpoint_url, s3_create_bucket="true")

    outcome = run_pgback(env, "backup")

    message = assert_failed_cleanly(
        outcome,
        4,
        f"creating the missing bucket {fresh.name!r}",
        "AccessDenied",
        "create it yourself",
        canaries=canaries,
    )
    assert "permission to create buckets" in message
    assert "pg_dump" not in outcome.programs()  # refused before dumping anything
    assert fresh.name not in [b["Name"] for b in store.s3.client().list_buckets()["Buckets"]]


def test_backup_without_s3_create_bucket_still_refuses_a_missing_bucket(
    env_for: EnvFor, store: Bucket, canaries: Canaries
) -> None:
    fresh = missing_bucket(store)

    outcome = run_pgback(env_for(fresh), "backup")

    assert_failed_cleanly(outcome, 4, f"{fresh.name!r} does not exist", canaries=canaries)
    assert fresh.name not in [b["Name"] for b in store.s3.client().list_buckets()["Buckets"]]
