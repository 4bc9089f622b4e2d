"""Progress lines (bytes, rate) on a terminal; silent when output goes to a log."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


class Progress:
    """Thread-safe byte counter that redraws one status line at most twice a second."""

    def __init__(self, label: str, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._last_draw = 0.0
        self.total = 0

    @classmethod
    def for_mode(cls, label: str, mode: str) -> Progress:
        enabled = mode == "always" or (mode == "auto" and sys.stderr.isatty())
        return cls(label, enabled=enabled)

    def add(self, count: int) -> None:
        with self._lock:
            self.total += count
            if not self.enabled:
                return
            now = time.monotonic()
            if now - self._last_draw >= 0.5:
                self._last_draw = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-6)
        rate = self.total / elapsed
        self._stream.write(f"\r{self.label}: {human_size(self.total)} at {human_size(rate)}/s   ")
        self._stream.flush()

    def done(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()
