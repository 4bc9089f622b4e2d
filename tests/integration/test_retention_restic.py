"""pgback's calendar rules against the real restic: snapshots made by `restic backup --time` at
the same instants as the sets, then `restic forget --dry-run --json` with the same keep-*
counts. Debian's restic (0.14) predates the oldest-set rule, so every policy here is filled by
the history before its oldest set; tests/unit/test_retention.py covers that rule."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from calendar_reference import ResticRepository

from pgback.naming import make_set_id
from pgback.retention import Policy, SetState, plan

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed"),
]

NOW = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)


def utc(*stamps: str) -> list[datetime]:
    return [datetime.fromisoformat(s).replace(tzinfo=UTC) for s in stamps]


# a daily stretch over New Year and ISO week 2026-W53, two sets on one day, sparser weeks and
# months with gaps, a year end at 23:00, a leap day
UTC_HISTORY = utc(
    *(f"2026-12-{day}T03:00" for day in range(20, 32)),
    *(f"2027-01-0{day}T03:00" for day in range(1, 6)),
    "2027-01-04T10:00",
    "2026-12-14T03:00",
    "2026-11-30T03:00",
    "2026-11-23T03:00",
    "2026-11-02T03:00",
    "2026-08-15T03:00",
    "2026-06-10T03:00",
    "2026-06-01T03:00",
    "2026-03-05T03:00",
    "2025-12-31T23:00",
    "2025-07-01T03:00",
    "2024-02-29T03:00",
)
UTC_POLICIES = [
    {"daily": 5},
    {"weekly": 5},
    {"monthly": 6},
    {"yearly": 3},
    {"daily": 3, "weekly": 3, "monthly": 3, "yearly": 2},
    {"daily": 7, "weekly": 4, "monthly": 8},
]

# two sets a night around Berlin's DST changes: 22:30 and 23:30 UTC are the same local day in
# winter and different ones in summer
BERLIN_HISTORY = utc(
    *(f"2026-03-{day}T{hour}" for day in range(26, 32) for hour in ("22:30", "23:30")),
    *(f"2026-10-{day}T{hour}" for day in range(23, 28) for hour in ("22:30", "23:30")),
    "2026-10-25T00:30",
    "2026-09-30T22:30",
    "2026-06-30T22:30",
)
BERLIN_POLICIES = [{"daily": 8}, {"daily": 14, "weekly": 3, "monthly": 3}]


def restic_args(counts: dict[str, int]) -> list[str]:
    return [f"--keep-{kind}={count}" for kind, count in counts.items()]


def pgback_keeps(history: list[datetime], counts: dict[str, int], zone: ZoneInfo) -> set[str]:
    sets = [SetState(make_set_id(t), t, True) for t in history]
    policy = Policy(**{f"keep_{kind}": count for kind, count in counts.items()}, zone=zone)
    return {d.set_id for d in plan(sets, policy, NOW) if d.keep}


@pytest.mark.parametrize(
    ("history", "policies", "tz"),
    [
        pytest.param(UTC_HISTORY, UTC_POLICIES, "UTC", id="UTC"),
        pytest.param(BERLIN_HISTORY, BERLIN_POLICIES, "Europe/Berlin", id="Europe/Berlin"),
    ],
)
def test_plan_calendar_rules_keep_exactly_what_restic_forget_keeps(
    history: list[datetime], policies: list[dict[str, int]], tz: str, tmp_path: Path
) -> None:
    repository = ResticRepository(history, tmp_path, tz=tz)

    for counts in policies:
        by_restic = repository.keeps(restic_args(counts))

        assert pgback_keeps(history, counts, ZoneInfo(tz)) == {make_set_id(t) for t in by_restic}, (
            counts
        )
