"""The virtual clock of tests and scenarios: time flows as usual, waits are skipped, and jumps
move it forward, never backwards.

Pass `clock.now` and `clock.wait` where the engine takes a clock and a wait (the serve loop, a
backup's set id, purge's now): the hours between two cron times then take no time at all.
Inside `patching()`, code that reads `datetime.now()` itself (the command line run in-process)
sees the virtual time too, while request signing, timeouts and the servers keep the real time.
"""

from __future__ import annotations

import threading
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
        with self._lock:
            self._freezer = factory
        try:
            yield
        finally:
            with self._lock:
                self._freezer = None
            freezer.stop()
