"""The scenarios' virtual clock: time flows and jumps forward, never backwards."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from pgback.testbed.clock import VirtualClock


def test_advance_adds_to_the_time_that_has_flowed_since_the_last_jump() -> None:
    clock = VirtualClock()
    with clock.patching():
        clock.advance(timedelta(days=1))
        time.sleep(0.3)  # real time flows: a run takes a while
        before = clock.now()
        clock.advance(timedelta(seconds=1))
        after = clock.now()

    assert after - before >= timedelta(seconds=1)
    assert after - before < timedelta(seconds=1.2)
    # what a child process, on the real clock, is behind by
    assert clock.lead() == timedelta(days=1, seconds=1)


def test_the_engine_sees_the_jump_through_datetime_now() -> None:
    clock = VirtualClock()
    with clock.patching():
        clock.advance(timedelta(days=30))
        seen = datetime.now(UTC)

    assert seen - datetime.now(UTC) > timedelta(days=29)
