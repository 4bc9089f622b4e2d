"""`pgback serve`: the sidecar. Backups on a cron schedule, a status file, hooks, /healthz.

Shape, so tests and the scenario harness can drive it in virtual time:
- `Scheduler` owns the state (status file, counters) and runs one backup at a time in a worker
  thread, so the loop's thread stays free to answer a stop request at once.
- `serve_loop(settings, clock=..., wait=..., stop=...)` is the loop itself. Time only enters
  through `clock()` (now) and `wait(seconds)` (sleep, True when asked to stop): the real process
  passes `utc_now` and `stop.wait`; the test bed's virtual clock skips the waits, so "a backup
  two minutes from now" happens in the time the backup itself takes.
- `run_serve(settings)` adds what only a real process has: signal handlers, the HTTP listener
  (actions.health_server) and the restore drills (actions.drills). Notifications: pgback.notify.

Stopping (SIGTERM/SIGINT, or `stop.set()`): when idle, the loop returns 0 at once. When a backup
runs, it gets `stop_grace_period` to finish (a finished set is worth more than a fast exit), then
its cancel event is set: the engine aborts its multipart uploads, removes what it stored and
writes no manifest, and the loop returns 143 (128 + SIGTERM). A second signal cancels at once.
Docker's stop timeout must therefore exceed stop_grace_period (compose: `stop_grace_period`).

Missed runs are skipped, never stacked: scheduled times that passed while a run ran (or the
process slept) are counted and logged, and the next run is the next one in the future.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from pgback import __version__
from pgback.actions.backup import BackupResult, run_backup
from pgback.actions.context import utc_now
from pgback.actions.drills import STOP_TIMEOUT, start_drills
from pgback.actions.fleet import sets_kept
from pgback.actions.health_server import HealthServer
from pgback.actions.hooks import run_hook
from pgback.actions.reporting import Reporter
from pgback.actions.signals import stop_then_abort_on_signals
from pgback.actions.status import (
    RUN_FIELDS,
    STATE_IDLE,
    STATE_RUNNING,
    STATE_STOPPED,
    RunRecord,
    Status,
    carry_runs,
    read_status,
    write_status,
)
from pgback.config import Settings
from pgback.config.servers import select_servers
from pgback.durations import format_duration
from pgback.errors import ConfigError, LockedError, PgbackError
from pgback.notify import FAILURE, SUCCESS
from pgback.progress import human_size
from pgback.schedule import missed_fires, next_fire, seconds_until

log = logging.getLogger("pgback.serve")

EXIT_STOPPED = 0  # stopped while idle, or the running backup finished within the grace period
EXIT_ABORTED = 143  # a running backup had to be cancelled (128 + SIGTERM, what Docker expects)

# The longest single wait: re-reading the clock at least once a minute keeps the schedule right
# when the wall clock jumps (NTP step, suspended VM) and costs nothing in virtual time.
MAX_WAIT_CHUNK = 60.0
IDLE_WAIT = 3600.0  # cron disabled: nothing to wake up for but a stop request
SUPERVISE_POLL = 0.1  # seconds between checks of "stop requested?" while a backup runs
CANCEL_TIMEOUT = 60.0  # after cancel: how long to wait for the engine's cleanup before exiting

Clock = Callable[[], datetime]
Wait = Callable[[float], bool]


class BackupFn(Protocol):
    """What the loop calls for one backup; `run_backup` in production."""

    def __call__(
        self, settings: Settings, *, clock: Clock, cancel: threading.Event
    ) -> BackupResult: ...


def serve_loop(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    wait: Wait | None = None,
    stop: threading.Event | None = None,
    abort: threading.Event | None = None,
    backup: BackupFn = run_backup,
    max_runs: int | None = None,
) -> int:
    """Run the schedule until stopped (or `max_runs` attempts); return the exit code.

    `wait(seconds)` must return True when the loop should stop; by default it is `stop.wait`,
    so setting `stop` (what the signal handlers do) ends a wait at once. `abort` set while a
    backup runs cancels it without waiting for the grace period (a second signal).
    """
    stop = stop or threading.Event()
    scheduler = Scheduler(settings, clock=clock, stop=stop, abort=abort, backup=backup)
    return scheduler.run(wait or stop.wait, max_runs=max_runs)


class Scheduler:
    """The sidecar's state and its runs. One instance per `serve` process."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        stop: threading.Event | None = None,
        abort: threading.Event | None = None,
        backup: BackupFn = run_backup,
    ) -> None:
        check_serve_settings(settings)
        self.settings = settings
        self.clock = clock
        self.stop = stop or threading.Event()
        self.abort = abort or threading.Event()
        self.backup = backup
        self.runs = 0  # attempts made by this process (for max_runs)
        # one target per [[servers]] entry (or the settings themselves), backed up in turn
        self.targets = select_servers(settings, None, command="serve", every=True)
        self.target = self.targets[0]
        self.reporters = {t.server: Reporter(t) for t in self.targets}
        self._status_lock = threading.Lock()
        self.status = self._initial_status()

    # --- the loop -----------------------------------------------------------------------------

    @property
    def cron(self) -> str | None:
        return None if self.settings.disable_cron else self.settings.backup_cron

    def run(self, wait: Wait, *, max_runs: int | None = None) -> int:
        self._save()
        self._log_start()
        try:
            return self._run(wait, max_runs)
        finally:
            self._update(state=STATE_STOPPED, next_fire=None, running_since=None)
            log.info("serve stopped")

    def _run(self, wait: Wait, max_runs: int | None) -> int:
        if self.settings.run_on_start and not self._done(max_runs):
            log.info("running the start-up backup (run_on_start)")
            if self.run_once():
                return EXIT_ABORTED
        if self.cron is None:
            return self._idle(wait, max_runs)
        fire = next_fire(self.cron, self.clock(), self.settings.cron_timezone)
        while not self._done(max_runs):
            self._announce(fire)
            if self._wait_until(fire, wait):
                return EXIT_STOPPED
            woke = self.clock()
            self._skip(missed_fires(self.cron, fire, woke, self.settings.cron_timezone), "late")
            if self.run_once():
                return EXIT_ABORTED
            ended = self.clock()
            self._skip(missed_fires(self.cron, woke, ended, self.settings.cron_timezone), "busy")
            fire = next_fire(self.cron, ended, self.settings.cron_timezone)
        return EXIT_STOPPED

    def _done(self, max_runs: int | None) -> bool:
        return self.stop.is_set() or (max_runs is not None and self.runs >= max_runs)

    def _idle(self, wait: Wait, max_runs: int | None) -> int:
        """Cron disabled (a restore-only sidecar): stay up, doing nothing, until stopped."""
        self._update(next_fire=None)
        if not self._done(max_runs):
            log.info("cron disabled: idle until stopped (restore-only sidecar)")
        while not self._done(max_runs):
            if wait(IDLE_WAIT):
                break
        return EXIT_STOPPED

    def _wait_until(self, fire: datetime, wait: Wait) -> bool:
        """Wait until `fire` in chunks; True when asked to stop first."""
        while True:
            remaining = seconds_until(fire, self.clock())
            if remaining <= 0:
                return False
            if wait(min(remaining, MAX_WAIT_CHUNK)) or self.stop.is_set():
                return True

    def _announce(self, fire: datetime) -> None:
        self._update(next_fire=fire)
        log.info(
            "next backup at %s (in %s)",
            fire.strftime("%Y-%m-%dT%H:%M:%SZ"),
            format_duration(fire - self.clock()),
        )

    def _skip(self, count: int, why: str) -> None:
        if not count:
            return
        self._update(skipped_total=self.status.skipped_total + count)
        cause = "while the previous backup ran" if why == "busy" else "while the process slept"
        log.warning("skipped %d scheduled run(s) that fell %s: runs are not stacked", count, cause)

    def _log_start(self) -> None:
        schedule = (
            "cron disabled"
            if self.cron is None
            else f"cron {self.cron!r} ({self.settings.cron_timezone})"
        )
        log.info(
            "serve started (pgback %s, pid %d): %s, run_on_start=%s, state in %s",
            __version__,
            os.getpid(),
            schedule,
            str(self.settings.run_on_start).lower(),
            self.settings.state_dir,
        )

    # --- one run ------------------------------------------------------------------------------

    @property
    def reporter(self) -> Reporter:
        return self.reporters[self.target.server]

    @property
    def _runs(self) -> Status:
        """The status of the server being backed up (the whole status without servers)."""
        return self.status.of(self.target.server)

    def run_once(self) -> bool:
        """One guarded backup attempt per server, one server at a time (a failure does not stop
        the others); True when one had to be cancelled (the process stops)."""
        self.runs += 1
        for target in self.targets:
            if self.stop.is_set():
                break
            self.target = target
            if self._run_target():
                return True
        return False

    def _run_target(self) -> bool:
        started = self.clock()
        cancel = threading.Event()
        self._update(state=STATE_RUNNING, running_since=started, current_server=self.target.server)
        worker = threading.Thread(
            target=self._attempt, args=(started, cancel), name="pgback-backup", daemon=True
        )
        worker.start()
        if not self._supervise(worker, cancel):
            return False
        success = self._runs.last_success
        if success is not None and success.started_at == started:
            return False  # it completed as the cancel arrived: the set is whole, keep it
        self._record_aborted(started)
        return True

    def _supervise(self, worker: threading.Thread, cancel: threading.Event) -> bool:
        """Wait for the worker; on stop, give it the grace period, then cancel it."""
        while worker.is_alive() and not self.stop.is_set():
            worker.join(SUPERVISE_POLL)
        if not worker.is_alive():
            return False
        grace = self.settings.stop_grace_period.total_seconds()
        log.info(
            "stop requested: the running backup has %s to finish",
            format_duration(self.settings.stop_grace_period),
        )
        deadline = time.monotonic() + grace
        while worker.is_alive() and time.monotonic() < deadline and not self.abort.is_set():
            worker.join(min(SUPERVISE_POLL, max(deadline - time.monotonic(), 0)))
        if not worker.is_alive():
            return False
        log.warning("cancelling the running backup: its partial set is being removed")
        cancel.set()
        worker.join(CANCEL_TIMEOUT)
        if worker.is_alive():
            log.error("the backup did not stop %ds after cancel; exiting anyway", CANCEL_TIMEOUT)
        return True

    def _attempt(self, started: datetime, cancel: threading.Event) -> None:
        """The worker: hooks, backup, status, notifications. Never raises."""
        try:
            if not self.reporter.start(started):
                self._ping_failed()
            record = self._backup(started, cancel)
            if record is None or (cancel.is_set() and not record.success):
                return  # skipped (lock held), or cancelled: the supervisor records it
            self._record(record)
            self._notify(record, cancel)
        except Exception as exc:  # a bug here must not kill the sidecar silently
            log.error("internal error around the backup: %s: %s", type(exc).__name__, exc)
            self._record(RunRecord(started, self.clock(), False, error=self._describe(exc)))

    def _backup(self, started: datetime, cancel: threading.Event) -> RunRecord | None:
        """Pre-hook and backup; None when another backup holds the lock."""
        try:
            if self.settings.pre_backup_hook:
                run_hook(self.settings.pre_backup_hook, what="pre-backup hook", cancel=cancel)
            result = self.backup(self.target, clock=self.clock, cancel=cancel)
        except LockedError as exc:
            self._update(
                state=STATE_IDLE,
                running_since=None,
                skipped_total=self.status.skipped_total + 1,
            )
            log.warning("scheduled backup skipped: %s", self._describe(exc))
            return None
        except Exception as exc:
            return RunRecord(started, self.clock(), False, error=self._describe(exc))
        self._update(sets_kept=sets_kept(self.target, result, self._describe))
        return RunRecord(
            started, self.clock(), True, set_id=result.set_id, bytes=result.manifest.size
        )

    def _describe(self, exc: BaseException) -> str:
        return self.reporter.describe(exc)

    def _ping_failed(self) -> None:
        self._update(ping_failures_total=(self._runs.ping_failures_total or 0) + 1)

    def _record(self, record: RunRecord) -> None:
        status = self._runs
        server = f"server {self.target.server}: " if self.target.server else ""
        if record.success:
            self._update(
                state=STATE_IDLE,
                running_since=None,
                last_run=record,
                last_success=record,
                consecutive_failures=0,
                runs_total=status.runs_total + 1,
            )
            log.info(
                "%sbackup succeeded: set %s, %s in %s",
                server,
                record.set_id,
                human_size(record.bytes or 0),
                format_duration(timedelta(seconds=round(record.duration_seconds))),
            )
            return
        self._update(
            state=STATE_IDLE,
            running_since=None,
            last_run=record,
            consecutive_failures=status.consecutive_failures + 1,
            failures_total=status.failures_total + 1,
            runs_total=status.runs_total + 1,
        )
        failures = self._runs.consecutive_failures
        log.error("%sbackup failed (%d in a row): %s", server, failures, record.error)

    def _record_aborted(self, started: datetime) -> None:
        """A cancelled run is a failed run: the scheduled set does not exist. The webhook says
        so (briefly: the container is stopping); the post-backup hook is not started."""
        record = RunRecord(started, self.clock(), False, error="cancelled: the sidecar was stopped")
        self._record(record)
        self._notify(record, cancel=None)

    def _notify(self, record: RunRecord, cancel: threading.Event | None) -> None:
        """Post-hook and notifications; their failures are logged, never turned into a failed
        run. Without `cancel` the sidecar is stopping: no hook, and a short timeout."""
        outcome = SUCCESS if record.success else FAILURE
        hook = self.settings.post_backup_hook
        if hook and cancel is None:
            log.warning("post-backup hook not run: the sidecar is stopping")
        elif hook and cancel is not None:
            env = {"PGBACK_STATUS": outcome, "PGBACK_SET_ID": record.set_id or ""}
            if self.target.server:
                env["PGBACK_SERVER"] = self.target.server
            if record.error:
                env["PGBACK_ERROR"] = record.error
            try:
                run_hook(hook, what="post-backup hook", cancel=cancel, env=env)
            except PgbackError as exc:
                log.warning("%s", self._describe(exc))
        failures = self._runs.consecutive_failures
        if not self.reporter.finish(record, stopping=cancel is None, consecutive_failures=failures):
            self._ping_failed()

    # --- status -------------------------------------------------------------------------------

    def _initial_status(self) -> Status:
        """Carry the last results over a restart (state_dir on a volume); reset the rest."""
        try:
            previous = read_status(self.settings) or Status()
        except PgbackError as exc:
            log.warning("%s: starting with a fresh status", exc)
            previous = Status()
        fresh = Status(
            state=STATE_IDLE,
            pid=os.getpid(),
            serve_started_at=self.clock(),
            cron=self.cron,
            timezone=self.settings.cron_timezone,
            cron_disabled=self.cron is None,
            skipped_total=previous.skipped_total,
        )
        return carry_runs(previous, fresh, {t.server: bool(t.ping_url) for t in self.targets})

    def _update(self, **changes: Any) -> None:
        """Change the status; run fields go to the server being backed up, if servers are listed."""
        runs = {name: changes.pop(name) for name in RUN_FIELDS if name in changes}
        with self._status_lock:
            status = replace(self.status, **changes)
            self.status = status.with_runs(self.target.server, **runs) if runs else status
        self._save()

    def _save(self) -> None:
        with self._status_lock:
            status = replace(self.status, updated_at=self.clock())
            try:
                write_status(self.settings, status)
            except OSError as exc:
                # keep backing up: a full or read-only state_dir only blinds the health check
                log.error("cannot write the status file in %s: %s", self.settings.state_dir, exc)


def check_serve_settings(settings: Settings) -> None:
    """`serve` needs a schedule, or cron explicitly disabled."""
    if not settings.disable_cron and not settings.backup_cron:
        raise ConfigError(
            [
                "serve needs backup_cron (PGBACK_BACKUP_CRON or BACKUP_CRON, e.g. '0 2 * * *'), "
                "or disable_cron=true for a restore-only sidecar"
            ]
        )


# --- the real process: signals and the HTTP listener ----------------------------------------


def run_serve(settings: Settings) -> int:
    """The `pgback serve` command: the loop in real time, answering SIGTERM/SIGINT at once."""
    stop = threading.Event()
    abort = threading.Event()
    scheduler = Scheduler(settings, clock=utc_now, stop=stop, abort=abort)
    server = HealthServer.start(settings, utc_now) if settings.health_listen else None
    drills = start_drills(settings, clock=utc_now, stop=stop) if settings.drill_cron else None
    try:
        with stop_then_abort_on_signals(stop, abort):
            return scheduler.run(stop.wait)
    finally:
        stop.set()
        if drills is not None:
            drills.join(STOP_TIMEOUT + 5)
        if server is not None:
            server.close()
