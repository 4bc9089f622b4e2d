"""Calendar periods for retention: which day, ISO week, month or year a set belongs to.

A period is named by a label that is also its key: `2026-11-30`, `2026-W48` (the ISO year,
which differs from the calendar year around New Year: 2027-01-01 is in `2026-W53`), `2026-11`,
`2026`. Boundaries are local midnights in the retention time zone, so a set made at 00:30 in
Paris belongs to that Paris day, winter or summer time alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

DAILY = "daily"
WEEKLY = "weekly"
MONTHLY = "monthly"
YEARLY = "yearly"


def _day(local: datetime) -> str:
    return local.strftime("%Y-%m-%d")


def _week(local: datetime) -> str:
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def _month(local: datetime) -> str:
    return local.strftime("%Y-%m")


def _year(local: datetime) -> str:
    return f"{local.year:04d}"


# the kinds, shortest first (the order their reasons are listed)
_LABELS: dict[str, Callable[[datetime], str]] = {
    DAILY: _day,
    WEEKLY: _week,
    MONTHLY: _month,
    YEARLY: _year,
}
KINDS = tuple(_LABELS)


def period_label(kind: str, when: datetime, zone: tzinfo) -> str:
    """The label of the `kind` period holding the instant `when`, in time zone `zone`."""
    return _LABELS[kind](when.astimezone(zone))
