"""Where a restore's time and CPU go, phase by phase: a sampler beside the measured command.

Every SAMPLE_INTERVAL it reads the CPU counters of the measured command's process tree, of the
target server's processes, of the S3 endpoint and of the whole machine, and asks the target
server (pg_stat_activity) what the restore is doing. Each interval's CPU is charged to the
phase it was in:

- start: until the first client program reaches the target (interpreter start, reading the
  manifest, checks, choosing the client tools);
- globals: psql restoring roles and tablespaces;
- schema: pg_restore creating the database and the tables (pre-data);
- data: pg_restore's COPY;
- post-data: index builds and constraints (CREATE INDEX, ALTER TABLE ... ADD CONSTRAINT);
- finish: after the last client program has gone, until the command exits.

The sampler's own backend is left out of the server's CPU.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pgback.bench.probes import CLOCK_TICKS, child_pids, machine_busy_cpu

SAMPLE_INTERVAL = 0.05
PHASES = ("start", "globals", "schema", "data", "post-data", "finish")
_POST_DATA = ("CREATE INDEX", "CREATE UNIQUE INDEX", "ALTER TABLE", "CREATE TRIGGER", "CLUSTER")
_CLIENTS = ("pg_restore", "psql")


def _stat(pid: int) -> tuple[float, float] | None:
    """(own CPU, CPU of reaped children) of a live process, in seconds; None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return own, reaped


def tree_cpu(root: int, skip: Iterable[int] = ()) -> tuple[float, float]:
    """(CPU of `root` itself, CPU of its descendants, live or reaped) in seconds."""
    skipped = set(skip)
    top = _stat(root)
    if top is None:
        return 0.0, 0.0
    own, below = top[0], top[1]
    pending = child_pids(root)
    while pending:
        pid = pending.pop()
        if pid in skipped:
            continue
        counters = _stat(pid)
        if counters is not None:
            below += counters[0] + counters[1]
            pending += child_pids(pid)
    return own, below


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, seconds: float, cpu: Mapping[str, float]) -> None:
        self.seconds += seconds
        for name, value in cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + value


class Timeline(threading.Thread):
    """Samples while a command runs: start it after the command, stop it once it exited."""

    def __init__(self, command_pid: int, target_dsn: str, groups: Mapping[str, int | None]) -> None:
        super().__init__(daemon=True, name="bench-timeline")
        self._pid = command_pid
        self._groups = {name: pid for name, pid in groups.items() if pid}
        self._conn = psycopg.connect(target_dsn, autocommit=True)
        self._own_backend = int(self._conn.info.backend_pid)
        self._halt = threading.Event()
        self._seen_client = False
        self.phases = {name: Phase(name) for name in PHASES}
        self.marks: list[tuple[float, str]] = []

    def _counters(self) -> dict[str, float]:
        own, below = tree_cpu(self._pid)
        counters = {"command": own, "clients": below, "machine_busy": machine_busy_cpu()}
        for name, pid in self._groups.items():
            counters[name] = sum(tree_cpu(pid, skip=(self._own_backend,)))
        return counters

    def _phase(self) -> str:
        rows = self._conn.execute(
            "SELECT application_name, query FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
        phase = ""
        for application, query in rows:
            if application not in _CLIENTS:
                continue
            self._seen_client = True
            if application == "psql":
                phase = "globals"
                continue
            statement = (query or "").lstrip().upper()
            if statement.startswith("COPY"):
                return "data"
            if statement.startswith(_POST_DATA):
                phase = "post-data"
            elif not phase:
                phase = "schema"
        if phase:
            return phase
        return "finish" if self._seen_client else "start"

    def run(self) -> None:
        started = time.perf_counter()
        last_time, last = started, self._counters()
        phase = "start"
        while not self._halt.wait(SAMPLE_INTERVAL):
            try:
                current = self._phase()
            except psycopg.Error:
                current = phase
            now, counters = time.perf_counter(), self._counters()
            self._charge(phase, now - last_time, last, counters)
            if current != phase:
                self.marks.append((round(now - started, 2), current))
            phase, last_time, last = current, now, counters
        now, counters = time.perf_counter(), self._counters()
        self._charge(phase, now - last_time, last, counters)

    def _charge(
        self, phase: str, seconds: float, before: Mapping[str, float], after: Mapping[str, float]
    ) -> None:
        used = {name: max(0.0, after.get(name, 0.0) - before.get(name, 0.0)) for name in after}
        busy = used.pop("machine_busy")
        used["others"] = max(0.0, busy - sum(used.values()))
        self.phases[phase].add(seconds, used)

    def stop(self) -> dict[str, Any]:
        """Stop sampling; each phase's seconds and CPU seconds by group."""
        self._halt.set()
        self.join()
        self._conn.close()
        return {
            "phases": {
                name: {
                    "seconds": round(phase.seconds, 2),
                    "cpu": {k: round(v, 2) for k, v in sorted(phase.cpu.items())},
                }
                for name, phase in self.phases.items()
                if phase.seconds > 0
            },
            "marks": self.marks,
        }
