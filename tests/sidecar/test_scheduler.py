"""The serve loop in virtual time, with a fake backup: only scheduling is under test here."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pgback.actions.serve import (
    EXIT_ABORTED,
    EXIT_STOPPED,
    MAX_WAIT_CHUNK,
    serve_loop,
)
from pgback.actions.status import read_status
from pgback.config import Settings, load_settings
from pgback.errors import ConfigError, LockedError, ProcessError
from pgback.testbed.clock import VirtualClock

from .fakes import FakeBackup

START = datetime(2025, 4, 13, 21, 35, 10, tzinfo=UTC)


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return load_settings(env={"PGBACK_STATE_DIR": str(tmp_path / "state"), **env})


def test_serve_loop_cron_fires_at_the_scheduled_minute(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, PGBACK_BACKUP_CRON="37 21 * * *")
    clock = VirtualClock(start=START)
    backup = FakeBackup()

    began = time.monotonic()
    code = serve_loop(
        settings, clock=clock.now, wait=clock.wait, stop=clock.stop, backup=backup, max_runs=1
    )

    assert code == EXIT_STOPPED
    assert len(backup.calls) == 1
    fired = backup.calls[0]
    assert datetime(2025, 4, 13, 21, 37, tzinfo=UTC) <= fired
    assert fired < datetime(2025, 4, 13, 21, 37, 1, tzinfo=UTC)
    assert time.monotonic() - began < 5  # two virtual minutes, no real ones
    assert clock.waited >= timedelta(seconds=109)


def test_serve_loop_cron_in_time_zone_fires_at_local_minute(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, PGBACK_BACKUP_CRON="0 2 * * *", PGBACK_CRON_TIMEZONE="Europe/Paris"
    )
    clock = VirtualClock(start=START)
    backup = FakeBackup()

    serve_loop(
        settings, clock=clock.now, wait=clock.wait, stop=clock.stop, backup=backup, max_runs=1
    )

    # 02:00 in Paris on 14 April (CEST, UTC+2) is 00:00 UTC
    assert backup.calls[0].replace(microsecond=0) == datetime(2025, 4, 14, 0, 0, tzinfo=UTC)


def test_serve_loop_backup_longer_than_interval_skips_missed_runs_not_stacked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, PGBACK_BACKUP_CRON="* * * * *")
    clock = VirtualClock(start=START)
    # each run "takes" 150 virtual seconds: two scheduled minutes pass during it
    backup = FakeBackup(takes=lambda: clock.wait(150))

    serve_loop(
        settings, clock=clock.now, wait=clock.wait, stop=clock.stop, backup=backup, max_runs=2
    )

    minutes = [call.replace(second=0, microsecond=0) for call in backup.calls]
    assert minutes == [
        datetime(2025, 4, 13, 21, 36, tzinfo=UTC),
        datetime(2025, 4, 13, 21, 39, tzinfo=UTC),  # 21:37 and 21:38 skipped, not run late
    ]
    status = read_status(settings)
    assert status is not None
    assert status.skipped_total == 4  # two during each run
    assert "skipped 2 scheduled run(s) that fell while the previous backup ran" in caplog.text


def test_serve_loop_late_wake_up_runs_once_and_logs_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, PGBACK_BACKUP_CRON="*/5 * * * *")
    clock = VirtualClock(start=START)

    def oversleeping_wait(seconds: float) -> bool:
        # the machine was suspended: the first wait (60 s) wakes up 20 minutes late, at 21:56:10;
        # 21:40 is run (once), 21:45, 21:50 and 21:55 are skipped
        return clock.wait(seconds + 20 * 60)

    backup = FakeBackup()

    serve_loop(
        settings,
        clock=clock.now,
        wait=oversleeping_wait,
        stop=clock.stop,
        backup=backup,
        max_runs=1,
    )

    assert len(backup.calls) == 1
    assert "skipped 3 scheduled run(s) that fell while the process slept" in caplog.text


def test_serve_loop_run_on_start_runs_at_once_then_follows_cron(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, PGBACK_BACKUP_CRON="0 3 * * *", PGBACK_RUN_ON_START="true")
    clock = VirtualClock(start=START)
    backup = FakeBackup()

    serve_loop(
        settings, clock=clock.now, wait=clock.wait, stop=clock.stop, backup=backup, max_runs=2
    )

    assert backup.calls[0] - START < timedelta(seconds=1)
    assert backup.calls[1].replace(microsecond=0) == datetime(2025, 4, 14, 3, 0, tzinfo=UTC)


def test_serve_loop_cron_disabled_idles_without_backups_until_stopped(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, DISABLE_CRON="true", BACKUP_CRON="* * * * *")
    clock = VirtualClock(start=START)
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        if len(waits) == 3:
            clock.stop.set()
        return clock.wait(seconds)

    backup = FakeBackup()

    code = serve_loop(settings, clock=clock.now, wait=wait, stop=clock.stop, backup=backup)

    assert code == EXIT_STOPPED
    assert backup.calls == []
    assert len(waits) == 3
    status = read_status(settings)
    assert status is not None
    assert status.cron_disabled
    assert status.next_fire is None
    assert status.state == "stopped"


def test_serve_loop_waits_in_bounded_chunks(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, PGBACK_BACKUP_CRON="0 0 1 1 *")
    clock = VirtualClock(start=START)
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return clock.wait(seconds)

    serve_loop(
        settings, clock=clock.now, wait=wait, stop=clock.stop, backup=FakeBackup(), max_runs=1
    )

    assert max(waits) <= MAX_WAIT_CHUNK


def test_serve_loop_without_cron_refuses_to_start(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)

    with pytest.raises(ConfigError, match="backup_cron"):
        serve_loop(settings, backup=FakeBackup(), max_runs=1)


def test_serve_loop_stop_while_idle_returns_zero_promptly(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, PGBACK_BACKUP_CRON="0 0 1 1 *")
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()

    began = time.monotonic()
    code = serve_loop(settings, stop=stop, backup=FakeBackup())

    assert code == EXIT_STOPPED
    assert time.monotonic() - began < 2


def test_serve_loop_stop_during_backup_past_grace_cancels_and_returns_143(
    tmp_path: Path,
) -> None:
    settings = settings_for(
        tmp_path,
        PGBACK_BACKUP_CRON="0 0 1 1 *",
        PGBACK_RUN_ON_START="true",
        PGBACK_STOP_GRACE_PERIOD="0.3s",
    )
    stop = threading.Event()
    backup = FakeBackup(block_until_cancelled=True)

    def stop_once_started() -> None:
        backup.started.wait(10)
        stop.set()

    threading.Thread(target=stop_once_started).start()

    began = time.monotonic()
    code = serve_loop(settings, stop=stop, backup=backup)

    assert code == EXIT_ABORTED
    assert time.monotonic() - began < 5
    status = read_status(settings)
    assert status is not None
    assert status.last_run is not None
    assert not status.last_run.success
    assert status.last_run.error == "cancelled: the sidecar was stopped"
    assert status.last_success is None


def test_serve_loop_second_stop_signal_cancels_without_waiting_for_grace(
    tmp_path: Path,
) -> None:
    settings = settings_for(
        tmp_path,
        PGBACK_BACKUP_CRON="0 0 1 1 *",
        PGBACK_RUN_ON_START="true",
        PGBACK_STOP_GRACE_PERIOD="1h",
    )
    stop, abort = threading.Event(), threading.Event()
    backup = FakeBackup(block_until_cancelled=True)

    def signal_twice() -> None:
        backup.started.wait(10)
        stop.set()
        time.sleep(0.2)
        abort.set()

    threading.Thread(target=signal_twice).start()

    began = time.monotonic()
    code = serve_loop(settings, stop=stop, abort=abort, backup=backup)

    assert code == EXIT_ABORTED
    assert time.monotonic() - began < 5


def test_serve_loop_stop_during_backup_within_grace_lets_it_finish(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        PGBACK_BACKUP_CRON="0 0 1 1 *",
        PGBACK_RUN_ON_START="true",
        PGBACK_STOP_GRACE_PERIOD="30s",
    )
    stop = threading.Event()

    def stop_then_finish() -> None:
        stop.set()  # SIGTERM arrives while the backup runs
        time.sleep(0.5)

    backup = FakeBackup(takes=stop_then_finish)

    code = serve_loop(settings, stop=stop, backup=backup)

    assert code == EXIT_STOPPED
    status = read_status(settings)
    assert status is not None
    assert status.last_success is not None
    assert status.consecutive_failures == 0


def test_serve_loop_failed_backup_counts_failures_and_masks_secrets(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        PGBACK_BACKUP_CRON="* * * * *",
        PGBACK_PASSWORD="hunter2-secret",
    )
    clock = VirtualClock(start=START)
    backup = FakeBackup(error=ProcessError("pg_dump failed: password hunter2-secret rejected"))

    serve_loop(
        settings, clock=clock.now, wait=clock.wait, stop=clock.stop, backup=backup, max_runs=2
    )

    status = read_status(settings)
    assert status is not None
    assert status.consecutive_failures == 2
    assert status.failures_total == 2
    assert status.last_run is not None
    assert status.last_run.error == "pg_dump failed: password *** rejected"
    assert "hunter2" not in (tmp_path / "state" / "status.json").read_text()


def test_serve_loop_success_after_failures_resets_consecutive_count(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, PGBACK_BACKUP_CRON="* * * * *")
    clock = VirtualClock(start=START)
    backup = FakeBackup(error=ProcessError("boom"))
    serve_loop(
        settings, clock=clock.now, wait=clock.wait, stop=clock.stop, backup=backup, max_runs=1
    )

    serve_loop(
        settings, clock=clock.now, wait=clock.wait, stop=clock.stop, backup=FakeBackup(), max_runs=1
    )

    status = read_status(settings)
    assert status is not None
    assert status.consecutive_failures == 0
    assert status.failures_total == 1  # carried over the restart
    assert status.runs_total == 2
    assert status.last_success is not None
    assert status.last_success.bytes == 1234


def test_serve_loop_lock_held_elsewhere_skips_run_without_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, PGBACK_BACKUP_CRON="* * * * *")
    clock = VirtualClock(start=START)
    backup = FakeBackup(error=LockedError("another backup is running (lock held by pid 7)"))

    serve_loop(
        settings, clock=clock.now, wait=clock.wait, stop=clock.stop, backup=backup, max_runs=1
    )

    status = read_status(settings)
    assert status is not None
    assert status.failures_total == 0
    assert status.skipped_total == 1
    assert "scheduled backup skipped: another backup is running" in caplog.text


def test_serve_loop_status_file_records_next_fire_while_waiting(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, PGBACK_BACKUP_CRON="37 21 * * *")
    clock = VirtualClock(start=START)
    seen: list[datetime | None] = []

    def wait(seconds: float) -> bool:
        status = read_status(settings)
        seen.append(status.next_fire if status else None)
        return clock.wait(seconds)

    serve_loop(
        settings, clock=clock.now, wait=wait, stop=clock.stop, backup=FakeBackup(), max_runs=1
    )

    assert seen[0] == datetime(2025, 4, 13, 21, 37, tzinfo=UTC)


def test_serve_loop_logs_one_line_per_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pgback")
    settings = settings_for(tmp_path, PGBACK_BACKUP_CRON="37 21 * * *")
    clock = VirtualClock(start=START)

    serve_loop(
        settings, clock=clock.now, wait=clock.wait, stop=clock.stop, backup=FakeBackup(), max_runs=1
    )

    messages = [r.getMessage() for r in caplog.records if r.name.startswith("pgback")]
    assert all("\n" not in m for m in messages)
    assert any(m.startswith("serve started") for m in messages)
    assert any(m.startswith("next backup at 2025-04-13T21:37:00Z") for m in messages)
    assert any(m.startswith("backup succeeded: set 20250413T2137") for m in messages)
