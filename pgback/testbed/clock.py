"""A virtual clock for tests and scenarios: time flows as usual, but waits are skipped.

Pass `clock.now` and `clock.wait` where the engine takes a clock and a wait (the serve loop, a
backup's set id, purge's now): the hours between two cron times then take no time at all.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


def _real_now() -> datetime:
    return datetime.now(UTC)


class FastForwardClock:
    """Virtual time for tests and scenarios: time flows as usual, but waits are skipped.

    `now()` is the real time plus every second `wait()` skipped so far (plus `start - real now`
    when a start is given). A backup therefore takes its real duration while the hours between
    two cron times take none. Thread-safe: the backup worker reads the clock too.
    """

    def __init__(self, stop: threading.Event | None = None, start: datetime | None = None):
        self.stop = stop or threading.Event()
        self._offset = timedelta(0) if start is None else start - _real_now()
        self._lock = threading.Lock()
        self.waited = timedelta(0)  # total virtual time skipped, for assertions

    def now(self) -> datetime:
        with self._lock:
            return _real_now() + self._offset

    def wait(self, seconds: float) -> bool:
        if self.stop.is_set():
            return True
        with self._lock:
            self._offset += timedelta(seconds=seconds)
            self.waited += timedelta(seconds=seconds)
        return self.stop.is_set()
