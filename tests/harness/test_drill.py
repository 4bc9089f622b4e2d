"""Restore drills against a bucket filled by a real `pgback backup`: `pgback drill FILE` restores
the newest set into a throwaway server and checks what the team says must hold; it never writes
to the bucket; the sidecar runs it on its own schedule and reports it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import clean_base_env

from pgback.actions.backup import run_backup
from pgback.actions.drill_status import read_drill_status
from pgback.actions.drills import DrillLoop
from pgback.actions.health_server import _metrics_text
from pgback.config import Settings, load_settings
from pgback.testbed import PostgresServer, S3Server
from pgback.testbed.clock import VirtualClock

pytestmark = pytest.mark.integration

DRILL = """\
services: [scratch]
steps:
  - restore: {{set: latest, target: scratch, newest_within: {within}, databases: [app]}}
  - expect_rows: {{server: scratch, dbname: app, table: items, at_least: {rows}}}
  - expect_query:
      {{server: scratch, dbname: app, query: SELECT count(*) FROM extra.notes, value: 50}}
"""


@pytest.fixture
def drill_env(
    pgback_env: Callable[..., dict[str, str]], bucket: str, tmp_path: Path
) -> dict[str, str]:
    """The environment of a drill: the bucket's settings (no server: the drill makes its own)."""
    env = pgback_env(bucket, include_dbs="app")
    for name in ("PGBACK_HOST", "PGBACK_PORT", "PGBACK_USER", "PGBACK_PASSWORD"):
        env.pop(name)
    return {**env, "PGBACK_STATE_DIR": str(tmp_path / "drill-state")}


def backup_at(settings_for: Callable[..., Settings], bucket: str, hours_ago: float) -> str:
    settings = settings_for(bucket, include_dbs="app")
    behind = timedelta(hours=hours_ago)
    return run_backup(settings, clock=lambda: datetime.now(UTC) - behind).set_id


def drill(
    tmp_path: Path, env: dict[str, str], within: str = "2h", rows: int = 1500
) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = tmp_path / "nightly.yaml"
    path.write_text(DRILL.format(within=within, rows=rows))
    done = subprocess.run(
        [sys.executable, "-m", "pgback", "drill", str(path)],
        env={**clean_base_env(), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, path


def test_drill_newest_set_restores_and_is_recorded_without_writing_to_the_bucket(
    pg: PostgresServer,
    s3: S3Server,
    bucket: str,
    settings_for: Callable[..., Settings],
    drill_env: dict[str, str],
    tmp_path: Path,
) -> None:
    set_id = backup_at(settings_for, bucket, hours_ago=1)
    before = s3.list_keys(bucket)

    done, _ = drill(tmp_path, drill_env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "scenario nightly passed" in done.stdout
    assert s3.list_keys(bucket) == before  # read only: nothing added, nothing removed
    status = read_drill_status(load_settings(env=drill_env))
    assert status is not None and status.last_run.success and status.last_run.set_id == set_id
    metrics = _metrics_text(load_settings(env=drill_env), datetime.now(UTC))
    assert "pgback_last_drill_success 1" in metrics
    assert "pgback_last_drill_success_timestamp_seconds 0" not in metrics


def test_drill_newest_set_older_than_newest_within_fails_naming_its_age(
    s3: S3Server,
    bucket: str,
    settings_for: Callable[..., Settings],
    drill_env: dict[str, str],
    tmp_path: Path,
) -> None:
    set_id = backup_at(settings_for, bucket, hours_ago=30)

    done, path = drill(tmp_path, drill_env, within="26h")

    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"pgback: error: drill nightly: step 1 restore failed at {path}:3: the newest complete "
        f"set {set_id} is 1d 6h old, older than newest_within 1d 2h: have the last backups "
        "failed or stopped?"
    )
    status = read_drill_status(load_settings(env=drill_env))
    assert status is not None and not status.last_run.success and status.last_success is None


def test_drill_row_count_not_met_fails_with_the_counts(
    bucket: str,
    settings_for: Callable[..., Settings],
    drill_env: dict[str, str],
    tmp_path: Path,
) -> None:
    backup_at(settings_for, bucket, hours_ago=1)

    done, path = drill(tmp_path, drill_env, rows=2000)

    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"pgback: error: drill nightly: step 2 expect_rows failed at {path}:4: scratch: "
        "app.items has 1500 rows, expected at least 2000"
    )


def test_drill_that_would_write_to_the_real_bucket_is_refused_before_anything_runs(
    drill_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("services: [scratch]\nsteps:\n  - backup: {}\n")

    done = subprocess.run(
        [sys.executable, "-m", "pgback", "drill", str(path)],
        env={**clean_base_env(), **drill_env},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2
    assert done.stderr.startswith(f"pgback: error: {path}:3: step 1 backup: writes to the bucket")


def test_drill_loop_runs_the_drill_at_its_cron_time_and_records_it(
    bucket: str,
    settings_for: Callable[..., Settings],
    drill_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backup_at(settings_for, bucket, hours_ago=1)
    path = tmp_path / "nightly.yaml"
    path.write_text(DRILL.format(within="2h", rows=1500))
    env = {**drill_env, "PGBACK_DRILL_CRON": "30 4 * * *", "PGBACK_DRILL_FILE": str(path)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the drill child reads this process's environment
    settings = load_settings(env=env)
    start = datetime(2026, 12, 1, 4, 29, 30, tzinfo=UTC)
    clock = VirtualClock(start=start, stop=threading.Event())
    loop = DrillLoop(settings, clock=clock.now, wait=clock.wait, stop=clock.stop)

    loop.run(max_runs=1)

    assert clock.waited >= timedelta(seconds=29)  # it waited for 04:30, in virtual time
    status = read_drill_status(settings)
    assert status is not None and status.last_run.success
    assert (
        json.loads((tmp_path / "drill-state" / "drill.json").read_text())["scenario"] == "nightly"
    )
