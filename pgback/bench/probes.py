"""Measuring one child process: wall time, its own peak RSS, and what it wrote to disk.

- Peak RSS of the child itself (not its children): the kernel's high-water mark VmHWM, read from
  /proc/<pid>/status every few milliseconds while it runs (it only grows, so the last reading is
  the peak up to a few milliseconds before exit). `wait4` also reports ru_maxrss, but that is the
  largest of the child and every descendant it waited for (pg_dump, pg_restore), so it is kept
  only as an upper bound.
- Local disk writes of the child and all its descendants: /proc/<pid>/io `write_bytes` counts
  bytes a process caused to be sent to a block device (page-cache writeback included); when a
  process is reaped its counters are added to its parent's. So the benchmark's own counter,
  read before the child starts and after it is reaped, grows by exactly what the child and its
  descendants wrote (the benchmark itself writes nothing meanwhile; the long-running servers are
  not reaped and do not count). Pipes, sockets and tmpfs are not block devices and never count.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pgback.streams import PipeReader

SAMPLE_INTERVAL = 0.01
SETTLE_SECONDS = 0.3
DISCARD_CHUNK = 1024 * 1024
TIMED_LINES = 200
RSS_INTERVAL = 0.25


@dataclass
class ChildRun:
    argv: list[str]
    seconds: float
    returncode: int
    peak_rss: int | None  # bytes: VmHWM of the child process itself (None: exited too soon)
    tree_max_rss: int  # bytes: wait4 ru_maxrss, the largest of the child and its descendants
    tree_cpu: float  # CPU seconds of the child and the descendants it reaped (wait4)
    write_bytes: int  # bytes sent to block devices by the child and its descendants
    own_write_bytes: int  # the child's own counter, last read while it ran (a cross-check)
    cancelled_write_bytes: int  # of those, dirtied then truncated/deleted before writeback
    stdout_bytes: int = 0
    stdout_text: str = ""
    stderr_tail: list[str] = field(default_factory=list)
    observed: Any = None  # what run_child's observer returned
    rss_series: list[tuple[float, int]] = field(default_factory=list)  # (seconds, VmRSS)
    # the first stderr lines, each with when it arrived (seconds after the start)
    stderr_timed: list[tuple[float, str]] = field(default_factory=list)

    def check(self, what: str) -> ChildRun:
        if self.returncode != 0:
            tail = "\n".join(self.stderr_tail[-15:])
            raise BenchError(f"{what} failed (exit {self.returncode}): {self.argv[0]}\n{tail}")
        return self


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and carries the program's stderr."""


