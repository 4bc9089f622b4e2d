"""The restore drills' record: `<state_dir>/drill.json`, written by `pgback drill` after each
drill, read by the sidecar's /metrics. The last drill and the last successful one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgback.actions.status import RunRecord, write_json_atomically
from pgback.config import Settings
from pgback.errors import PgbackError

DRILL_STATUS_NAME = "drill.json"


@dataclass(frozen=True)
class DrillStatus:
    scenario: str
    last_run: RunRecord  # set_id: the set the drill restored
    last_success: RunRecord | None

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "last_run": self.last_run.to_json(),
            "last_success": self.last_success.to_json() if self.last_success else None,
        }


def drill_status_path(settings: Settings) -> Path:
    return Path(settings.state_dir) / DRILL_STATUS_NAME


def read_drill_status(settings: Settings) -> DrillStatus | None:
    path = drill_status_path(settings)
    try:
        data = json.loads(path.read_text())
        success = data.get("last_success")
        return DrillStatus(
            scenario=str(data["scenario"]),
            last_run=RunRecord.from_json(data["last_run"]),
            last_success=RunRecord.from_json(success) if success else None,
        )
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PgbackError(f"drill status {path}: cannot read: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise PgbackError(f"drill status {path}: unreadable ({exc})") from None


def record_drill(settings: Settings, scenario: str, record: RunRecord) -> DrillStatus:
    """Write this drill as the last one (and the last success when it passed)."""
    try:
        previous = read_drill_status(settings)
    except PgbackError:
        previous = None
    last_success = record if record.success else (previous.last_success if previous else None)
    status = DrillStatus(scenario, record, last_success)
    write_json_atomically(drill_status_path(settings), status.to_json())
    return status


def drill_metrics(status: DrillStatus | None) -> list[tuple[str, str, str, float]]:
    """(name, type, help, value) for /metrics; nothing when no drill ever ran here."""
    if status is None:
        return []
    success = status.last_success
    return [
        (
            "pgback_last_drill_success_timestamp_seconds",
            "gauge",
            "end of the last restore drill that passed (Unix time, 0: never)",
            success.finished_at.timestamp() if success else 0,
        ),
        (
            "pgback_last_drill_duration_seconds",
            "gauge",
            "how long the last restore drill took",
            status.last_run.duration_seconds,
        ),
        (
            "pgback_last_drill_success",
            "gauge",
            "1 when the last restore drill passed",
            int(status.last_run.success),
        ),
    ]
