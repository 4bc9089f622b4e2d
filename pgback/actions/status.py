"""The sidecar's status file: what `serve` did last, read by `pgback health` and /metrics.

One JSON document, `<state_dir>/status.json`, rewritten atomically (temporary file in the same
directory, fsync, rename) so a reader never sees half a file: `pgback health` runs in another
process (Docker's HEALTHCHECK) at any moment.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pgback.config import Settings
from pgback.errors import PgbackError

STATUS_NAME = "status.json"
FORMAT_VERSION = 1

STATE_IDLE = "idle"
STATE_RUNNING = "running"
STATE_STOPPED = "stopped"


def status_path(settings: Settings) -> Path:
    return Path(settings.state_dir) / STATUS_NAME


@dataclass(frozen=True)
class RunRecord:
    """One backup attempt as the sidecar saw it."""

    started_at: datetime
    finished_at: datetime
    success: bool
    set_id: str | None = None
    bytes: int | None = None
    error: str | None = None  # one line, secrets masked

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat()
        data["duration_seconds"] = round(self.duration_seconds, 3)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        return cls(
            started_at=datetime.fromisoformat(data["started_at"]),
            finished_at=datetime.fromisoformat(data["finished_at"]),
            success=bool(data["success"]),
            set_id=data.get("set_id"),
            bytes=data.get("bytes"),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class Status:
    """Everything `serve` reports. Counters survive restarts when state_dir is a volume."""

    state: str = STATE_IDLE
    pid: int | None = None
    serve_started_at: datetime | None = None
    cron: str | None = None
    timezone: str = "UTC"
    cron_disabled: bool = False
    next_fire: datetime | None = None
    running_since: datetime | None = None
    last_run: RunRecord | None = None
    last_success: RunRecord | None = None
    consecutive_failures: int = 0
    failures_total: int = 0
    runs_total: int = 0
    skipped_total: int = 0
    sets_kept: int | None = None
    updated_at: datetime | None = None
    ping_failures_total: int | None = None  # None: no ping_url (left out of the file)
    # with [[servers]]: each server's run fields (RUN_FIELDS; the top-level ones stay unset),
    # and the server a running backup is for
    servers: Mapping[str, Status] = field(default_factory=dict)
    current_server: str | None = None

    def of(self, server: str | None) -> Status:
        """The status as one server's health sees it: the process's fields, that server's runs."""
        if server is None:
            return self
        own = self.servers.get(server) or Status()
        runs = {name: getattr(own, name) for name in RUN_FIELDS}
        if self.state == STATE_RUNNING and self.current_server != server:
            return replace(self, **runs, servers={}, state=STATE_IDLE, running_since=None)
        return replace(self, **runs, servers={})

    def with_runs(self, server: str | None, **runs: Any) -> Status:
        """This status with some run fields changed, for one server when servers are listed."""
        if server is None:
            return replace(self, **runs)
        own = replace(self.servers.get(server) or Status(), **runs)
        return replace(self, servers={**self.servers, server: own})

    def to_json(self) -> dict[str, Any]:
        data = {
            "version": FORMAT_VERSION,
            "state": self.state,
            "pid": self.pid,
            "serve_started_at": _iso(self.serve_started_at),
            "cron": self.cron,
            "timezone": self.timezone,
            "cron_disabled": self.cron_disabled,
            "next_fire": _iso(self.next_fire),
            "running_since": _iso(self.running_since),
            "last_run": self.last_run.to_json() if self.last_run else None,
            "last_success": self.last_success.to_json() if self.last_success else None,
            "consecutive_failures": self.consecutive_failures,
            "failures_total": self.failures_total,
            "runs_total": self.runs_total,
            "skipped_total": self.skipped_total,
            "sets_kept": self.sets_kept,
            "updated_at": _iso(self.updated_at),
        }
        if self.ping_failures_total is not None:
            data["ping_failures_total"] = self.ping_failures_total
        if self.servers:
            data["current_server"] = self.current_server
            data["servers"] = {name: own.runs_json() for name, own in self.servers.items()}
        return data

    def runs_json(self) -> dict[str, Any]:
        full = self.to_json()
        return {name: full[name] for name in RUN_FIELDS if name in full}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Status:
        last_run = data.get("last_run")
        last_success = data.get("last_success")
        return cls(
            state=str(data.get("state", STATE_IDLE)),
            pid=data.get("pid"),
            serve_started_at=_parse(data.get("serve_started_at")),
            cron=data.get("cron"),
            timezone=str(data.get("timezone") or "UTC"),
            cron_disabled=bool(data.get("cron_disabled", False)),
            next_fire=_parse(data.get("next_fire")),
            running_since=_parse(data.get("running_since")),
            last_run=RunRecord.from_json(last_run) if last_run else None,
            last_success=RunRecord.from_json(last_success) if last_success else None,
            consecutive_failures=int(data.get("consecutive_failures", 0)),
            failures_total=int(data.get("failures_total", 0)),
            runs_total=int(data.get("runs_total", 0)),
            skipped_total=int(data.get("skipped_total", 0)),
            sets_kept=data.get("sets_kept"),
            updated_at=_parse(data.get("updated_at")),
            ping_failures_total=data.get("ping_failures_total"),
            servers={name: cls.from_json(own) for name, own in (data.get("servers") or {}).items()},
            current_server=data.get("current_server"),
        )


# what each server has of its own when servers are listed
RUN_FIELDS = (
    "last_run",
    "last_success",
    "consecutive_failures",
    "failures_total",
    "runs_total",
    "sets_kept",
    "ping_failures_total",
)


def carry_runs(previous: Status, fresh: Status, pings: Mapping[str | None, bool]) -> Status:
    """`fresh` (a starting sidecar's status) with the results and counters `previous` recorded.
    `pings` has one entry per server (None: no servers listed): whether it pings."""

    def runs(old: Status, pinging: bool) -> dict[str, Any]:
        carried = {name: getattr(old, name) for name in RUN_FIELDS}
        carried["ping_failures_total"] = (old.ping_failures_total or 0) if pinging else None
        return carried

    if None in pings:
        return replace(fresh, **runs(previous, pings[None]))
    servers = {
        name: Status(**runs(previous.servers.get(name) or Status(), pinging))
        for name, pinging in pings.items()
        if name is not None
    }
    return replace(fresh, servers=servers)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def read_status(settings: Settings) -> Status | None:
    """The last status written by `serve`, None when there is none yet."""
    path = status_path(settings)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PgbackError(f"status file {path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return Status.from_json(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise PgbackError(f"status file {path}: unreadable ({exc})") from None


def write_status(settings: Settings, status: Status) -> None:
    """Replace the status file atomically: readers see the old or the new file, never half."""
    write_json_atomically(status_path(settings), status.to_json())


def write_json_atomically(path: Path, data: Mapping[str, Any]) -> None:
    """Replace a JSON file: its readers (health checks, /metrics) see the old or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes 0600; health checks may run as another user of the same group
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
