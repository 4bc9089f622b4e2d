"""`pgback health` and the sidecar's /healthz and /metrics: verdicts read from the status file.

Healthy means: the last run succeeded and the next success is not overdue, or no run is due yet.
"Overdue" tolerates one missed run: the deadline is the second scheduled time after the last
success started, plus how long that run took (for a regular cron, two intervals plus the last
duration), or `health_max_age` after the last success when that is set. Counting fire times
instead of multiplying one interval keeps irregular schedules right (a weekday-only cron is not
overdue on Sunday).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pgback.actions.context import utc_now
from pgback.actions.status import STATE_RUNNING, RunRecord, Status, read_status
from pgback.config import Settings
from pgback.durations import format_duration
from pgback.errors import PgbackError
from pgback.progress import human_size
from pgback.schedule import next_fire


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str


def check_health(settings: Settings, now: datetime | None = None) -> tuple[bool, str]:
    """(ok, one-line message) for the sidecar described by settings.state_dir."""
    now = now or utc_now()
    try:
        status = read_status(settings)
    except PgbackError as exc:
        return False, f"unhealthy: {exc}"
    if status is None:
        # serve writes its status as soon as it starts: no file means it is still starting
        return True, "ok: no status yet (serve is starting or has not run here)"
    verdict = evaluate_servers(status, settings, now)
    return verdict.ok, verdict.message


def server_verdicts(status: Status, settings: Settings, now: datetime) -> dict[str, Verdict]:
    """With [[servers]]: each server's verdict (its own runs, the shared schedule)."""
    return {name: evaluate(status.of(name), settings, now) for name in status.servers}


def evaluate_servers(status: Status, settings: Settings, now: datetime) -> Verdict:
    """The verdict for the whole sidecar: healthy when every server is; the line names the
    unhealthy servers (or, when all are healthy, each one's last success)."""
    if not status.servers:
        return evaluate(status, settings, now)
    verdicts = server_verdicts(status, settings, now)
    unhealthy = {name: v for name, v in verdicts.items() if not v.ok}
    shown = unhealthy or verdicts
    body = "; ".join(f"{name}: {v.message.partition(': ')[2]}" for name, v in shown.items())
    return Verdict(not unhealthy, ("unhealthy: " if unhealthy else "ok: ") + body)


def evaluate(status: Status, settings: Settings, now: datetime) -> Verdict:
    """The verdict for one status snapshot at `now` (pure: tests pin `now`)."""
    last = status.last_run
    if status.consecutive_failures and last is not None and not last.success:
        return Verdict(
            False,
            f"unhealthy: last backup failed {_ago(last.finished_at, now)} "
            f"({status.consecutive_failures} in a row): {last.error or 'unknown error'}",
        )
    deadline = success_deadline(status, settings.health_max_age)
    running = _running_note(status, now)
    success = status.last_success
    if deadline is not None and now > deadline:
        since = (
            f"last success {success.set_id} {_ago(success.finished_at, now)}"
            if success
            else f"no successful backup since serve started {_ago(status.serve_started_at, now)}"
        )
        return Verdict(
            False, f"unhealthy: backup overdue since {_stamp(deadline)}: {since}{running}"
        )
    if success is not None:
        size = human_size(success.bytes) if success.bytes is not None else "size unknown"
        return Verdict(
            True,
            f"ok: last backup {success.set_id} succeeded {_ago(success.finished_at, now)} "
            f"({size}){_next_note(status)}{running}",
        )
    if status.cron_disabled:
        return Verdict(
            True, f"ok: cron disabled (restore-only sidecar), no backup expected{running}"
        )
    return Verdict(True, f"ok: no backup due yet{_next_note(status)}{running}")


def success_deadline(status: Status, max_age: timedelta | None) -> datetime | None:
    """When the absence of a newer success makes the sidecar unhealthy (None: never)."""
    if status.cron_disabled or not status.cron:
        return None
    success = status.last_success
    if success is not None:
        if max_age is not None:
            return success.finished_at + max_age
        return _second_fire(status, success.started_at) + _duration(success)
    if status.serve_started_at is None:
        return None
    # nothing succeeded yet: the first scheduled run plus the same tolerance
    first = next_fire(status.cron, status.serve_started_at, status.timezone)
    if max_age is not None:
        return first + max_age
    return next_fire(status.cron, first, status.timezone)


def _second_fire(status: Status, after: datetime) -> datetime:
    assert status.cron is not None
    first = next_fire(status.cron, after, status.timezone)
    return next_fire(status.cron, first, status.timezone)


