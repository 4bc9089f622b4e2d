"""Cron schedules over croniter: when the next backup is due."""

from __future__ import annotations

import platform
import struct
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# croniter asks platform.architecture() at import, which runs the `file` command with our whole
# environment (secrets included); the pointer size answers its question without a child.
_real_architecture = platform.architecture
platform.architecture = lambda *_a, **_k: (f"{struct.calcsize('P') * 8}bit", "ELF")
try:
    from croniter import croniter
finally:
    platform.architecture = _real_architecture


def validate_cron(expr: str, timezone: str = "UTC") -> str | None:
    """None when valid, else what is wrong (one line)."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {timezone!r}"
    if not croniter.is_valid(expr):
        return "not a cron expression (five fields: minute hour day month weekday)"
    return None


def next_fire(expr: str, after: datetime, timezone: str = "UTC") -> datetime:
    """The first scheduled time strictly after `after` (aware datetime, returned in UTC terms)."""
    if after.tzinfo is None:
        raise ValueError("next_fire needs an aware datetime")
    zone = ZoneInfo(timezone)
    local = after.astimezone(zone)
    fire: datetime = croniter(expr, local).get_next(datetime)
    return fire.astimezone(after.tzinfo)


def missed_fires(expr: str, last: datetime, now: datetime, timezone: str = "UTC") -> int:
    """How many fire times fell in (last, now]; more than one means runs were skipped."""
    count = 0
    cursor = last
    while count < 10_000:
        cursor = next_fire(expr, cursor, timezone)
        if cursor > now:
            break
        count += 1
    return count


def seconds_until(fire: datetime, now: datetime) -> float:
    return max((fire - now) / timedelta(seconds=1), 0.0)
