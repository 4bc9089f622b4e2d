"""What a backup run tells the notification channels: its start, then its success or failure.

One place for `pgback backup` (a Kubernetes CronJob has no sidecar, so the command itself
pings) and for `serve`: the events, their context, and errors described in one masked line.
A channel never fails the run (the Notifier never raises); `start` and `finish` say whether
the ping, when one is set, was delivered, so the sidecar can count the ones that were not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pgback.actions.backup import BackupResult, run_backup
from pgback.actions.context import utc_now
from pgback.actions.status import RunRecord
from pgback.config import SECRET_KEYS, Settings
from pgback.errors import PgbackError
from pgback.notify import FAILURE, START, SUCCESS, Event, Notifier
from pgback.process import mask

STOPPING_NOTIFY_TIMEOUT = 5.0  # a cancelled run's notifications: Docker's stop timeout runs

Clock = Callable[[], datetime]


class Reporter:
    """The channels of one server's settings, and how its errors read."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.notifier = Notifier.from_settings(settings)
        self.secrets = [
            value.reveal() for name in SECRET_KEYS if (value := getattr(settings, name))
        ]

    def describe(self, exc: BaseException) -> str:
        """One line, secrets masked: engine messages already are; this also covers
        third-party exception texts."""
        text = str(exc) if isinstance(exc, PgbackError) else f"{type(exc).__name__}: {exc}"
        return mask(" ".join(text.split()), self.secrets) or type(exc).__name__

    def context(self, **extra: Any) -> dict[str, Any]:
        context: dict[str, Any] = {"upload_prefix": self.settings.upload_prefix}
        if self.settings.server:
            context["server"] = self.settings.server
        return {**context, **extra}

    def start(self, started: datetime, **context: Any) -> bool:
        """The start event; False when the ping could not be delivered."""
        event = Event(START, {"started_at": started.isoformat()}, self.context(**context))
        return self.notifier.notify(event).get("ping", True)

    def finish(self, record: RunRecord, *, stopping: bool = False, **context: Any) -> bool:
        """The success or failure event; False when the ping could not be delivered."""
        event = Event(
            SUCCESS if record.success else FAILURE, record.to_json(), self.context(**context)
        )
        timeout = STOPPING_NOTIFY_TIMEOUT if stopping else None
        return self.notifier.notify(event, timeout=timeout).get("ping", True)


def reported_backup(
    settings: Settings,
    *,
    cancel: threading.Event,
    clock: Clock = utc_now,
    backup: Callable[..., BackupResult] = run_backup,
) -> BackupResult:
    """`pgback backup` for one server: start, the backup, then success or failure."""
    reporter = Reporter(settings)
    started = clock()
    reporter.start(started)
    try:
        result = backup(settings, clock=clock, cancel=cancel)
    except BaseException as exc:
        record = RunRecord(started, clock(), False, error=reporter.describe(exc))
        reporter.finish(record, stopping=cancel.is_set() or not isinstance(exc, Exception))
        raise
    record = RunRecord(started, clock(), True, set_id=result.set_id, bytes=result.manifest.size)
    reporter.finish(record)
    return result