def read_io(pid: int | str = "self") -> dict[str, int]:
    """The counters of /proc/<pid>/io ({} when the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    counters: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if value.strip().isdigit():
            counters[name.strip()] = int(value)
    return counters


def read_memory(pid: int) -> tuple[int, int] | None:
    """(VmHWM, VmRSS): peak and current resident set size of a live process in bytes; None
    once it has exited (a zombie has no memory lines)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    found: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            found[line[:5]] = int(line.split()[1]) * 1024
    if len(found) < 2:
        return None
    return found["VmHWM"], found["VmRSS"]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds of a live process and of the children it has reaped (0 when gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime are fields 14-17 of stat(5); fields[0] is field 3
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def child_pids(pid: int) -> list[int]:
    """The live children of a process (of its main thread: PostgreSQL's postmaster, pg_restore)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [int(word) for word in text.split()]


def machine_busy_cpu() -> float:
    """CPU seconds all cores spent busy (not idle, not waiting for I/O) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLOCK_TICKS


class CpuMeter:
    """Where the CPU went during one step: the measured command's process tree, the servers
    (each server's main process and the children it reaped, e.g. a finished backend), and the
    whole machine; what is left is other work on the machine (noise)."""

    def __init__(self, servers: Mapping[str, int | None]) -> None:
        self._servers = {name: pid for name, pid in servers.items() if pid}
        self._start = self._snapshot()

    def _snapshot(self, settle: float = 0.0) -> dict[str, float]:
        snap = {"machine_busy": machine_busy_cpu()}
        # a backend whose client just exited is reaped (and its CPU added to its server's
        # main process) a moment later
        time.sleep(settle)
        snap.update({name: process_cpu(pid) for name, pid in self._servers.items()})
        return snap

    def stop(self, tree_cpu: float | None = None) -> dict[str, float]:
        end = self._snapshot(settle=SETTLE_SECONDS)
        used = {name: round(end[name] - self._start[name], 2) for name in end}
        if tree_cpu is not None:
            used["command_tree"] = round(tree_cpu, 2)
            accounted = sum(v for k, v in used.items() if k != "machine_busy")
            used["other"] = round(max(0.0, used["machine_busy"] - accounted), 2)
        return used


def discard(stream: IO[bytes]) -> int:
    """Read a pipe to its end and drop the bytes; how many. The same reader as pgback's (a
    1 MiB pipe, read directly), so the floor has every advantage pgback has."""
    reader = PipeReader(stream)
    total = 0
    while chunk := reader.read(DISCARD_CHUNK):
        total += len(chunk)
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name=f"probe-{pid}")
        self.pid = pid
        self.peak: int | None = None
        self.write_bytes = 0  # the child's own counter (and its reaped children's), last read
        self.rss_series: list[tuple[float, int]] = []  # (seconds, VmRSS) every RSS_INTERVAL
        self._halt = threading.Event()

    def run(self) -> None:
        started = time.perf_counter()
        next_rss = started
        while not self._halt.is_set():
            memory = read_memory(self.pid)
            if memory is not None:
                self.peak = max(self.peak or 0, memory[0])
                self.write_bytes = read_io(self.pid).get("write_bytes", self.write_bytes)
                now = time.perf_counter()
                if now >= next_rss:
                    self.rss_series.append((round(now - started, 2), memory[1]))
                    next_rss = now + RSS_INTERVAL
            self._halt.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    stdout_sink: Callable[[IO[bytes]], int] | None = None,
    cwd: Path | None = None,
    observer: Callable[[int], Callable[[], Any]] | None = None,
) -> ChildRun:
    """Run `argv` to its end and measure it (see the module's docstring for what and how).

    stdout goes to `stdout_sink` (run in a thread; returns the byte count) or is kept as text.
    `observer(pid)` is called once the child started; what the callable it returns gives,
    called when the child has exited but before it is reaped (its counters still readable),
    is kept as `observed`.
    """
    io_before = read_io()
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    sampler = _Sampler(proc.pid)
    sampler.start()
    stop_observer = observer(proc.pid) if observer is not None else None
    stderr_tail: deque[str] = deque(maxlen=40)
    stderr_timed: list[tuple[float, str]] = []
    stdout_parts: list[bytes] = []
    counted: list[int] = []

    def drain_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            stderr_tail.append(line)
            if len(stderr_timed) < TIMED_LINES:
                stderr_timed.append((round(time.perf_counter() - started, 3), line))

    def drain_stdout() -> None:
        assert proc.stdout is not None
        if stdout_sink is not None:
            counted.append(stdout_sink(proc.stdout))
        else:
            stdout_parts.append(proc.stdout.read())

    drains = [
        threading.Thread(target=drain_stderr, daemon=True),
        threading.Thread(target=drain_stdout, daemon=True),
    ]
    for thread in drains:
        thread.start()
    # exited, not yet reaped: the observer's last reading still sees its counters
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    seconds = time.perf_counter() - started
    observed = stop_observer() if stop_observer is not None else None
    # wait4 rather than Popen.wait: it also returns the child's resource usage
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop()
    for thread in drains:
        thread.join()
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()
    io_after = read_io()
    stdout = b"".join(stdout_parts)
    return ChildRun(
        argv=list(argv),
        seconds=seconds,
        returncode=proc.returncode,
        peak_rss=sampler.peak,
        tree_max_rss=usage.ru_maxrss * 1024,
        tree_cpu=usage.ru_utime + usage.ru_stime,
        write_bytes=io_after.get("write_bytes", 0) - io_before.get("write_bytes", 0),
        own_write_bytes=sampler.write_bytes,
        cancelled_write_bytes=(
            io_after.get("cancelled_write_bytes", 0) - io_before.get("cancelled_write_bytes", 0)
        ),
        stdout_bytes=counted[0] if counted else len(stdout),
        stdout_text=stdout.decode("utf-8", "replace"),
        stderr_tail=list(stderr_tail),
        observed=observed,
        stderr_timed=stderr_timed,
        rss_series=sampler.rss_series,
    )
