"""`pgback health`, /healthz and /metrics: verdicts from the status file."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pgback.actions.health import check_health, evaluate, render_metrics
from pgback.actions.health_server import HealthServer
from pgback.actions.serve import serve_loop
from pgback.actions.status import RunRecord, Status, status_path, write_status
from pgback.cli import run as cli_run
from pgback.config import Settings, load_settings
from pgback.testbed.clock import VirtualClock
from pgback.testbed.ports import free_port

from .conftest import Bed

T0 = datetime(2025, 4, 13, 2, 0, tzinfo=UTC)  # a Sunday
DAILY = "0 2 * * *"


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return load_settings(env={"PGBACK_STATE_DIR": str(tmp_path / "state"), **env})


def success_at(started: datetime, seconds: float = 30) -> RunRecord:
    return RunRecord(
        started, started + timedelta(seconds=seconds), True, set_id="20250413T020000Z", bytes=2048
    )


def status_after(*records: RunRecord, cron: str | None = DAILY, **kw: Any) -> Status:
    """The status serve would write after these runs (serve started an hour before T0)."""
    status = replace(Status(serve_started_at=T0 - timedelta(hours=1), cron=cron), **kw)
    for record in records:
        status = replace(
            status,
            last_run=record,
            last_success=record if record.success else status.last_success,
            consecutive_failures=0 if record.success else status.consecutive_failures + 1,
            failures_total=status.failures_total + (not record.success),
        )
    return status


# --- verdicts (pure) --------------------------------------------------------------------------


def test_health_no_status_file_is_healthy(tmp_path: Path) -> None:
    ok, message = check_health(settings_for(tmp_path))

    assert ok
    assert "no status yet" in message


def test_health_recent_success_is_healthy(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_status(settings, status_after(success_at(T0)))

    ok, message = check_health(settings, now=T0 + timedelta(hours=3))

    assert ok
    assert message.startswith("ok: last backup 20250413T020000Z succeeded 2h 59m ago")


def test_health_last_run_failed_is_unhealthy_with_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    failed = RunRecord(
        T0 + timedelta(days=1),
        T0 + timedelta(days=1, seconds=5),
        False,
        error="pg_dump failed (exit 1): connection refused",
    )
    write_status(settings, status_after(success_at(T0), failed))

    ok, message = check_health(settings, now=T0 + timedelta(days=1, minutes=1))

    assert not ok
    assert "last backup failed" in message
    assert "connection refused" in message


def test_health_daily_success_tolerates_one_missed_run() -> None:
    status = status_after(success_at(T0, seconds=30))
    settings = Settings()

    one_missed = evaluate(status, settings, T0 + timedelta(days=2, seconds=29))
    two_missed = evaluate(status, settings, T0 + timedelta(days=2, seconds=31))

    assert one_missed.ok
    assert not two_missed.ok
    assert "overdue since 2025-04-15T02:00:30Z" in two_missed.message


def test_health_weekday_cron_is_not_overdue_over_the_weekend() -> None:
    friday = datetime(2025, 4, 11, 2, 0, tzinfo=UTC)
    status = status_after(success_at(friday), cron="0 2 * * 1-5")

    sunday_night = evaluate(status, Settings(), datetime(2025, 4, 13, 23, 0, tzinfo=UTC))

    assert sunday_night.ok


def test_health_max_age_overrides_cron_window() -> None:
    status = status_after(success_at(T0, seconds=0))
    settings = Settings(health_max_age=timedelta(hours=6))

    assert evaluate(status, settings, T0 + timedelta(hours=5)).ok
    assert not evaluate(status, settings, T0 + timedelta(hours=7)).ok


def test_health_before_first_run_is_healthy_until_first_run_is_overdue() -> None:
    status = status_after()  # serve started at 01:00, first run due at 02:00

    assert evaluate(status, Settings(), T0 - timedelta(minutes=30)).message.startswith(
        "ok: no backup due yet"
    )
    assert evaluate(status, Settings(), T0 + timedelta(hours=12)).ok
    late = evaluate(status, Settings(), T0 + timedelta(days=1, minutes=1))
    assert not late.ok
    assert "no successful backup since serve started" in late.message


def test_health_cron_disabled_is_healthy_without_backups() -> None:
    status = status_after(cron=None, cron_disabled=True)

    verdict = evaluate(status, Settings(), T0 + timedelta(days=365))

    assert verdict.ok
    assert "restore-only" in verdict.message


def test_health_unreadable_status_file_is_unhealthy(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    status_path(settings).parent.mkdir(parents=True)
    status_path(settings).write_text("{not json")

    ok, message = check_health(settings)

    assert not ok
    assert "unreadable" in message


def test_render_metrics_reports_last_success_and_failures() -> None:
    status = status_after(success_at(T0, seconds=12.5), sets_kept=3, runs_total=4)

    text = render_metrics(status, healthy=True)

    lines = set(text.splitlines())
    assert "pgback_up 1" in lines
    assert "pgback_healthy 1" in lines
    assert f"pgback_last_success_timestamp_seconds {int(T0.timestamp() + 12.5)}.5" in lines
    assert "pgback_last_run_duration_seconds 12.5" in lines
    assert "pgback_last_run_bytes 2048" in lines
    assert "pgback_sets_kept 3" in lines
    assert "pgback_failures_total 0" in lines
    assert "# TYPE pgback_failures_total counter" in lines


def test_render_metrics_before_any_run_leaves_unknowns_out() -> None:
    text = render_metrics(None, healthy=True)

    assert "pgback_last_success_timestamp_seconds 0" in text.splitlines()
    assert not any(line.startswith("pgback_last_run_bytes ") for line in text.splitlines())


# --- `pgback health` after real runs ----------------------------------------------------------


@pytest.mark.integration
def test_pgback_health_before_run_after_success_after_failure(
    bed: Bed, capsys: pytest.CaptureFixture[str]
) -> None:
    state = ["--state-dir", str(bed.state_dir)]
    assert cli_run(["health", *state]) == 0
    assert "no status yet" in capsys.readouterr().out

    clock = VirtualClock()
    good = bed.settings(PGBACK_BACKUP_CRON="0 0 1 1 *", PGBACK_RUN_ON_START="true")
    serve_loop(good, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)
    assert cli_run(["health", *state]) == 0
    assert capsys.readouterr().out.startswith("ok: last backup ")

    bad = bed.settings(
        PGBACK_BACKUP_CRON="0 0 1 1 *", PGBACK_RUN_ON_START="true", PGBACK_PORT=str(free_port())
    )
    serve_loop(bad, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)
    assert cli_run(["health", *state]) == 1
    out = capsys.readouterr().out
    assert out.startswith("unhealthy: last backup failed")
    assert bed.pg.password not in out


# --- over HTTP --------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.mark.integration
def test_health_http_endpoints_follow_the_status(bed: Bed) -> None:
    listen = f"127.0.0.1:{free_port()}"
    clock = VirtualClock()
    good = bed.settings(
        PGBACK_BACKUP_CRON="0 0 1 1 *", PGBACK_RUN_ON_START="true", PGBACK_HEALTH_LISTEN=listen
    )
    server = HealthServer.start(good, clock.now)
    try:
        serve_loop(good, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)
        healthy = _get(f"http://{listen}/healthz")
        metrics = _get(f"http://{listen}/metrics")

        bad = bed.settings(
            PGBACK_BACKUP_CRON="0 0 1 1 *",
            PGBACK_RUN_ON_START="true",
            PGBACK_S3_BUCKET="no-such-bucket-here",
        )
        serve_loop(bad, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)
        unhealthy = _get(f"http://{listen}/healthz")
        failed_metrics = _get(f"http://{listen}/metrics")
        missing = _get(f"http://{listen}/nope")
    finally:
        server.close()

    assert healthy[0] == 200
    assert healthy[2].startswith("ok: last backup")
    assert metrics[0] == 200
    assert metrics[1].startswith("text/plain; version=0.0.4")
    samples = dict(
        line.split(" ", 1) for line in metrics[2].splitlines() if not line.startswith("#")
    )
    assert float(samples["pgback_last_success_timestamp_seconds"]) > 0
    assert int(samples["pgback_last_run_bytes"]) > 0
    assert samples["pgback_failures_total"] == "0"
    assert samples["pgback_up"] == "1"
    assert unhealthy[0] == 503
    assert "no-such-bucket-here" in unhealthy[2]
    assert "pgback_failures_total 1" in failed_metrics[2].splitlines()
    assert "pgback_healthy 0" in failed_metrics[2].splitlines()
    assert missing[0] == 404
