"""Stop signals (SIGTERM from `docker stop`, SIGINT from Ctrl-C), for the commands that run long.

The handlers only set events: logging from a signal handler can interleave with a log line being
written, so the code that waits on the events logs what happened. The previous handlers come
back afterwards.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_Handler = Callable[[int, FrameType | None], Any] | int | None
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def _handling(handle: Callable[[int, FrameType | None], None]) -> Iterator[dict[int, _Handler]]:
    previous: dict[int, _Handler] = {s: signal.signal(s, handle) for s in STOP_SIGNALS}
    try:
        yield previous
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def cancel_on_stop_signals() -> Iterator[tuple[threading.Event, list[int]]]:
    """`backup`: the first SIGTERM or SIGINT sets the event (the run aborts its uploads and
    removes its partial set); the previous handlers come back, so a second signal acts at once."""
    cancel = threading.Event()
    received: list[int] = []

    with _handling(lambda signum, frame: None) as previous:

        def handle(signum: int, frame: FrameType | None) -> None:
            received.append(signum)
            cancel.set()
            for number, handler in previous.items():
                signal.signal(number, handler)

        for signum in STOP_SIGNALS:
            signal.signal(signum, handle)
        yield cancel, received


@contextmanager
def stop_then_abort_on_signals(stop: threading.Event, abort: threading.Event) -> Iterator[None]:
    """`serve`: the first SIGTERM/SIGINT sets `stop` (a running backup gets its grace period),
    a second one sets `abort` (cancel it now)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            abort.set()
        stop.set()

    with _handling(handle):
        yield
