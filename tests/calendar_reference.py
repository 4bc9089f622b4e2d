"""Two independent references for calendar retention (keep_daily...keep_yearly):

- `calendar_reference`: restic's `forget --keep-*` rules computed another way than
  pgback.retention does (group the sets by period label, take the newest set of each of the N
  newest periods; a rule with more room than periods keeps the oldest set, as restic >= 0.16).
- `ResticRepository`: the real restic binary's `forget --dry-run --json` on snapshots made at the
  same instants (Debian's restic 0.14: it predates the oldest-set rule, so compare it only on
  histories that fill every rule).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from pgback.periods import KINDS, period_label


def calendar_reference(
    started: Sequence[datetime], counts: Mapping[str, int | None], zone: tzinfo
) -> set[datetime]:
    """The start times restic's keep-daily/weekly/monthly/yearly rules keep."""
    kept: set[datetime] = set()
    for kind in KINDS:
        count = counts.get(kind)
        if not count or not started:
            continue
        groups: dict[str, list[datetime]] = {}
        for when in started:
            groups.setdefault(period_label(kind, when, zone), []).append(when)
        for label in sorted(groups, reverse=True)[:count]:
            kept.add(max(groups[label]))
        if len(groups) < count:
            kept.add(min(started))
    return kept


class ResticRepository:
    """A restic repository holding snapshots of one tiny file made by `restic backup --time` at
    each instant (given in time zone `tz`: restic buckets snapshots in their own zone)."""

    def __init__(self, started: Sequence[datetime], workdir: Path, *, tz: str = "UTC") -> None:
        data = workdir / "data"
        data.mkdir(parents=True)
        (data / "file").write_text("x")
        self.env = {
            **os.environ,
            "RESTIC_REPOSITORY": str(workdir / "repo"),
            "RESTIC_PASSWORD": "reference",
            "RESTIC_CACHE_DIR": str(workdir / "cache"),
            "TZ": tz,
        }
        subprocess.run(["restic", "init", "-q"], env=self.env, check=True, capture_output=True)
        local = ZoneInfo(tz)

        def snapshot(when: datetime) -> None:
            stamp = when.astimezone(local).strftime("%Y-%m-%d %H:%M:%S")
            argv = ["restic", "backup", "-q", "--host", "test", "--time", stamp, str(data)]
            subprocess.run(argv, env=self.env, check=True, capture_output=True)

        # each run spends most of its time in restic's key derivation: one per core
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(snapshot, started))

    def keeps(self, forget_args: Sequence[str]) -> set[datetime]:
        """The start times `restic forget --dry-run` keeps with these arguments."""
        done = subprocess.run(
            ["restic", "forget", "--dry-run", "--json", *forget_args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        groups = json.loads(done.stdout)
        assert len(groups) == 1, groups  # one host, one path: one group
        return {datetime.fromisoformat(s["time"]).astimezone(UTC) for s in groups[0]["keep"]}