def _duration(record: RunRecord) -> timedelta:
    return max(record.finished_at - record.started_at, timedelta(0))


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "at an unknown time"
    return f"{format_duration(now - when)} ago"


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when.utcoffset() == timedelta(0) else str(when)


def _next_note(status: Status) -> str:
    return f"; next at {_stamp(status.next_fire)}" if status.next_fire else ""


def _running_note(status: Status, now: datetime) -> str:
    if status.state == STATE_RUNNING and status.running_since is not None:
        return f"; a backup is running since {_ago(status.running_since, now)}"
    return ""


# --- Prometheus text format ---------------------------------------------------------------


# families about the process, not a server: never labelled
_PROCESS_FAMILIES = ("pgback_up", "pgback_skipped_runs_total", "pgback_next_run_timestamp_seconds")


def render_metrics(status: Status | None, healthy: bool | Mapping[str, bool]) -> str:
    """Prometheus text exposition (version 0.0.4). Unknown values are left out, not faked.
    With [[servers]], each server's families carry a `server` label (`healthy`: per server)."""
    status = status or Status()
    if not status.servers:
        assert isinstance(healthy, bool)
        families = [(n, k, h, [("", v)]) for n, k, h, v in _samples(status, healthy)]
        families += _ping_family({"": status})
        return _render(families)
    views = {name: status.of(name) for name in status.servers}
    per_server = {
        name: _samples(view, healthy[name] if isinstance(healthy, Mapping) else healthy)
        for name, view in views.items()
    }
    families = []
    for index, (name, kind, help_text, value) in enumerate(_samples(status, False)):
        if name in _PROCESS_FAMILIES:
            families.append((name, kind, help_text, [("", value)]))
            continue
        labelled = [(f'{{server="{s}"}}', per_server[s][index][3]) for s in views]
        families.append((name, kind, help_text, labelled))
    families += _ping_family({f'{{server="{s}"}}': view for s, view in views.items()})
    return _render(families)


_Family = tuple[str, str, str, list[tuple[str, float | None]]]


def _ping_family(views: Mapping[str, Status]) -> list[_Family]:
    """Only when a ping_url is set: without one, the metrics stay as they were."""
    values: list[tuple[str, float | None]] = [
        (labels, v.ping_failures_total) for labels, v in views.items()
    ]
    if all(value is None for _, value in values):
        return []
    help_text = "start/success/failure pings that could not be delivered"
    return [("pgback_ping_failures_total", "counter", help_text, values)]


def _render(families: list[_Family]) -> str:
    lines: list[str] = []
    for name, kind, help_text, values in families:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in values:
            if value is not None:
                lines.append(f"{name}{labels} {_number(value)}")
    return "\n".join(lines) + "\n"


def _samples(status: Status, healthy: bool) -> list[tuple[str, str, str, float | None]]:
    success = status.last_success
    last = status.last_run
    samples: list[tuple[str, str, str, float | None]] = [
        ("pgback_up", "gauge", "1 while the sidecar runs", 1),
        ("pgback_healthy", "gauge", "1 when `pgback health` would pass", int(healthy)),
        (
            "pgback_last_success_timestamp_seconds",
            "gauge",
            "end of the last successful backup (Unix time, 0: never)",
            success.finished_at.timestamp() if success else 0,
        ),
        (
            "pgback_last_run_duration_seconds",
            "gauge",
            "duration of the last backup attempt",
            last.duration_seconds if last else None,
        ),
        (
            "pgback_last_run_bytes",
            "gauge",
            "bytes stored by the last successful backup",
            success.bytes if success and success.bytes is not None else None,
        ),
        (
            "pgback_last_run_success",
            "gauge",
            "1 when the last backup attempt succeeded",
            int(last.success) if last else None,
        ),
        (
            "pgback_sets_kept",
            "gauge",
            "complete sets in storage after the last run",
            status.sets_kept,
        ),
        ("pgback_failures_total", "counter", "failed backup attempts", status.failures_total),
        ("pgback_runs_total", "counter", "backup attempts", status.runs_total),
        (
            "pgback_skipped_runs_total",
            "counter",
            "scheduled runs skipped (missed while busy or asleep, or lock held)",
            status.skipped_total,
        ),
        (
            "pgback_consecutive_failures",
            "gauge",
            "failed attempts since the last success",
            status.consecutive_failures,
        ),
        (
            "pgback_next_run_timestamp_seconds",
            "gauge",
            "next scheduled backup (Unix time)",
            status.next_fire.timestamp() if status.next_fire else None,
        ),
        (
            "pgback_backup_running",
            "gauge",
            "1 while a backup runs",
            int(status.state == STATE_RUNNING),
        ),
    ]
    return samples


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
