"""The virtual clock of tests and scenarios: time flows as usual, waits are skipped, and jumps
move it forward, never backwards.

Pass `clock.now` and `clock.wait` where the engine takes a clock and a wait (the serve loop, a
backup's set id, purge's now): the hours between two cron times then take no time at all.
Inside `patching()`, code that reads `datetime.now()` itself (the command line run in-process)
sees the virtual time too, while request signing, timeouts and the servers keep the real time.
"""

from __future__ import annotations

import datetime as datetime_module
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

# modules that must keep the real time: request signing (S3 servers that check it reject
# signatures 15 minutes off), timeouts, step durations. freezegun also fakes time.monotonic,
# which would turn a virtual jump into a timeout.
REAL_TIME_MODULES = [
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "psycopg",
    "testcontainers",
    "docker",
    "requests",
    "moto",
    "subprocess",
    "selectors",
    "socket",
    "ssl",
    "http",
    "queue",
    "concurrent.futures",
    "pgback.process",
    "pgback.testbed",
    "pgback.scenario.runner",
    "pgback.scenario.providers",
]


def _real_now() -> datetime:
    return datetime.now(UTC)  # this module is in REAL_TIME_MODULES: never patched


class VirtualClock:
    """`now()` is the real time plus every jump so far (plus `start - real now` when a start is
    given). Thread-safe: a backup worker reads it while the loop waits."""

    def __init__(self, start: datetime | None = None, stop: threading.Event | None = None):
        self.stop = stop or threading.Event()
        self._offset = timedelta(0) if start is None else start - _real_now()
        self._lock = threading.Lock()
        self.waited = timedelta(0)  # virtual time skipped by wait(), for assertions
        self._freezer: Any = None

    def now(self) -> datetime:
        with self._lock:
            return _real_now() + self._offset

    def lead(self) -> timedelta:
        """How far the virtual time is ahead of the real time, which other processes see."""
        with self._lock:
            return self._offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta
            if self._freezer is not None:
                self._freezer.move_to(_real_now() + self._offset)

    def wait(self, seconds: float) -> bool:
        """A sleep that takes no time; True when asked to stop (the serve loop's contract)."""
        if self.stop.is_set():
            return True
        self.advance(timedelta(seconds=seconds))
        with self._lock:
            self.waited += timedelta(seconds=seconds)
        return self.stop.is_set()

    @contextmanager
    def patching(self) -> Iterator[None]:
        """`datetime.now()` and `time.time()` follow this clock in this process, except in
        REAL_TIME_MODULES (freezegun, the `testbed` extra)."""
        from freezegun import freeze_time

        freezer = freeze_time(self.now(), tick=True, ignore=REAL_TIME_MODULES)
        factory = freezer.start()
        swapped = _real_datetime_for(REAL_TIME_MODULES)
        with self._lock:
            self._freezer = factory
        try:
            yield
        finally:
            with self._lock:
                self._freezer = None
            for module in swapped:
                setattr(module, "datetime", datetime_module)  # noqa: B010
            freezer.stop()


def _real_datetime_for(prefixes: list[str]) -> list[types.ModuleType]:
    """Give the real-time modules that call `datetime.datetime.now()` through the datetime
    module a copy of it holding the real classes; returns the modules changed.

    freezegun's ignore list only keeps a module's own `from datetime import datetime` real: its
    FakeDatetime.now() never consults the list, so botocore, which signs requests with
    `datetime.datetime.now()` (botocore.compat.get_current_datetime), would sign with the
    virtual time, and S3 servers that check request time (AWS, MinIO, SeaweedFS, rclone)
    refuse a signature more than 15 minutes off.
    """
    from freezegun import api as freezegun_api

    real = types.ModuleType("datetime")
    real.__dict__.update(vars(datetime_module))
    setattr(real, "datetime", freezegun_api.real_datetime)  # noqa: B010
    setattr(real, "date", freezegun_api.real_date)  # noqa: B010
    swapped = []
    for name, module in list(sys.modules.items()):
        uses_module = getattr(module, "datetime", None) is datetime_module
        if name.startswith(tuple(prefixes)) and uses_module:
            setattr(module, "datetime", real)  # noqa: B010
            swapped.append(module)
    return swapped
