"""Calendar retention on real sets: a year of daily sets in a real S3 bucket, decided by
`pgback purge --dry-run --json` and checked against restic's rules computed independently
(tests/integration/test_retention_restic.py checks the rules against the real restic)."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from calendar_reference import calendar_reference
from support import run_cli

from pgback.naming import make_set_id, parse_set_id
from pgback.testbed import S3Server

pytestmark = pytest.mark.integration

SMALL_DB = "per%cent.dots.."
GFS = {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12}


def copy_set(s3: S3Server, bucket: str, prefix: str, set_id: str, *new_ids: str) -> None:
    """More complete sets made of a real one: its manifest (naming the new id) and its globals
    file (a few requests per set: moto answers each in tens of milliseconds)."""
    client = s3.client()
    keys = s3.list_keys(bucket, f"{prefix}/{set_id}/")
    manifest = next(k for k in keys if k.endswith("/manifest.json"))
    globals_key = next(k for k in keys if "/pg_globals.sql" in k)
    body = client.get_object(Bucket=bucket, Key=manifest)["Body"].read().decode()

    def copy(new_id: str) -> None:
        source = {"Bucket": bucket, "Key": globals_key}
        client.copy_object(
            Bucket=bucket, Key=globals_key.replace(set_id, new_id), CopySource=source
        )
        target = manifest.replace(set_id, new_id)
        client.put_object(Bucket=bucket, Key=target, Body=body.replace(set_id, new_id))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(copy, new_ids))


def set_ids(s3: S3Server, bucket: str, prefix: str) -> set[str]:
    keys = s3.list_keys(bucket, f"{prefix}/")
    return {k.split("/")[1] for k in keys if k.endswith("/manifest.json")}


@pytest.fixture
def year_of_daily_sets(
    s3: S3Server, bucket: str, pgback_env: Callable[..., dict[str, str]]
) -> list[datetime]:
    """One real backup now, copied to the same time of day on each of the 364 days before."""
    done = run_cli(pgback_env(bucket, include_dbs=SMALL_DB), "backup")
    assert done.returncode == 0, done.stderr
    first = done.stdout.split()[0]
    started = parse_set_id(first)
    assert started is not None
    days = [started - timedelta(days=k) for k in range(365)]
    copy_set(s3, bucket, "backups", first, *(make_set_id(when) for when in days[1:]))
    return days


def test_purge_calendar_rules_over_a_year_of_daily_sets_keep_what_restic_rules_keep(
    s3: S3Server,
    bucket: str,
    pgback_env: Callable[..., dict[str, str]],
    year_of_daily_sets: list[datetime],
) -> None:
    env = pgback_env(bucket, **GFS)
    counts = {k.removeprefix("keep_"): v for k, v in GFS.items()}
    expected = {make_set_id(t) for t in calendar_reference(year_of_daily_sets, counts, UTC)}

    dry = run_cli(env, "purge", "--dry-run", "--json")

    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert [p["set"] for p in plan] == sorted((p["set"] for p in plan), reverse=True)
    assert len(plan) == 365
    kept = {p["set"] for p in plan if p["action"] == "keep"}
    assert kept == expected
    assert {make_set_id(t) for t in year_of_daily_sets[:7]} <= kept  # the last 7 days
    assert all(p["reasons"] for p in plan)
    assert set_ids(s3, bucket, "backups") == {make_set_id(t) for t in year_of_daily_sets}

    done = run_cli(env, "purge")

    assert done.returncode == 0, done.stderr
    assert set_ids(s3, bucket, "backups") == kept


def test_purge_dry_run_json_lists_every_rule_that_keeps_a_set(
    s3: S3Server, bucket: str, pgback_env: Callable[..., dict[str, str]]
) -> None:
    env = pgback_env(bucket, include_dbs=SMALL_DB)
    done = run_cli(env, "backup")
    assert done.returncode == 0, done.stderr
    newest = done.stdout.split()[0]
    started = parse_set_id(newest)
    assert started is not None
    older = make_set_id(started - timedelta(days=40))
    copy_set(s3, bucket, "backups", newest, older)

    dry = run_cli(
        pgback_env(bucket, keep_last=1, keep_monthly=2, retention_timezone="Europe/Paris"),
        "purge",
        "--dry-run",
        "--json",
    )

    assert dry.returncode == 0, dry.stderr
    month = started.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m")
    first, second = json.loads(dry.stdout)
    assert first == {
        "set": newest,
        "action": "keep",
        "reasons": ["newest complete set", "within keep_last=1", f"monthly {month}"],
    }
    assert second["set"] == older and second["action"] == "keep"
    assert second["reasons"][0].startswith("monthly ")
